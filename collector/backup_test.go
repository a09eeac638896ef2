package collector

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// asBackup turns replica sessions into backup sessions as EM returns them:
// the same fields, backup UIDs and job types, and the VM's UID.
func asBackup(tasks []veeam.ReplicaTaskSession, jobs []veeam.ReplicaJobSession, jobType func(job string) string) ([]veeam.BackupTaskSession, []veeam.BackupJobSession) {
	backupUID := func(uid string) string {
		return strings.NewReplacer("ReplicaTaskSession", "BackupTaskSession", "ReplicaJobSession", "BackupJobSession").Replace(uid)
	}
	var backupTasks []veeam.BackupTaskSession
	for _, t := range tasks {
		t.UID, t.JobSessionUID = backupUID(t.UID), backupUID(t.JobSessionUID)
		backupTasks = append(backupTasks, veeam.BackupTaskSession{ReplicaTaskSession: t, VMUID: "urn:VMware:Vm:vc01.vm-" + t.VMDisplayName})
	}
	var backupJobs []veeam.BackupJobSession
	for _, j := range jobs {
		j.UID, j.JobType = backupUID(j.UID), jobType(j.JobName)
		backupJobs = append(backupJobs, veeam.BackupJobSession{ReplicaJobSession: j})
	}
	return backupTasks, backupJobs
}

// backupStatesAndResults are the sessions of statesAndResults as backup
// sessions: job 2 is a backup copy job, the others backup jobs.
func backupStatesAndResults() ([]veeam.BackupTaskSession, []veeam.BackupJobSession) {
	tasks, jobs := statesAndResults()
	return asBackup(tasks, jobs, func(job string) string {
		if job == "Replica Job 2" {
			return "BackupCopy"
		}
		return "Backup"
	})
}

// TestGoldenBackupStatesAndResults checks the backup families: the replica
// families' series under veeam_em_backup_, with job_type on the job
// families only.
func TestGoldenBackupStatesAndResults(t *testing.T) {
	f := newFixture(t)
	f.src.setBackup(backupStatesAndResults())
	f.refresh(t)
	assertGolden(t, f.c, "backup_states_and_results")
}

// TestBackupMirrorsReplica checks, on the sessions of every replica golden
// test, that the same sessions give the same series whether EM returns them
// as replica or as backup sessions, apart from the family names and the
// job_type label.
func TestBackupMirrorsReplica(t *testing.T) {
	for name, sessions := range map[string]func() ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession){
		"states and results": statesAndResults,
		"hard names":         hardNames,
		"fallback job name":  fallbackJobNames,
	} {
		t.Run(name, func(t *testing.T) {
			replica := newFixture(t)
			replica.src.set(sessions())
			replica.refresh(t)
			backup := newFixture(t)
			tasks, jobs := sessions()
			backup.src.setBackup(asBackup(tasks, jobs, func(string) string { return "Backup" }))
			backup.refresh(t)
			compared := 0
			for _, family := range deterministicMetrics {
				if !strings.HasPrefix(family, "veeam_em_replica_") {
					continue
				}
				want := series(t, replica.c, family)
				got := make(map[string]float64)
				for key, v := range series(t, backup.c, strings.Replace(family, "veeam_em_replica_", "veeam_em_backup_", 1)) {
					got[strings.Replace(key, ",job_type=Backup", "", 1)] = v
				}
				compared += len(want)
				if len(got) != len(want) {
					t.Errorf("%s: %d backup series, %d replica series", family, len(got), len(want))
				}
				for key, v := range want {
					if g, ok := got[key]; !ok || g != v {
						t.Errorf("%s{%s}: backup %v (present %v), replica %v", family, key, g, ok, v)
					}
				}
			}
			if compared == 0 {
				t.Fatal("no replica series: the comparison would prove nothing")
			}
		})
	}
}

// TestDisabledKindIsNeitherQueriedNorExposed switches each kind off in turn.
func TestDisabledKindIsNeitherQueriedNorExposed(t *testing.T) {
	for _, tc := range []struct {
		enabled, disabled Kind
		queried, skipped  []string
		prefix, absent    string
	}{
		{Replica, Backup, []string{"ReplicaTaskSession", "ReplicaJobSession"}, []string{"BackupTaskSession", "BackupJobSession"}, "veeam_em_replica_", "veeam_em_backup_"},
		{Backup, Replica, []string{"BackupTaskSession", "BackupJobSession"}, []string{"ReplicaTaskSession", "ReplicaJobSession"}, "veeam_em_backup_", "veeam_em_replica_"},
	} {
		t.Run(string(tc.enabled), func(t *testing.T) {
			src := &fakeSource{logons: 1}
			src.set(statesAndResults())
			src.setBackup(backupStatesAndResults())
			clock := emsim.NewManualClock(t0)
			c := New(src, Options{Lookback: testLookback, Overlap: testOverlap, Now: clock.Now, Kinds: []Kind{tc.enabled}})
			for range 2 {
				if err := c.Refresh(context.Background()); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Minute)
			}
			// The load reads the overlap and the history before it, the
			// next refresh what changed since.
			for _, q := range tc.queried {
				if n := src.queried(q); n != 3 {
					t.Errorf("%s queried %d times in 2 refreshes, want 3", q, n)
				}
			}
			for _, q := range tc.skipped {
				if n := src.queried(q) + src.counted(q); n != 0 {
					t.Errorf("%s queried %d times though its collector is off", q, n)
				}
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			seen := false
			for _, mf := range families {
				seen = seen || strings.HasPrefix(mf.GetName(), tc.prefix)
				if strings.HasPrefix(mf.GetName(), tc.absent) {
					t.Errorf("family %s of a disabled collector", mf.GetName())
				}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetValue() == string(tc.disabled) || slices.Contains(tc.skipped, l.GetValue()) {
							t.Errorf("%s{%s=%q}: a series about a disabled collector", mf.GetName(), l.GetName(), l.GetValue())
						}
					}
				}
			}
			if !seen {
				t.Errorf("no %s family", tc.prefix)
			}
			expectSeries(t, c, "veeam_em_collector_success", map[string]float64{"collector=" + string(tc.enabled): 1})
			expectSeries(t, c, "veeam_em_up", map[string]float64{"": 1})
		})
	}
}

// TestFailingKindDoesNotHideTheOther fails the backup queries while the
// replica ones work: the replica state moves on, the backup state stays as
// it was, and the exporter says which collector failed.
func TestFailingKindDoesNotHideTheOther(t *testing.T) {
	f := newFixture(t)
	tasks, jobs := statesAndResults()
	f.src.set(tasks, jobs)
	f.src.setBackup(backupStatesAndResults())
	f.refresh(t)
	backupBefore := series(t, f.c, "veeam_em_backup_task_sessions_total")

	late := jobRun("late", "vbr01.corp.local", "Replica Job 1", t0.Add(5*time.Minute), time.Minute, veeam.ResultSuccess, false)
	lateTask := done("late", late, "web01", late.CreationTime, time.Minute, veeam.ResultSuccess)
	f.src.set(append(tasks, lateTask), append(jobs, late))
	backupTasks, backupJobs := asBackup([]veeam.ReplicaTaskSession{lateTask}, []veeam.ReplicaJobSession{late}, func(string) string { return "Backup" })
	allTasks, allJobs := backupStatesAndResults()
	f.src.setBackup(append(allTasks, backupTasks...), append(allJobs, backupJobs...))
	refused := &veeam.APIError{Op: "query BackupTaskSession page 1", StatusCode: 500, Status: "InternalServerError", Message: "Backup database is offline"}
	f.src.failBackupWith(refused)
	f.clock.Advance(10 * time.Minute)
	f.logs.Reset()
	err := f.c.Refresh(context.Background())
	if !errors.Is(err, refused) {
		t.Fatalf("Refresh returned %v, want the backup queries' error", err)
	}
	if !strings.Contains(err.Error(), "fetch backup task sessions and backup job sessions: ") {
		t.Errorf("%q does not name the failed collector's queries once", err)
	}
	if n := strings.Count(f.logs.String(), "level=error"); n != 1 || !strings.Contains(f.logs.String(), "Backup database is offline") {
		t.Errorf("want one error line naming the cause, got:\n%s", f.logs)
	}
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 0})
	expectSeries(t, f.c, "veeam_em_collector_success", map[string]float64{"collector=replica": 1, "collector=backup": 0, "collector=repository": 1, "collector=job": 1, "collector=backup_server": 1, "collector=summary": 1, "collector=replica_point": 1, "collector=cdp": 1})
	if got := series(t, f.c, "veeam_em_replica_task_sessions_total")["backup_server=vbr01.corp.local,job_name=Replica Job 1,result=Success,vm=web01"]; got != 3 {
		t.Errorf("replica web01 successes = %v after the replica refresh, want 3", got)
	}
	expectSeries(t, f.c, "veeam_em_backup_task_sessions_total", backupBefore)
	if f.c.Ready() != true {
		t.Error("not Ready though both collectors succeeded once")
	}

	f.src.failBackupWith(nil)
	f.clock.Advance(time.Minute)
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 1})
	expectSeries(t, f.c, "veeam_em_collector_success", map[string]float64{"collector=replica": 1, "collector=backup": 1, "collector=repository": 1, "collector=job": 1, "collector=backup_server": 1, "collector=summary": 1, "collector=replica_point": 1, "collector=cdp": 1})
	if got := series(t, f.c, "veeam_em_backup_task_sessions_total")["backup_server=vbr01.corp.local,job_name=Replica Job 1,result=Success,vm=web01"]; got != 3 {
		t.Errorf("backup web01 successes = %v after the backup queries recovered, want 3", got)
	}
}

// TestNotReadyUntilEveryKindSucceeded: metrics that lack a whole kind do not
// reflect EM yet.
func TestNotReadyUntilEveryKindSucceeded(t *testing.T) {
	f := newFixture(t)
	f.src.failBackupWith(errors.New("EM answered HTTP 500"))
	if err := f.c.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded though the backup queries failed")
	}
	if f.c.Ready() {
		t.Error("Ready though the backup collector never succeeded")
	}
	f.src.failBackupWith(nil)
	f.refresh(t)
	if !f.c.Ready() {
		t.Error("not Ready after both collectors succeeded")
	}
}

// TestJobTypeFollowsTheNewestSession: a job whose type EM reports
// differently (recreated under the same name) moves to the new job_type
// series.
func TestJobTypeFollowsTheNewestSession(t *testing.T) {
	f := newFixture(t)
	first := jobRun("b1", vbr, "Nightly", t0.Add(-2*time.Hour), 10*time.Minute, veeam.ResultSuccess, false)
	tasks, jobs := asBackup(nil, []veeam.ReplicaJobSession{first}, func(string) string { return "Backup" })
	f.src.setBackup(tasks, jobs)
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_backup_job_last_start_timestamp_seconds", map[string]float64{
		"backup_server=vbr01,job_name=Nightly,job_type=Backup": unixSeconds(first.CreationTime),
	})

	second := jobRun("b2", vbr, "Nightly", t0.Add(time.Minute), 10*time.Minute, veeam.ResultWarning, false)
	_, more := asBackup(nil, []veeam.ReplicaJobSession{second}, func(string) string { return "BackupCopy" })
	f.src.setBackup(tasks, append(jobs, more...))
	f.clock.Advance(15 * time.Minute)
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_backup_job_last_start_timestamp_seconds", map[string]float64{
		"backup_server=vbr01,job_name=Nightly,job_type=BackupCopy": unixSeconds(second.CreationTime),
	})
	expectSeries(t, f.c, "veeam_em_backup_job_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Nightly,job_type=BackupCopy,result=Failed,retry=false":  0,
		"backup_server=vbr01,job_name=Nightly,job_type=BackupCopy,result=Failed,retry=true":   0,
		"backup_server=vbr01,job_name=Nightly,job_type=BackupCopy,result=Success,retry=false": 1,
		"backup_server=vbr01,job_name=Nightly,job_type=BackupCopy,result=Success,retry=true":  0,
		"backup_server=vbr01,job_name=Nightly,job_type=BackupCopy,result=Warning,retry=false": 1,
		"backup_server=vbr01,job_name=Nightly,job_type=BackupCopy,result=Warning,retry=true":  0,
	})
}

// TestNewPanicsOnAnUnknownKind: a kind New does not know is a programming
// error, caught at start.
func TestNewPanicsOnAnUnknownKind(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"tape"`) {
			t.Errorf("recovered %v, want a panic naming the kind", r)
		}
	}()
	New(&fakeSource{}, Options{Kinds: []Kind{"tape"}, Logger: log.NewNopLogger()})
}

// TestDifferentCausesAreAllSaid: queries that failed for different reasons
// are each named, on one line, and each cause stays reachable.
func TestDifferentCausesAreAllSaid(t *testing.T) {
	f := newFixture(t)
	replicaErr := &veeam.APIError{Op: "query ReplicaTaskSession page 1", StatusCode: 500, Status: "InternalServerError", Message: "replica index rebuilding"}
	backupErr := &veeam.APIError{Op: "query BackupJobSession page 1", StatusCode: 503, Status: "ServiceUnavailable", Message: "backup catalog offline"}
	f.src.failWith(replicaErr, nil)
	f.src.failBackupWith(backupErr)
	err := f.c.Refresh(context.Background())
	if !errors.Is(err, replicaErr) || !errors.Is(err, backupErr) {
		t.Fatalf("Refresh returned %v, want both causes reachable", err)
	}
	msg := err.Error()
	for _, want := range []string{"fetch replica task sessions: ", "replica index rebuilding; ", "fetch backup task sessions and backup job sessions: "} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if n := strings.Count(msg, "backup catalog offline"); n != 1 {
		t.Errorf("the backup queries' shared cause appears %d times in %q, want once", n, msg)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("the error spans several lines: %q", msg)
	}
	expectSeries(t, f.c, "veeam_em_collector_success", map[string]float64{"collector=replica": 0, "collector=backup": 0, "collector=repository": 1, "collector=job": 1, "collector=backup_server": 1, "collector=summary": 1, "collector=replica_point": 1, "collector=cdp": 1})
}
