package collector

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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

// refresh fetches both session types and applies them together, or nothing.
func (c *Collector) refresh(ctx context.Context) error {
	began := time.Now()
	now := c.now()
	c.mu.RLock()
	taskSince, jobSince := c.state.windows(now)
	c.mu.RUnlock()

	fetched := batch{now: now, taskSince: taskSince, jobSince: jobSince}
	var taskErr, jobErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		fetched.jobs, jobErr = c.src.ReplicaJobSessions(ctx, veeam.Window{Since: jobSince, Until: now})
		if jobErr != nil {
			jobErr = fmt.Errorf("fetch replica job sessions created since %s: %w", formatSince(jobSince), jobErr)
		}
	})
	fetched.tasks, taskErr = c.src.ReplicaTaskSessions(ctx, veeam.Window{Since: taskSince, Until: now})
	if taskErr != nil {
		taskErr = fmt.Errorf("fetch replica task sessions created since %s: %w", formatSince(taskSince), taskErr)
	}
	wg.Wait()
	err := joinErrors(taskErr, jobErr)
	elapsed := time.Since(began)

	c.mu.Lock()
	c.status.refreshes++
	c.status.duration = elapsed
	c.status.up = err == nil
	if err != nil {
		c.status.failures++
	} else {
		c.state.apply(fetched)
		c.series.catchUp(c.state, &c.descs)
		c.status.succeeded = true
		c.status.lastSuccess = c.now()
	}
	c.mu.Unlock()

	if err != nil {
		level.Error(c.logger).Log("msg", "refresh from Enterprise Manager failed", "err", err)
		return err
	}
	if fetched.tasks.Bytes+fetched.jobs.Bytes >= largeRefreshBytes {
		// The sessions of a large refresh are garbage once applied; the
		// runtime would hand their memory back to the OS only over minutes,
		// leaving the process at about twice the peak it needed.
		debug.FreeOSMemory()
	}
	level.Debug(c.logger).Log("msg", "refreshed from Enterprise Manager", "duration", elapsed,
		"task_sessions", len(fetched.tasks.Items), "task_since", formatSince(taskSince),
		"job_sessions", len(fetched.jobs.Items), "job_since", formatSince(jobSince))
	return nil
}

func formatSince(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// joinErrors keeps a failed refresh to one readable line even when both
// queries failed. When they failed for the same reason, as they do when EM
// is down or refuses the logon, the reason is said once.
func joinErrors(taskErr, jobErr error) error {
	switch {
	case taskErr != nil && jobErr != nil:
		if cause := errors.Unwrap(taskErr); cause != nil && errors.Unwrap(jobErr) != nil && cause.Error() == errors.Unwrap(jobErr).Error() {
			return fmt.Errorf("fetch replica task and job sessions: %w", cause)
		}
		return fmt.Errorf("%w; %w", taskErr, jobErr)
	case taskErr != nil:
		return taskErr
	default:
		return jobErr
	}
}
