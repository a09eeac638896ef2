package veeam

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// collectAll runs an inventory query and returns every item.
func collectAll[T any](ctx context.Context, t *testing.T, query func(context.Context, func(Page[T]) error) (QueryStats, error)) ([]T, QueryStats) {
	t.Helper()
	var items []T
	stats, err := query(ctx, func(p Page[T]) error {
		items = append(items, p.Items...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return items, stats
}

// optionalSize is how the client reads a size the simulator writes.
func optionalSize(n int64) Optional[int64] {
	if n < 0 {
		return Optional[int64]{}
	}
	return Known(n)
}

func TestEstateMatchesTheSimulatorsTruth(t *testing.T) {
	now := time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)
	sim, err := emsim.Start(emsim.Config{Seed: 5, Username: testUser, Password: testPassword,
		Clock: emsim.NewManualClock(now), Topology: emsim.TestTopology()}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c, err := New(Config{URL: sim.URL, Username: testUser, Password: func() (string, error) { return testPassword, nil }, PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := testContext(t)

	repos, repoStats := collectAll(ctx, t, c.Repositories)
	var wantRepos []Repository
	for _, r := range sim.Repositories(now) {
		wantRepos = append(wantRepos, Repository{UID: r.UID, Name: r.Name, BackupServerName: r.BackupServer, Kind: r.Kind,
			Capacity: optionalSize(r.Capacity), FreeSpace: optionalSize(r.FreeSpace)})
	}
	compareItems(t, "repositories", repos, wantRepos)

	jobs, jobStats := collectAll(ctx, t, c.Jobs)
	var wantJobs []Job
	for _, j := range sim.Jobs(now) {
		wantJobs = append(wantJobs, Job{UID: j.UID, Name: j.Name, BackupServerName: j.BackupServer, JobType: j.JobType, Platform: j.Platform,
			Description: j.Description, ScheduleConfigured: j.ScheduleConfigured, ScheduleEnabled: j.ScheduleEnabled, NextRun: j.NextRun})
	}
	compareItems(t, "jobs", jobs, wantJobs)

	servers, _ := collectAll(ctx, t, c.BackupServers)
	var wantServers []BackupServer
	for _, s := range sim.BackupServers() {
		wantServers = append(wantServers, BackupServer{UID: s.UID, Name: s.Name, Description: s.Description, Version: s.Version, Port: s.Port})
	}
	compareItems(t, "backup servers", servers, wantServers)

	l := sim.Landmarks()
	for _, r := range repos {
		if r.Name == l.ObjectStorageRepository && r.SizeKnown() {
			t.Errorf("object storage %+v has a known size", r)
		}
	}
	if repoStats.Pages < 2 || jobStats.Pages < 2 || repoStats.Invalid+jobStats.Invalid != 0 {
		t.Errorf("repositories %+v, jobs %+v: want several pages and nothing invalid", repoStats, jobStats)
	}

	overview, err := c.OverviewReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := sim.OverviewReport(now)
	if want := (OverviewReport{BackupServers: Known(o.BackupServers), ProxyServers: Known(o.ProxyServers), RepositoryServers: Known(o.RepositoryServers),
		RunningJobs: Known(o.RunningJobs), ScheduledJobs: Known(o.ScheduledJobs), SuccessfulVMLatestStates: Known(o.SuccessfulVMs),
		WarningVMLatestStates: Known(o.WarningVMs), FailedVMLatestStates: Known(o.FailedVMs)}); !reflect.DeepEqual(overview, want) {
		t.Errorf("overview %+v, want %+v", overview, want)
	}
	vms, err := c.VMsOverviewReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := sim.VMsOverviewReport(now)
	if want := (VMsOverviewReport{ProtectedVMs: Known(v.ProtectedVMs), BackedUpVMs: Known(v.BackedUpVMs), ReplicatedVMs: Known(v.ReplicatedVMs),
		RestorePoints: Known(v.RestorePoints), FullBackupPointsSize: Known(v.FullBackupPointsSize), IncrementalBackupPointsSize: Known(v.IncrementalBackupPointsSize),
		ReplicaRestorePointsSize: Known(v.ReplicaRestorePointsSize), SourceVMsSize: Known(v.SourceVMsSize),
		SuccessBackupPercent: Known(float64(v.SuccessBackupPercents))}); !reflect.DeepEqual(vms, want) {
		t.Errorf("VMs overview %+v, want %+v", vms, want)
	}
	stats, err := c.JobStatisticsReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j := sim.JobStatisticsReport(now)
	if want := (JobStatisticsReport{RunningJobs: Known(j.RunningJobs), ScheduledJobs: Known(j.ScheduledJobs), ScheduledBackupJobs: Known(j.ScheduledBackupJobs),
		ScheduledReplicaJobs: Known(j.ScheduledReplicaJobs), TotalJobRuns: Known(j.TotalJobRuns), SuccessfulJobRuns: Known(j.SuccessfulJobRuns),
		WarningJobRuns: Known(j.WarningsJobRuns), FailedJobRuns: Known(j.FailedJobRuns), MaxJobDuration: Known(time.Duration(j.MaxJobDuration) * time.Second),
		MaxBackupJobDuration: Known(time.Duration(j.MaxBackupJobDuration) * time.Second), MaxReplicaJobDuration: Known(time.Duration(j.MaxReplicaJobDuration) * time.Second),
		MaxDurationBackupJobName: j.MaxDurationBackupJobName, MaxDurationReplicaJobName: j.MaxDurationReplicaJobName}); !reflect.DeepEqual(stats, want) {
		t.Errorf("job statistics %+v, want %+v", stats, want)
	}

	// Each request reached EM under its type, and the client counted it so.
	logged := map[string]int{}
	for _, r := range sim.Requests() {
		logged[r.Type]++
	}
	counted := c.Stats().RequestsByOutcome
	for _, typ := range []string{RepositoryType, JobType, BackupServerType, OverviewReportType, VMsOverviewReportType, JobStatisticsReportType} {
		if logged[typ] == 0 || uint64(logged[typ]) != counted[RequestKey{typ, OutcomeSuccess}] {
			t.Errorf("%s: %d requests logged by the simulator, %d counted by the client", typ, logged[typ], counted[RequestKey{typ, OutcomeSuccess}])
		}
	}
}

func compareItems[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %s, want %d", len(got), what, len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s %d:\ngot  %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}
