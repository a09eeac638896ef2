package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRenamedFlagsStillWork runs the binary with the names --sessions.*
// replaced, on the command line and in the environment: they still apply,
// each with a warning naming its new name, and --help shows only the new
// names.
func TestRenamedFlagsStillWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	exp := startExporterWithEnv(t, bin, []string{"VEEAM_EXPORTER_REPLICA_OVERLAP=3h"}, "--demo", "--replica.lookback=49h")
	log := exp.stderr.String()
	for _, want := range []string{
		`deprecated=--replica.lookback use=--sessions.lookback`,
		`deprecated=--replica.overlap use=--sessions.overlap`,
		`msg="Session history" lookback=49h0m0s overlap=3h0m0s`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// The new name wins over the old one, with a warning.
	exp = startExporterWithEnv(t, bin, []string{"VEEAM_EXPORTER_SESSIONS_OVERLAP=2h"}, "--demo", "--replica.overlap=3h")
	log = exp.stderr.String()
	if !strings.Contains(log, `msg="Deprecated flag ignored: the new one is set too" deprecated=--replica.overlap`) ||
		!strings.Contains(log, "overlap=2h0m0s") {
		t.Errorf("with both names set, want the new one applied and a warning:\n%s", log)
	}

	out, _ := exec.Command(bin, "--help").CombinedOutput()
	help := string(out)
	if !strings.Contains(help, "--sessions.lookback") || !strings.Contains(help, "VEEAM_EXPORTER_SESSIONS_OVERLAP") {
		t.Errorf("--help lacks the new names:\n%s", help)
	}
	if strings.Contains(help, "replica.lookback") || strings.Contains(help, "replica.overlap") {
		t.Errorf("--help shows a deprecated name:\n%s", help)
	}
}
