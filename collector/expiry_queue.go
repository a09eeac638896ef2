package collector

import (
	"slices"
	"time"
)

// expiryQueue files keys under the minute of the earliest time at which
// something of theirs may fall out of the lookback, so that a prune visits
// only the keys whose minute has come instead of the whole state. A key is
// filed again, by its visitor, when it still holds something after a visit.
type expiryQueue[K comparable] struct {
	minutes map[int64][]K
}

// minuteOf is the minute t falls in, as a number that grows with t.
func minuteOf(t time.Time) int64 {
	return t.Unix() / 60
}

// add files key under the minute of at and returns that minute.
func (q *expiryQueue[K]) add(key K, at time.Time) int64 {
	if q.minutes == nil {
		q.minutes = make(map[int64][]K)
	}
	minute := minuteOf(at)
	q.minutes[minute] = append(q.minutes[minute], key)
	return minute
}

// due takes out every key filed under a minute that began before the given
// time, and calls visit with it and the minute it was filed under, oldest
// minute first. The minute in progress is taken out too: some of its keys
// may have expired; visit files again those that have not.
func (q *expiryQueue[K]) due(before time.Time, visit func(key K, minute int64)) {
	last := minuteOf(before)
	var minutes []int64
	for minute := range q.minutes {
		if minute <= last {
			minutes = append(minutes, minute)
		}
	}
	slices.Sort(minutes)
	for _, minute := range minutes {
		keys := q.minutes[minute]
		delete(q.minutes, minute)
		for _, key := range keys {
			visit(key, minute)
		}
	}
}
