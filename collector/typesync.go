package collector

import (
	"slices"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// changesSlack is how far before the previous refresh each refresh asks for
// completions again: a session seen running completes after EM answered,
// which is after the refresh began on the exporter's clock, unless EM's
// clock lags it. A lag longer than this only delays the completion to the
// next rescan.
const changesSlack = 10 * time.Second

// rescanBuckets is how many slices a rescan splits the overlap into when
// EM's count of the whole overlap differs from the exporter's.
const rescanBuckets = 12

// typeSync is where the reading of one query type stands: which creation
// ranges are still to be read, from when completions are asked for, how far
// the initial load has come and when the overlap was last checked.
//
// A refresh reads, in one query, the sessions created since the last one,
// the sessions seen running that have ended since (by EndTime), and those
// seen in a transitional state that are still in one. Sessions that reach
// EM late, or whose completion does, are found by the rescan: every
// --sessions.rescan-interval, EM's count of the sessions created, and of
// those ended, within the overlap is compared with the ledger's, and only
// where EM holds more are they read. A steady refresh thus costs what
// changed, not the overlap.
type typeSync struct {
	// unread are creation ranges no query has read completely yet, the
	// newest first: the lookback at the first refresh, then the span of
	// each refresh that did not complete.
	unread []veeam.Window
	// resumeSeen holds the sessions already applied of the second at the
	// low end of a range a failed query read in part: the range goes on
	// from that second's end, and they must not be counted twice.
	resumeSeen map[string]struct{}
	// top is where the ranges handed to unread end: every session created
	// before it was read or is in unread, but for late arrivals.
	top time.Time
	// changesFrom is when the last complete refresh began, less
	// changesSlack: sessions that end from then on are read again.
	changesFrom time.Time
	// lastRescan is when the overlap was last checked, or when the load
	// began.
	lastRescan time.Time
	// loadTotal is how many sessions the initial load counted when it
	// began, -1 if EM would not say; loadRead how many it has read.
	loadTotal, loadRead int
}

// planUnread hands the span from top to now to the unread ranges, split at
// horizon when it reaches before it, so that the part where sessions may
// still arrive is read apart from the rest.
func (s *typeSync) planUnread(now, horizon time.Time) {
	if !now.After(s.top) {
		return
	}
	span := []veeam.Window{{Since: s.top, Until: now}}
	if s.top.Before(horizon) && horizon.Before(now) {
		span = []veeam.Window{{Since: horizon, Until: now}, {Since: s.top, Until: horizon}}
	}
	s.unread = append(span, s.unread...)
	s.top = now
}

// unreadSelection selects the unread ranges.
func (s *typeSync) unreadSelection() veeam.Selection {
	sel := make(veeam.Selection, 0, len(s.unread)+2)
	for _, w := range s.unread {
		sel = append(sel, veeam.Clause{Created: w})
	}
	return sel
}

// changes are the clauses of the sessions seen running, created from
// oldestRunning on: those that ended since changesFrom, and those still in
// a transitional state. ok is false when no session is running.
func (s *typeSync) changes(oldestRunning, now time.Time) (ended, transitional veeam.Clause, ok bool) {
	if oldestRunning.IsZero() {
		return veeam.Clause{}, veeam.Clause{}, false
	}
	created := veeam.Window{Since: oldestRunning, Until: now}
	return veeam.Clause{Created: created, Ended: veeam.Window{Since: s.changesFrom, Until: now}},
		veeam.Clause{Created: created, Transitional: true}, true
}

// pass follows one query as it hands pages over: the low end of what it
// read, for the unread ranges, and, when asked, every session it returned.
type pass struct {
	read bool // it handed a session over
	// low is the second of the oldest session handed over; atLow holds the
	// UIDs handed over within that second.
	low   time.Time
	atLow map[string]struct{}
	seen  map[string]struct{} // nil unless asked for
}

func newPass(trackSeen bool) *pass {
	p := &pass{}
	if trackSeen {
		p.seen = make(map[string]struct{})
	}
	return p
}

// handOver records a session handed over. Pages come newest first, so the
// low end only moves down.
func (p *pass) handOver(uid string, created time.Time) {
	second := created.Truncate(time.Second)
	switch {
	case !p.read || second.Before(p.low):
		p.read, p.low, p.atLow = true, second, map[string]struct{}{uid: {}}
	case second.Equal(p.low):
		p.atLow[uid] = struct{}{}
	}
	if p.seen != nil {
		p.seen[uid] = struct{}{}
	}
}

// skip reports whether a session was applied by an earlier, failed query
// over the same range.
func (s *typeSync) skip(uid string) bool {
	_, ok := s.resumeSeen[uid]
	return ok
}

// finish updates the unread ranges after a query that read all of them:
// all are read when it completed; when it did not, every session the ranges
// hold created after the second of the oldest one it handed over was handed
// over, since pages come newest first, so the ranges shrink to that second,
// whose sessions already applied are remembered.
func (s *typeSync) finish(p *pass, complete bool) {
	s.finishRanges(0, len(s.unread), p, complete)
}

// finishRanges is finish for the unread ranges from to to.
func (s *typeSync) finishRanges(from, to int, p *pass, complete bool) {
	if complete {
		s.unread, s.resumeSeen = slices.Delete(s.unread, from, to), nil
		return
	}
	if !p.read {
		return
	}
	bound := p.low.Add(time.Second)
	for i := from; i < to; i++ {
		if s.unread[i].Until.After(bound) {
			s.unread[i].Until = bound
		}
	}
	s.unread = slices.DeleteFunc(s.unread, func(w veeam.Window) bool { return !w.Until.After(w.Since) })
	resumeSeen := p.atLow
	for uid := range s.resumeSeen {
		resumeSeen[uid] = struct{}{}
	}
	s.resumeSeen = resumeSeen
}

// rescanDue reports whether the overlap should be checked at now.
func (s *typeSync) rescanDue(now time.Time, interval time.Duration) bool {
	return now.Sub(s.lastRescan) >= interval
}

// buckets splits w into n slices of whole seconds, as EM's filter sees
// them.
func buckets(w veeam.Window, n int) []veeam.Window {
	since, until := w.Since.Truncate(time.Second), w.Until.Truncate(time.Second)
	span := until.Sub(since)
	if span <= 0 {
		return nil
	}
	step := max((span / time.Duration(n)).Truncate(time.Second), time.Second)
	var out []veeam.Window
	for at := since; at.Before(until); at = at.Add(step) {
		out = append(out, veeam.Window{Since: at, Until: minTime(at.Add(step), until)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
