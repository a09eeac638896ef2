package collector

import (
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// ledger remembers the sessions of one query type that a later query can
// return again: those created or ended within the horizon (the overlap
// before the last refresh) and those still running. With it each completed
// session is counted once however often it is read, a running one is
// followed until it completes, and a rescan compares EM's counts with what
// the exporter has seen. Older sessions are no query's to return again, so
// the ledger stays as small as the overlap.
type ledger[K comparable] struct {
	entries map[string]*ledgerEntry[K]
}

type ledgerEntry[K comparable] struct {
	key          K // the series the session was applied to
	creation     time.Time
	end          time.Time // zero while it runs
	transitional bool      // in a state it leaves without completing
}

func newLedger[K comparable]() ledger[K] {
	return ledger[K]{entries: make(map[string]*ledgerEntry[K])}
}

// counted reports whether the session uid was seen completed, and so was
// counted.
func (l *ledger[K]) counted(uid string) bool {
	e := l.entries[uid]
	return e != nil && !e.end.IsZero()
}

// note records what the last read said of a session, if a later query can
// return it again; a session already in the ledger stays until prune.
func (l *ledger[K]) note(uid string, key K, creation, end time.Time, transitional bool, horizon time.Time) {
	e := l.entries[uid]
	if e == nil {
		if !end.IsZero() && creation.Before(horizon) && end.Before(horizon) {
			return
		}
		e = &ledgerEntry[K]{}
		l.entries[uid] = e
	}
	*e = ledgerEntry[K]{key: key, creation: creation, end: end, transitional: transitional}
}

// oldestRunning is the creation time of the oldest session still running,
// zero if none is.
func (l *ledger[K]) oldestRunning() time.Time {
	var oldest time.Time
	for _, e := range l.entries {
		if e.end.IsZero() {
			oldest = earliest(oldest, e.creation)
		}
	}
	return oldest
}

// count is how many sessions the ledger holds that c selects, by the same
// rules as EM's filter.
func (l *ledger[K]) count(c veeam.Clause) int {
	n := 0
	for _, e := range l.entries {
		if c.Matches(e.creation, e.end, e.transitional) {
			n++
		}
	}
	return n
}

// settle marks the sessions that c selected before a query and that the
// query, complete, no longer returned as having left their transitional
// state, and returns them: c selects sessions in such a state, so those
// missing from its answer are in the long state of a running session, or
// completed after the query's end bound and still to be read.
func (l *ledger[K]) settle(c veeam.Clause, seen map[string]struct{}) map[string]*ledgerEntry[K] {
	var settled map[string]*ledgerEntry[K]
	for uid, e := range l.entries {
		if _, ok := seen[uid]; ok || !e.end.IsZero() || !c.Matches(e.creation, e.end, e.transitional) {
			continue
		}
		e.transitional = false
		if settled == nil {
			settled = make(map[string]*ledgerEntry[K])
		}
		settled[uid] = e
	}
	return settled
}

// prune forgets the completed sessions that no query returns again, those
// created and ended before horizon, and the running ones created before
// floor, which the metrics no longer reflect.
func (l *ledger[K]) prune(horizon, floor time.Time) {
	for uid, e := range l.entries {
		if e.end.IsZero() && e.creation.Before(floor) || !e.end.IsZero() && e.creation.Before(horizon) && e.end.Before(horizon) {
			delete(l.entries, uid)
		}
	}
}
