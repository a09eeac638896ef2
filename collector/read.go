package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// errJobsFailed stops a kind's task query when its job query failed: the
// tasks' job names come from the job sessions, and the job query's error is
// the one to report.
var errJobsFailed = errors.New("the job session query failed")

// readQuery runs one query of one type and applies each page, under the
// Collector's lock, as it arrives. gate, when set, is waited for before the
// first page is applied. Sessions an earlier, failed query over the same
// unread range applied already are handed to the pass but not applied
// again. complete is false when EM ended the query early with an empty
// page: what was read stands, the rest is to be read again.
func readQuery[T any](ctx context.Context, c *Collector, s *typeSync, sel veeam.Selection, p *pass,
	run pageReader[T], id func(*T) (string, time.Time), apply func(items []T, invalid int), gate func() error,
) (complete bool, err error) {
	stats, err := run(ctx, c.src, sel, func(page veeam.Page[T]) error {
		if gate != nil {
			if err := gate(); err != nil {
				return err
			}
			gate = nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		items := page.Items
		if len(s.resumeSeen) > 0 {
			kept := items[:0]
			for i := range items {
				uid, created := id(&items[i])
				p.handOver(uid, created)
				if !s.skip(uid) {
					kept = append(kept, items[i])
				}
			}
			items = kept
		} else {
			for i := range items {
				p.handOver(id(&items[i]))
			}
		}
		apply(items, page.Invalid)
		return nil
	})
	return err == nil && !stats.Truncated, err
}

func jobID(j *veeam.ReplicaJobSession) (string, time.Time)   { return j.UID, j.CreationTime }
func taskID(t *veeam.ReplicaTaskSession) (string, time.Time) { return t.UID, t.CreationTime }

// refreshKind brings one kind up to date: its initial load as far as it
// gets, then, once loaded, a steady pass. It reports whether the load read
// anything, so that a refresh cut short by its timeout in the middle of a
// load that makes progress is not taken for a failure.
func (c *Collector) refreshKind(ctx context.Context, k *kindCollector) (progressed bool, errs []*fetchError) {
	now := c.now()
	c.mu.RLock()
	loaded := k.loadDone
	c.mu.RUnlock()
	if !loaded {
		progressed, errs = c.load(ctx, k, now)
		if len(errs) > 0 {
			return progressed, errs
		}
		// What changed while the load ran is read at once.
		now = c.now()
		c.mu.RLock()
		loadStart := k.loadStart
		c.mu.RUnlock()
		if !now.After(loadStart) {
			return progressed, nil
		}
	}
	return progressed, c.steady(ctx, k, now)
}

// load reads the kind's lookback, job sessions first for the tasks' job
// names, applying each page as it arrives. A load cut short keeps what it
// read and goes on from there at the next refresh.
func (c *Collector) load(ctx context.Context, k *kindCollector, now time.Time) (progressed bool, errs []*fetchError) {
	c.mu.Lock()
	if k.loadStart.IsZero() {
		k.loadStart = now
		floor := now.Add(-c.lookback)
		// Sessions reach EM late only within the overlap, so only there can
		// one push the rows below it down while a query pages, and lose a
		// row at a page boundary: the overlap is read by a query of its
		// own, and checked by the rescans, and the history before it, where
		// nothing arrives any more, by another.
		recent := later(now.Add(-k.state.overlap), floor)
		for _, s := range []*typeSync{&k.jobs, &k.tasks} {
			s.unread = []veeam.Window{{Since: recent, Until: now}}
			if recent.After(floor) {
				s.unread = append(s.unread, veeam.Window{Since: floor, Until: recent})
			}
			s.top = now
			s.changesFrom = now.Add(-changesSlack)
			// The overlap is checked every rescan interval from here.
			s.lastRescan = now
		}
	}
	counted := k.loadCounted
	// The ledger keeps what a later query can return again, as of the
	// load's start: the first steady refresh asks for what ended since
	// then, however long the load took.
	start := k.loadStart
	c.mu.Unlock()

	if !counted {
		if errs := c.countLoad(ctx, k); len(errs) > 0 {
			return false, errs
		}
	}
	before := c.loadRead(k)
	defer func() { progressed = c.loadRead(k) > before }()
	if err := readRanges(ctx, c, &k.jobs, time.Time{}, k.kind.readJobs, jobID, func(items []veeam.ReplicaJobSession, invalid int) {
		k.state.applyJobs(items, invalid, k.state.horizon(start))
		k.jobs.loadRead += len(items)
	}); err != nil {
		return false, []*fetchError{{what: k.kind.jobSessions(), err: err}}
	}
	if err := readRanges(ctx, c, &k.tasks, time.Time{}, k.kind.readTasks, taskID, func(items []veeam.ReplicaTaskSession, invalid int) {
		k.state.applyTasks(items, invalid, k.state.horizon(start))
		k.tasks.loadRead += len(items)
	}); err != nil {
		return false, []*fetchError{{what: k.kind.taskSessions(), err: err}}
	}
	c.mu.Lock()
	k.loadDone = true
	c.mu.Unlock()
	return true, nil
}

// loadRead is how many sessions k's load has read so far.
func (c *Collector) loadRead(k *kindCollector) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return k.jobs.loadRead + k.tasks.loadRead
}

// countLoad asks EM how many sessions the load will read, for its progress.
func (c *Collector) countLoad(ctx context.Context, k *kindCollector) []*fetchError {
	types := []struct {
		s    *typeSync
		typ  string
		what string
	}{{&k.tasks, k.kind.taskQuery, k.kind.taskSessions()}, {&k.jobs, k.kind.jobQuery, k.kind.jobSessions()}}
	errs := make([]*fetchError, len(types))
	var wg sync.WaitGroup
	for i, q := range types {
		c.mu.RLock()
		sel := q.s.unreadSelection()
		c.mu.RUnlock()
		wg.Go(func() {
			n, err := c.src.CountSessions(ctx, q.typ, sel)
			if err != nil {
				errs[i] = &fetchError{what: q.what, err: fmt.Errorf("count the sessions to load: %w", err)}
				return
			}
			c.mu.Lock()
			q.s.loadTotal = n.N
			c.mu.Unlock()
		})
	}
	wg.Wait()
	errs = slices.DeleteFunc(errs, func(e *fetchError) bool { return e == nil })
	if len(errs) == 0 {
		c.mu.Lock()
		k.loadCounted = true
		c.mu.Unlock()
	}
	return errs
}

// readRanges reads the unread ranges of one type that end by older, all of
// them if older is zero, newest first, one query each. It stops at the
// first query EM ends early, with errRangeTruncated: the rest of that range
// stays unread.
func readRanges[T any](ctx context.Context, c *Collector, s *typeSync, older time.Time, run pageReader[T], id func(*T) (string, time.Time), apply func([]T, int)) error {
	for {
		c.mu.RLock()
		i := slices.IndexFunc(s.unread, func(w veeam.Window) bool { return older.IsZero() || !w.Until.After(older) })
		if i < 0 {
			c.mu.RUnlock()
			return nil
		}
		sel := veeam.Selection{{Created: s.unread[i]}}
		c.mu.RUnlock()
		p := newPass(false)
		complete, err := readQuery(ctx, c, s, sel, p, run, id, apply, nil)
		c.mu.Lock()
		s.finishRanges(i, i+1, p, complete)
		c.mu.Unlock()
		switch {
		case err != nil:
			return err
		case !complete:
			return errRangeTruncated
		}
	}
}

// errRangeTruncated ends the reading of unread ranges when EM ended a
// query early with an empty page: the reading goes on from where it stopped
// at the next refresh. A load cut so is not complete, and fails; a steady
// refresh goes on with what changed meanwhile.
var errRangeTruncated = errors.New("EM ended the query early with an empty page; the reading goes on from there at the next refresh")

// steady reads what changed since the last refresh, and checks the overlap
// when a rescan is due.
func (c *Collector) steady(ctx context.Context, k *kindCollector, now time.Time) []*fetchError {
	horizon := k.state.horizon(now)
	c.mu.Lock()
	k.jobs.planUnread(now, horizon)
	k.tasks.planUnread(now, horizon)
	// What this refresh reads is kept in the ledger if a later query can
	// return it again: created or ended within the overlap, or ended since
	// the completions last read, which this refresh asks for again if it
	// fails.
	jobHorizon, taskHorizon := earliest(horizon, k.jobs.changesFrom), earliest(horizon, k.tasks.changesFrom)
	c.mu.Unlock()
	// After a gap in the scrapes longer than the overlap, what was created
	// before the overlap is read first, each range by a query of its own,
	// as the load does: no session arrives there any more to shift the
	// pages of that query.
	if err := readRanges(ctx, c, &k.jobs, horizon, k.kind.readJobs, jobID, func(items []veeam.ReplicaJobSession, invalid int) {
		k.state.applyJobs(items, invalid, jobHorizon)
	}); err != nil && !errors.Is(err, errRangeTruncated) {
		return []*fetchError{{what: k.kind.jobSessions(), err: err}}
	}
	if err := readRanges(ctx, c, &k.tasks, horizon, k.kind.readTasks, taskID, func(items []veeam.ReplicaTaskSession, invalid int) {
		k.state.applyTasks(items, invalid, taskHorizon)
	}); err != nil && !errors.Is(err, errRangeTruncated) {
		return []*fetchError{{what: k.kind.taskSessions(), err: err}}
	}
	var jobPlan, taskPlan steadyPlan
	c.mu.Lock()
	jobPlan.make(&k.jobs, k.state.jobLedger.oldestRunning(), now)
	taskPlan.make(&k.tasks, k.state.taskLedger.oldestRunning(), now)
	c.mu.Unlock()

	jobsDone := make(chan struct{})
	var jobErr, taskErr error
	var jobsComplete, tasksComplete bool
	if len(jobPlan.sel) == 0 {
		// Nothing was created since the last refresh and nothing runs: an
		// empty selection would select everything.
		jobsComplete = true
		close(jobsDone)
	}
	if len(taskPlan.sel) == 0 {
		tasksComplete = true
	}
	jobPass, taskPass := newPass(jobPlan.settles), newPass(taskPlan.settles)
	go func() {
		if len(jobPlan.sel) == 0 {
			return
		}
		defer close(jobsDone)
		jobsComplete, jobErr = readQuery(ctx, c, &k.jobs, jobPlan.sel, jobPass, k.kind.readJobs, jobID, func(items []veeam.ReplicaJobSession, invalid int) {
			k.state.applyJobs(items, invalid, jobHorizon)
		}, nil)
	}()
	waitForJobs := func() error {
		select {
		case <-jobsDone:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if jobErr != nil {
			return errJobsFailed
		}
		return nil
	}
	if len(taskPlan.sel) > 0 {
		tasksComplete, taskErr = readQuery(ctx, c, &k.tasks, taskPlan.sel, taskPass, k.kind.readTasks, taskID, func(items []veeam.ReplicaTaskSession, invalid int) {
			k.state.applyTasks(items, invalid, taskHorizon)
		}, waitForJobs)
	}
	<-jobsDone

	// A query EM ended early read only part of what changed: the rest is
	// asked for again, from the same point, at the next refresh.
	c.mu.Lock()
	k.jobs.finish(jobPass, jobsComplete)
	k.tasks.finish(taskPass, tasksComplete)
	if jobsComplete {
		if jobPlan.settles {
			k.state.settleJobs(jobPlan.transitional, jobPass.seen)
		}
		k.jobs.changesFrom = now.Add(-changesSlack)
	}
	if tasksComplete {
		if taskPlan.settles {
			k.state.settleTasks(taskPlan.transitional, taskPass.seen)
		}
		k.tasks.changesFrom = now.Add(-changesSlack)
	}
	c.mu.Unlock()

	var errs []*fetchError
	if taskErr != nil && !errors.Is(taskErr, errJobsFailed) {
		errs = append(errs, &fetchError{what: k.kind.taskSessions(), err: taskErr})
	}
	if jobErr != nil {
		errs = append(errs, &fetchError{what: k.kind.jobSessions(), err: jobErr})
	}
	if len(errs) > 0 {
		return errs
	}
	if err := c.rescan(ctx, k, now, earliest(jobHorizon, taskHorizon)); err != nil {
		return []*fetchError{err}
	}
	c.mu.Lock()
	k.state.prune(now)
	c.mu.Unlock()
	return nil
}

// steadyPlan is one type's query in a steady refresh.
type steadyPlan struct {
	sel veeam.Selection
	// transitional selected the sessions seen in a transitional state;
	// settles is set when it is part of sel.
	transitional veeam.Clause
	settles      bool
}

func (p *steadyPlan) make(s *typeSync, oldestRunning, now time.Time) {
	p.sel = s.unreadSelection()
	if ended, transitional, ok := s.changes(oldestRunning, now); ok {
		p.sel = append(p.sel, ended, transitional)
		p.transitional, p.settles = transitional, true
	}
}

// rescan checks the overlap of each type when due: jobs first, so that the
// job sessions it finds name the task sessions it finds.
func (c *Collector) rescan(ctx context.Context, k *kindCollector, now, keepFrom time.Time) *fetchError {
	horizon := k.state.horizon(now)
	floor := now.Add(-c.lookback)
	types := []struct {
		s    *typeSync
		typ  string
		what string
		ours func(veeam.Clause) int // the ledger's count, under the lock
		read func(veeam.Selection) error
	}{
		{&k.jobs, k.kind.jobQuery, k.kind.jobSessions(), k.state.jobLedger.count, func(sel veeam.Selection) error {
			_, err := readQuery(ctx, c, &k.jobs, sel, newPass(false), k.kind.readJobs, jobID, func(items []veeam.ReplicaJobSession, invalid int) {
				k.state.applyJobs(items, invalid, keepFrom)
			}, nil)
			return err
		}},
		{&k.tasks, k.kind.taskQuery, k.kind.taskSessions(), k.state.taskLedger.count, func(sel veeam.Selection) error {
			_, err := readQuery(ctx, c, &k.tasks, sel, newPass(false), k.kind.readTasks, taskID, func(items []veeam.ReplicaTaskSession, invalid int) {
				k.state.applyTasks(items, invalid, keepFrom)
			}, nil)
			return err
		}},
	}
	for _, t := range types {
		c.mu.RLock()
		due := t.s.rescanDue(now, c.rescanInterval)
		c.mu.RUnlock()
		if !due {
			continue
		}
		count := func(cl veeam.Clause) int {
			c.mu.RLock()
			defer c.mu.RUnlock()
			return t.ours(cl)
		}
		// Sessions created within the overlap, and sessions ended within
		// it: EM may know more of either than the exporter. Both are
		// checked at once, to spare a slow EM a round trip.
		dimensions := []rescanDimension{
			{whole: veeam.Clause{Created: veeam.Window{Since: horizon, Until: now}}},
			{whole: veeam.Clause{Created: veeam.Window{Since: floor, Until: now}, Ended: veeam.Window{Since: horizon, Until: now}}, byEnd: true},
		}
		errs := make([]error, len(dimensions))
		var wg sync.WaitGroup
		for i, d := range dimensions {
			wg.Go(func() { errs[i] = c.checkDimension(ctx, t.typ, d, count, t.read) })
		}
		wg.Wait()
		if err := firstError(errs); err != nil {
			return &fetchError{what: t.what, err: fmt.Errorf("rescan the overlap: %w", err)}
		}
		c.mu.Lock()
		t.s.lastRescan = now
		c.mu.Unlock()
	}
	return nil
}

// rescanDimension is the sessions a rescan checks along one time: whole
// selects them all, and its creation window, or its end window when byEnd
// is set, is what buckets split.
type rescanDimension struct {
	whole veeam.Clause
	byEnd bool
}

func (d rescanDimension) bucket(w veeam.Window) veeam.Clause {
	c := d.whole
	if d.byEnd {
		c.Ended = w
	} else {
		c.Created = w
	}
	return c
}

func (d rescanDimension) window() veeam.Window {
	if d.byEnd {
		return d.whole.Ended
	}
	return d.whole.Created
}

// checkDimension compares EM's count of the sessions of d with the
// ledger's; where EM holds more, it compares bucket by bucket and reads the
// buckets that differ. A count EM cannot give exactly is taken as a
// difference.
func (c *Collector) checkDimension(ctx context.Context, typ string, d rescanDimension, ours func(veeam.Clause) int, read func(veeam.Selection) error) error {
	emHasMore := func(cl veeam.Clause) (bool, bool, error) {
		n, err := c.src.CountSessions(ctx, typ, veeam.Selection{cl})
		if err != nil {
			return false, false, err
		}
		return !n.Exact || n.N > ours(cl), n.Exact, nil
	}
	more, exact, err := emHasMore(d.whole)
	if err != nil || !more {
		return err
	}
	if !exact {
		return read(veeam.Selection{d.whole})
	}
	parts := buckets(d.window(), rescanBuckets)
	differs := make([]bool, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, w := range parts {
		wg.Go(func() { differs[i], _, errs[i] = emHasMore(d.bucket(w)) })
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return err
	}
	var sel veeam.Selection
	for i, w := range parts {
		if differs[i] {
			sel = append(sel, d.bucket(w))
		}
	}
	if len(sel) == 0 {
		return nil
	}
	return read(sel)
}

// firstError is the first error of concurrent calls: when EM fails, they
// all fail alike, and one says why.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
