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
)

// refreshFlight is one refresh under way, shared by every caller that arrives
// before it ends.
type refreshFlight struct {
	done  chan struct{} // closed when err is set
	err   error
	began time.Time
}

// Refresh brings the state up to date with EM. Concurrent callers share one
// refresh, so simultaneous scrapes cost EM a single pass. The refresh runs
// in the background, bounded by Options.RefreshTimeout, not by the caller:
// a caller waits for it at most until its own ctx ends, and then gets a
// *RefreshPendingError while the refresh goes on, so that a first load of a
// long history on a slow EM completes over several scrapes instead of
// starting over at each. veeam_em_up is 0 until a refresh that a caller
// waited for ends successfully with every collector loaded.
//
// Within Options.MinRefreshInterval of the end of a successful refresh,
// Refresh returns at once and the state is served as that refresh left it:
// two Prometheus servers of an HA pair then cost EM one refresh per scrape
// interval, not two.
func (c *Collector) Refresh(ctx context.Context) error {
	c.flightMu.Lock()
	if c.closed {
		c.flightMu.Unlock()
		return ErrClosed
	}
	flight := c.flight
	if flight == nil && c.minRefreshInterval > 0 && !c.lastRefreshed.IsZero() && time.Since(c.lastRefreshed) < c.minRefreshInterval {
		c.flightMu.Unlock()
		return nil
	}
	if flight == nil {
		// Close ends the refresh too, so nothing talks to EM after the
		// exporter logged off.
		refreshCtx, cancel := context.WithTimeout(c.life, c.refreshTimeout)
		flight = &refreshFlight{done: make(chan struct{}), began: time.Now()}
		c.flight = flight
		go func() {
			defer cancel()
			flight.err = c.refresh(refreshCtx)
			c.flightMu.Lock()
			c.flight = nil
			if flight.err == nil {
				c.lastRefreshed = time.Now()
			}
			c.flightMu.Unlock()
			close(flight.done)
		}()
	}
	c.flightMu.Unlock()

	select {
	case <-flight.done:
		return flight.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.up = false
	pending := &RefreshPendingError{RunningFor: time.Since(flight.began), Cause: context.Cause(ctx)}
	for _, m := range c.members {
		if !m.loaded() {
			pending.Loading = append(pending.Loading, LoadProgress{Collector: m.name(), Ratio: m.loadProgress()})
		}
	}
	return pending
}

// RefreshPendingError means the caller stopped waiting before the refresh
// ended; the refresh goes on.
type RefreshPendingError struct {
	RunningFor time.Duration
	// Loading are the collectors still in their initial load.
	Loading []LoadProgress
	Cause   error // why the caller stopped waiting
}

// LoadProgress is how far a collector's initial load has come, from 0 to 1.
type LoadProgress struct {
	Collector Kind
	Ratio     float64
}

func (e *RefreshPendingError) Error() string {
	loading := ""
	if len(e.Loading) > 0 {
		loading = ": initial load of " + loadProgressText(e.Loading)
	}
	return fmt.Sprintf("the refresh from Enterprise Manager is still running after %s%s; it goes on, and a later scrape gets its result",
		e.RunningFor.Round(time.Millisecond), loading)
}

func (e *RefreshPendingError) Unwrap() error { return e.Cause }

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

// unitRefresh is what one unit's part of a refresh did.
type unitRefresh struct {
	skipped    bool // not due: its last read stands
	errs       []*fetchError
	progressed bool // its initial load read sessions
	began      time.Time
	elapsed    time.Duration
}

// refresh runs the read of every unit that is due at once and publishes each
// unit whose read succeeded and whose initial load is complete: a unit that
// fails keeps the series of its last success and does not hold back the
// others.
func (c *Collector) refresh(ctx context.Context) error {
	began := time.Now()
	results := make([]unitRefresh, len(c.members))
	now := c.now()
	c.mu.RLock()
	loading := slices.ContainsFunc(c.members, func(m *member) bool { return !m.loaded() })
	for i, m := range c.members {
		results[i].skipped = !m.due(now)
	}
	c.mu.RUnlock()
	var wg sync.WaitGroup
	for i, m := range c.members {
		if results[i].skipped {
			continue
		}
		wg.Go(func() {
			results[i].began = c.now()
			unitBegan := time.Now()
			results[i].progressed, results[i].errs = m.read(ctx, c)
			results[i].elapsed = time.Since(unitBegan)
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	// A load cut by the refresh timeout while it reads goes on at the next
	// refresh: it is slow, not failing.
	cutByTimeout := errors.Is(ctx.Err(), context.DeadlineExceeded)

	var failed []*fetchError
	var stillLoading []LoadProgress
	c.mu.Lock()
	changed := false
	for i, m := range c.members {
		r := &results[i]
		if r.skipped {
			continue
		}
		m.duration = r.elapsed
		m.succeeded = len(r.errs) == 0
		switch {
		case !m.succeeded && !m.loaded() && r.progressed && cutByTimeout:
			stillLoading = append(stillLoading, LoadProgress{Collector: m.name(), Ratio: m.loadProgress()})
		case !m.succeeded:
			failed = append(failed, r.errs...)
		default:
			m.everSucceeded = true
			m.lastSuccess = r.began
			if m.publish() {
				changed = true
			}
		}
	}
	if changed {
		c.mergeFamilies()
	}
	err := joinErrors(failed)
	c.status.refreshes++
	c.status.duration = elapsed
	c.status.up = err == nil && len(stillLoading) == 0
	if err != nil {
		c.status.failures++
	} else if c.status.up {
		c.status.succeeded = true
		c.status.lastSuccess = c.now()
	}
	c.mu.Unlock()

	if loading {
		// The sessions of a load are garbage once applied; the runtime
		// would hand their memory back to the OS only over minutes, leaving
		// the process at about twice the peak it needed.
		debug.FreeOSMemory()
	}
	switch {
	case err != nil:
		level.Error(c.logger).Log("msg", "refresh from Enterprise Manager failed", "err", err)
		return err
	case len(stillLoading) > 0:
		pending := &RefreshPendingError{RunningFor: elapsed, Loading: stillLoading, Cause: context.Cause(ctx)}
		level.Info(c.logger).Log("msg", "initial load cut by the refresh timeout; it goes on from where it is at the next refresh",
			"duration", elapsed, "progress", loadProgressText(stillLoading))
		return pending
	}
	level.Debug(c.logger).Log("msg", "refreshed from Enterprise Manager", "duration", elapsed)
	return nil
}

// loadProgressText says how far each load has come, e.g. "replica 40%".
func loadProgressText(loads []LoadProgress) string {
	parts := make([]string, len(loads))
	for i, l := range loads {
		parts[i] = fmt.Sprintf("%s %.0f%%", l.Collector, 100*l.Ratio)
	}
	return strings.Join(parts, ", ")
}

// fetchError is a failed query of one type.
type fetchError struct {
	what string // "replica task sessions", "repositories", ...
	err  error
}

func (e *fetchError) Error() string {
	return fmt.Sprintf("fetch %s: %v", e.what, e.err)
}

func (e *fetchError) Unwrap() error { return e.err }

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
	return fmt.Sprintf("fetch %s and %s: %v", strings.Join(e.whats[:last], ", "), e.whats[last], e.cause)
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
