package collector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// statusMetrics are the metrics that change when a refresh fails.
var statusMetrics = map[string]bool{
	"veeam_em_up":                     true,
	"veeam_em_refreshes_total":        true,
	"veeam_em_refresh_failures_total": true,
	"veeam_em_collector_success":      true,
}

func TestFailedRefreshKeepsState(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.src.taskInvalid, f.src.jobInvalid = 1, 2
	f.refresh(t)
	lastSuccess := unixSeconds(f.clock.Now())

	// New sessions are there, but the task query fails: none may be applied.
	tasks, jobs := statesAndResults()
	late := jobRun("late", "vbr01.corp.local", "Replica Job 1", t0.Add(5*time.Minute), time.Minute, veeam.ResultSuccess, false)
	f.src.set(append(tasks, done("late", late, "web01", late.CreationTime, time.Minute, veeam.ResultSuccess)), append(jobs, late))
	emErr := &veeam.APIError{Op: "query ReplicaTaskSession page 2", StatusCode: 500, Status: "InternalServerError", Message: "Object reference not set"}
	f.src.failWith(emErr, nil)
	f.clock.Advance(10 * time.Minute)
	f.logs.Reset()
	err := f.c.Refresh(context.Background())
	if !errors.Is(err, emErr) {
		t.Fatalf("Refresh returned %v, want the source's error", err)
	}

	// What the queries returned is counted, failed or not; the series
	// stay as they were.
	var unchanged []string
	for _, name := range deterministicMetrics {
		if !statusMetrics[name] && name != "veeam_em_sessions_fetched_total" && name != "veeam_em_invalid_sessions_total" {
			unchanged = append(unchanged, name)
		}
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "states_and_results.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(f.c, strings.NewReader(string(golden)), unchanged...); err != nil {
		t.Errorf("state changed by a failed refresh: %v", err)
	}
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 0})
	expectSeries(t, f.c, "veeam_em_refreshes_total", map[string]float64{"": 2})
	expectSeries(t, f.c, "veeam_em_refresh_failures_total", map[string]float64{"": 1})
	expectSeries(t, f.c, "veeam_em_last_successful_refresh_timestamp_seconds", map[string]float64{"": lastSuccess})
	if !f.c.Ready() {
		t.Error("not Ready after a failed refresh that followed a good one")
	}

	logged := strings.TrimSpace(f.logs.String())
	if lines := strings.Split(logged, "\n"); len(lines) != 1 {
		t.Errorf("%d log lines for one failed refresh, want 1:\n%s", len(lines), logged)
	}
	for _, part := range []string{
		"level=error",
		`msg="refresh from Enterprise Manager failed"`,
		"query ReplicaTaskSession page 2: EM answered HTTP 500: Object reference not set",
	} {
		if !strings.Contains(logged, part) {
			t.Errorf("log line lacks %q:\n%s", part, logged)
		}
	}

	// The next good refresh asks again for what the failed one did not
	// read, the sessions created since t0 and those that ended since, and
	// applies everything.
	f.src.failWith(nil, nil)
	f.clock.Advance(10 * time.Minute)
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 1})
	asked := f.src.selections(veeam.ReplicaTaskSessionType)
	running := tasks[2].CreationTime // new01, the oldest task session running
	want := append(veeam.Selection{created(t0.Add(10*time.Minute), t0.Add(20*time.Minute)), created(t0, t0.Add(10*time.Minute))},
		changes(running, t0, t0.Add(20*time.Minute))...)
	if got := asked[len(asked)-1]; !slices.Equal(got, want) {
		t.Errorf("after a failed refresh the task query selects\n%v\nwant\n%v", got, want)
	}
	got := series(t, f.c, "veeam_em_replica_task_sessions_total")
	if v := got["backup_server=vbr01.corp.local,job_name=Replica Job 1,result=Success,vm=web01"]; v != 3 {
		t.Errorf("web01 Success sessions = %v after recovery, want 3", v)
	}
}

func TestBothQueriesFailing(t *testing.T) {
	f := newFixture(t)
	f.src.failWith(errors.New("task query broke"), errors.New("job query broke"))
	err := f.c.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "task query broke") || !strings.Contains(err.Error(), "job query broke") {
		t.Errorf("Refresh returned %v, want both causes", err)
	}
	if n := strings.Count(strings.TrimSpace(f.logs.String()), "\n") + 1; n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, f.logs)
	}
	if f.c.Ready() {
		t.Error("Ready without a successful refresh")
	}
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 0})
	expectSeries(t, f.c, "veeam_em_last_successful_refresh_timestamp_seconds", map[string]float64{"": 0})
	// The next attempt still asks for the whole lookback.
	f.src.failWith(nil, nil)
	f.refresh(t)
	for _, queryType := range []string{veeam.ReplicaTaskSessionType, veeam.ReplicaJobSessionType} {
		expectSelections(t, f.src, queryType, loadSelections(t0))
	}
}

// TestSameCauseSaidOnce checks that a cause both queries share, such as a
// refused logon, appears once in the error and the log line.
func TestSameCauseSaidOnce(t *testing.T) {
	f := newFixture(t)
	refused := &veeam.AuthError{Message: "Login failed"}
	f.src.failWith(refused, refused)
	err := f.c.Refresh(context.Background())
	if !errors.Is(err, refused) {
		t.Fatalf("Refresh returned %v, want the shared cause", err)
	}
	if n := strings.Count(err.Error(), refused.Error()); n != 1 {
		t.Errorf("the cause appears %d times in %q, want once", n, err)
	}
	if !strings.Contains(err.Error(), "fetch replica task sessions and replica job sessions: ") {
		t.Errorf("%q does not say that both queries failed", err)
	}
}

func TestConcurrentRefreshesShareOne(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.Kinds = []Kind{Replica, Backup} })
	f.src.set(statesAndResults())
	f.src.release = make(chan struct{})
	f.src.entered = make(chan struct{}, 100)

	const callers = 20
	var started, finished sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		started.Add(1)
		finished.Go(func() {
			started.Done()
			errs <- f.c.Refresh(context.Background())
		})
	}
	started.Wait()
	<-f.src.entered // the refresh is under way and blocked in the source
	// Give the last callers time to join; a caller arriving after the
	// release would start a second refresh and fail the test.
	time.Sleep(100 * time.Millisecond)
	close(f.src.release)
	finished.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Refresh: %v", err)
		}
	}
	taskSinces, jobSinces := f.src.sinces()
	if len(taskSinces) != 2 || len(jobSinces) != 2 {
		t.Errorf("%d task and %d job queries for %d concurrent refreshes, want the 2 of one load each", len(taskSinces), len(jobSinces), callers)
	}
	expectSeries(t, f.c, "veeam_em_refreshes_total", map[string]float64{"": 1})

	// Once it is over, the next caller starts a new refresh.
	f.clock.Advance(time.Minute)
	f.refresh(t)
	if taskSinces, _ := f.src.sinces(); len(taskSinces) != 3 {
		t.Errorf("%d task queries after a later refresh, want 3", len(taskSinces))
	}
	for _, queryType := range []string{"ReplicaTaskSession", "ReplicaJobSession", "BackupTaskSession", "BackupJobSession"} {
		if n := f.src.queried(queryType); n != 3 {
			t.Errorf("%d %s queries for two refreshes, want 3", n, queryType)
		}
	}
	if f.src.maxFlight > 4 {
		t.Errorf("%d source calls at once, want at most one per query type", f.src.maxFlight)
	}
}

// TestRefreshOutlivesItsCaller checks that the caller who started a refresh
// can go away without aborting it for the others, and that a waiting caller
// gives up at its own deadline.
func TestRefreshOutlivesItsCaller(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.src.release = make(chan struct{})
	f.src.entered = make(chan struct{}, 100)

	starterCtx, cancelStarter := context.WithCancel(context.Background())
	starterErr := make(chan error, 1)
	go func() { starterErr <- f.c.Refresh(starterCtx) }()
	<-f.src.entered

	impatient, cancelImpatient := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelImpatient()
	if err := f.c.Refresh(impatient); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: %v, want its deadline", err)
	}

	cancelStarter()
	if err := <-starterErr; !errors.Is(err, context.Canceled) {
		t.Errorf("starting caller: %v, want its cancellation", err)
	}
	joined := make(chan error, 1)
	go func() { joined <- f.c.Refresh(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	close(f.src.release)
	if err := <-joined; err != nil {
		t.Errorf("the refresh was aborted with its starting caller: %v", err)
	}
	if taskSinces, _ := f.src.sinces(); len(taskSinces) != 2 {
		t.Errorf("%d task queries, want the 2 of the shared load", len(taskSinces))
	}
	if !f.c.Ready() {
		t.Error("the shared refresh did not succeed")
	}
}

// refreshing reports whether a refresh is under way.
func (c *Collector) refreshing() bool {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	return c.flight != nil
}

// TestRefreshBoundedByItsTimeout checks that a refresh, which outlives its
// callers, still ends at Options.RefreshTimeout, and that a caller waiting
// for it gets its outcome.
func TestRefreshBoundedByItsTimeout(t *testing.T) {
	f := newFixture(t)
	f.c = New(f.src, Options{Lookback: testLookback, Overlap: testOverlap, Now: f.clock.Now, RefreshTimeout: 50 * time.Millisecond,
		Logger: log.NewLogfmtLogger(log.NewSyncWriter(f.logs))})
	f.src.release = make(chan struct{}) // never released: EM hangs
	defer close(f.src.release)
	began := time.Now()
	err := f.c.Refresh(context.Background())
	if elapsed := time.Since(began); elapsed > 2*time.Second {
		t.Errorf("Refresh returned after %v, want about the 50ms refresh timeout", elapsed)
	}
	if err == nil || !strings.Contains(err.Error(), "fetch replica task") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Refresh returned %v, want the refresh's own timeout", err)
	}
	expectSeries(t, f.c, "veeam_em_refresh_failures_total", map[string]float64{"": 1})
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 0})
	if d := series(t, f.c, "veeam_em_scrape_duration_seconds")[""]; d < 0.04 {
		t.Errorf("veeam_em_scrape_duration_seconds = %v, want about the 50ms the refresh took", d)
	}
}

// TestCallerDoesNotWaitPastItsDeadline checks that a caller gets a
// *RefreshPendingError at its deadline while the refresh goes on, that
// veeam_em_up is 0 meanwhile, and that the refresh's work is not lost: the
// next caller finds it done.
func TestCallerDoesNotWaitPastItsDeadline(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.Kinds = []Kind{Replica, Backup} })
	f.src.set(statesAndResults())
	f.src.release = make(chan struct{})
	f.src.entered = make(chan struct{}, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := f.c.Refresh(ctx)
	if elapsed := time.Since(began); elapsed > 2*time.Second {
		t.Errorf("Refresh returned after %v, want about the caller's 50ms", elapsed)
	}
	var pending *RefreshPendingError
	if !errors.As(err, &pending) || !errors.Is(err, context.DeadlineExceeded) || len(pending.Loading) != 2 {
		t.Fatalf("Refresh returned %v, want a *RefreshPendingError naming both loads", err)
	}
	if !strings.Contains(err.Error(), "initial load of replica 0%, backup 0%") {
		t.Errorf("%q does not say how far the loads are", err)
	}
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 0})
	expectSeries(t, f.c, "veeam_em_refreshes_total", map[string]float64{"": 0})

	close(f.src.release)
	for deadline := time.Now().Add(5 * time.Second); !f.c.Ready() || f.c.refreshing(); {
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not complete in the background")
		}
		time.Sleep(5 * time.Millisecond)
	}
	queries := len(f.src.selections(veeam.ReplicaTaskSessionType))
	f.refresh(t)
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 1})
	expectSeries(t, f.c, "veeam_em_refreshes_total", map[string]float64{"": 2})
	if got := len(f.src.selections(veeam.ReplicaTaskSessionType)); got > queries+1 {
		t.Errorf("%d task queries after the load, want at most one more: the load was not read again", got-queries)
	}
}

// TestCloseEndsTheRefreshUnderWay checks what shutdown relies on: Close
// cancels a refresh stuck on EM, returns once it has ended, and no refresh
// starts afterwards, so nothing can log on to EM after the logoff.
func TestCloseEndsTheRefreshUnderWay(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.src.release = make(chan struct{}) // EM never answers
	f.src.entered = make(chan struct{}, 100)

	refreshErr := make(chan error, 1)
	go func() { refreshErr <- f.c.Refresh(context.Background()) }()
	<-f.src.entered

	closed := make(chan struct{})
	go func() {
		f.c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: the refresh under way was not cancelled")
	}
	if err := <-refreshErr; !errors.Is(err, context.Canceled) {
		t.Errorf("the refresh under way ended with %v, want a cancellation", err)
	}
	calls, _ := f.src.sinces()
	if err := f.c.Refresh(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Refresh after Close: %v, want ErrClosed", err)
	}
	if after, _ := f.src.sinces(); len(after) != len(calls) {
		t.Errorf("a refresh after Close queried EM (%d task queries, want %d)", len(after), len(calls))
	}
}

// TestMinRefreshIntervalServesLastRefresh checks that a scrape soon after a
// successful refresh costs EM nothing, that a failed refresh does not count
// as one, and that the interval ends.
func TestMinRefreshIntervalServesLastRefresh(t *testing.T) {
	const interval = time.Second
	f := newFixtureWith(t, func(o *Options) { o.MinRefreshInterval = interval })
	f.src.set(statesAndResults())
	queries := func() int { return f.src.queried("ReplicaTaskSession") }

	began := time.Now()
	f.refresh(t)
	afterFirst := queries()
	f.refresh(t) // within the interval: served as it is
	if time.Since(began) >= interval {
		t.Skip("the machine is too slow for this interval")
	}
	if queries() != afterFirst {
		t.Errorf("a refresh within the interval queried EM: %d task queries, want %d", queries(), afterFirst)
	}
	expectSeries(t, f.c, "veeam_em_refreshes_total", map[string]float64{"": 1})
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 1})

	time.Sleep(interval)
	f.src.failWith(errors.New("EM down"), nil)
	if err := f.c.Refresh(context.Background()); err == nil {
		t.Fatal("refresh after the interval did not ask EM")
	}
	// A failed refresh is no reason to wait: the next scrape asks again.
	f.src.failWith(nil, nil)
	before := queries()
	f.refresh(t)
	if queries() == before {
		t.Error("the refresh after a failed one was served without asking EM")
	}
	expectSeries(t, f.c, "veeam_em_refreshes_total", map[string]float64{"": 3})
	expectSeries(t, f.c, "veeam_em_up", map[string]float64{"": 1})
}
