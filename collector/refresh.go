package collector

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// refreshFlight is one refresh under way, shared by every caller that arrives
// before it ends.
type refreshFlight struct {
	done     chan struct{} // closed when err is set
	err      error
	deadline time.Time // zero if the refresh has none
}

// endsBy reports whether the refresh is bounded by a deadline no later than
// ctx's, so that it will end when ctx does, give or take the moment it takes
// to notice.
func (f *refreshFlight) endsBy(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ok && !f.deadline.IsZero() && !deadline.Before(f.deadline)
}

// Refresh brings the state up to date with EM. Concurrent callers share one
// refresh, so simultaneous scrapes cost EM a single pass. The refresh runs
// detached from the caller that starts it, bounded by that caller's deadline:
// a scraper that hangs up does not abort a refresh others wait for. Each
// caller waits for the outcome or for its own ctx. A caller whose deadline is
// not before the refresh's waits for the outcome even a moment past that
// deadline: the refresh is ending too, and the caller must not go on to serve
// the state from before a failure as if the refresh had not failed.
func (c *Collector) Refresh(ctx context.Context) error {
	c.flightMu.Lock()
	if c.closed {
		c.flightMu.Unlock()
		return ErrClosed
	}
	flight := c.flight
	if flight == nil {
		refreshCtx, cancel := detach(ctx)
		// Close ends the refresh too, so nothing talks to EM after the
		// exporter logged off.
		stopWithLife := context.AfterFunc(c.life, cancel)
		flight = &refreshFlight{done: make(chan struct{})}
		flight.deadline, _ = refreshCtx.Deadline()
		c.flight = flight
		go func() {
			defer stopWithLife()
			defer cancel()
			flight.err = c.refresh(refreshCtx)
			c.flightMu.Lock()
			c.flight = nil
			c.flightMu.Unlock()
			close(flight.done)
		}()
	}
	c.flightMu.Unlock()

	select {
	case <-flight.done:
		return flight.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && flight.endsBy(ctx) {
			<-flight.done
			return flight.err
		}
		return fmt.Errorf("wait for the refresh from Enterprise Manager: %w", context.Cause(ctx))
	}
}

// ErrClosed is returned by Refresh after Close.
var ErrClosed = errors.New("collector closed: the exporter is shutting down")

// Close cancels the refresh under way, waits for it to end and refuses new
// ones, so that nothing logs on to EM again after the exporter logs off.
// The state stays served.
func (c *Collector) Close() {
	c.flightMu.Lock()
	c.closed = true
	flight := c.flight
	c.flightMu.Unlock()
	c.endLife()
	if flight != nil {
		<-flight.done
	}
}

// detach keeps ctx's values and deadline but not its cancellation.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(detached, deadline)
	}
	return context.WithCancel(detached)
}

// largeRefreshBytes is the size of EM answers from which a refresh returns
// its memory to the OS at once: the first refresh of a large site, or one
// after a long gap, not the steady ones.
const largeRefreshBytes = 32 << 20

// refresh runs every kind's queries at once and applies each kind whose
// queries all succeeded: a kind that fails keeps the state of its last
// success and does not hold back the others.
func (c *Collector) refresh(ctx context.Context) error {
	began := time.Now()
	now := c.now()
	windows := make([]kindWindows, len(c.kinds))
	c.mu.RLock()
	for i, k := range c.kinds {
		windows[i].taskSince, windows[i].jobSince = k.state.windows(now)
	}
	c.mu.RUnlock()

	fetches := make([]kindFetch, len(c.kinds))
	var wg sync.WaitGroup
	for i, k := range c.kinds {
		wg.Go(func() { fetches[i] = k.fetch(ctx, c.src, now, windows[i]) })
	}
	wg.Wait()
	elapsed := time.Since(began)

	var failed []*fetchError
	var fetchedBytes int64
	c.mu.Lock()
	changed := false
	for i, k := range c.kinds {
		f := &fetches[i]
		k.duration = f.elapsed
		k.succeeded = len(f.errs) == 0
		if !k.succeeded {
			failed = append(failed, f.errs...)
			continue
		}
		k.everSucceeded = true
		k.state.apply(f.batch)
		if k.series.catchUp(k.state, &k.descs) {
			changed = true
		}
		fetchedBytes += f.batch.tasks.Bytes + f.batch.jobs.Bytes
	}
	if changed {
		c.mergeFamilies()
	}
	err := joinErrors(failed)
	c.status.refreshes++
	c.status.duration = elapsed
	c.status.up = err == nil
	if err != nil {
		c.status.failures++
	} else {
		c.status.succeeded = true
		c.status.lastSuccess = c.now()
	}
	c.mu.Unlock()

	if fetchedBytes >= largeRefreshBytes {
		// The sessions of a large refresh are garbage once applied; the
		// runtime would hand their memory back to the OS only over minutes,
		// leaving the process at about twice the peak it needed.
		debug.FreeOSMemory()
	}
	if err != nil {
		level.Error(c.logger).Log("msg", "refresh from Enterprise Manager failed", "err", err)
		return err
	}
	keyvals := []any{"msg", "refreshed from Enterprise Manager", "duration", elapsed}
	for i, k := range c.kinds {
		b, name := &fetches[i].batch, string(k.kind.name)
		keyvals = append(keyvals,
			name+"_task_sessions", len(b.tasks.Items), name+"_task_since", formatSince(b.taskSince),
			name+"_job_sessions", len(b.jobs.Items), name+"_job_since", formatSince(b.jobSince))
	}
	level.Debug(c.logger).Log(keyvals...)
	return nil
}

// kindWindows are where one kind's next queries start.
type kindWindows struct {
	taskSince, jobSince time.Time
}

// kindFetch is what one kind's queries returned in a refresh.
type kindFetch struct {
	batch   batch
	errs    []*fetchError // one per failed query
	elapsed time.Duration
}

// fetch runs the task and job session queries of k at once.
func (k *kindCollector) fetch(ctx context.Context, src Source, now time.Time, w kindWindows) kindFetch {
	began := time.Now()
	f := kindFetch{batch: batch{now: now, taskSince: w.taskSince, jobSince: w.jobSince}}
	var taskErr, jobErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		f.batch.jobs, jobErr = k.kind.fetchJobs(src, ctx, veeam.Window{Since: w.jobSince, Until: now})
	})
	f.batch.tasks, taskErr = k.kind.fetchTasks(src, ctx, veeam.Window{Since: w.taskSince, Until: now})
	wg.Wait()
	f.elapsed = time.Since(began)
	if taskErr != nil {
		f.errs = append(f.errs, &fetchError{what: k.kind.noun + " task", since: w.taskSince, err: taskErr})
	}
	if jobErr != nil {
		f.errs = append(f.errs, &fetchError{what: k.kind.noun + " job", since: w.jobSince, err: jobErr})
	}
	return f
}

// fetchError is a failed query of one session type.
type fetchError struct {
	what  string // "replica task", "backup job", ...
	since time.Time
	err   error
}

func (e *fetchError) Error() string {
	return fmt.Sprintf("fetch %s sessions created since %s: %v", e.what, formatSince(e.since), e.err)
}

func (e *fetchError) Unwrap() error { return e.err }

func formatSince(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// joinErrors keeps a failed refresh to one readable line however many
// queries failed, and says each cause once: queries that failed for the same
// reason, as they all do when EM is down or refuses the logon, are named
// together before it.
func joinErrors(errs []*fetchError) error {
	var groups [][]*fetchError
	for _, e := range errs {
		i := slices.IndexFunc(groups, func(g []*fetchError) bool { return g[0].err.Error() == e.err.Error() })
		if i < 0 {
			groups = append(groups, nil)
			i = len(groups) - 1
		}
		groups[i] = append(groups[i], e)
	}
	joined := make(joinedErrors, 0, len(groups))
	for _, g := range groups {
		if len(g) == 1 {
			joined = append(joined, g[0])
			continue
		}
		shared := &sharedCauseError{cause: g[0].err}
		for _, e := range g {
			shared.whats = append(shared.whats, e.what)
		}
		joined = append(joined, shared)
	}
	switch len(joined) {
	case 0:
		return nil
	case 1:
		return joined[0]
	}
	return joined
}

// sharedCauseError is several queries that failed for one reason.
type sharedCauseError struct {
	whats []string
	cause error
}

func (e *sharedCauseError) Error() string {
	last := len(e.whats) - 1
	return fmt.Sprintf("fetch %s and %s sessions: %v", strings.Join(e.whats[:last], ", "), e.whats[last], e.cause)
}

func (e *sharedCauseError) Unwrap() error { return e.cause }

// joinedErrors are failures with different causes, said on one line.
type joinedErrors []error

func (e joinedErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e joinedErrors) Unwrap() []error { return e }
