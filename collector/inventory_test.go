package collector

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// The families of each inventory collector, as the table names them.
var (
	repositoryFamilies   = []string{"veeam_em_repository_capacity_bytes", "veeam_em_repository_free_bytes", "veeam_em_repository_info"}
	jobInventoryFamilies = []string{"veeam_em_job_info", "veeam_em_job_schedule_configured", "veeam_em_job_schedule_enabled", "veeam_em_job_next_run_timestamp_seconds"}
	serverFamilies       = []string{"veeam_em_backup_server_info"}
	summaryFamilies      = []string{"veeam_em_summary_vms", "veeam_em_summary_vms_latest_result", "veeam_em_summary_servers",
		"veeam_em_summary_jobs", "veeam_em_summary_restore_points", "veeam_em_summary_restore_points_size_bytes",
		"veeam_em_summary_source_vms_size_bytes", "veeam_em_summary_backup_success_ratio", "veeam_em_summary_job_runs"}
	// inventoryStatus are the status families a golden file of an
	// inventory collector holds next to its series; all deterministic
	// under the manual clock.
	inventoryStatus = []string{"veeam_em_up", "veeam_em_collector_success", "veeam_em_collector_last_success_timestamp_seconds",
		"veeam_em_refreshes_total", "veeam_em_refresh_failures_total"}
)

// newInventoryFixture is a collector of kind alone over a fake EM, its
// clock at t0.
func newInventoryFixture(t *testing.T, kinds ...Kind) *fixture {
	t.Helper()
	return newFixtureWith(t, func(o *Options) { o.Kinds = kinds })
}

// assertInventoryGolden compares families and the status families with
// testdata/name.prom, or rewrites that file under -update.
func assertInventoryGolden(t *testing.T, c *Collector, name string, families []string) {
	t.Helper()
	assertGoldenFamilies(t, c, name, append(append([]string(nil), families...), inventoryStatus...)...)
}

// Hard names: a backslash, a dollar sign, quotes and non-ASCII text, which
// must reach the labels exactly, with only the exposition's escaping.
const (
	vbr01    = "vbr01.corp.local"
	vbr02    = "vbr02.corp.local"
	hardVBR  = `sauvegarde-Genève-备份.corp.local`
	petabyte = int64(1_000_000_000_000_000)
)

// goldenRepositories has an object-storage repository of unknown size, a
// petabyte repository, one whose free space EM does not know, hard names,
// the same name on two servers, and one repository EM lists twice.
func goldenRepositories() []veeam.Repository {
	known := veeam.Known[int64]
	return []veeam.Repository{
		{UID: "urn:veeam:Repository:1", Name: "Default Backup Repository", BackupServerName: vbr01, Kind: "WindowsLocal",
			Capacity: known(2 << 40), FreeSpace: known(500 << 30)},
		{UID: "urn:veeam:Repository:2", Name: "Default Backup Repository", BackupServerName: vbr02, Kind: "LinuxLocal",
			Capacity: known(1 << 40), FreeSpace: known(40 << 30)},
		// Object storage: EM writes -1, which the client reads as unknown.
		{UID: "urn:veeam:Repository:3", Name: "Wasabi Immutable", BackupServerName: vbr01, Kind: "AmazonS3Compatible"},
		{UID: "urn:veeam:Repository:4", Name: "Archive Tier", BackupServerName: vbr02, Kind: "LinuxHardened",
			Capacity: known(3 * petabyte), FreeSpace: known(petabyte + 123_456_789)},
		{UID: "urn:veeam:Repository:5", Name: `C:\Backups\Repo$1`, BackupServerName: hardVBR, Kind: "WindowsLocal",
			Capacity: known(100 << 30), FreeSpace: known(7 << 30)},
		{UID: "urn:veeam:Repository:6", Name: `Dépôt "Zürich" 数据 $HOME`, BackupServerName: hardVBR, Kind: "CifsShare",
			Capacity: known(10 << 40)},
		// Listed twice: the first stands, and the scrape stays valid.
		{UID: "urn:veeam:Repository:1", Name: "Default Backup Repository", BackupServerName: vbr01, Kind: "WindowsLocal",
			Capacity: known(2 << 40), FreeSpace: known(1)},
	}
}

func TestGoldenRepository(t *testing.T) {
	f := newInventoryFixture(t, Repository)
	f.src.repositories = goldenRepositories()
	f.refresh(t)
	assertInventoryGolden(t, f.c, "repository", repositoryFamilies)
	// The object-storage repository has its info series and nothing else.
	got, err := testutil.CollectAndFormat(f.c, expfmt.TypeTextPlain, repositoryFamilies...)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(got), "\n") {
		if strings.Contains(line, `repository="Wasabi Immutable"`) && !strings.HasPrefix(line, "veeam_em_repository_info{") {
			t.Errorf("a series of the object-storage repository, whose size EM does not know: %s", line)
		}
	}
}

// goldenJobs has a disabled schedule, a job that never ran and has no next
// run, a job run by hand only, open JobType and Platform strings, hard
// names and the same job name on two servers.
func goldenJobs() []veeam.Job {
	next := t0.Add(47*time.Minute + 500*time.Millisecond)
	return []veeam.Job{
		{UID: "urn:veeam:Job:1", Name: "Backup Job 1", BackupServerName: vbr01, JobType: "Backup", Platform: "VMware",
			ScheduleConfigured: true, ScheduleEnabled: true, NextRun: next},
		{UID: "urn:veeam:Job:2", Name: "Backup Job 1", BackupServerName: vbr02, JobType: "Backup", Platform: "VMware",
			ScheduleConfigured: true, ScheduleEnabled: true, NextRun: next.Add(time.Hour)},
		// Switched off: no next run.
		{UID: "urn:veeam:Job:3", Name: "Disabled Job", BackupServerName: vbr01, JobType: "Replica", Platform: "VMware",
			ScheduleConfigured: true, ScheduleEnabled: false},
		// Created, never ran, no schedule: run by hand only.
		{UID: "urn:veeam:Job:4", Name: "Never Ran", BackupServerName: vbr02, JobType: "BackupCopy", Platform: "VMware"},
		{UID: "urn:veeam:Job:5", Name: "Hyper-V Nightly", BackupServerName: vbr01, JobType: "Backup", Platform: "Hyperv",
			ScheduleConfigured: true, ScheduleEnabled: true, NextRun: t0.Add(10 * time.Hour)},
		{UID: "urn:veeam:Job:6", Name: "Agent Policy", BackupServerName: vbr02, JobType: "EndpointBackup", Platform: "CustomPlatform",
			ScheduleConfigured: true, ScheduleEnabled: true, NextRun: t0.Add(24 * time.Hour)},
		{UID: "urn:veeam:Job:7", Name: `Job\share\$nightly "full"`, BackupServerName: hardVBR, JobType: "Backup", Platform: "VMware",
			ScheduleConfigured: true, ScheduleEnabled: true, NextRun: t0.Add(2 * time.Hour)},
		{UID: "urn:veeam:Job:8", Name: "Sauvegarde Zürich 数据库", BackupServerName: hardVBR, JobType: "Replica", Platform: "HyperV",
			ScheduleConfigured: true, ScheduleEnabled: false},
	}
}

func TestGoldenJob(t *testing.T) {
	f := newInventoryFixture(t, Job)
	f.src.estateJobs = goldenJobs()
	f.refresh(t)
	assertInventoryGolden(t, f.c, "job", jobInventoryFamilies)
}

func TestGoldenBackupServer(t *testing.T) {
	f := newInventoryFixture(t, BackupServer)
	f.src.backupServers = []veeam.BackupServer{
		{UID: "urn:veeam:BackupServer:1", Name: vbr01, Version: "12.3.2.4465", Port: 9392},
		{UID: "urn:veeam:BackupServer:2", Name: vbr02, Version: "13.0.0.4967", Port: 9392},
		{UID: "urn:veeam:BackupServer:3", Name: hardVBR, Version: "12.1.2.172"},
	}
	f.refresh(t)
	assertInventoryGolden(t, f.c, "backup_server", serverFamilies)
}

// goldenSummary has every value known. SuccessfulVMLatestStates and
// WarningJobRuns come from EM's misspelt SuccessfulVmLastestStates and
// WarningsJobRuns.
func goldenSummary() (veeam.OverviewReport, veeam.VMsOverviewReport, veeam.JobStatisticsReport) {
	known := veeam.Known[int64]
	return veeam.OverviewReport{
			BackupServers: known(2), ProxyServers: known(5), RepositoryServers: known(4),
			RunningJobs: known(3), ScheduledJobs: known(17),
			SuccessfulVMLatestStates: known(120), WarningVMLatestStates: known(7), FailedVMLatestStates: known(2),
		}, veeam.VMsOverviewReport{
			ProtectedVMs: known(129), BackedUpVMs: known(110), ReplicatedVMs: known(40), RestorePoints: known(3456),
			FullBackupPointsSize: known(12 * (1 << 40)), IncrementalBackupPointsSize: known(900 << 30),
			ReplicaRestorePointsSize: known(2 * petabyte), SourceVMsSize: known(30 << 40),
			SuccessBackupPercent: veeam.Known(97.5),
		}, veeam.JobStatisticsReport{
			RunningJobs: known(3), ScheduledJobs: known(17),
			TotalJobRuns: known(400), SuccessfulJobRuns: known(380), WarningJobRuns: known(15), FailedJobRuns: known(5),
		}
}

func TestGoldenSummary(t *testing.T) {
	f := newInventoryFixture(t, Summary)
	f.src.overview, f.src.vmsOverview, f.src.jobStatistics = goldenSummary()
	f.refresh(t)
	assertInventoryGolden(t, f.c, "summary", summaryFamilies)
}

// TestGoldenSummaryUnknown: a value EM does not know (left out, empty, -1
// or unparseable, all read as unknown) has no series, and a family without
// a known value is absent.
func TestGoldenSummaryUnknown(t *testing.T) {
	f := newInventoryFixture(t, Summary)
	overview, vms, jobs := goldenSummary()
	overview.ProxyServers = veeam.Optional[int64]{}
	overview.WarningVMLatestStates = veeam.Optional[int64]{}
	overview.Invalid = []string{"WarningVmLastestStates"}
	overview.RunningJobs, overview.ScheduledJobs = veeam.Optional[int64]{}, veeam.Optional[int64]{}
	vms.SuccessBackupPercent = veeam.Optional[float64]{}
	vms.RestorePoints = veeam.Optional[int64]{}
	vms.ReplicaRestorePointsSize = veeam.Optional[int64]{}
	jobs.WarningJobRuns = veeam.Optional[int64]{}
	f.src.overview, f.src.vmsOverview, f.src.jobStatistics = overview, vms, jobs
	f.refresh(t)
	assertInventoryGolden(t, f.c, "summary_unknown", summaryFamilies)
}

// allInventoryTypes are the request types of the inventory collectors.
var allInventoryTypes = []string{veeam.RepositoryType, veeam.JobType, veeam.BackupServerType,
	veeam.OverviewReportType, veeam.VMsOverviewReportType, veeam.JobStatisticsReportType}

// TestInventoryInterval: over 20 refreshes in 5 minutes of the collector's
// clock, each inventory request type reaches EM exactly once, and once
// more once the interval has passed, while the session types are queried
// at every refresh and the inventory series are served throughout.
func TestInventoryInterval(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.src.repositories = goldenRepositories()
	f.src.estateJobs = goldenJobs()
	f.src.backupServers = []veeam.BackupServer{{Name: vbr01, Version: "12.3.2.4465"}}
	f.src.overview, f.src.vmsOverview, f.src.jobStatistics = goldenSummary()
	sessionTypes := []string{veeam.ReplicaTaskSessionType, veeam.ReplicaJobSessionType, veeam.BackupTaskSessionType, veeam.BackupJobSessionType}

	// The first refresh is the sessions' initial load, which may query a
	// type more than once; every later refresh queries each type once.
	var sessionBase map[string]int
	check := func(when string, refreshes, inventory int) {
		t.Helper()
		for _, typ := range allInventoryTypes {
			if got := f.src.queried(typ); got != inventory {
				t.Errorf("%s: %s queried %d times, want %d", when, typ, got, inventory)
			}
		}
		for _, typ := range sessionTypes {
			if got, want := f.src.queried(typ), sessionBase[typ]+refreshes-1; got != want {
				t.Errorf("%s: %s queried %d times, want %d: once at each of the %d refreshes after the first", when, typ, got, want, refreshes-1)
			}
		}
	}
	// 20 refreshes 15s apart: from t0 to t0+4m45s, within the interval.
	for i := range 20 {
		if i > 0 {
			f.clock.Advance(15 * time.Second)
		}
		f.refresh(t)
		if i == 0 {
			sessionBase = map[string]int{}
			for _, typ := range sessionTypes {
				sessionBase[typ] = f.src.queried(typ)
			}
		}
		if n := testutil.CollectAndCount(f.c, "veeam_em_repository_info", "veeam_em_job_info", "veeam_em_backup_server_info", "veeam_em_summary_vms"); n != 6+8+1+3 {
			t.Fatalf("refresh %d: %d inventory series, want 18 served throughout", i+1, n)
		}
	}
	check("20 refreshes in 5 minutes", 20, 1)
	if got := statusValue(t, f.c, "veeam_em_collector_last_success_timestamp_seconds", Repository); got != unixSeconds(t0) {
		t.Errorf("repository's last success = %v, want the first refresh's %v", got, unixSeconds(t0))
	}
	// Just short of the interval: still nothing.
	f.clock.Set(t0.Add(DefaultInventoryInterval - time.Second))
	f.refresh(t)
	check("just short of the interval", 21, 1)
	// The interval has passed: once more, and only once.
	f.clock.Set(t0.Add(DefaultInventoryInterval))
	f.refresh(t)
	f.clock.Advance(time.Second)
	f.refresh(t)
	check("after the interval", 23, 2)
	if got := statusValue(t, f.c, "veeam_em_collector_last_success_timestamp_seconds", Job); got != unixSeconds(t0.Add(DefaultInventoryInterval)) {
		t.Errorf("job's last success = %v, want the second read's %v", got, unixSeconds(t0.Add(DefaultInventoryInterval)))
	}
}

// TestInventoryIntervalOption: Options.InventoryInterval replaces the
// default.
func TestInventoryIntervalOption(t *testing.T) {
	src := &fakeSource{repositories: goldenRepositories()}
	clock := emsim.NewManualClock(t0)
	c := New(src, Options{Now: clock.Now, Kinds: []Kind{Repository}, InventoryInterval: time.Minute})
	for range 10 {
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
	}
	if got := src.queried(veeam.RepositoryType); got != 5 {
		t.Errorf("10 refreshes 30s apart with a 1m interval queried repositories %d times, want 5", got)
	}
}

// TestInventoryFailureRetries: a failed inventory read keeps the last
// values, says so in its collector's success alone, and is retried at the
// next refresh rather than after the interval.
func TestInventoryFailureRetries(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.src.repositories = goldenRepositories()
	f.src.estateJobs = goldenJobs()
	f.src.overview, f.src.vmsOverview, f.src.jobStatistics = goldenSummary()
	f.refresh(t)
	before, err := testutil.CollectAndFormat(f.c, expfmt.TypeTextPlain, repositoryFamilies...)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(DefaultInventoryInterval)
	f.src.mu.Lock()
	f.src.estateErr = map[string]error{veeam.RepositoryType: errors.New("Database is not available")}
	f.src.repositories = nil
	f.src.mu.Unlock()
	f.logs.Reset()
	if err := f.c.Refresh(context.Background()); err == nil {
		t.Fatal("the refresh succeeded while the repository query failed")
	}
	if logs := f.logs.String(); strings.Count(logs, "level=error") != 1 || !strings.Contains(logs, "fetch repositories: Database is not available") {
		t.Errorf("want one error line naming the repositories and the cause:\n%s", logs)
	}
	after, err := testutil.CollectAndFormat(f.c, expfmt.TypeTextPlain, repositoryFamilies...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the repositories' last values are not served during the failure:\nbefore\n%s\nafter\n%s", before, after)
	}
	for _, k := range Kinds() {
		want := 1.0
		if k == Repository {
			want = 0
		}
		if got := statusValue(t, f.c, "veeam_em_collector_success", k); got != want {
			t.Errorf("veeam_em_collector_success{collector=%q} = %v, want %v", k, got, want)
		}
	}
	if got := statusValue(t, f.c, "veeam_em_collector_last_success_timestamp_seconds", Repository); got != unixSeconds(t0) {
		t.Errorf("repository's last success = %v during the failure, want the first read's %v", got, unixSeconds(t0))
	}
	// The next refresh, a second later, asks again.
	f.clock.Advance(time.Second)
	f.src.mu.Lock()
	f.src.estateErr = nil
	f.src.mu.Unlock()
	f.refresh(t)
	if got := f.src.queried(veeam.RepositoryType); got != 3 {
		t.Errorf("repositories queried %d times, want 3: the failed read is retried at the next refresh", got)
	}
	if got := f.src.queried(veeam.JobType); got != 2 {
		t.Errorf("jobs queried %d times, want 2: the job collector's read stands for its interval", got)
	}
	if n := testutil.CollectAndCount(f.c, repositoryFamilies...); n != 0 {
		t.Errorf("%d repository series after EM listed none, want 0", n)
	}
	if got := statusValue(t, f.c, "veeam_em_collector_success", Repository); got != 1 {
		t.Errorf("veeam_em_collector_success{collector=\"repository\"} = %v after recovery, want 1", got)
	}
}

// statusValue is the value of the series of a status family name whose
// collector label is k; -1 if there is none.
func statusValue(t *testing.T, c *Collector, name string, k Kind) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "collector" && lp.GetValue() == string(k) {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
