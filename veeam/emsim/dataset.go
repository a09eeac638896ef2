package emsim

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// dataset holds every planned session, generated run by run from the seed.
// It is extended as the clock moves, so a demo can run for days and a test
// can jump hours ahead; sessions are never re-planned.
type dataset struct {
	seed int64
	topo Topology

	mu sync.RWMutex
	// generatedUntil: every run scheduled before it is planned, with its
	// retries.
	generatedUntil  time.Time
	replica, backup sessionFamily
	inventory       *inventory
	// points are the replica jobs' restore points, cdp the CDP policies
	// and their sessions; unprotected is the VM that left its jobs, nil
	// for none.
	points      *pointIndex
	cdp         *cdpData
	unprotected *unprotectedVM
}

// sessionFamily is the jobs of one kind and their planned sessions.
type sessionFamily struct {
	jobs  []*job
	tasks []*taskRun // sorted by compareTasks
	runs  []*jobRun  // sorted by compareRuns
}

func newDataset(seed int64, topo Topology, now time.Time) *dataset {
	seed = siteSeed(seed, topo.Site)
	jobs := buildEstate(seed, topo)
	d := &dataset{seed: seed, topo: topo, generatedUntil: now.Add(-topo.History),
		replica: sessionFamily{jobs: jobs.replica}, backup: sessionFamily{jobs: jobs.backup},
		inventory: buildInventory(seed, topo, jobs, now), unprotected: markUnprotected(topo, jobs, now)}
	d.points = newPointIndex(seed, topo, jobs.replica, d.inventory)
	d.cdp = newCDP(seed, topo, jobs.servers, now)
	d.extend(now.Add(d.lookahead()), now)
	return d
}

// lookahead is how far past the requested time the dataset is planned, so
// that a steadily moving clock takes the write lock rarely.
func (d *dataset) lookahead() time.Duration {
	return max(d.topo.JobInterval, time.Hour)
}

// ensure plans every run scheduled up to t. now is the clock's time, which
// decides what the retention drops.
func (d *dataset) ensure(t, now time.Time) {
	d.mu.RLock()
	planned := t.Before(d.generatedUntil)
	d.mu.RUnlock()
	if planned {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.Before(d.generatedUntil) {
		return
	}
	d.extend(t.Add(d.lookahead()), now)
}

// extend plans the runs scheduled in [generatedUntil, until). The caller
// holds the write lock (or is the constructor).
func (d *dataset) extend(until, now time.Time) {
	from := d.generatedUntil
	for _, f := range []*sessionFamily{&d.replica, &d.backup} {
		fresh := d.extendFamily(f, from, until)
		if f == &d.replica {
			d.points.add(fresh, now)
		}
		if d.topo.Retention > 0 {
			cutoff := now.Add(-d.topo.Retention)
			f.tasks = dropBefore(f.tasks, cutoff, taskCreation)
			f.runs = dropBefore(f.runs, cutoff, runCreation)
		}
	}
	d.cdp.extend(d.seed, from, until, now, d.topo.Retention)
	d.generatedUntil = until
}

// extendFamily plans the runs of f scheduled in [from, until) and returns
// their task sessions.
func (d *dataset) extendFamily(f *sessionFamily, from, until time.Time) []*taskRun {
	var runs []*jobRun
	var tasks []*taskRun
	for _, j := range f.jobs {
		interval, offset := int64(j.interval), int64(j.offset)
		for slot := ceilDiv(from.UnixNano()-offset, interval); ; slot++ {
			start := time.Unix(0, slot*interval+offset).UTC()
			if !start.Before(until) || !j.until.IsZero() && !start.Before(j.until) {
				break
			}
			for _, r := range d.planSlot(j, slot, start) {
				runs = append(runs, r)
				tasks = append(tasks, r.tasks...)
			}
		}
	}
	f.tasks = appendSorted(f.tasks, tasks, from, taskCreation, compareTasks)
	f.runs = appendSorted(f.runs, runs, from, runCreation, compareRuns)
	return tasks
}

// planSlot plans the scheduled run of job j in one slot and the retries
// that follow it while VMs keep failing.
func (d *dataset) planSlot(j *job, slot int64, start time.Time) []*jobRun {
	run := d.planRun(j, slot, 0, start, j.vms)
	if run == nil {
		return nil
	}
	runs := []*jobRun{run}
	for attempt := 1; attempt <= j.behaviour.maxRetries; attempt++ {
		var failed []*virtualMachine
		for _, t := range run.tasks {
			if t.result == resultFailed {
				failed = append(failed, t.vm)
			}
		}
		if len(failed) == 0 {
			break
		}
		if run = d.planRun(j, slot, attempt, run.end.Add(j.behaviour.retryDelay), failed); run == nil {
			break
		}
		runs = append(runs, run)
	}
	return runs
}

func (d *dataset) planRun(j *job, slot int64, attempt int, notBefore time.Time, vms []*virtualMachine) *jobRun {
	b := j.behaviour
	st := newStream(d.seed, j.kind.runStream, int64(j.index), slot, int64(attempt))
	r := &jobRun{id: st.guid(), job: j, attempt: attempt, padded: st.intn(8) == 0}
	r.creation = truncateDigits(notBefore.Add(st.between(time.Second, 6*time.Second)), st.intn(7))
	// Lags come from streams of their own, and are drawn only when asked
	// for, so that late arrivals change no other value.
	late := d.topo.LateFraction > 0
	if late {
		r.lag = d.topo.lag(newStream(d.seed, j.kind.lateRunStream, int64(j.index), slot, int64(attempt)))
	}

	failRate, warnRate := b.failureRate, b.warningRate
	if attempt > 0 {
		failRate = b.retryFailureRate
		warnRate = min(warnRate, 1-failRate)
	}
	block := make([]taskRun, len(vms))
	r.tasks = make([]*taskRun, 0, len(vms))
	cursor, lastEnd := r.creation, r.creation
	for i, vm := range vms {
		ts := newStream(d.seed, j.kind.taskStream, int64(j.index), slot, int64(attempt), int64(vm.index))
		t := &block[i]
		cursor = cursor.Add(time.Second + ts.between(0, b.taskStagger))
		// A VM that left its jobs keeps its place in the stagger, so that
		// the other VMs' tasks stay as they were.
		if !vm.protectedAt(notBefore) {
			continue
		}
		duration := ts.between(b.taskDurationMin, b.taskDurationMax)
		*t = taskRun{id: ts.guid(), run: r, vm: vm, creation: truncateDigits(cursor, ts.intn(7)), padded: ts.intn(8) == 0}
		t.working = t.creation.Add(min(ts.between(time.Second, 5*time.Second), duration/3))
		t.end = truncateDigits(t.creation.Add(duration), ts.intn(7))
		if late {
			t.lag = d.topo.lag(newStream(d.seed, j.kind.lateTaskStream, int64(j.index), slot, int64(attempt), int64(vm.index)))
		}
		switch p := ts.float(); {
		case j.broken[vm]:
			t.result, t.reason = resultFailed, brokenVMReason
		case p < failRate:
			t.result, t.reason = resultFailed, failureReasons[ts.intn(len(failureReasons))]
		case p < failRate+warnRate:
			t.result, t.reason = resultWarning, warningReasons[ts.intn(len(warningReasons))]
		default:
			t.result = resultSuccess
		}
		if t.end.After(lastEnd) {
			lastEnd = t.end
		}
		r.result = max(r.result, t.result)
		r.tasks = append(r.tasks, t)
	}
	// A run left without VMs does not happen.
	if len(r.tasks) == 0 {
		return nil
	}
	r.end = truncateDigits(lastEnd.Add(st.between(2*time.Second, 10*time.Second)), st.intn(7))
	return r
}

var digitUnits = [...]time.Duration{time.Second, 100 * time.Millisecond, 10 * time.Millisecond, time.Millisecond,
	100 * time.Microsecond, 10 * time.Microsecond, time.Microsecond}

// truncateDigits keeps 0 to 6 fractional digits of the seconds.
func truncateDigits(t time.Time, digits int) time.Time {
	return t.Truncate(digitUnits[digits])
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b > 0 {
		q++
	}
	return q
}

// appendSorted appends fresh items, all created at or after from, to a
// sorted collection. Only the tail created at or after from can interleave
// with them (retries of earlier runs), so only the tail is re-sorted.
func appendSorted[T any](sorted, fresh []T, from time.Time, creation func(T) time.Time, cmp func(a, b T) int) []T {
	tail := sort.Search(len(sorted), func(i int) bool { return !creation(sorted[i]).Before(from) })
	out := append(sorted, fresh...)
	slices.SortFunc(out[tail:], cmp)
	return out
}

// dropBefore removes the items created before cutoff, copying the rest so
// the dropped ones can be freed.
func dropBefore[T any](sorted []T, cutoff time.Time, creation func(T) time.Time) []T {
	i := sort.Search(len(sorted), func(i int) bool { return !creation(sorted[i]).Before(cutoff) })
	if i == 0 {
		return sorted
	}
	return slices.Clone(sorted[i:])
}

// existing returns the sessions created at or before t.
func existing[T any](sorted []T, t time.Time, creation func(T) time.Time) []T {
	return sorted[:sort.Search(len(sorted), func(i int) bool { return creation(sorted[i]).After(t) })]
}
