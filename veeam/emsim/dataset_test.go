package emsim

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, seed int64, topo Topology, clock Clock) *Server {
	t.Helper()
	s, err := New(Config{Seed: seed, Username: testUser, Password: testPassword, Clock: clock, Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSameSeedSameData(t *testing.T) {
	a := newTestServer(t, 7, TestTopology(), NewManualClock(testStart))
	b := newTestServer(t, 7, TestTopology(), NewManualClock(testStart))
	// Asking in a different order, and for a later time first, must not
	// change anything.
	laterB := b.TaskSessions(testStart.Add(3 * time.Hour))
	laterA := a.TaskSessions(testStart.Add(3 * time.Hour))
	if !slices.Equal(a.TaskSessions(testStart), b.TaskSessions(testStart)) || !slices.Equal(laterA, laterB) {
		t.Error("same seed, different task sessions")
	}
	if !slices.Equal(a.JobSessions(testStart), b.JobSessions(testStart)) {
		t.Error("same seed, different job sessions")
	}

	c := newTestServer(t, 8, TestTopology(), NewManualClock(testStart))
	ta, tc := a.TaskSessions(testStart), c.TaskSessions(testStart)
	if len(ta) > 0 && len(tc) > 0 && ta[0].UID == tc[0].UID {
		t.Error("different seeds gave the same UIDs")
	}
	if slices.Equal(ta, tc) {
		t.Error("different seeds gave the same data")
	}
}

// A session planned once keeps its data whether the simulator was built
// before or after it, so a demo that runs for days stays consistent.
func TestDataDoesNotDependOnConstructionTime(t *testing.T) {
	early := newTestServer(t, 5, TestTopology(), NewManualClock(testStart.Add(-6*time.Hour)))
	late := newTestServer(t, 5, TestTopology(), NewManualClock(testStart))
	asOf := testStart.Add(time.Hour)
	window := func(sessions []TaskSession) []TaskSession {
		var out []TaskSession
		for _, s := range sessions {
			if !s.Creation.Before(testStart.Add(-12 * time.Hour)) {
				out = append(out, s)
			}
		}
		return out
	}
	a, b := window(early.TaskSessions(asOf)), window(late.TaskSessions(asOf))
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("the same window differs by construction time: %d vs %d sessions", len(a), len(b))
	}
}

func TestHistoryStartsAtConstruction(t *testing.T) {
	s := newTestServer(t, 1, TestTopology(), NewManualClock(testStart))
	tasks := s.TaskSessions(testStart)
	first := tasks[0].Creation
	if first.Before(testStart.Add(-48*time.Hour)) || first.After(testStart.Add(-47*time.Hour)) {
		t.Errorf("oldest task session created %v, want within the first hour of 48h of history", first)
	}
	if !slices.IsSortedFunc(tasks, func(a, b TaskSession) int { return a.Creation.Compare(b.Creation) }) {
		t.Error("TaskSessions is not sorted by creation time")
	}
}

func TestHardNamesPresent(t *testing.T) {
	for name, topo := range map[string]Topology{"test": TestTopology(), "demo": DemoTopology(), "scale": ScaleTopology()} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, 3, topo, NewManualClock(testStart))
			servers, jobs, vms := HardNames()
			seen := map[string]bool{}
			for _, ts := range s.TaskSessions(testStart) {
				seen["server:"+ts.BackupServer] = true
				seen["job:"+ts.JobName] = true
				seen["vm:"+ts.VM] = true
			}
			for _, n := range servers {
				if !seen["server:"+n] {
					t.Errorf("backup server %q missing", n)
				}
			}
			for _, n := range jobs {
				if !seen["job:"+n] {
					t.Errorf("job %q missing", n)
				}
			}
			for _, n := range vms {
				if !seen["vm:"+n] {
					t.Errorf("VM %q missing", n)
				}
			}
		})
	}
}

func TestHardNamesCoverEveryAwkwardCharacter(t *testing.T) {
	servers, jobs, vms := HardNames()
	all := strings.Join(slices.Concat(servers, jobs, vms), "\n")
	for _, c := range []string{"@", " ", ",", ";", `"`, `\`, "&", "<", "ü", "数"} {
		if !strings.Contains(all, c) {
			t.Errorf("no hard name contains %q", c)
		}
	}
	if !strings.Contains(strings.Join(jobs, ""), "@") {
		t.Error("no hard job name contains @")
	}
}

func TestStateAsOf(t *testing.T) {
	s := newTestServer(t, 11, TestTopology(), NewManualClock(testStart))
	var running TaskSession
	for _, ts := range s.TaskSessions(testStart) {
		if ts.State == "InProgress" {
			running = ts
			break
		}
	}
	if running.UID == "" {
		t.Fatal("no task session in progress at the test start")
	}
	if running.Result != "None" || !running.End.IsZero() || running.Reason != "" {
		t.Errorf("running session: %+v, want Result None, no end, no reason", running)
	}

	var pendingSeen bool
	for _, ts := range s.TaskSessions(running.Creation) {
		if ts.UID == running.UID {
			pendingSeen = ts.State == "Pending"
		}
	}
	if !pendingSeen {
		t.Error("a session is not Pending at its creation time")
	}
	for _, ts := range s.TaskSessions(running.Creation.Add(-time.Nanosecond)) {
		if ts.UID == running.UID {
			t.Error("a session exists before its creation time")
		}
	}

	later := s.TaskSessions(testStart.Add(2 * time.Hour))
	i := slices.IndexFunc(later, func(ts TaskSession) bool { return ts.UID == running.UID })
	done := later[i]
	if done.State != "Completed" || done.Result == "None" || done.End.IsZero() || !done.End.After(done.Creation) {
		t.Errorf("two hours later: %+v, want Completed with a result and an end", done)
	}
	if (done.Result == "Success") != (done.Reason == "") {
		t.Errorf("result %s with reason %q: only Warning and Failed carry a reason", done.Result, done.Reason)
	}
	if done.TotalSize < 20<<30 || done.TotalSize > 500<<30 {
		t.Errorf("TotalSize %d outside 20-500 GiB", done.TotalSize)
	}
}

func TestJobSessionFollowsItsTasks(t *testing.T) {
	s := newTestServer(t, 11, TestTopology(), NewManualClock(testStart))
	tasksByJob := map[string][]TaskSession{}
	for _, ts := range s.TaskSessions(testStart) {
		tasksByJob[ts.JobSessionUID] = append(tasksByJob[ts.JobSessionUID], ts)
	}
	rank := map[string]int{"Success": 1, "Warning": 2, "Failed": 3}
	states := map[string]int{}
	for _, js := range s.JobSessions(testStart) {
		states[js.State]++
		tasks := tasksByJob[js.UID]
		if js.State != "Stopped" {
			if js.Result != "None" || !js.End.IsZero() || js.Progress >= 100 {
				t.Errorf("running job session %s: result %s, end %v, progress %d", js.Name, js.Result, js.End, js.Progress)
			}
			continue
		}
		if len(tasks) == 0 {
			t.Fatalf("stopped job session %s has no task sessions", js.Name)
		}
		worst := 0
		for _, ts := range tasks {
			worst = max(worst, rank[ts.Result])
			if !js.End.After(ts.End) || ts.Creation.Before(js.Creation) || ts.JobSessionName != js.Name || ts.JobName != js.JobName {
				t.Errorf("task %s does not fit in its job session %s", ts.Name, js.Name)
			}
		}
		if rank[js.Result] != worst || js.Progress != 100 {
			t.Errorf("job session %s: result %s progress %d, want the worst task result and 100", js.Name, js.Result, js.Progress)
		}
		if js.Name != js.JobName+"@"+js.Creation.Format("2006-01-02 15:04:05") || js.JobType != "Replica" {
			t.Errorf("job session name %q type %q", js.Name, js.JobType)
		}
	}
	if states["Stopped"] == 0 || states["Working"] == 0 {
		t.Errorf("job session states at the test start: %v, want some Stopped and some Working", states)
	}
}

func TestRetriesFollowFailures(t *testing.T) {
	s := newTestServer(t, 11, TestTopology(), NewManualClock(testStart))
	tasks := s.TaskSessions(testStart)
	vmsOf := map[string][]string{}
	failedOf := map[string][]string{}
	for _, ts := range tasks {
		vmsOf[ts.JobSessionUID] = append(vmsOf[ts.JobSessionUID], ts.VM)
		if ts.Result == "Failed" {
			failedOf[ts.JobSessionUID] = append(failedOf[ts.JobSessionUID], ts.VM)
		}
	}
	jobs := s.JobSessions(testStart)
	lastOfJob := map[string]JobSession{}
	retries, recovered := 0, 0
	for _, js := range jobs {
		prev, seen := lastOfJob[js.JobUID]
		lastOfJob[js.JobUID] = js
		if !js.IsRetry {
			continue
		}
		retries++
		if !seen || !prev.Creation.Before(js.Creation) || prev.End.IsZero() || js.Creation.Before(prev.End) {
			t.Fatalf("retry %s does not follow a finished session of its job", js.Name)
		}
		want := slices.Sorted(slices.Values(failedOf[prev.UID]))
		got := slices.Sorted(slices.Values(vmsOf[js.UID]))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("retry %s processes %q, want the VMs that failed in %s: %q", js.Name, got, prev.Name, want)
		}
		if js.JobName != prev.JobName {
			t.Errorf("retry %s has job name %q, want %q", js.Name, js.JobName, prev.JobName)
		}
		if len(failedOf[js.UID]) < len(want) {
			recovered++
		}
	}
	if retries == 0 || recovered == 0 {
		t.Errorf("%d retries, %d of them recovering a VM; want both", retries, recovered)
	}
}

func TestTimestampsHaveVaryingFractionalDigits(t *testing.T) {
	s := newTestServer(t, 2, TestTopology(), NewManualClock(testStart))
	digits := map[int]int{}
	for _, ts := range s.TaskSessions(testStart) {
		text := emTime(ts.Creation)
		frac := 0
		if _, after, ok := strings.Cut(text, "."); ok {
			frac = len(after) - 1
		}
		digits[frac]++
		if ts.Creation.Nanosecond()%1000 != 0 {
			t.Fatalf("%s has sub-microsecond precision", text)
		}
	}
	for d := 0; d <= 6; d++ {
		if digits[d] == 0 {
			t.Errorf("no creation time with %d fractional digits: %v", d, digits)
		}
	}
}

// The demo promises that a scrape a minute after another sees new task
// sessions start and complete: no minute passes without both.
func TestDemoStartsAndCompletesTasksEveryMinute(t *testing.T) {
	from, to := testStart, testStart.Add(5*time.Hour)
	for _, seed := range []int64{1, 2, 3} {
		s := newTestServer(t, seed, DemoTopology(), NewManualClock(from))
		var creations, ends []time.Time
		for _, ts := range s.TaskSessions(to.Add(time.Hour)) {
			creations = append(creations, ts.Creation)
			ends = append(ends, ts.End)
		}
		slices.SortFunc(ends, time.Time.Compare)
		for what, times := range map[string][]time.Time{"created": creations, "completed": ends} {
			last := from
			for _, at := range times {
				if at.Before(from) || at.After(to) {
					continue
				}
				if at.Sub(last) >= time.Minute {
					t.Errorf("seed %d: no task session %s between %s and %s", seed, what, last.Format(time.TimeOnly), at.Format(time.TimeOnly))
				}
				last = at
			}
			if to.Sub(last) >= time.Minute {
				t.Errorf("seed %d: no task session %s after %s", seed, what, last.Format(time.TimeOnly))
			}
		}
	}
}

func TestDemoHasFailuresAndRetries(t *testing.T) {
	s := newTestServer(t, 1, DemoTopology(), NewManualClock(testStart))
	results := map[string]int{}
	for _, ts := range s.TaskSessions(testStart) {
		results[ts.Result]++
	}
	retries := 0
	for _, js := range s.JobSessions(testStart) {
		if js.IsRetry {
			retries++
		}
	}
	if results["Failed"] == 0 || results["Warning"] == 0 || results["Success"] == 0 || retries == 0 {
		t.Errorf("demo results %v and %d retries; want every result and some retries", results, retries)
	}
}

// TestBrokenVMsFailEveryRun checks that the demo always has a failing VM
// (for the alerting demo and the real-stack test) and that TestTopology has
// none.
func TestBrokenVMsFailEveryRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		topo Topology
		want int
	}{{"demo", DemoTopology(), 1}, {"test", TestTopology(), 0}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, 1, tc.topo, NewManualClock(testStart))
			completed, failed := map[string]int{}, map[string]int{}
			for _, ts := range s.TaskSessions(testStart) {
				if ts.State == "Completed" {
					completed[ts.VM]++
					if ts.Result == "Failed" {
						failed[ts.VM]++
					}
				}
			}
			var broken []string
			for vm, n := range completed {
				if failed[vm] == n {
					broken = append(broken, vm)
				}
			}
			if len(broken) != tc.want {
				t.Errorf("VMs failing every completed session: %q, want %d", broken, tc.want)
			}
		})
	}
}

func TestRetentionDropsOldSessions(t *testing.T) {
	clock := NewManualClock(testStart)
	s := newTestServer(t, 1, DemoTopology(), clock)
	clock.Advance(72 * time.Hour)
	tasks := s.TaskSessions(clock.Now())
	if oldest := tasks[0].Creation; oldest.Before(clock.Now().Add(-48 * time.Hour)) {
		t.Errorf("oldest session %v is older than the 48h retention", oldest)
	}
	if newest := tasks[len(tasks)-1].Creation; newest.Before(clock.Now().Add(-5 * time.Minute)) {
		t.Errorf("newest session %v, want sessions up to now", newest)
	}
	backups := s.BackupTaskSessions(clock.Now())
	if oldest := backups[0].Creation; oldest.Before(clock.Now().Add(-48 * time.Hour)) {
		t.Errorf("oldest backup session %v is older than the 48h retention", oldest)
	}
	if newest := backups[len(backups)-1].Creation; newest.Before(clock.Now().Add(-10 * time.Minute)) {
		t.Errorf("newest backup session %v, want sessions up to now", newest)
	}
}

func TestInvalidTopologies(t *testing.T) {
	cases := map[string]func(*Topology){
		"no servers":              func(tp *Topology) { tp.BackupServers = 0 },
		"min above max VMs":       func(tp *Topology) { tp.MinVMsPerJob = 9 },
		"no interval":             func(tp *Topology) { tp.JobInterval = 0 },
		"tiny tasks":              func(tp *Topology) { tp.TaskDurationMin = time.Second },
		"rates above one":         func(tp *Topology) { tp.FailureRate, tp.WarningRate = 0.7, 0.7 },
		"retention below history": func(tp *Topology) { tp.Retention = time.Hour },
		"no room for hard names":  func(tp *Topology) { tp.JobsPerServer = 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			topo := TestTopology()
			mutate(&topo)
			if _, err := New(Config{Username: testUser, Password: testPassword, Topology: topo}); err == nil {
				t.Error("New accepted an invalid topology")
			}
		})
	}
	if _, err := New(Config{Username: testUser, Topology: TestTopology()}); err == nil {
		t.Error("New accepted a config without a password")
	}
}

func TestConfigStringHidesPassword(t *testing.T) {
	cfg := Config{Username: testUser, Password: testPassword}
	if s := cfg.String(); strings.Contains(s, testPassword) || !strings.Contains(s, testUser) {
		t.Errorf("Config.String() = %q", s)
	}
}
