package emsim

import (
	"net/http"
	"testing"
	"time"
)

// TestScaleTopology checks that a large site stays cheap: building two days
// of 4,000 hourly VMs, their backups every four hours, and answering a
// 1,000-entity page of an incremental query. The bounds are loose enough for the race detector; the logged
// times are the real measure.
func TestScaleTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 200,000 sessions")
	}
	began := time.Now()
	clock := NewManualClock(testStart)
	h := newHarness(t, func(c *Config) { c.Topology = ScaleTopology(); c.Clock = clock })
	built := time.Since(began)
	tasks := h.sim.TaskSessions(testStart)
	if len(tasks) < 190_000 {
		t.Errorf("%d task sessions, want about 200,000", len(tasks))
	}
	backupJobs := map[string]bool{}
	for _, js := range h.sim.BackupJobSessions(testStart) {
		backupJobs[js.JobName] = true
	}
	// 52 backup jobs, and the one disabled early in the history.
	if backups := len(h.sim.BackupTaskSessions(testStart)); backups < 45_000 || len(backupJobs) != 53 {
		t.Errorf("%d backup task sessions of %d jobs, want about 55,000 of 53", backups, len(backupJobs))
	}
	token := h.logon()

	since := emTime(testStart.Add(-36 * time.Hour).Truncate(time.Second))
	queries := map[string]string{
		"range only, last page":  "type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=1000&page=140&filter=CreationTime>=" + since,
		"range only, first page": "type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=1000&filter=CreationTime>=" + since,
		"range and state":        "type=ReplicaTaskSession&format=Entities&pageSize=1000&filter=CreationTime>=" + since + ";Result>=Warning",
		"job sessions":           "type=ReplicaJobSession&format=Entities&pageSize=1000&filter=CreationTime>=" + since,
		"backup task sessions":   "type=BackupTaskSession&format=Entities&sortDesc=CreationTime&pageSize=1000&filter=CreationTime>=" + since,
		"backup job sessions":    "type=BackupJobSession&format=Entities&pageSize=1000&filter=CreationTime>=" + since,
	}
	for name, raw := range queries {
		began := time.Now()
		resp := h.mustDo(http.MethodGet, "/api/query?"+raw, token, nil)
		took := time.Since(began)
		if resp.status != http.StatusOK {
			t.Fatalf("%s: %d", name, resp.status)
		}
		t.Logf("%s: %v, %d bytes", name, took, len(resp.body))
		if took > time.Second {
			t.Errorf("%s took %v", name, took)
		}
	}
	t.Logf("New with %d task sessions took %v", len(tasks), built)
	if built > 10*time.Second {
		t.Errorf("New took %v", built)
	}
}
