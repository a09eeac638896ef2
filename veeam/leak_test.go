package veeam

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when any test leaves a goroutine behind, such
// as a connection kept alive by a client nobody closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
