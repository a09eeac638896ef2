package collector

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

const (
	testLookback = 168 * time.Hour
	testOverlap  = time.Hour
)

// deterministicMetrics is every metric but the refresh's wall time, of
// both kinds.
var deterministicMetrics = withBackupFamilies([]string{
	"veeam_em_up",
	"veeam_em_last_successful_refresh_timestamp_seconds",
	"veeam_em_refreshes_total",
	"veeam_em_refresh_failures_total",
	"veeam_em_logons_total",
	"veeam_em_collector_success",
	"veeam_em_sessions_fetched_total",
	"veeam_em_invalid_sessions_total",
	"veeam_em_replica_task_last_state",
	"veeam_em_replica_task_last_result",
	"veeam_em_replica_task_last_start_timestamp_seconds",
	"veeam_em_replica_task_last_end_timestamp_seconds",
	"veeam_em_replica_task_last_duration_seconds",
	"veeam_em_replica_task_last_total_size_bytes",
	"veeam_em_replica_task_last_completion_timestamp_seconds",
	"veeam_em_replica_task_sessions_total",
	"veeam_em_replica_task_duration_seconds",
	"veeam_em_replica_job_last_state",
	"veeam_em_replica_job_last_result",
	"veeam_em_replica_job_last_start_timestamp_seconds",
	"veeam_em_replica_job_last_end_timestamp_seconds",
	"veeam_em_replica_job_last_duration_seconds",
	"veeam_em_replica_job_sessions_total",
})

// withBackupFamilies adds to names the backup twin of every replica family
// in it: the backup kind has the same families.
func withBackupFamilies(names []string) []string {
	for _, name := range names {
		if family, ok := strings.CutPrefix(name, "veeam_em_"+string(Replica)+"_"); ok {
			names = append(names, "veeam_em_"+string(Backup)+"_"+family)
		}
	}
	return names
}

// fixture is a collector over a fake EM and a fake clock at t0.
type fixture struct {
	src   *fakeSource
	clock *emsim.ManualClock
	c     *Collector
	logs  *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with the options changed by set.
func newFixtureWith(t *testing.T, set func(*Options)) *fixture {
	t.Helper()
	f := &fixture{src: &fakeSource{logons: 1}, clock: emsim.NewManualClock(t0), logs: &bytes.Buffer{}}
	opts := Options{
		Lookback: testLookback,
		Overlap:  testOverlap,
		Now:      f.clock.Now,
		Logger:   log.NewLogfmtLogger(log.NewSyncWriter(f.logs)),
	}
	if set != nil {
		set(&opts)
	}
	f.c = New(f.src, opts)
	return f
}

func (f *fixture) refresh(t *testing.T) {
	t.Helper()
	if err := f.c.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

// assertGolden compares the collector's deterministic metrics with
// testdata/name.prom, or rewrites that file under -update.
func assertGolden(t *testing.T, c *Collector, name string) {
	t.Helper()
	assertGoldenFamilies(t, c, name, deterministicMetrics...)
}

// assertGoldenFamilies compares the families named with testdata/name.prom,
// or rewrites that file under -update.
func assertGoldenFamilies(t *testing.T, c *Collector, name string, families ...string) {
	t.Helper()
	path := filepath.Join("testdata", name+".prom")
	if *update {
		got, err := testutil.CollectAndFormat(c, expfmt.TypeTextPlain, families...)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(c, want, families...); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

// statesAndResults has every task state and result, a latest task session
// still running after completed ones, a VM retried after a failure, a job
// whose only session runs and a job without tasks.
func statesAndResults() ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession) {
	const vbr01, vbr02 = "vbr01.corp.local", "vbr02.corp.local"
	j1 := jobRun("j1", vbr01, "Replica Job 1", t0.Add(-26*time.Hour), 40*time.Minute, veeam.ResultFailed, false)
	j2 := jobRun("j2", vbr01, "Replica Job 1", t0.Add(-25*time.Hour), 10*time.Minute, veeam.ResultSuccess, true)
	j3 := jobRun("j3", vbr01, "Replica Job 1", t0.Add(-2*time.Hour), 30*time.Minute, veeam.ResultWarning, false)
	j4 := jobRun("j4", vbr01, "Replica Job 1", t0.Add(-10*time.Minute), 0, veeam.ResultNone, false)
	j5 := jobRun("j5", vbr02, "Replica Job 2", t0.Add(-5*time.Hour), 2*time.Hour, veeam.ResultSuccess, false)
	j6 := jobRun("j6", vbr02, "Replica Job 3", t0.Add(-time.Hour), 0, veeam.ResultNone, false)
	j6.State = veeam.JobStatePausing
	j7 := jobRun("j7", vbr01, "Replica Job 4", t0.Add(-30*time.Minute), 0, veeam.ResultNone, false)
	j7.State = veeam.JobStateStarting
	at := func(j veeam.ReplicaJobSession, d time.Duration) time.Time { return j.CreationTime.Add(d) }
	tasks := []veeam.ReplicaTaskSession{
		running("t4", j4, "web01", at(j4, 5*time.Second), veeam.TaskStateInProgress),
		running("t7", j4, "db01", at(j4, 10*time.Second), veeam.TaskStatePending),
		running("t11", j6, "new01", at(j6, 5*time.Second), veeam.TaskStateInProgress),
		done("t3", j3, "web01", at(j3, 5*time.Second+60*time.Millisecond), 20*time.Minute, veeam.ResultSuccess),
		done("t6", j3, "db01", at(j3, 10*time.Second), 25*time.Minute, veeam.ResultWarning),
		done("t8", j3, "app01", at(j3, 15*time.Second), 90*time.Second, veeam.ResultFailed),
		done("t9", j5, "file01", at(j5, 5*time.Second), 110*time.Minute, veeam.ResultSuccess),
		done("t10", j5, "mail01", at(j5, 8*time.Second), 45*time.Minute, veeam.ResultWarning),
		done("t2", j2, "web01", at(j2, 5*time.Second), 7*time.Minute, veeam.ResultSuccess),
		done("t1", j1, "web01", at(j1, 5*time.Second), 5*time.Minute, veeam.ResultFailed),
		done("t5", j1, "db01", at(j1, 10*time.Second), 30*time.Minute, veeam.ResultSuccess),
	}
	return tasks, []veeam.ReplicaJobSession{j7, j4, j6, j3, j5, j2, j1}
}

func TestGoldenStatesAndResults(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.src.taskInvalid, f.src.jobInvalid = 1, 2
	f.refresh(t)
	assertGolden(t, f.c, "states_and_results")
}

// TestGoldenHardNames checks that EM's names reach the labels exactly, with
// only the exposition format's escaping.
func TestGoldenHardNames(t *testing.T) {
	f := newFixture(t)
	f.src.set(hardNames())
	f.refresh(t)
	assertGolden(t, f.c, "hard_names")
}

// hardNames are sessions of a server, a job and VMs whose names need
// escaping or are not ASCII.
func hardNames() ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession) {
	const server = "sauvegarde-Genève-备份.corp.local"
	j := jobRun("dr", server, "Replica@DR site", t0.Add(-4*time.Hour), time.Hour, veeam.ResultSuccess, false)
	var tasks []veeam.ReplicaTaskSession
	for i, vm := range []string{`fs01, "legacy"`, `app;db`, `C:\share\vm`, `Zürich-DC`, `数据库-01`} {
		tasks = append(tasks, done("hard"+string(rune('a'+i)), j, vm, j.CreationTime.Add(time.Duration(i)*time.Minute), 10*time.Minute, veeam.ResultSuccess))
	}
	return tasks, []veeam.ReplicaJobSession{j}
}

// TestGoldenFallbackJobName covers task sessions whose job session EM did
// not return: the job name then comes from the job session's name.
func TestGoldenFallbackJobName(t *testing.T) {
	f := newFixture(t)
	f.src.set(fallbackJobNames())
	f.refresh(t)
	assertGolden(t, f.c, "fallback_job_name")
}

// fallbackJobNames are task sessions of a job session EM did not return, of
// an old EM version's job session and of a renamed job.
func fallbackJobNames() ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession) {
	// Only the task sessions of this run are returned, not the run itself.
	unknown := jobRun("unknown", "vbr01", "Replica@DR site", t0.Add(-3*time.Hour), time.Hour, veeam.ResultSuccess, false)
	unknown.Name = "Replica@DR site@2025-06-18 11:00:00.1234567"
	// An old EM version: the job session's name is the job name alone, and
	// the job session has no JobName.
	legacy := jobRun("legacy", "vbr01", "", t0.Add(-2*time.Hour), time.Hour, veeam.ResultWarning, false)
	legacy.Name = "Legacy Job"
	// A renamed job: the join wins over the session name.
	renamed := jobRun("renamed", "vbr01", "New Name", t0.Add(-time.Hour), 30*time.Minute, veeam.ResultSuccess, false)
	renamed.Name = "Old Name@2025-06-18 11:00:00"
	return []veeam.ReplicaTaskSession{
		done("u1", unknown, "vm-unknown-job", unknown.CreationTime, 5*time.Minute, veeam.ResultSuccess),
		done("l1", legacy, "vm-legacy", legacy.CreationTime, 5*time.Minute, veeam.ResultWarning),
		done("r1", renamed, "vm-renamed", renamed.CreationTime, 5*time.Minute, veeam.ResultSuccess),
	}, []veeam.ReplicaJobSession{renamed, legacy}
}

// TestLint lints the replica and the backup families, each with series of
// every state and result.
func TestLint(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.src.setBackup(backupStatesAndResults())
	f.refresh(t)
	problems, err := testutil.CollectAndLint(f.c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestBeforeFirstRefresh checks what a scrape shows before EM ever answered.
func TestBeforeFirstRefresh(t *testing.T) {
	f := newFixture(t)
	want := `
# HELP veeam_em_up 1 if the last refresh from Enterprise Manager succeeded for every enabled collector, 0 if one failed or none has run yet. While 0, the other metrics show the state of each collector's last successful refresh.
# TYPE veeam_em_up gauge
veeam_em_up 0
# HELP veeam_em_last_successful_refresh_timestamp_seconds Unix time of the last refresh from Enterprise Manager in which every enabled collector succeeded; 0 if none has yet.
# TYPE veeam_em_last_successful_refresh_timestamp_seconds gauge
veeam_em_last_successful_refresh_timestamp_seconds 0
# HELP veeam_em_scrape_duration_seconds Wall time the last refresh from Enterprise Manager took, successful or not; 0 before the first refresh.
# TYPE veeam_em_scrape_duration_seconds gauge
veeam_em_scrape_duration_seconds 0
`
	if err := testutil.CollectAndCompare(f.c, strings.NewReader(want), "veeam_em_up", "veeam_em_last_successful_refresh_timestamp_seconds", "veeam_em_scrape_duration_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(f.c, "veeam_em_replica_task_last_state", "veeam_em_replica_job_last_state"); n != 0 {
		t.Errorf("%d session series before any refresh, want 0", n)
	}
	if f.c.Ready() {
		t.Error("Ready before any refresh")
	}
	f.refresh(t)
	if !f.c.Ready() {
		t.Error("not Ready after a successful refresh")
	}
}
