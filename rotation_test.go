package main

import (
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// TestPasswordRotationEndsLogonBackoff runs the binary with a wrong password
// in its password file: EM rejects it once, the exporter backs off instead of
// logging on at every scrape, and writing the right password to the file is
// enough for the very next scrape to log on, without a restart and without
// waiting for the back-off.
func TestPasswordRotationEndsLogonBackoff(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	sim := startSimulatedEM(t, 5, emsim.NewManualClock(time.Now().UTC()))
	sim.writePassword(t, "last-quarter's-password")
	exp := startExporter(t, buildBinary(t), sim.flags()...)

	for i := range 5 {
		body, families := exp.scrape()
		if got := gaugeValue(families, "veeam_em_up"); got != 0 {
			t.Fatalf("scrape %d with a wrong password: veeam_em_up = %v, want 0\n%s", i+1, got, body)
		}
		if got := gaugeValue(families, "veeam_em_logon_backoff_seconds"); got <= 0 {
			t.Errorf("scrape %d: veeam_em_logon_backoff_seconds = %v, want the time left (> 0)", i+1, got)
		}
	}
	if got := sim.FailedLogons(); got != 1 {
		t.Errorf("EM saw %d rejected logons over 5 scrapes, want 1: the exporter must back off", got)
	}

	sim.writePassword(t, e2ePassword)
	body, families := exp.scrape()
	if got := gaugeValue(families, "veeam_em_up"); got != 1 {
		t.Fatalf("first scrape after the password file changed: veeam_em_up = %v, want 1\n%s", got, body)
	}
	if got := gaugeValue(families, "veeam_em_logon_backoff_seconds"); got != 0 {
		t.Errorf("veeam_em_logon_backoff_seconds = %v after a good logon, want 0", got)
	}
	if got := sumCounter(families, "veeam_em_logon_rejections_total"); got != 1 {
		t.Errorf("veeam_em_logon_rejections_total = %v, want 1", got)
	}
	if got := sim.Logons(); got != 1 {
		t.Errorf("EM saw %d successful logons, want 1", got)
	}
}
