package emsim

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Adding backup jobs must not change a single replica session: golden
// files and ground-truth tests elsewhere depend on the replica data of a
// seed.
func TestBackupJobsLeaveReplicaDataAlone(t *testing.T) {
	for name, topo := range map[string]Topology{"test": TestTopology(), "demo": DemoTopology()} {
		t.Run(name, func(t *testing.T) {
			without := topo
			// Without backup jobs the disabled job would be a replica one.
			without.Backup, without.DisabledJob = BackupJobs{}, false
			a := newTestServer(t, 9, topo, NewManualClock(testStart))
			b := newTestServer(t, 9, without, NewManualClock(testStart))
			later := testStart.Add(3 * time.Hour)
			if !slices.Equal(a.TaskSessions(later), b.TaskSessions(later)) || !slices.Equal(a.JobSessions(later), b.JobSessions(later)) {
				t.Error("backup jobs changed the replica sessions")
			}
			if len(a.BackupTaskSessions(later)) == 0 || len(b.BackupTaskSessions(later)) != 0 || len(b.BackupJobSessions(later)) != 0 {
				t.Error("backup sessions do not follow the topology")
			}
		})
	}
}

func TestBackupEstate(t *testing.T) {
	s := newTestServer(t, 4, TestTopology(), NewManualClock(testStart))
	replicaServerOf := map[string]string{}
	replicaJobServers := map[string]string{}
	for _, ts := range s.TaskSessions(testStart) {
		replicaServerOf[ts.VM] = ts.BackupServer
		replicaJobServers[ts.JobName] = ts.BackupServer
	}
	// The disabled job backs a VM of its own up, and only until it was
	// disabled: TestDisabledJob covers it.
	disabled := s.Landmarks().DisabledJob
	jobTypes := map[string]string{}
	for _, js := range s.BackupJobSessions(testStart) {
		if js.JobName == disabled {
			continue
		}
		jobTypes[js.JobName] = js.JobType
		if server, clash := replicaJobServers[js.JobName]; clash && server == js.BackupServer {
			t.Errorf("job name %q names a replica and a backup job of %s", js.JobName, server)
		}
	}
	backupJobsOf := map[string]map[string]bool{} // VM -> backup jobs
	vmsOfJob := map[string]map[string]bool{}     // job -> VMs
	serverOfJob := map[string]string{}
	uids := map[string]string{} // VM -> VmUid
	for _, ts := range s.BackupTaskSessions(testStart) {
		if ts.JobName == disabled {
			continue
		}
		if jobTypes[ts.JobName] == backupJobType {
			if backupJobsOf[ts.VM] == nil {
				backupJobsOf[ts.VM] = map[string]bool{}
			}
			backupJobsOf[ts.VM][ts.JobName] = true
		}
		if vmsOfJob[ts.JobName] == nil {
			vmsOfJob[ts.JobName] = map[string]bool{}
		}
		vmsOfJob[ts.JobName][ts.VM] = true
		serverOfJob[ts.JobName] = ts.BackupServer
		if ts.BackupServer != replicaServerOf[ts.VM] {
			t.Errorf("%s backs %s up, which %s replicates", ts.BackupServer, ts.VM, replicaServerOf[ts.VM])
		}
		if prev, seen := uids[ts.VM]; seen && prev != ts.VMUID {
			t.Errorf("VM %s has VmUids %s and %s", ts.VM, prev, ts.VMUID)
		}
		uids[ts.VM] = ts.VMUID
	}

	for vm := range replicaServerOf {
		if len(backupJobsOf[vm]) != 1 {
			t.Errorf("VM %s is in backup jobs %v, want exactly one", vm, backupJobsOf[vm])
		}
	}
	vmUIDPattern := regexp.MustCompile(`^urn:VMware:Vm:[0-9a-f-]{36}\.vm-[0-9]+$`)
	seenUID := map[string]bool{}
	for vm, uid := range uids {
		if !vmUIDPattern.MatchString(uid) || seenUID[uid] {
			t.Errorf("VM %s: VmUid %q is malformed or shared", vm, uid)
		}
		seenUID[uid] = true
	}

	copies := 0
	for name, typ := range jobTypes {
		if typ != backupCopyJobType {
			continue
		}
		copies++
		source := ""
		for other, otherType := range jobTypes {
			if otherType == backupJobType && serverOfJob[other] == serverOfJob[name] && mapsEqual(vmsOfJob[other], vmsOfJob[name]) {
				source = other
			}
		}
		if source == "" {
			t.Errorf("backup copy job %s copies no backup job of its server: VMs %v", name, vmsOfJob[name])
		}
	}
	if wantJobs := 2 * 3; len(jobTypes) != wantJobs || copies != 2 {
		t.Errorf("backup jobs %v, want 4 Backup and 2 BackupCopy", jobTypes)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// Backup job sessions relate to their task sessions as replica ones do:
// the worst task result, progress, retries of the failed VMs only.
func TestBackupJobSessionsFollowTheirTasks(t *testing.T) {
	s := newTestServer(t, 11, TestTopology(), NewManualClock(testStart))
	tasksOf := map[string][]TaskSession{}
	for _, ts := range s.BackupTaskSessions(testStart) {
		tasksOf[ts.JobSessionUID] = append(tasksOf[ts.JobSessionUID], ts)
	}
	rank := map[string]int{"Success": 1, "Warning": 2, "Failed": 3}
	states, types := map[string]int{}, map[string]int{}
	retries := 0
	lastOfJob := map[string]JobSession{}
	for _, js := range s.BackupJobSessions(testStart) {
		states[js.State]++
		types[js.JobType]++
		prev, seen := lastOfJob[js.JobUID]
		lastOfJob[js.JobUID] = js
		tasks := tasksOf[js.UID]
		if js.IsRetry {
			retries++
			var failed []string
			for _, ts := range tasksOf[prev.UID] {
				if ts.Result == "Failed" {
					failed = append(failed, ts.VM)
				}
			}
			var got []string
			for _, ts := range tasks {
				got = append(got, ts.VM)
			}
			if !seen || len(failed) == 0 || !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(failed))) {
				t.Errorf("retry %s processes %q, want the VMs that failed before: %q", js.Name, got, failed)
			}
		}
		if js.State != "Stopped" {
			if js.Result != "None" || !js.End.IsZero() || js.Progress >= 100 {
				t.Errorf("running backup job session %s: %+v", js.Name, js)
			}
			continue
		}
		worst := 0
		for _, ts := range tasks {
			worst = max(worst, rank[ts.Result])
			if ts.JobName != js.JobName || ts.JobSessionName != js.Name || !js.End.After(ts.End) {
				t.Errorf("task %s does not fit in its job session %s", ts.Name, js.Name)
			}
		}
		if len(tasks) == 0 || rank[js.Result] != worst || js.Progress != 100 {
			t.Errorf("backup job session %s: %d tasks, result %s, progress %d", js.Name, len(tasks), js.Result, js.Progress)
		}
		if !strings.HasPrefix(js.UID, "urn:veeam:BackupJobSession:") {
			t.Errorf("job session UID %s", js.UID)
		}
	}
	if states["Stopped"] == 0 || states["Working"] == 0 || retries == 0 || types[backupJobType] == 0 || types[backupCopyJobType] == 0 {
		t.Errorf("states %v, types %v, %d retries; want some of each", states, types, retries)
	}
}

// The demo's broken VM fails every backup, as it fails every replica run,
// but not the backup copies, which read backup files.
func TestDemoBrokenVMFailsEveryBackup(t *testing.T) {
	s := newTestServer(t, 1, DemoTopology(), NewManualClock(testStart))
	// The disabled job backs a VM of its own up, and only until it was
	// disabled: TestDisabledJob covers it.
	disabled := s.Landmarks().DisabledJob
	jobTypes := map[string]string{}
	for _, js := range s.BackupJobSessions(testStart) {
		if js.JobName == disabled {
			continue
		}
		jobTypes[js.JobName] = js.JobType
	}
	completed, failed := map[string]int{}, map[string]int{}
	for _, ts := range s.BackupTaskSessions(testStart) {
		if ts.State == "Completed" {
			key := jobTypes[ts.JobName] + "/" + ts.VM
			completed[key]++
			if ts.Result == "Failed" {
				failed[key]++
			}
		}
	}
	var broken []string
	for key, n := range completed {
		if failed[key] == n {
			broken = append(broken, key)
		}
	}
	if len(broken) != 1 || !strings.HasPrefix(broken[0], backupJobType+"/") {
		t.Errorf("VMs failing every completed backup session: %q, want one, in a Backup job", broken)
	}
}

func TestHardNamesInBackupJobs(t *testing.T) {
	for name, topo := range map[string]Topology{"test": TestTopology(), "demo": DemoTopology()} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, 3, topo, NewManualClock(testStart))
			seen := map[string]bool{}
			for _, ts := range s.BackupTaskSessions(testStart) {
				seen[ts.BackupServer] = true
				seen[ts.JobName] = true
				seen[ts.VM] = true
			}
			servers, jobs, vms := HardNames()
			for _, n := range slices.Concat(servers, jobs, vms) {
				if !seen[n] {
					t.Errorf("hard name %q missing from the backup task sessions", n)
				}
			}
		})
	}
}

func TestBackupTaskEntitiesMatchTheTruth(t *testing.T) {
	h := newHarness(t, nil)
	h.clock.Advance(23 * time.Minute)
	now := h.clock.Now()
	doc := h.query(h.logon(), "type=BackupTaskSession&format=Entities&pageSize=5000")
	truth := h.sim.BackupTaskSessions(now)
	if len(doc.BackupTasks) != len(truth) || len(doc.Tasks) != 0 {
		t.Fatalf("%d backup task sessions (and %d replica ones) over HTTP, want %d", len(doc.BackupTasks), len(doc.Tasks), len(truth))
	}
	names := map[string]bool{}
	running := 0
	for i, task := range doc.BackupTasks {
		ts := truth[i]
		server, _ := findLink(task.Links, "Up", "BackupServerReference")
		parent, okParent := findLink(task.Links, "Up", "BackupJobSessionReference")
		alternate, okAlternate := findLink(task.Links, "Alternate", "BackupTaskSessionReference")
		names[server.Name], names[task.VmDisplayName] = true, true
		names[strings.TrimSuffix(parent.Name, ts.JobSessionName[len(ts.JobName):])] = true
		if task.Type != "BackupTaskSession" || task.UID != ts.UID || !strings.HasPrefix(task.UID, "urn:veeam:BackupTaskSession:") ||
			!strings.Contains(task.Href, "/api/backupTaskSessions/") || task.Name != ts.Name || task.VmDisplayName != ts.VM ||
			server.Name != ts.BackupServer || !okParent || parent.Name != ts.JobSessionName || !strings.Contains(parent.Href, "/api/backupSessions/") ||
			!okAlternate || alternate.Name != ts.Name || trimmed(task.JobSessionUid) != ts.JobSessionUID ||
			trimmed(task.State) != ts.State || trimmed(task.Result) != ts.Result || trimmed(task.Reason) != ts.Reason ||
			trimmed(task.TotalSize) != fmt.Sprint(ts.TotalSize) || trimmed(task.VmUid) != ts.VMUID || ts.VMUID == "" {
			t.Fatalf("backup task session over HTTP\n%+v\ndiffers from the truth\n%+v", task, ts)
		}
		if !parseEM(t, trimmed(task.CreationTimeUTC)).Equal(ts.Creation) {
			t.Errorf("%s: CreationTimeUTC %q, want %v", ts.Name, task.CreationTimeUTC, ts.Creation)
		}
		if (task.EndTimeUTC == nil) != ts.End.IsZero() || task.EndTimeUTC != nil && !parseEM(t, trimmed(*task.EndTimeUTC)).Equal(ts.End) {
			t.Errorf("%s: EndTimeUTC %v, want %v", ts.Name, task.EndTimeUTC, ts.End)
		}
		if _, ok := findLink(task.Links, "Related", "VmReplicaPoint"); ok {
			t.Errorf("%s: a backup task links a replica point", ts.Name)
		}
		if ts.End.IsZero() {
			running++
		}
	}
	if running == 0 {
		t.Error("no backup task session running; the comparison misses EndTimeUTC being absent")
	}
	servers, jobs, vms := HardNames()
	for _, n := range slices.Concat(servers, jobs, vms) {
		if !names[n] {
			t.Errorf("hard name %q did not come through XML intact", n)
		}
	}
}

func TestBackupJobEntitiesMatchTheTruth(t *testing.T) {
	h := newHarness(t, nil)
	doc := h.query(h.logon(), "type=BackupJobSession&format=Entities&pageSize=5000")
	truth := h.sim.BackupJobSessions(testStart)
	if len(doc.BackupJobs) != len(truth) || len(doc.Jobs) != 0 {
		t.Fatalf("%d backup job sessions (and %d replica ones) over HTTP, want %d", len(doc.BackupJobs), len(doc.Jobs), len(truth))
	}
	for i, j := range doc.BackupJobs {
		js := truth[i]
		if j.Type != "BackupJobSession" || j.UID != js.UID || j.Name != js.Name || !strings.Contains(j.Href, "/api/backupSessions/") ||
			trimmed(j.JobName) != js.JobName || trimmed(j.JobUid) != js.JobUID || trimmed(j.JobType) != js.JobType ||
			trimmed(j.State) != js.State || trimmed(j.Result) != js.Result || trimmed(j.Progress) != fmt.Sprint(js.Progress) ||
			trimmed(j.IsRetry) != fmt.Sprint(js.IsRetry) || (j.EndTimeUTC == nil) != js.End.IsZero() {
			t.Fatalf("backup job session over HTTP\n%+v\ndiffers from the truth\n%+v", j, js)
		}
		server, okServer := findLink(j.Links, "Up", "BackupServerReference")
		job, okJob := findLink(j.Links, "Up", "JobReference")
		down, okDown := findLink(j.Links, "Down", "BackupTaskSessionReferenceList")
		alternate, okAlternate := findLink(j.Links, "Alternate", "BackupJobSessionReference")
		if !okServer || server.Name != js.BackupServer || !okJob || job.Name != js.JobName || !okDown ||
			!strings.HasSuffix(down.Href, "/taskSessions") || !okAlternate || alternate.Name != js.Name {
			t.Errorf("%s: links %+v", js.Name, j.Links)
		}
	}
}

// Filters, sorting, paging and references work on the backup types as on
// the replica ones.
func TestBackupQueries(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	tasks := h.sim.BackupTaskSessions(testStart)
	jobs := h.sim.BackupJobSessions(testStart)
	since := testStart.Add(-12 * time.Hour)
	countTasks := func(keep func(TaskSession) bool) int { return countWhere(tasks, keep) }
	countJobs := func(keep func(JobSession) bool) int { return countWhere(jobs, keep) }
	cases := []struct {
		name, raw string
		want      int
		got       func(queryDoc) int
	}{
		{"incremental window", "type=BackupTaskSession&format=Entities&pageSize=5000&filter=CreationTime>=" + emTime(since),
			countTasks(func(ts TaskSession) bool { return !ts.Creation.Before(since) }), func(d queryDoc) int { return len(d.BackupTasks) }},
		{"failed and warning", "type=BackupTaskSession&format=Entities&pageSize=5000&filter=Result>=Warning",
			countTasks(func(ts TaskSession) bool { return ts.Result == "Failed" || ts.Result == "Warning" }), func(d queryDoc) int { return len(d.BackupTasks) }},
		{"running", "type=BackupTaskSession&format=Entities&pageSize=5000&filter=State!=Completed",
			countTasks(func(ts TaskSession) bool { return ts.State != "Completed" }), func(d queryDoc) int { return len(d.BackupTasks) }},
		{"hard job name", "type=BackupTaskSession&format=Entities&pageSize=5000&filter=JobName==%22Replica%40DR+site%22",
			countTasks(func(ts TaskSession) bool { return ts.JobName == "Replica@DR site" }), func(d queryDoc) int { return len(d.BackupTasks) }},
		{"backup copy jobs", "type=BackupJobSession&format=Entities&pageSize=5000&filter=JobType==BackupCopy",
			countJobs(func(js JobSession) bool { return js.JobType == backupCopyJobType }), func(d queryDoc) int { return len(d.BackupJobs) }},
		{"retries", "type=BackupJobSession&format=Entities&pageSize=5000&filter=IsRetry==true;CreationTime>=" + emTime(since),
			countJobs(func(js JobSession) bool { return js.IsRetry && !js.Creation.Before(since) }), func(d queryDoc) int { return len(d.BackupJobs) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == 0 {
				t.Fatal("the case selects nothing; it would not test anything")
			}
			if got := tc.got(h.query(token, tc.raw)); got != tc.want {
				t.Errorf("%d sessions, want %d", got, tc.want)
			}
		})
	}

	t.Run("descending pages", func(t *testing.T) {
		const size = 7
		newest := slices.Clone(tasks)
		slices.Reverse(newest)
		doc := h.query(token, fmt.Sprintf("type=BackupTaskSession&format=Entities&sortDesc=CreationTime&pageSize=%d&page=2", size))
		if doc.Paging.PagesCount != (len(tasks)+size-1)/size || len(doc.BackupTasks) != size {
			t.Fatalf("PagingInfo %+v with %d entities", doc.Paging, len(doc.BackupTasks))
		}
		for i, task := range doc.BackupTasks {
			if task.UID != newest[size+i].UID {
				t.Fatalf("entity %d of page 2 is %s, want %s", i, task.UID, newest[size+i].UID)
			}
		}
		next, ok := findLink(doc.Paging.Links, "Next", "")
		if !ok || !strings.Contains(next.Href, "type=BackupTaskSession") || !strings.Contains(next.Href, "page=3") {
			t.Errorf("Next link %+v", next)
		}
	})

	t.Run("references", func(t *testing.T) {
		doc := h.query(token, "type=BackupJobSession&pageSize=2")
		if len(doc.Refs) != 2 || doc.Refs[0].UID != jobs[0].UID || doc.Refs[0].Type != "BackupJobSessionReference" ||
			!strings.Contains(doc.Refs[0].Href, "/api/backupSessions/") {
			t.Errorf("job session references %+v, want the oldest backup job sessions", doc.Refs)
		}
		doc = h.query(token, "type=backuptasksession&pageSize=1")
		if len(doc.Refs) != 1 || doc.Refs[0].UID != tasks[0].UID || doc.Refs[0].Type != "BackupTaskSessionReference" {
			t.Errorf("task session references %+v, want the oldest backup task session", doc.Refs)
		}
		if alt, ok := findLink(doc.Refs[0].Links, "Alternate", "BackupTaskSession"); !ok || !strings.HasSuffix(alt.Href, "?format=Entity") {
			t.Errorf("reference links %+v", doc.Refs[0].Links)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for raw, want := range map[string]string{
			"type=BackupTaskSession&filter=Colour==red":    "unknown field",
			"type=BackupJobSession&sortAsc=Colour":         "unknown field",
			"type=BackupTaskSession&filter=State==Stopped": "Pending",
		} {
			resp := h.mustDo(http.MethodGet, "/api/query?"+raw, token, nil)
			if resp.status != http.StatusBadRequest || !strings.Contains(decodeError(t, resp.body).Message, want) {
				t.Errorf("%s: %d %s, want 400 mentioning %q", raw, resp.status, resp.body, want)
			}
		}
	})
}

// A test proves that a disabled collector sends no backup query by the
// query type the request log holds.
func TestRequestLogNamesBackupTypes(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.query(token, "type=backupTaskSession&format=Entities&pageSize=3&page=2")
	h.query(token, "type=BackupJobSession&format=Entities&pageSize=3")
	h.mustDo(http.MethodGet, "/api/query?type=BackupJobSession", "", nil)
	var got []string
	for _, r := range h.sim.Requests() {
		got = append(got, fmt.Sprintf("%s/%d/%d/%d", r.Type, r.Page, r.Status, r.Entities))
	}
	want := []string{"/0/201/0", "BackupTaskSession/2/200/3", "BackupJobSession/1/200/3", "BackupJobSession/1/401/0"}
	if !slices.Equal(got, want) {
		t.Errorf("request log %q, want %q", got, want)
	}
}

func TestFaultsMatchBackupTypes(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Type: "BackupTaskSession", Status: http.StatusServiceUnavailable})
	if resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaTaskSession&pageSize=1", token, nil); resp.status != http.StatusOK {
		t.Errorf("a replica query took the backup fault: %d", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, "/api/query?type=BackupTaskSession&pageSize=1", token, nil); resp.status != http.StatusServiceUnavailable {
		t.Errorf("the backup query answered %d, want the fault's 503", resp.status)
	}
	h.sim.InjectFault(Fault{Type: "BackupJobSession", Corrupt: Corruption{UnknownState: 1}})
	doc := h.query(token, "type=BackupJobSession&format=Entities&pageSize=2")
	if trimmed(doc.BackupJobs[0].State) != UnknownStateValue || trimmed(doc.BackupJobs[1].State) == UnknownStateValue {
		t.Errorf("states %q, %q; want only the first corrupted", doc.BackupJobs[0].State, doc.BackupJobs[1].State)
	}
	if got := h.sim.CorruptedUIDs(); !slices.Equal(got, []string{doc.BackupJobs[0].UID}) {
		t.Errorf("CorruptedUIDs %v", got)
	}
}

func TestInvalidBackupJobs(t *testing.T) {
	cases := map[string]func(*BackupJobs){
		"no backup jobs but copies": func(b *BackupJobs) { b.JobsPerServer, b.CopyJobsPerServer = 0, 1 },
		"more copies than jobs":     func(b *BackupJobs) { b.CopyJobsPerServer = 3 },
		"more jobs than VMs":        func(b *BackupJobs) { b.JobsPerServer, b.CopyJobsPerServer = 7, 0 },
		"no interval":               func(b *BackupJobs) { b.Interval = 0 },
		"negative copy interval":    func(b *BackupJobs) { b.CopyInterval = -time.Hour },
		"tiny tasks":                func(b *BackupJobs) { b.TaskDurationMin = time.Second },
		"rates above one":           func(b *BackupJobs) { b.FailureRate, b.WarningRate = 0.6, 0.6 },
		"negative retries":          func(b *BackupJobs) { b.MaxRetries = -1 },
		"no room for hard names":    func(b *BackupJobs) { b.JobsPerServer, b.CopyJobsPerServer = 1, 0 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			topo := TestTopology()
			mutate(&topo.Backup)
			_, err := New(Config{Username: testUser, Password: testPassword, Topology: topo})
			if err == nil || !strings.Contains(err.Error(), "ackup") {
				t.Errorf("New accepted the backup jobs %+v: %v", topo.Backup, err)
			}
		})
	}
}
