package veeam

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPasswordFileIsReadAtEveryCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "password")
	read := PasswordFile(path)
	if _, err := read(); err == nil {
		t.Fatal("missing file: want an error")
	}
	for _, tc := range []struct{ content, want string }{
		{"first secret\n", "first secret"},
		{" rotated  \r\n", " rotated  "},
	} {
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := read()
		if err != nil || got != tc.want {
			t.Fatalf("read() = %q, %v; want %q", got, err, tc.want)
		}
	}
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := read(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty file: err = %v, want an 'empty' error", err)
	}
}

func TestPasswordEnv(t *testing.T) {
	t.Setenv("TEST_VEEAM_PASSWORD", "s3cret")
	got, err := PasswordEnv("TEST_VEEAM_PASSWORD")()
	if err != nil || got != "s3cret" {
		t.Fatalf("got %q, %v", got, err)
	}
	t.Setenv("TEST_VEEAM_PASSWORD", "")
	if _, err := PasswordEnv("TEST_VEEAM_PASSWORD")(); err == nil {
		t.Fatal("empty variable: want an error")
	}
}
