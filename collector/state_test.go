package collector

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// series reads the collector's metrics of one family, keyed by their labels
// written as name=value pairs joined by commas in label name order.
func series(t *testing.T, c *Collector, family string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range families {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + "=" + l.GetValue()
			}
			out[key] = sampleValue(m)
		}
	}
	return out
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

func expectSeries(t *testing.T, c *Collector, family string, want map[string]float64) {
	t.Helper()
	got := series(t, c, family)
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s{%s} absent, want %v", family, k, v)
		} else if g != v {
			t.Errorf("%s{%s} = %v, want %v", family, k, g, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s{%s} = %v", family, k, v)
		}
	}
}

const vbr = "vbr01"

// created selects the sessions created within [from, to).
func created(from, to time.Time) veeam.Clause {
	return veeam.Clause{Created: veeam.Window{Since: from, Until: to}}
}

// changes are the clauses a steady query adds while sessions created from
// oldest on run: those that ended since the last refresh, and those still
// in a transitional state.
func changes(oldest, last, now time.Time) []veeam.Clause {
	return []veeam.Clause{
		{Created: veeam.Window{Since: oldest, Until: now}, Ended: veeam.Window{Since: last.Add(-changesSlack), Until: now}},
		{Created: veeam.Window{Since: oldest, Until: now}, Transitional: true},
	}
}

// loadSelections are the queries of a load at now: the overlap, then the
// history before it.
func loadSelections(now time.Time) []veeam.Selection {
	return []veeam.Selection{{created(now.Add(-testOverlap), now)}, {created(now.Add(-testLookback), now.Add(-testOverlap))}}
}

func expectSelections(t *testing.T, src *fakeSource, queryType string, want []veeam.Selection) {
	t.Helper()
	got := src.selections(queryType)
	if len(got) != len(want) {
		t.Fatalf("%d %s queries, want %d:\n%v", len(got), queryType, len(want), got)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s query %d selects\n%v\nwant\n%v", queryType, i+1, got[i], want[i])
		}
	}
}

// The first refresh loads the lookback; each later one asks for the
// sessions created since the one before and, while sessions run, for those
// of them that ended since, or are still in a transitional state. A gap in
// the scrapes loses nothing: the next query starts where the last one
// ended.
func TestSteadyRefreshAsksForWhatChanged(t *testing.T) {
	f := newFixture(t)
	j := jobRun("j1", vbr, "Job", t0.Add(-3*time.Hour), 0, veeam.ResultNone, false)
	tk := running("t1", j, "vm1", t0.Add(-3*time.Hour), veeam.TaskStateInProgress)
	f.src.set([]veeam.ReplicaTaskSession{tk}, []veeam.ReplicaJobSession{j})
	f.refresh(t) // at t0: the whole lookback

	f.clock.Advance(15 * time.Minute)
	f.refresh(t)

	// Both complete between the second and the third refresh.
	jDone := jobRun("j1", vbr, "Job", t0.Add(-3*time.Hour), 3*time.Hour+25*time.Minute, veeam.ResultSuccess, false)
	tDone := done("t1", jDone, "vm1", t0.Add(-3*time.Hour), 3*time.Hour+20*time.Minute, veeam.ResultSuccess)
	f.src.set([]veeam.ReplicaTaskSession{tDone}, []veeam.ReplicaJobSession{jDone})
	f.clock.Advance(15 * time.Minute)
	f.refresh(t) // read as they ended

	f.clock.Advance(15 * time.Minute)
	f.refresh(t) // nothing runs: only the new sessions

	f.clock.Advance(3 * time.Hour)
	f.refresh(t)

	at := func(d time.Duration) time.Time { return t0.Add(d) }
	want := append(loadSelections(t0),
		append(veeam.Selection{created(t0, at(15*time.Minute))}, changes(at(-3*time.Hour), t0, at(15*time.Minute))...),
		append(veeam.Selection{created(at(15*time.Minute), at(30*time.Minute))}, changes(at(-3*time.Hour), at(15*time.Minute), at(30*time.Minute))...),
		veeam.Selection{created(at(30*time.Minute), at(45*time.Minute))},
		// The gap, longer than the overlap: what is older than the overlap
		// first, by a query of its own.
		veeam.Selection{created(at(45*time.Minute), at(2*time.Hour+45*time.Minute))},
		veeam.Selection{created(at(2*time.Hour+45*time.Minute), at(3*time.Hour+45*time.Minute))},
	)
	expectSelections(t, f.src, veeam.ReplicaTaskSessionType, want)
	expectSelections(t, f.src, veeam.ReplicaJobSessionType, want)
	expectSeries(t, f.c, "veeam_em_replica_task_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm1":  0,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1": 1,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm1": 0,
	})
}

// A session seen running is followed while it runs, and forgotten once it
// was created before the lookback, which the metrics no longer reflect.
func TestRunningSessionFollowedWithinTheLookback(t *testing.T) {
	f := newFixture(t)
	old := jobRun("j0", vbr, "Job", t0.Add(-167*time.Hour), 0, veeam.ResultNone, false)
	f.src.set([]veeam.ReplicaTaskSession{running("t0", old, "vm0", old.CreationTime, veeam.TaskStateInProgress)}, []veeam.ReplicaJobSession{old})
	f.refresh(t)
	for _, step := range []time.Duration{30 * time.Minute, 90 * time.Minute, time.Hour} {
		f.clock.Advance(step)
		f.refresh(t)
	}
	// The load; the running session from its creation; after 90 minutes,
	// longer than the overlap, what is older than the overlap first; then
	// nothing runs any more.
	want := []time.Time{t0.Add(-testOverlap), t0.Add(-testLookback), old.CreationTime, t0.Add(30 * time.Minute), old.CreationTime, t0.Add(2 * time.Hour)}
	taskSinces, jobSinces := f.src.sinces()
	for name, got := range map[string][]time.Time{"task": taskSinces, "job": jobSinces} {
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("%s queries reach back to %v, want %v", name, got, want)
		}
	}
	if n := len(series(t, f.c, "veeam_em_replica_task_last_state")); n != 0 {
		t.Errorf("%d task state series for a session that started before the lookback, want 0", n)
	}
}

// Each query type follows its own running sessions.
func TestQueryTypesFollowTheirOwnRunningSessions(t *testing.T) {
	f := newFixture(t)
	// The job session is still running, its only task is done.
	j := jobRun("j1", vbr, "Job", t0.Add(-5*time.Hour), 0, veeam.ResultNone, false)
	f.src.set([]veeam.ReplicaTaskSession{done("t1", j, "vm1", j.CreationTime, time.Hour, veeam.ResultSuccess)}, []veeam.ReplicaJobSession{j})
	f.refresh(t)
	f.clock.Advance(time.Minute)
	f.refresh(t)
	now := t0.Add(time.Minute)
	expectSelections(t, f.src, veeam.ReplicaTaskSessionType, append(loadSelections(t0), veeam.Selection{created(t0, now)}))
	expectSelections(t, f.src, veeam.ReplicaJobSessionType, append(loadSelections(t0),
		append(veeam.Selection{created(t0, now)}, changes(j.CreationTime, t0, now)...)))
}

// A completion that reaches EM only after the refresh past its end saw the
// session still running is not asked for again by EndTime: the rescan finds
// it, by EM's count of the sessions ended within the overlap, and reads it
// alone. So does a session that reaches EM after a later one.
func TestLateArrivalsFoundByTheRescan(t *testing.T) {
	f := newFixture(t)
	j := jobRun("j1", vbr, "Job", t0.Add(-30*time.Minute), 0, veeam.ResultNone, false)
	f.src.set([]veeam.ReplicaTaskSession{running("t1", j, "vm1", j.CreationTime, veeam.TaskStateInProgress)}, []veeam.ReplicaJobSession{j})
	f.refresh(t)

	// Both ended at t0+1m, EM learns it only at t0+10m.
	f.clock.Advance(5 * time.Minute)
	f.refresh(t)
	jDone := jobRun("j1", vbr, "Job", j.CreationTime, 31*time.Minute, veeam.ResultSuccess, false)
	tDone := done("t1", jDone, "vm1", j.CreationTime, 31*time.Minute, veeam.ResultFailed)
	// And a session created at t0+2m reaches EM at t0+12m.
	k := jobRun("j2", vbr, "Other", t0.Add(2*time.Minute), 3*time.Minute, veeam.ResultSuccess, false)
	late := done("t2", k, "vm2", k.CreationTime, 2*time.Minute, veeam.ResultWarning)
	f.src.set([]veeam.ReplicaTaskSession{tDone, late}, []veeam.ReplicaJobSession{jDone, k})
	f.clock.Advance(7 * time.Minute)
	f.refresh(t) // t0+12m: neither is asked for
	if got := series(t, f.c, "veeam_em_replica_task_sessions_total")["backup_server=vbr01,job_name=Job,result=Failed,vm=vm1"]; got != 0 {
		t.Fatalf("the late completion counted before the rescan: %v", got)
	}
	f.clock.Advance(3 * time.Minute)
	f.refresh(t) // t0+15m: the rescan is due
	expectSeries(t, f.c, "veeam_em_replica_task_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm1":    1,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1":   0,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm1":   0,
		"backup_server=vbr01,job_name=Other,result=Failed,vm=vm2":  0,
		"backup_server=vbr01,job_name=Other,result=Success,vm=vm2": 0,
		"backup_server=vbr01,job_name=Other,result=Warning,vm=vm2": 1,
	})
	if n := f.src.counted(veeam.ReplicaTaskSessionType); n == 0 {
		t.Error("no count probe: the rescan did not run")
	}
	// Found by EM's counts, bucket by bucket: the rescan read only buckets
	// (a twelfth of the overlap, by creation or by end), one holding the
	// late session or the late completion, and nothing else. The two
	// dimensions are checked at once, so one bucket may serve both.
	asked := f.src.selections(veeam.ReplicaTaskSessionType)
	steady := slices.IndexFunc(asked, func(sel veeam.Selection) bool {
		return slices.Contains(sel, created(t0.Add(12*time.Minute), t0.Add(15*time.Minute)))
	})
	rescan := asked[steady+1:]
	if steady < 0 || len(rescan) == 0 || len(rescan) > 2 {
		t.Fatalf("queries %v: want the steady one at t0+15m, then one or two rescan reads", asked)
	}
	bucket := testOverlap/rescanBuckets + time.Second
	foundLate, foundCompletion := false, false
	for _, sel := range rescan {
		if len(sel) != 1 {
			t.Errorf("the rescan read %v, want one bucket per read", sel)
			continue
		}
		cl := sel[0]
		if w := cl.Created; cl.Ended.IsZero() && w.Until.Sub(w.Since) > bucket || !cl.Ended.IsZero() && cl.Ended.Until.Sub(cl.Ended.Since) > bucket {
			t.Errorf("the rescan read %v, wider than a bucket", cl)
		}
		foundLate = foundLate || cl.Matches(late.CreationTime, late.EndTime, false)
		foundCompletion = foundCompletion || cl.Matches(tDone.CreationTime, tDone.EndTime, false)
	}
	if !foundLate || !foundCompletion {
		t.Errorf("the rescan read %v: the late session found %v, the late completion found %v", rescan, foundLate, foundCompletion)
	}

	// Counted once, however often the rescan runs.
	for range 3 {
		f.clock.Advance(15 * time.Minute)
		f.refresh(t)
	}
	if got := series(t, f.c, "veeam_em_replica_task_sessions_total")["backup_server=vbr01,job_name=Job,result=Failed,vm=vm1"]; got != 1 {
		t.Errorf("the late completion counted %v times, want once", got)
	}
}

// A session seen Pending moves on to InProgress: it is not asked for by
// itself, since it no longer is in a transitional state, and its absence
// from the complete answer says so.
func TestTransitionalSessionSettles(t *testing.T) {
	f := newFixture(t)
	j := jobRun("j1", vbr, "Job", t0.Add(-time.Minute), 0, veeam.ResultNone, false)
	j.State = veeam.JobStateStarting
	f.src.set([]veeam.ReplicaTaskSession{running("t1", j, "vm1", j.CreationTime, veeam.TaskStatePending)}, []veeam.ReplicaJobSession{j})
	f.refresh(t)
	working := j
	working.State = veeam.JobStateWorking
	f.src.set([]veeam.ReplicaTaskSession{running("t1", working, "vm1", j.CreationTime, veeam.TaskStateInProgress)}, []veeam.ReplicaJobSession{working})
	f.clock.Advance(time.Minute)
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_replica_task_last_state", map[string]float64{
		"backup_server=vbr01,job_name=Job,state=Pending,vm=vm1":    0,
		"backup_server=vbr01,job_name=Job,state=InProgress,vm=vm1": 1,
		"backup_server=vbr01,job_name=Job,state=Completed,vm=vm1":  0,
	})
	if got := series(t, f.c, "veeam_em_replica_job_last_state")["backup_server=vbr01,job_name=Job,state=Working"]; got != 1 {
		t.Errorf("job state Working = %v, want 1", got)
	}
	if n := f.src.selections(veeam.ReplicaTaskSessionType); len(n) != 3 {
		t.Fatalf("%d task queries, want the load's 2 and 1", len(n))
	}
	if got := f.src.sessionsFetched(); got != 2 {
		t.Errorf("%d sessions fetched, want only the 2 of the first refresh", got)
	}
}

func TestEachSessionCountedOnce(t *testing.T) {
	f := newFixture(t)
	j := jobRun("j1", vbr, "Job", t0.Add(-30*time.Minute), 0, veeam.ResultNone, false)
	first := running("t1", j, "vm1", j.CreationTime, veeam.TaskStateInProgress)
	other := done("t2", j, "vm2", j.CreationTime, 10*time.Minute, veeam.ResultWarning)
	// vm3's task session runs all along, so the refreshes keep asking for
	// the task sessions that ended since the one before.
	third := running("t3", j, "vm3", j.CreationTime, veeam.TaskStateInProgress)
	f.src.set([]veeam.ReplicaTaskSession{first, other, third}, []veeam.ReplicaJobSession{j})
	f.refresh(t)
	zero := map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm1":  0,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1": 0,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm1": 0,
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm2":  0,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm2": 0,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm2": 1,
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm3":  0,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm3": 0,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm3": 0,
	}
	expectSeries(t, f.c, "veeam_em_replica_task_sessions_total", zero)
	expectSeries(t, f.c, "veeam_em_replica_job_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,retry=false":  0,
		"backup_server=vbr01,job_name=Job,result=Failed,retry=true":   0,
		"backup_server=vbr01,job_name=Job,result=Success,retry=false": 0,
		"backup_server=vbr01,job_name=Job,result=Success,retry=true":  0,
		"backup_server=vbr01,job_name=Job,result=Warning,retry=false": 0,
		"backup_server=vbr01,job_name=Job,result=Warning,retry=true":  0,
	})

	// t1 ends 5s before the first of the next refreshes and the job
	// session with it: the second refresh reads them again, within the
	// slack for EM's clock, and neither may be counted twice.
	jDone := jobRun("j1", vbr, "Job", j.CreationTime, 35*time.Minute, veeam.ResultWarning, false)
	f.src.set([]veeam.ReplicaTaskSession{
		done("t1", jDone, "vm1", j.CreationTime, 35*time.Minute-5*time.Second, veeam.ResultSuccess), other, third,
	}, []veeam.ReplicaJobSession{jDone})
	for range 3 {
		f.clock.Advance(5 * time.Minute)
		f.refresh(t)
	}
	zero["backup_server=vbr01,job_name=Job,result=Success,vm=vm1"] = 1
	expectSeries(t, f.c, "veeam_em_replica_task_sessions_total", zero)
	expectSeries(t, f.c, "veeam_em_replica_task_duration_seconds", map[string]float64{"backup_server=vbr01,job_name=Job": 2})
	expectSeries(t, f.c, "veeam_em_replica_job_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,retry=false":  0,
		"backup_server=vbr01,job_name=Job,result=Failed,retry=true":   0,
		"backup_server=vbr01,job_name=Job,result=Success,retry=false": 0,
		"backup_server=vbr01,job_name=Job,result=Success,retry=true":  0,
		"backup_server=vbr01,job_name=Job,result=Warning,retry=false": 1,
		"backup_server=vbr01,job_name=Job,result=Warning,retry=true":  0,
	})
	expectSeries(t, f.c, "veeam_em_replica_task_last_state", map[string]float64{
		"backup_server=vbr01,job_name=Job,state=Pending,vm=vm1":    0,
		"backup_server=vbr01,job_name=Job,state=InProgress,vm=vm1": 0,
		"backup_server=vbr01,job_name=Job,state=Completed,vm=vm1":  1,
		"backup_server=vbr01,job_name=Job,state=Pending,vm=vm2":    0,
		"backup_server=vbr01,job_name=Job,state=InProgress,vm=vm2": 0,
		"backup_server=vbr01,job_name=Job,state=Completed,vm=vm2":  1,
		"backup_server=vbr01,job_name=Job,state=Pending,vm=vm3":    0,
		"backup_server=vbr01,job_name=Job,state=InProgress,vm=vm3": 1,
		"backup_server=vbr01,job_name=Job,state=Completed,vm=vm3":  0,
	})
	// t1 three times (the load, and twice as it ended), the job session
	// twice (the load, and as it ended).
	expectSeries(t, f.c, "veeam_em_sessions_fetched_total", map[string]float64{
		"type=ReplicaTaskSession":    5,
		"type=ReplicaJobSession":     2,
		"type=BackupTaskSession":     0,
		"type=BackupJobSession":      0,
		"type=CdpReplicaTaskSession": 0,
		"type=CdpReplicaSession":     0,
	})
}

func TestRetryAfterFailure(t *testing.T) {
	f := newFixture(t)
	run := jobRun("j1", vbr, "Job", t0.Add(-3*time.Hour), time.Hour, veeam.ResultFailed, false)
	retry := jobRun("j2", vbr, "Job", t0.Add(-90*time.Minute), 30*time.Minute, veeam.ResultSuccess, true)
	f.src.set([]veeam.ReplicaTaskSession{
		done("t1", run, "vm1", run.CreationTime, 50*time.Minute, veeam.ResultFailed),
		done("t2", retry, "vm1", retry.CreationTime, 20*time.Minute, veeam.ResultSuccess),
	}, []veeam.ReplicaJobSession{retry, run})
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_replica_task_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm1":  1,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1": 1,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm1": 0,
	})
	expectSeries(t, f.c, "veeam_em_replica_task_last_result", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm1":  0,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1": 1,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm1": 0,
	})
	expectSeries(t, f.c, "veeam_em_replica_task_last_completion_timestamp_seconds", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm1":  unixSeconds(run.CreationTime.Add(50 * time.Minute)),
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1": unixSeconds(retry.CreationTime.Add(20 * time.Minute)),
	})
	expectSeries(t, f.c, "veeam_em_replica_job_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,retry=false":  1,
		"backup_server=vbr01,job_name=Job,result=Failed,retry=true":   0,
		"backup_server=vbr01,job_name=Job,result=Success,retry=false": 0,
		"backup_server=vbr01,job_name=Job,result=Success,retry=true":  1,
		"backup_server=vbr01,job_name=Job,result=Warning,retry=false": 0,
		"backup_server=vbr01,job_name=Job,result=Warning,retry=true":  0,
	})
}

func TestSeriesExpireAfterLookback(t *testing.T) {
	f := newFixture(t)
	oldRun := jobRun("j1", vbr, "Old Job", t0.Add(-100*time.Hour), time.Hour, veeam.ResultFailed, false)
	run := jobRun("j2", vbr, "Job", t0.Add(-100*time.Hour), time.Hour, veeam.ResultFailed, false)
	later := jobRun("j3", vbr, "Job", t0.Add(-time.Hour), 30*time.Minute, veeam.ResultSuccess, false)
	f.src.set([]veeam.ReplicaTaskSession{
		done("t1", oldRun, "vm-old", oldRun.CreationTime, 10*time.Minute, veeam.ResultFailed),
		done("t2", run, "vm1", run.CreationTime, 10*time.Minute, veeam.ResultFailed),
		done("t3", later, "vm1", later.CreationTime, 10*time.Minute, veeam.ResultSuccess),
	}, []veeam.ReplicaJobSession{later, run, oldRun})
	f.refresh(t)

	// The old sessions are an hour within the lookback: all still shown.
	f.clock.Advance(67 * time.Hour)
	f.refresh(t)
	if n := len(series(t, f.c, "veeam_em_replica_task_last_completion_timestamp_seconds")); n != 3 {
		t.Errorf("%d last completion series before expiry, want 3", n)
	}

	// Past the lookback of the old sessions, before that of the later ones.
	f.clock.Advance(2 * time.Hour)
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_replica_task_sessions_total", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Failed,vm=vm1":  1,
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1": 1,
		"backup_server=vbr01,job_name=Job,result=Warning,vm=vm1": 0,
	})
	expectSeries(t, f.c, "veeam_em_replica_task_last_completion_timestamp_seconds", map[string]float64{
		"backup_server=vbr01,job_name=Job,result=Success,vm=vm1": unixSeconds(later.CreationTime.Add(10 * time.Minute)),
	})
	expectSeries(t, f.c, "veeam_em_replica_task_duration_seconds", map[string]float64{"backup_server=vbr01,job_name=Job": 2})
	expectSeries(t, f.c, "veeam_em_replica_job_last_start_timestamp_seconds", map[string]float64{
		"backup_server=vbr01,job_name=Job": unixSeconds(later.CreationTime),
	})

	// Past the lookback of everything: nothing but the exporter's own metrics.
	f.clock.Advance(testLookback)
	f.refresh(t)
	for _, family := range deterministicMetrics {
		if !strings.HasPrefix(family, "veeam_em_replica_") {
			continue
		}
		if n := len(series(t, f.c, family)); n != 0 {
			t.Errorf("%d %s series after the lookback, want 0", n, family)
		}
	}
	if st := replicaOf(f.c).state; len(st.jobNames) != 0 || len(st.taskLedger.entries) != 0 || len(st.jobLedger.entries) != 0 {
		t.Errorf("bookkeeping left after the lookback: %d job names, %d task UIDs, %d job UIDs",
			len(st.jobNames), len(st.taskLedger.entries), len(st.jobLedger.entries))
	}
}

// TestBookkeepingStaysWithinWindow checks that memory does not grow with
// history: after the first refresh, only the UIDs a later window can return
// again are remembered.
func TestBookkeepingStaysWithinWindow(t *testing.T) {
	f := newFixture(t)
	var tasks []veeam.ReplicaTaskSession
	var jobs []veeam.ReplicaJobSession
	for h := 1; h <= 100; h++ {
		j := jobRun("j"+strconv.Itoa(h), vbr, "Hourly", t0.Add(-time.Duration(h)*time.Hour+time.Minute), 20*time.Minute, veeam.ResultSuccess, false)
		jobs = append(jobs, j)
		for _, vm := range []string{"a", "b", "c"} {
			tasks = append(tasks, done(j.UID+vm, j, vm, j.CreationTime, 10*time.Minute, veeam.ResultSuccess))
		}
	}
	f.src.set(tasks, jobs)
	f.refresh(t)
	// Only the run created 59 minutes ago is within the 1h overlap that a
	// later query can read again: the others are not even remembered.
	if got := len(replicaOf(f.c).state.taskLedger.entries); got != 3 {
		t.Fatalf("%d task UIDs remembered after the first refresh, want 3", got)
	}
	if got := len(replicaOf(f.c).state.jobLedger.entries); got != 1 {
		t.Fatalf("%d job UIDs remembered after the first refresh, want 1", got)
	}
	f.clock.Advance(time.Minute)
	f.refresh(t)
	if got := len(replicaOf(f.c).state.taskLedger.entries); got != 3 {
		t.Errorf("%d task UIDs remembered after a steady refresh, want 3", got)
	}
	if got := len(replicaOf(f.c).state.jobLedger.entries); got != 1 {
		t.Errorf("%d job UIDs remembered after a steady refresh, want 1", got)
	}
	if got := len(replicaOf(f.c).state.jobNames); got != 100 {
		t.Errorf("%d job session names remembered, want the 100 of the lookback", got)
	}
	expectSeries(t, f.c, "veeam_em_replica_task_duration_seconds", map[string]float64{"backup_server=vbr01,job_name=Hourly": 300})
}

func TestSessionOrdering(t *testing.T) {
	f := newFixture(t)
	j := jobRun("j1", vbr, "Job", t0.Add(-time.Hour), 0, veeam.ResultNone, false)
	// Same creation time: the greater UID is the latest, whatever the order
	// EM returns them in.
	a := running("a", j, "vm1", j.CreationTime.Add(5*time.Minute), veeam.TaskStatePending)
	b := running("b", j, "vm1", j.CreationTime.Add(5*time.Minute), veeam.TaskStateInProgress)
	// Completed without an end time: not completed.
	noEnd := done("c", j, "vm2", j.CreationTime, time.Minute, veeam.ResultSuccess)
	noEnd.EndTime = time.Time{}
	// Ends before it starts (clock skew between servers): duration 0.
	skewed := done("d", j, "vm3", j.CreationTime, time.Minute, veeam.ResultSuccess)
	skewed.EndTime = j.CreationTime.Add(-time.Minute)
	f.src.set([]veeam.ReplicaTaskSession{b, a, noEnd, skewed}, []veeam.ReplicaJobSession{j})
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_replica_task_last_state", map[string]float64{
		"backup_server=vbr01,job_name=Job,state=Pending,vm=vm1":    0,
		"backup_server=vbr01,job_name=Job,state=InProgress,vm=vm1": 1,
		"backup_server=vbr01,job_name=Job,state=Completed,vm=vm1":  0,
		"backup_server=vbr01,job_name=Job,state=Pending,vm=vm2":    0,
		"backup_server=vbr01,job_name=Job,state=InProgress,vm=vm2": 0,
		"backup_server=vbr01,job_name=Job,state=Completed,vm=vm2":  1,
		"backup_server=vbr01,job_name=Job,state=Pending,vm=vm3":    0,
		"backup_server=vbr01,job_name=Job,state=InProgress,vm=vm3": 0,
		"backup_server=vbr01,job_name=Job,state=Completed,vm=vm3":  1,
	})
	expectSeries(t, f.c, "veeam_em_replica_task_last_duration_seconds", map[string]float64{
		"backup_server=vbr01,job_name=Job,vm=vm3": 0,
	})
	if got := replicaOf(f.c).state.taskLedger.oldestRunning(); !got.Equal(j.CreationTime) {
		t.Errorf("oldest running task session %s, want %s (the one without an end time)", got, j.CreationTime)
	}
}

// TestPruneVisitsWhatExpires runs a fleet for days, with VMs and jobs that
// stop running, and checks after each refresh that pruning by the expiry
// queues left nothing a prune of the whole state would have dropped, and
// dropped nothing it would have kept.
func TestPruneVisitsWhatExpires(t *testing.T) {
	f := newFixture(t)
	var tasks []veeam.ReplicaTaskSession
	var jobs []veeam.ReplicaJobSession
	for run := range 40 {
		f.clock.Advance(7 * time.Hour)
		now := f.clock.Now()
		for job := range 3 {
			if job == 2 && run > 10 {
				continue // a job that stops running
			}
			name := "Job " + strconv.Itoa(job)
			j := jobRun(fmt.Sprintf("j%d-%d", run, job), vbr, name, now.Add(-time.Duration(job*20+5)*time.Minute), 3*time.Minute, veeam.Results[(run+job)%len(veeam.Results)], false)
			jobs = append(jobs, j)
			for vm := range 4 {
				if vm == 3 && run%5 != 0 {
					continue // a VM that runs rarely
				}
				result := veeam.Results[(run*vm+job)%len(veeam.Results)]
				tasks = append(tasks, done(fmt.Sprintf("%s-%d", j.UID, vm), j, "vm"+strconv.Itoa(vm), j.CreationTime.Add(time.Duration(vm)*time.Minute), time.Minute, result))
			}
		}
		f.src.set(tasks, jobs)
		f.refresh(t)
		windowStart := f.clock.Now().Add(-testLookback)
		checkPruned(t, replicaOf(f.c).state, windowStart)
		want := map[taskKey]bool{}
		for _, task := range tasks {
			if !task.CreationTime.Before(windowStart) {
				want[taskKey{backupServer: task.BackupServerName, job: jobNameFromSessionName(task.JobSessionName), vm: task.VMDisplayName}] = true
			}
		}
		got := map[taskKey]bool{}
		for key := range replicaOf(f.c).state.tasks {
			got[key] = true
		}
		if !maps.Equal(got, want) {
			t.Errorf("after run %d: task series %v, want %v", run, got, want)
		}
	}
}

// checkPruned compares s with what a walk of the whole state finds.
func checkPruned(t *testing.T, s *state, windowStart time.Time) {
	t.Helper()
	perJob := map[jobKey]int{}
	for key, series := range s.tasks {
		perJob[jobKey{backupServer: key.backupServer, job: key.job}]++
		if series.earliestRef().Before(windowStart) {
			t.Errorf("task series %v refers to a session created %s, before the window start %s", key, series.earliestRef(), windowStart)
		}
		if !series.filed || series.filedMinute > minuteOf(series.earliestRef()) {
			t.Errorf("task series %v is not filed by its earliest reference", key)
		}
	}
	if !maps.Equal(perJob, s.tasksPerJob) {
		t.Errorf("task series per job %v, counted %v", perJob, s.tasksPerJob)
	}
	for key := range s.durations {
		if _, hasJob := s.jobs[key]; !hasJob && perJob[key] == 0 {
			t.Errorf("duration histogram of %v kept without a job or task series", key)
		}
	}
	for key := range perJob {
		if _, ok := s.durations[key]; !ok {
			t.Errorf("no duration histogram for %v", key)
		}
	}
	for uid, name := range s.jobNames {
		if name.creation.Before(windowStart) {
			t.Errorf("job session %s created %s still named", uid, name.creation)
		}
	}
}
