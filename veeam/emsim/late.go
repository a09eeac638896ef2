package emsim

import (
	"sort"
	"time"
)

// Late arrivals: EM collects sessions from the backup servers
// periodically, so it may learn of a session minutes after its creation
// and then trails it by as much. A session with a lag does not exist in EM
// before its creation plus the lag; from then on EM shows it as it was lag
// ago. Queries, filters, sorting, entities and the shown ground truth all
// read sessions through visibleAt and shownAt, so that a filter matches
// exactly what the entities show.

// visibleAt reports whether EM knows of the session at now.
func (t *taskRun) visibleAt(now time.Time) bool { return !now.Before(t.creation.Add(t.lag)) }

// shownAt is the moment of the session's life that EM shows at now.
func (t *taskRun) shownAt(now time.Time) time.Time { return now.Add(-t.lag) }

func (r *jobRun) visibleAt(now time.Time) bool    { return !now.Before(r.creation.Add(r.lag)) }
func (r *jobRun) shownAt(now time.Time) time.Time { return now.Add(-r.lag) }

// maxLag is the longest a session can lag behind in EM; 0 when none is
// late.
func (t Topology) maxLag() time.Duration {
	if t.LateFraction == 0 {
		return 0
	}
	return t.LateDelayMax
}

// lag draws the lag of one session from st, a stream of its own.
func (t Topology) lag(st stream) time.Duration {
	if st.float() >= t.LateFraction {
		return 0
	}
	return st.between(t.LateDelayMin, t.LateDelayMax)
}

// shown is what EM shows of a collection sorted by creation: settled, whose
// sessions are all visible, then recent, the visible ones among the
// sessions created too lately for every late one to have arrived. Only
// recent is checked and copied, never the whole history.
type shown[T any] struct {
	settled, recent []T
}

// visibleOnly returns the sessions of items, sorted by creation and created
// at or before now, that EM shows at now. Only those created in
// (now - maxLag, now] can still be missing.
func visibleOnly[T any](items []T, now time.Time, maxLag time.Duration, creation func(T) time.Time, visible func(T, time.Time) bool) shown[T] {
	if maxLag <= 0 {
		return shown[T]{settled: items}
	}
	cut := now.Add(-maxLag)
	i := sort.Search(len(items), func(i int) bool { return creation(items[i]).After(cut) })
	settled, recent := items[:i], items[i:]
	// items belongs to the dataset: copy the recent ones, and only when one
	// is missing, checking each once.
	for j, e := range recent {
		if visible(e, now) {
			continue
		}
		kept := make([]T, j, len(recent)-1)
		copy(kept, recent[:j])
		for _, e := range recent[j+1:] {
			if visible(e, now) {
				kept = append(kept, e)
			}
		}
		return shown[T]{settled: settled, recent: kept}
	}
	return shown[T]{settled: settled, recent: recent}
}

func (v shown[T]) len() int { return len(v.settled) + len(v.recent) }

func (v shown[T]) at(i int) T {
	if i < len(v.settled) {
		return v.settled[i]
	}
	return v.recent[i-len(v.settled)]
}
