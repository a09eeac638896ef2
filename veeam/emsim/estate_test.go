package emsim

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBackupServersV12AndV13(t *testing.T) {
	s := newTestServer(t, 4, TestTopology(), NewManualClock(testStart))
	byName := map[string]BackupServer{}
	for _, b := range s.BackupServers() {
		byName[b.Name] = b
	}
	v12, v13 := byName["vbr01.corp.local"], byName["vbr-zürich-02.corp.local"]
	if len(byName) != 2 || v12.Version != "12.3.2.4465" || v12.Port != 9392 || v13.Version != "13.0.1.2067" || v13.Port != 443 {
		t.Errorf("backup servers %+v, want vbr01 on 12.3.2.4465:9392 and vbr-zürich-02 on 13.0.1.2067:443", byName)
	}
}

func TestRepositories(t *testing.T) {
	for name, topo := range map[string]Topology{"test": TestTopology(), "demo": DemoTopology(), "second site": SecondSiteTopology()} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, 4, topo, NewManualClock(testStart))
			l := s.Landmarks()
			defaults, kinds := map[string]bool{}, map[string]int{}
			for _, r := range s.Repositories(testStart) {
				kinds[r.Kind]++
				if r.Name == defaultRepositoryName {
					defaults[r.BackupServer] = true
				}
				switch {
				case r.Kind == kindObjectStorage:
					if r.Capacity != -1 || r.FreeSpace != -1 || r.Name != l.ObjectStorageRepository || r.BackupServer != l.ObjectStorageServer {
						t.Errorf("object storage %+v, want -1/-1 and the landmark", r)
					}
				case r.Capacity <= 0 || r.FreeSpace < 0 || r.FreeSpace > r.Capacity:
					t.Errorf("repository %+v has an impossible size", r)
				case r.Name == l.NearlyFullRepository && r.BackupServer == l.NearlyFullServer:
					if free := float64(r.FreeSpace) / float64(r.Capacity); free <= 0 || free >= 0.05 {
						t.Errorf("nearly full repository %s has %.1f %% free", r.Name, 100*free)
					}
				case float64(r.FreeSpace)/float64(r.Capacity) < 0.1:
					t.Errorf("repository %+v is full too, by accident", r)
				}
			}
			if len(defaults) != topo.BackupServers || kinds[kindObjectStorage] != 1 || kinds[kindWindowsLocal] == 0 || kinds[kindLinuxLocal] == 0 || kinds[kindCifsShare] == 0 {
				t.Errorf("default repository on %d servers, kinds %v; want one on each of %d and every kind", len(defaults), kinds, topo.BackupServers)
			}
			if !strings.Contains(l.NearlyFullRepository, `\`) || !strings.Contains(l.NearlyFullRepository, "$") {
				t.Errorf("the nearly full share %q lacks the UNC path's backslash and dollar", l.NearlyFullRepository)
			}
		})
	}
}

// Free space falls the moment a backup task completes, and stays within
// bounds for days, the nearly full repository below 5 %.
func TestRepositoryFreeSpaceFollowsBackups(t *testing.T) {
	clock := NewManualClock(testStart)
	s := newTestServer(t, 4, TestTopology(), clock)
	later := testStart.Add(3 * time.Hour)
	jobTypes := map[string]string{}
	for _, js := range s.BackupJobSessions(later) {
		jobTypes[js.JobName] = js.JobType
	}
	var end time.Time
	for _, ts := range s.BackupTaskSessions(later) {
		if ts.End.After(testStart) && ts.Result == "Success" && jobTypes[ts.JobName] == backupJobType {
			end = ts.End
			break
		}
	}
	if end.IsZero() {
		t.Fatal("no backup task completes in the three hours")
	}
	total := func(at time.Time) (free int64) {
		for _, r := range s.Repositories(at) {
			free += max(r.FreeSpace, 0)
		}
		return free
	}
	if before, after := total(end.Add(-time.Nanosecond)), total(end); after >= before {
		t.Errorf("free space %d before a backup task completes, %d after: want less", before, after)
	}
	l := s.Landmarks()
	seen := map[int64]bool{}
	for at := testStart; at.Before(testStart.Add(72 * time.Hour)); at = at.Add(37 * time.Minute) {
		clock.Set(at)
		for _, r := range s.Repositories(at) {
			if r.Name == l.NearlyFullRepository && r.BackupServer == l.NearlyFullServer {
				seen[r.FreeSpace] = true
				if free := float64(r.FreeSpace) / float64(r.Capacity); free <= 0 || free >= 0.05 {
					t.Fatalf("at %v the nearly full repository has %.2f %% free", at, 100*free)
				}
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("the nearly full repository's free space took %d values over three days, want it to move", len(seen))
	}
	other := newTestServer(t, 4, TestTopology(), NewManualClock(testStart))
	if !slices.Equal(s.Repositories(later), other.Repositories(later)) {
		t.Error("two simulators of one seed disagree on the repositories")
	}
}

func TestJobsAndSchedules(t *testing.T) {
	clock := NewManualClock(testStart)
	s := newTestServer(t, 4, TestTopology(), clock)
	l := s.Landmarks()
	if l.DisabledJob == "" || l.NeverRunJob == "" || !l.DisabledAt.Before(testStart) {
		t.Fatalf("landmarks %+v, want a job disabled in the past and one that never ran", l)
	}
	jobs := map[string]Job{}
	for _, j := range s.Jobs(testStart) {
		jobs[j.BackupServer+"/"+j.Name] = j
	}
	// Every job with sessions is listed, with its type and server.
	sessions := map[string][]JobSession{}
	for _, js := range append(s.JobSessions(testStart.Add(6*time.Hour)), s.BackupJobSessions(testStart.Add(6*time.Hour))...) {
		key := js.BackupServer + "/" + js.JobName
		sessions[key] = append(sessions[key], js)
		if j, ok := jobs[key]; !ok || j.JobType != js.JobType || j.UID != js.JobUID {
			t.Errorf("session %s of job %s: the job is listed as %+v", js.Name, key, j)
		}
	}
	if len(jobs) != len(sessions)+1 {
		t.Errorf("%d jobs listed, %d with sessions: want one more, the job that never ran", len(jobs), len(sessions))
	}
	for key, j := range jobs {
		runs := sessions[key]
		switch j.Name {
		case l.DisabledJob:
			if j.ScheduleEnabled || !j.NextRun.IsZero() || !j.ScheduleConfigured || len(runs) == 0 {
				t.Errorf("disabled job %+v with %d sessions, want its schedule off, no next run, and sessions before", j, len(runs))
			}
			for _, r := range runs {
				if !r.Creation.Before(l.DisabledAt.Add(time.Minute)) {
					t.Errorf("disabled job ran at %v, after it was disabled at %v", r.Creation, l.DisabledAt)
				}
			}
		case l.NeverRunJob:
			if !j.ScheduleEnabled || !j.NextRun.After(testStart) || len(runs) != 0 {
				t.Errorf("never run job %+v with %d sessions, want enabled, a next run, and no session", j, len(runs))
			}
		default:
			if !j.ScheduleEnabled || !j.NextRun.After(testStart) || j.NextRun.After(testStart.Add(4*time.Hour)) {
				t.Fatalf("job %+v, want enabled with a next run within its interval", j)
			}
			// The next run happens: a scheduled session is created within
			// seconds of it.
			ran := slices.ContainsFunc(runs, func(r JobSession) bool {
				return !r.IsRetry && !r.Creation.Before(j.NextRun) && r.Creation.Before(j.NextRun.Add(10*time.Second))
			})
			if !ran {
				t.Errorf("job %s: no session starts at its next run %v", key, j.NextRun)
			}
		}
	}
}

func TestSummaryReportsFollowTheEstate(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	s := h.sim
	at := h.clock.Now()
	overview, vms, stats := s.OverviewReport(at), s.VMsOverviewReport(at), s.JobStatisticsReport(at)
	scheduled, scheduledReplicas := 0, 0
	for _, j := range s.Jobs(at) {
		if j.ScheduleEnabled {
			scheduled++
			if j.JobType == replicaJobType {
				scheduledReplicas++
			}
		}
	}
	running := map[string]bool{}
	for _, js := range append(s.JobSessionsShown(at), s.BackupJobSessionsShown(at)...) {
		if js.End.IsZero() {
			running[js.JobName] = true
		}
	}
	switch {
	case overview.BackupServers != 2 || overview.RepositoryServers != int64(len(s.Repositories(at))):
		t.Errorf("overview %+v: want 2 backup servers and a repository server per repository", overview)
	case overview.ScheduledJobs != int64(scheduled) || stats.ScheduledReplicaJobs != int64(scheduledReplicas) ||
		stats.ScheduledBackupJobs+stats.ScheduledReplicaJobs != stats.ScheduledJobs:
		t.Errorf("scheduled jobs %+v, want %d of which %d replica", stats, scheduled, scheduledReplicas)
	case overview.RunningJobs != int64(len(running)) || len(running) == 0:
		t.Errorf("running jobs %d, want %d", overview.RunningJobs, len(running))
	case overview.SuccessfulVMs == 0 || overview.FailedVMs == 0:
		t.Errorf("VMs by latest state %+v: want successes and failures", overview)
	case vms.ProtectedVMs < vms.BackedUpVMs || vms.ProtectedVMs < vms.ReplicatedVMs || vms.RestorePoints == 0 ||
		vms.SourceVMsSize == 0 || vms.SuccessBackupPercents <= 0 || vms.SuccessBackupPercents > 100:
		t.Errorf("VMs overview %+v is implausible", vms)
	case stats.TotalJobRuns != stats.SuccessfulJobRuns+stats.WarningsJobRuns+stats.FailedJobRuns || stats.FailedJobRuns == 0 ||
		stats.MaxDurationBackupJobName == "" || stats.MaxDurationReplicaJobName == "" ||
		stats.MaxJobDuration != max(stats.MaxBackupJobDuration, stats.MaxReplicaJobDuration):
		t.Errorf("job statistics %+v are inconsistent", stats)
	}

	// The frames served are the truth, under EM's misspelt names.
	type frameDoc struct {
		XMLName                   xml.Name
		SuccessfulVmLastestStates int64
		FailedVmLastestStates     int64
		WarningsJobRuns           int64
		MaxDurationReplicaJobName string
		SuccessBackupPercents     int64
	}
	var frame frameDoc
	for path, check := range map[string]func() bool{
		"overview": func() bool {
			return frame.XMLName.Local == "OverviewReportFrame" && frame.SuccessfulVmLastestStates == overview.SuccessfulVMs && frame.FailedVmLastestStates == overview.FailedVMs
		},
		"vms_overview": func() bool {
			return frame.XMLName.Local == "VmsOverviewReportFrame" && frame.SuccessBackupPercents == vms.SuccessBackupPercents
		},
		"job_statistics": func() bool {
			return frame.XMLName.Local == "JobStatisticsReportFrame" && frame.WarningsJobRuns == stats.WarningsJobRuns && frame.MaxDurationReplicaJobName == stats.MaxDurationReplicaJobName
		},
	} {
		resp := h.mustDo(http.MethodGet, "/api/reports/summary/"+path, token, nil)
		frame = frameDoc{}
		if err := xml.Unmarshal([]byte(resp.body), &frame); err != nil || resp.status != http.StatusOK || frame.XMLName.Space != emNamespace || !check() {
			t.Errorf("%s: %d %v\n%s", path, resp.status, err, resp.body)
		}
	}
	if resp := h.mustDo(http.MethodGet, "/api/reports/summary/overview", "", nil); resp.status != http.StatusUnauthorized {
		t.Errorf("a report without logon answered %d", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, "/api/reports/summary/nothing", token, nil); resp.status != http.StatusNotFound {
		t.Errorf("an unknown report answered %d", resp.status)
	}
	logged := map[string]int{}
	for _, r := range s.Requests() {
		logged[r.Type]++
	}
	if logged["OverviewReportFrame"] != 2 || logged["VmsOverviewReportFrame"] != 1 || logged["JobStatisticsReportFrame"] != 1 {
		t.Errorf("request log by type %v, want each frame", logged)
	}
}

// The inventory types page, filter on their documented fields and reject
// others as EM does, and render Hrefs and UIDs like the real ones.
func TestEstateQueries(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	s := h.sim
	l := s.Landmarks()

	var uids []string
	for page := 1; ; page++ {
		doc := h.query(token, "type=Repository&format=Entities&sortAsc=UID&pageSize=2&page="+itoa(page))
		body := h.mustDo(http.MethodGet, "/api/query?type=Repository&format=Entities&sortAsc=UID&pageSize=2&page="+itoa(page), token, nil).body
		var repos struct {
			Items []struct {
				Type, Href, Name, UID string    `xml:",attr"`
				Links                 []linkDoc `xml:"Links>Link"`
				Capacity, FreeSpace   int64
				Kind                  string
			} `xml:"Entities>Repositories>Repository"`
		}
		if err := xml.Unmarshal([]byte(body), &repos); err != nil {
			t.Fatal(err)
		}
		for _, r := range repos.Items {
			uids = append(uids, r.UID)
			up, ok := findLink(r.Links, "Up", "BackupServerReference")
			if r.Type != "Repository" || !strings.HasPrefix(r.UID, "urn:veeam:Repository:") || !strings.HasSuffix(r.Href, strings.TrimPrefix(r.UID, "urn:veeam:Repository:")+"?format=Entity") ||
				!strings.Contains(r.Href, "/api/repositories/") || !ok || up.Name == "" {
				t.Errorf("repository %+v is not shaped like EM's", r)
			}
		}
		if page >= doc.Paging.PagesCount {
			break
		}
	}
	want := s.Repositories(h.clock.Now())
	if len(uids) != len(want) || !slices.IsSorted(uids) {
		t.Errorf("%d repositories over the pages, by UID %v; want %d", len(uids), slices.IsSorted(uids), len(want))
	}

	count := func(rawQuery string) int {
		doc := h.query(token, rawQuery)
		return doc.Paging.PagesCount
	}
	filters := map[string]int{
		"type=Job&pageSize=1&filter=ScheduleEnabled==false":                                            1,
		"type=Job&pageSize=1&filter=Name==%22" + strings.ReplaceAll(l.NeverRunJob, " ", "%20") + "%22": 1,
		"type=Repository&pageSize=1&filter=Capacity==-1":                                               1,
		"type=BackupServer&pageSize=1&filter=Version>=%2213%22":                                        1,
		"type=BackupServer&pageSize=1&filter=Port==9392":                                               1,
	}
	for rawQuery, pages := range filters {
		if got := count(rawQuery); got != pages {
			t.Errorf("%s: %d matches, want %d", rawQuery, got, pages)
		}
	}
	for _, rawQuery := range []string{
		"type=Repository&filter=Kind==CifsShare",
		"type=Job&filter=CreationTime>=%222025-06-17T00:00:00Z%22",
		"type=Repository&sortDesc=CreationTime",
		"type=BackupServer&filter=WcfPort==9393",
	} {
		resp := h.mustDo(http.MethodGet, "/api/query?"+rawQuery, token, nil)
		if resp.status != http.StatusBadRequest || !strings.Contains(decodeError(t, resp.body).Message, "unknown field") {
			t.Errorf("%s: %d %s, want 400 naming the unknown field", rawQuery, resp.status, resp.body)
		}
	}
}

// A fault can target one inventory type or one report alone.
func TestEstateFaultsTargetOneType(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Path: "query", Type: "Job", Status: http.StatusInternalServerError, Count: -1})
	h.sim.InjectFault(Fault{Path: "report", Type: "VmsOverviewReportFrame", Status: http.StatusServiceUnavailable, Count: -1})
	h.sim.InjectFault(Fault{Path: "query", Type: "Repository", Corrupt: Corruption{MissingCreationTime: 1, BadCreationTime: 1, UnknownResult: 1}, Count: -1})
	statuses := map[string]int{}
	for _, path := range []string{
		"/api/query?type=Job&format=Entities", "/api/query?type=Repository&format=Entities", "/api/query?type=BackupServer&format=Entities",
		"/api/query?type=ReplicaJobSession&format=Entities", "/api/reports/summary/overview", "/api/reports/summary/vms_overview",
	} {
		statuses[path] = h.mustDo(http.MethodGet, path, token, nil).status
	}
	want := map[string]int{
		"/api/query?type=Job&format=Entities": 500, "/api/query?type=Repository&format=Entities": 200, "/api/query?type=BackupServer&format=Entities": 200,
		"/api/query?type=ReplicaJobSession&format=Entities": 200, "/api/reports/summary/overview": 200, "/api/reports/summary/vms_overview": 503,
	}
	for path, status := range want {
		if statuses[path] != status {
			t.Errorf("%s answered %d, want %d", path, statuses[path], status)
		}
	}
	if corrupted := h.sim.CorruptedUIDs(); len(corrupted) != 3 || !strings.HasPrefix(corrupted[0], "urn:veeam:Repository:") {
		t.Errorf("corrupted %v, want the first three repositories", corrupted)
	}
}
