package collector_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// inventoryTypes are the EM request types of each inventory collector.
var inventoryTypes = map[collector.Kind][]string{
	collector.Repository:   {"Repository"},
	collector.Job:          {"Job"},
	collector.BackupServer: {"BackupServer"},
	collector.Summary:      {"OverviewReportFrame", "VmsOverviewReportFrame", "JobStatisticsReportFrame"},
}

// collectorPrefix is the prefix of every series family of collector k.
// backup's families are veeam_em_backup_task_ and veeam_em_backup_job_,
// not veeam_em_backup_server_.
func collectorPrefixes(k collector.Kind) []string {
	switch k {
	case collector.Backup, collector.Replica:
		return []string{"veeam_em_" + string(k) + "_task_", "veeam_em_" + string(k) + "_job_"}
	case collector.ReplicaPoint:
		return []string{"veeam_em_replica_vm_"}
	}
	return []string{"veeam_em_" + string(k) + "_"}
}

// collectorLines are the series lines of collector k in an exposition.
func collectorLines(body string, k collector.Kind) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		for _, p := range collectorPrefixes(k) {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}

// requestsByType counts the simulator's logged requests of each type since
// the last ResetRequests.
func requestsByType(sim *emsim.Running) map[string]int {
	n := map[string]int{}
	for _, r := range sim.Requests() {
		if r.Type != "" {
			n[r.Type]++
		}
	}
	return n
}

// TestInventoryIntervalSimulator is TestInventoryInterval through the real
// client against the simulator: over 20 scrapes in 5 minutes each
// inventory request type reaches EM exactly once, and once more after the
// interval, while the sessions are read at every scrape.
func TestInventoryIntervalSimulator(t *testing.T) {
	s := newStack(t, 100, 0)
	var total map[string]int
	add := func(n map[string]int) {
		for typ, c := range n {
			total[typ] += c
		}
	}
	total = map[string]int{}
	for i := range 20 {
		if i > 0 {
			s.clock.Advance(15 * time.Second)
		}
		s.sim.ResetRequests()
		if code, body := s.scrape(t, 30*time.Second); code != http.StatusOK || up(body) != "1" {
			t.Fatalf("scrape %d: %d, veeam_em_up %s\n%s", i+1, code, up(body), s.logs)
		}
		n := requestsByType(s.sim)
		for _, typ := range []string{"ReplicaTaskSession", "ReplicaJobSession", "BackupTaskSession", "BackupJobSession"} {
			if n[typ] == 0 {
				t.Errorf("scrape %d did not query %s: the sessions are read at every scrape", i+1, typ)
			}
		}
		add(n)
	}
	for k, types := range inventoryTypes {
		for _, typ := range types {
			if total[typ] != 1 {
				t.Errorf("%s (collector %s) reached EM %d times in 20 scrapes over 5 minutes, want 1", typ, k, total[typ])
			}
		}
	}
	// The CDP policies follow the inventory interval too, their sessions
	// every scrape.
	if total["CdpPolicy"] != 1 || total["CdpReplicaSession"] < 20 {
		t.Errorf("CdpPolicy reached EM %d times and CdpReplicaSession %d times in 20 scrapes over 5 minutes, want 1 and 20", total["CdpPolicy"], total["CdpReplicaSession"])
	}
	s.clock.Advance(collector.DefaultInventoryInterval - 19*15*time.Second)
	for range 3 {
		s.sim.ResetRequests()
		if code, body := s.scrape(t, 30*time.Second); code != http.StatusOK || up(body) != "1" {
			t.Fatalf("scrape after the interval: %d, veeam_em_up %s\n%s", code, up(body), s.logs)
		}
		add(requestsByType(s.sim))
		s.clock.Advance(15 * time.Second)
	}
	for _, types := range inventoryTypes {
		for _, typ := range types {
			if total[typ] != 2 {
				t.Errorf("%s reached EM %d times in all, want 2: once more after the interval", typ, total[typ])
			}
		}
	}
}

// TestInventoryLintSimulator: with every collector on against the
// simulator's test topology, the exposition lints clean and the estate's
// series are the simulator's truth: the object-storage repository has only
// its info series, and the summary's values, some from EM's misspelt
// elements, are the frames' own.
func TestInventoryLintSimulator(t *testing.T) {
	s := newStack(t, 50, 0)
	if code, body := s.scrape(t, 30*time.Second); code != http.StatusOK || up(body) != "1" {
		t.Fatalf("scrape: %d, veeam_em_up %s\n%s", code, up(body), s.logs)
	}
	problems, err := testutil.GatherAndLint(s.registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if problems, err := testutil.CollectAndLint(s.collector); err != nil || len(problems) > 0 {
		t.Errorf("CollectAndLint: %v %v", problems, err)
	}

	now := s.clock.Now()
	families := gatherFamilies(t, s)
	for _, name := range []string{"veeam_em_repository_capacity_bytes", "veeam_em_repository_free_bytes", "veeam_em_repository_info",
		"veeam_em_job_info", "veeam_em_job_schedule_configured", "veeam_em_job_schedule_enabled", "veeam_em_job_next_run_timestamp_seconds",
		"veeam_em_backup_server_info", "veeam_em_summary_vms", "veeam_em_summary_vms_latest_result", "veeam_em_summary_servers",
		"veeam_em_summary_jobs", "veeam_em_summary_restore_points", "veeam_em_summary_restore_points_size_bytes",
		"veeam_em_summary_source_vms_size_bytes", "veeam_em_summary_backup_success_ratio", "veeam_em_summary_job_runs"} {
		if len(families[name].GetMetric()) == 0 {
			t.Errorf("%s has no series with every collector on", name)
		}
	}

	// Repositories: every one has its info; its size exactly where EM
	// knows it.
	l := s.sim.Landmarks()
	if l.ObjectStorageRepository == "" {
		t.Fatal("the test topology has no object-storage repository: the check would prove nothing")
	}
	repos := s.sim.Repositories(now)
	want := map[string]string{}
	for _, r := range repos {
		key := r.BackupServer + "/" + r.Name
		want["info/"+key+"/"+r.Kind] = "1"
		if r.Capacity >= 0 {
			want["capacity/"+key] = fmt.Sprint(r.Capacity)
		}
		if r.FreeSpace >= 0 {
			want["free/"+key] = fmt.Sprint(r.FreeSpace)
		}
	}
	got := map[string]string{}
	for suffix, name := range map[string]string{"info": "veeam_em_repository_info", "capacity": "veeam_em_repository_capacity_bytes", "free": "veeam_em_repository_free_bytes"} {
		for _, m := range families[name].GetMetric() {
			key := suffix + "/" + label(m, "backup_server") + "/" + label(m, "repository")
			if suffix == "info" {
				key += "/" + label(m, "kind")
			}
			got[key] = fmt.Sprint(int64(m.GetGauge().GetValue()))
		}
	}
	compareMaps(t, "repositories", want, got)
	objectStorage := l.ObjectStorageServer + "/" + l.ObjectStorageRepository
	if _, ok := got["capacity/"+objectStorage]; ok {
		t.Errorf("the object-storage repository %s has a capacity series", objectStorage)
	}

	// Summary: the frames' values, through EM's misspelt elements.
	overview, vms, jobs := s.sim.OverviewReport(now), s.sim.VMsOverviewReport(now), s.sim.JobStatisticsReport(now)
	summary := map[string]float64{
		`veeam_em_summary_vms_latest_result{result="Success"}`:                  float64(overview.SuccessfulVMs), // SuccessfulVmLastestStates
		`veeam_em_summary_vms_latest_result{result="Warning"}`:                  float64(overview.WarningVMs),
		`veeam_em_summary_vms_latest_result{result="Failed"}`:                   float64(overview.FailedVMs),
		`veeam_em_summary_servers{role="backup"}`:                               float64(overview.BackupServers),
		`veeam_em_summary_servers{role="proxy"}`:                                float64(overview.ProxyServers),
		`veeam_em_summary_servers{role="repository"}`:                           float64(overview.RepositoryServers),
		`veeam_em_summary_jobs{status="running"}`:                               float64(overview.RunningJobs),
		`veeam_em_summary_jobs{status="scheduled"}`:                             float64(overview.ScheduledJobs),
		`veeam_em_summary_vms{status="protected"}`:                              float64(vms.ProtectedVMs),
		`veeam_em_summary_vms{status="backed_up"}`:                              float64(vms.BackedUpVMs),
		`veeam_em_summary_vms{status="replicated"}`:                             float64(vms.ReplicatedVMs),
		`veeam_em_summary_restore_points`:                                       float64(vms.RestorePoints),
		`veeam_em_summary_restore_points_size_bytes{kind="full_backup"}`:        float64(vms.FullBackupPointsSize),
		`veeam_em_summary_restore_points_size_bytes{kind="replica"}`:            float64(vms.ReplicaRestorePointsSize),
		`veeam_em_summary_source_vms_size_bytes`:                                float64(vms.SourceVMsSize),
		`veeam_em_summary_backup_success_ratio`:                                 float64(vms.SuccessBackupPercents) / 100,
		`veeam_em_summary_job_runs{result="Success"}`:                           float64(jobs.SuccessfulJobRuns),
		`veeam_em_summary_job_runs{result="Warning"}`:                           float64(jobs.WarningsJobRuns), // WarningsJobRuns
		`veeam_em_summary_job_runs{result="Failed"}`:                            float64(jobs.FailedJobRuns),
		`veeam_em_summary_restore_points_size_bytes{kind="incremental_backup"}`: float64(vms.IncrementalBackupPointsSize),
	}
	for series, w := range summary {
		name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
		value := math.NaN()
		for _, m := range families[name].GetMetric() {
			if labels == "" || fmt.Sprintf("%s=%q", m.GetLabel()[0].GetName(), m.GetLabel()[0].GetValue()) == labels {
				value = m.GetGauge().GetValue()
			}
		}
		if value != w {
			t.Errorf("%s = %v, the simulator's frame says %v", series, value, w)
		}
	}

	// Jobs: the disabled one and the one that never ran are listed.
	for _, job := range []string{l.DisabledJob, l.NeverRunJob} {
		found := false
		for _, m := range families["veeam_em_job_info"].GetMetric() {
			found = found || label(m, "job_name") == job
		}
		if !found {
			t.Errorf("job %q is not in veeam_em_job_info", job)
		}
	}
}

func gatherFamilies(t *testing.T, s *stack) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		families[mf.GetName()] = mf
	}
	return families
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func compareMaps(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: %s = %q, want %q", what, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s = %q, which the simulator does not have", what, k, g)
		}
	}
}

// inventoryFault is one row of TestInventoryFaults: a fault of one
// inventory request type, which only its collector may feel.
type inventoryFault struct {
	name   string
	hit    collector.Kind
	fault  emsim.Fault
	logHas []string
}

// TestInventoryFaults is the fault matrix of the inventory collectors: each
// request type failing alone. Its collector's success is 0 and it serves
// its last values; the other collectors carry on with their series;
// veeam_em_up is 0; one error line names the cause; and the next refresh,
// well within the interval, recovers, as a failed read is retried at once.
func TestInventoryFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulator per case")
	}
	cases := []inventoryFault{
		{name: "Repository 500", hit: collector.Repository,
			fault:  emsim.Fault{Path: "query", Type: "Repository", Status: 500, Message: "Database is not available"},
			logHas: []string{"repositories", "Database is not available"}},
		{name: "Job HTML page", hit: collector.Job,
			fault:  emsim.Fault{Path: "query", Type: "Job", Body: "<html><body>Proxy login</body></html>", ContentType: "text/html"},
			logHas: []string{"jobs", "decode"}},
		{name: "BackupServer body cut", hit: collector.BackupServer,
			fault:  emsim.Fault{Path: "query", Type: "BackupServer", TruncateAt: 300},
			logHas: []string{"backup servers", "BackupServer"}},
		{name: "OverviewReportFrame malformed XML", hit: collector.Summary,
			fault:  emsim.Fault{Path: "report", Type: "OverviewReportFrame", Body: `<OverviewReportFrame xmlns="http://www.veeam.com/ent/v1.0"><BackupServers>2</Backup`, ContentType: "application/xml"},
			logHas: []string{"the overview report"}},
		{name: "VmsOverviewReportFrame 503", hit: collector.Summary,
			fault:  emsim.Fault{Path: "report", Type: "VmsOverviewReportFrame", Status: 503},
			logHas: []string{"the VMs overview report", "503"}},
		{name: "JobStatisticsReportFrame 401 mid-scrape", hit: collector.Summary,
			fault:  emsim.Fault{Path: "report", Type: "JobStatisticsReportFrame", Status: 401},
			logHas: []string{"the job statistics report"}},
		{name: "VmReplicaPoint 500", hit: collector.ReplicaPoint,
			fault:  emsim.Fault{Path: "query", Type: "VmReplicaPoint", Status: 500, Message: "Restore point table is locked"},
			logHas: []string{"restore points", "Restore point table is locked"}},
		{name: "VmReplicaPoint body cut", hit: collector.ReplicaPoint,
			fault:  emsim.Fault{Path: "query", Type: "VmReplicaPoint", TruncateAt: 400},
			logHas: []string{"restore points", "VmReplicaPoint"}},
		{name: "CdpPolicy malformed XML", hit: collector.CDP,
			fault:  emsim.Fault{Path: "query", Type: "CdpPolicy", Body: `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><CdpPolicies><CdpPolicy Name="x"`, ContentType: "application/xml"},
			logHas: []string{"CDP policies", "CdpPolicy"}},
		{name: "CdpReplicaSession 503", hit: collector.CDP,
			fault:  emsim.Fault{Path: "query", Type: "CdpReplicaSession", Status: 503},
			logHas: []string{"CDP policy sessions", "503"}},
		{name: "CdpReplicaTaskSession 401 mid-scrape", hit: collector.CDP,
			fault:  emsim.Fault{Path: "query", Type: "CdpReplicaTaskSession", Status: 401},
			logHas: []string{"CDP task sessions"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			runInventoryFault(t, tc)
			goleak.VerifyNone(t, before)
		})
	}
}

func runInventoryFault(t *testing.T, tc inventoryFault) {
	s := newStack(t, 50, 0, func(o *collector.Options) { o.RefreshTimeout = 20 * time.Second })
	defer s.close()
	first := s.clock.Now()
	code, good := s.scrape(t, 30*time.Second)
	if code != http.StatusOK || up(good) != "1" {
		t.Fatalf("first scrape: %d, veeam_em_up %s\n%s", code, up(good), s.logs)
	}
	if collectorLines(good, tc.hit) == "" {
		t.Fatalf("no %s series before the fault: the check would prove nothing", tc.hit)
	}
	// The inventory is due again: every inventory collector reads EM.
	s.clock.Advance(collector.DefaultInventoryInterval)
	faulty := s.clock.Now()
	f := tc.fault
	f.Count = -1
	s.sim.InjectFault(f)
	s.logs.Reset()
	code, body := s.scrape(t, 30*time.Second)
	logs := s.logs.String()
	if code != http.StatusOK {
		t.Fatalf("the scrape during the fault answered %d, want 200", code)
	}
	if up(body) != "0" {
		t.Errorf("veeam_em_up = %s during the fault, want 0\n%s", up(body), logs)
	}
	if got, want := collectorLines(body, tc.hit), collectorLines(good, tc.hit); got != want {
		t.Errorf("the last %s values are not served unchanged during the fault:\n%s", tc.hit, lineDiff(want, got))
	}
	for _, k := range collector.Kinds() {
		success := counterValue(t, s, "veeam_em_collector_success", map[string]string{"collector": string(k)})
		last := counterValue(t, s, "veeam_em_collector_last_success_timestamp_seconds", map[string]string{"collector": string(k)})
		if k == tc.hit {
			if success != 0 {
				t.Errorf("veeam_em_collector_success{collector=%q} = %v during its fault, want 0", k, success)
			}
			if want := float64(first.Unix()); last != want {
				t.Errorf("veeam_em_collector_last_success_timestamp_seconds{collector=%q} = %v during its fault, want the first read's %v", k, last, want)
			}
			continue
		}
		if success != 1 {
			t.Errorf("veeam_em_collector_success{collector=%q} = %v: the %s fault hid it\n%s", k, success, tc.hit, logs)
		}
		if want := float64(faulty.Unix()); last != want {
			t.Errorf("veeam_em_collector_last_success_timestamp_seconds{collector=%q} = %v, want this refresh's %v", k, last, want)
		}
		if collectorLines(body, k) == "" {
			t.Errorf("no %s series during the %s fault", k, tc.hit)
		}
	}
	var errorLines []string
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if strings.Contains(line, "level=error") {
			errorLines = append(errorLines, line)
		}
	}
	if len(errorLines) != 1 {
		t.Errorf("%d error lines for one failed refresh, want 1:\n%s", len(errorLines), logs)
	} else {
		t.Log(errorLines[0])
		for _, cause := range tc.logHas {
			if !strings.Contains(errorLines[0], cause) {
				t.Errorf("the error line does not name %q:\n%s", cause, errorLines[0])
			}
		}
	}

	// Recovery at the next refresh, a minute later: a failed read does not
	// wait for the interval.
	s.sim.ClearFaults()
	s.clock.Advance(time.Minute)
	s.sim.ResetRequests()
	s.logs.Reset()
	code, body = s.scrape(t, 30*time.Second)
	if code != http.StatusOK || up(body) != "1" {
		t.Fatalf("after the fault: %d, veeam_em_up %s, want 200 and 1\n%s", code, up(body), s.logs)
	}
	n := requestsByType(s.sim)
	for k, types := range inventoryTypes {
		for _, typ := range types {
			switch {
			case k == tc.hit && n[typ] == 0:
				t.Errorf("%s was not asked again at the refresh after its collector failed", typ)
			case k != tc.hit && n[typ] != 0:
				t.Errorf("%s asked %d times a minute after its collector's good read, want 0", typ, n[typ])
			}
		}
	}
	for _, k := range collector.Kinds() {
		if v := counterValue(t, s, "veeam_em_collector_success", map[string]string{"collector": string(k)}); v != 1 {
			t.Errorf("veeam_em_collector_success{collector=%q} = %v after the fault, want 1", k, v)
		}
	}
	if v, want := counterValue(t, s, "veeam_em_collector_last_success_timestamp_seconds", map[string]string{"collector": string(tc.hit)}), float64(s.clock.Now().Unix()); v != want {
		t.Errorf("veeam_em_collector_last_success_timestamp_seconds{collector=%q} = %v after recovery, want %v", tc.hit, v, want)
	}
}

// TestProbeEveryCollector: in probe mode every target gets every enabled
// collector, each with its own EM's estate.
func TestProbeEveryCollector(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	servers := map[string]map[string]bool{}
	for _, target := range []struct {
		url, module string
		sim         *emsim.Running
	}{{f.east.URL, "em_east", f.east}, {f.dr.URL, "em_dr", f.dr}} {
		code, body := f.probe(t, target.url, target.module)
		if code != http.StatusOK {
			t.Fatalf("%s: probe = %d", target.module, code)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", target.module, err)
		}
		if v := families["veeam_em_up"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
			t.Errorf("%s: veeam_em_up = %v, want 1", target.module, v)
		}
		for _, k := range collector.Kinds() {
			if collectorLines(body, k) == "" {
				t.Errorf("%s: no %s series", target.module, k)
			}
			found := false
			for _, m := range families["veeam_em_collector_success"].GetMetric() {
				if label(m, "collector") == string(k) {
					found = true
					if v := m.GetGauge().GetValue(); v != 1 {
						t.Errorf("%s: veeam_em_collector_success{collector=%q} = %v, want 1", target.module, k, v)
					}
				}
			}
			if !found {
				t.Errorf("%s: no veeam_em_collector_success{collector=%q}", target.module, k)
			}
		}
		for _, name := range []string{"veeam_em_repository_info", "veeam_em_job_info", "veeam_em_backup_server_info", "veeam_em_summary_vms"} {
			if len(families[name].GetMetric()) == 0 {
				t.Errorf("%s: no %s series", target.module, name)
			}
		}
		// Each target's backup servers are its own EM's.
		own := map[string]bool{}
		for _, bs := range target.sim.BackupServers() {
			own[bs.Name] = true
		}
		servers[target.module] = map[string]bool{}
		for _, m := range families["veeam_em_backup_server_info"].GetMetric() {
			name := label(m, "backup_server")
			servers[target.module][name] = true
			if !own[name] {
				t.Errorf("%s: backup server %q is not this EM's", target.module, name)
			}
		}
		if len(servers[target.module]) != len(own) {
			t.Errorf("%s: %d backup servers, its EM has %d", target.module, len(servers[target.module]), len(own))
		}
		for name := range own {
			if !servers[target.module][name] {
				t.Errorf("%s: backup server %q missing", target.module, name)
			}
		}
	}
}

// TestInventorySessionExpiresMidScrape: EM's logon session expires on an
// inventory request (401): the client logs on again once and the refresh
// succeeds.
func TestInventorySessionExpiresMidScrape(t *testing.T) {
	for _, fault := range []emsim.Fault{
		{Path: "query", Type: "Repository", ExpireSession: true, Count: 1},
		{Path: "report", Type: "VmsOverviewReportFrame", ExpireSession: true, Count: 1},
	} {
		t.Run(fault.Type, func(t *testing.T) {
			s := newStack(t, 50, 0)
			if code, body := s.scrape(t, 30*time.Second); code != http.StatusOK || up(body) != "1" {
				t.Fatalf("first scrape: %d, veeam_em_up %s\n%s", code, up(body), s.logs)
			}
			s.clock.Advance(collector.DefaultInventoryInterval)
			logons := s.sim.Logons()
			s.sim.InjectFault(fault)
			if code, body := s.scrape(t, 30*time.Second); code != http.StatusOK || up(body) != "1" {
				t.Fatalf("scrape with an expired session: %d, veeam_em_up %s, want 1\n%s", code, up(body), s.logs)
			}
			if got := s.sim.Logons() - logons; got != 1 {
				t.Errorf("%d logons after the session expired, want 1", got)
			}
			for _, k := range collector.Kinds() {
				if v := counterValue(t, s, "veeam_em_collector_success", map[string]string{"collector": string(k)}); v != 1 {
					t.Errorf("veeam_em_collector_success{collector=%q} = %v, want 1", k, v)
				}
			}
		})
	}
}
