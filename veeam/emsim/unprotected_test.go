package emsim

import (
	"encoding/xml"
	"net/http"
	"slices"
	"testing"
	"time"
)

// The demo's unprotected VM was replicated and backed up until two hours
// before the start, and nothing protects it since: its newest session of
// each kind and its newest restore point only age.
func TestUnprotectedVMStopsEveryProtection(t *testing.T) {
	clock := NewManualClock(testStart)
	s := newTestServer(t, 1, DemoTopology(), clock)
	l := s.Landmarks()
	if l.UnprotectedVM == "" || l.UnprotectedVMServer == "" || l.UnprotectedAt != testStart.Add(-2*time.Hour) {
		t.Fatalf("landmarks %+v, want a VM unprotected two hours before the start", l)
	}
	if _, _, hard := HardNames(); slices.Contains(hard, l.UnprotectedVM) {
		t.Errorf("the unprotected VM %q has a hard name", l.UnprotectedVM)
	}
	later := testStart.Add(10 * time.Hour)
	clock.Set(later)
	newest := map[string]time.Time{}
	for kind, tasks := range map[string][]TaskSession{"replica": s.TaskSessions(later), "backup": s.BackupTaskSessions(later)} {
		for _, ts := range tasks {
			if ts.VM != l.UnprotectedVM {
				continue
			}
			if ts.BackupServer != l.UnprotectedVMServer || !ts.Creation.Before(l.UnprotectedAt) {
				t.Errorf("%s task session %+v of the unprotected VM", kind, ts)
			}
			if ts.Result != "Failed" && ts.End.After(newest[kind]) {
				newest[kind] = ts.End
			}
		}
	}
	if newest["replica"].IsZero() || newest["backup"].IsZero() || l.UnprotectedAt.Sub(newest["replica"]) > time.Hour {
		t.Errorf("the unprotected VM's newest protections %v, want a replica and a backup shortly before it left", newest)
	}
	points := func(at time.Time) ReplicaPoints {
		for _, rp := range s.ReplicaPoints(at) {
			if rp.VM == l.UnprotectedVM {
				return rp
			}
		}
		return ReplicaPoints{}
	}
	atStart, atLater := points(testStart), points(later)
	if atStart.Count < 3 || atStart != atLater || !sameInstant(atStart.Newest, newest["replica"]) {
		t.Errorf("points %+v at the start and %+v later, want 3 to 5 kept as they were, the newest from %v", atStart, atLater, newest["replica"])
	}

	// It left its jobs: no job lists it any more.
	h := newHarness(t, func(c *Config) { c.Topology = DemoTopology(); c.Seed = 1 })
	resp := h.mustDo(http.MethodGet, "/api/query?type=Job&format=Entities&pageSize=100", h.logon(), nil)
	var jobs struct {
		VMs []string `xml:"Entities>Jobs>Job>JobInfo>ReplicaJobInfo>Includes>ObjectInJob>Name"`
		All []string `xml:"Entities>Jobs>Job>JobInfo>BackupJobInfo>Includes>ObjectInJob>Name"`
	}
	if err := xml.Unmarshal([]byte(resp.body), &jobs); err != nil || len(jobs.VMs) == 0 || len(jobs.All) == 0 {
		t.Fatalf("jobs: %v, %d replica and %d backup includes", err, len(jobs.VMs), len(jobs.All))
	}
	if slices.Contains(jobs.VMs, l.UnprotectedVM) || slices.Contains(jobs.All, l.UnprotectedVM) {
		t.Errorf("a job still includes the unprotected VM %s", l.UnprotectedVM)
	}
}

// The unprotected VM is one of its own: the other VMs' scheduled task
// sessions are those of the topology without it, and once it left, so is
// everything. Only the retries of its jobs before then move with the runs
// it lengthened.
func TestUnprotectedVMLeavesOthersAlone(t *testing.T) {
	with, without := DemoTopology(), DemoTopology()
	without.UnprotectedVM = 0
	a := newTestServer(t, 3, with, NewManualClock(testStart))
	b := newTestServer(t, 3, without, NewManualClock(testStart))
	l := a.Landmarks()
	if b.Landmarks().UnprotectedVM != "" {
		t.Error("a topology without an unprotected VM has one")
	}
	at := testStart.Add(time.Hour)
	settled := l.UnprotectedAt.Add(30 * time.Minute)
	retries := map[string]bool{}
	for _, js := range append(append(a.JobSessions(at), a.BackupJobSessions(at)...), append(b.JobSessions(at), b.BackupJobSessions(at)...)...) {
		retries[js.UID] = js.IsRetry
	}
	comparable := func(tasks []TaskSession) []TaskSession {
		return slices.DeleteFunc(tasks, func(ts TaskSession) bool {
			return ts.VM == l.UnprotectedVM || retries[ts.JobSessionUID] && ts.Creation.Before(settled)
		})
	}
	if !slices.Equal(comparable(a.TaskSessions(at)), comparable(b.TaskSessions(at))) ||
		!slices.Equal(comparable(a.BackupTaskSessions(at)), comparable(b.BackupTaskSessions(at))) {
		t.Error("the unprotected VM changed other VMs' scheduled task sessions")
	}
	after := func(runs []JobSession) []JobSession {
		return slices.DeleteFunc(runs, func(js JobSession) bool { return js.Creation.Before(settled) })
	}
	if !slices.Equal(after(a.JobSessions(at)), after(b.JobSessions(at))) || !slices.Equal(after(a.BackupJobSessions(at)), after(b.BackupJobSessions(at))) {
		t.Error("job sessions after the VM left differ")
	}
	if TestTopology().UnprotectedVM != 0 {
		t.Error("TestTopology has an unprotected VM")
	}
}
