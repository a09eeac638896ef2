package veeam

import (
	"strings"
	"time"
)

// Window selects sessions by creation time: from Since, included, to Until,
// excluded. A zero bound leaves that side open.
//
// A bounded Until is what makes paging safe while EM keeps creating
// sessions: without it, a session created between two page requests shifts
// the newest-first table by one row, and a page answered before its
// predecessor loses the row at their boundary. With it, the set of sessions
// the query selects no longer grows while it is paged, but for sessions
// that reach EM late.
type Window struct {
	Since, Until time.Time
}

// contains reports whether EM's filter for w selects t: EM takes whole
// seconds, so both bounds are rounded down (see filterTime).
func (w Window) contains(t time.Time) bool {
	return (w.Since.IsZero() || !t.Before(filterTime(w.Since))) && (w.Until.IsZero() || t.Before(filterTime(w.Until)))
}

// IsZero reports whether w selects every time.
func (w Window) IsZero() bool { return w.Since.IsZero() && w.Until.IsZero() }

// filterTime is t as a filter compares it: EM takes whole seconds in UTC,
// so t is rounded down. A session created within Since's second is not
// missed, and one created within Until's second is left to the next window,
// which starts before it.
func filterTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Second)
}

// Clause selects the sessions that meet all of its parts.
type Clause struct {
	// Created bounds the sessions' creation time.
	Created Window
	// Ended, when not zero, keeps the sessions whose end time is within it:
	// a session still running has none and is not kept.
	Ended Window
	// Transitional keeps the sessions in a state they leave without
	// completing: a task session Pending, a job session Starting, Stopping,
	// Pausing or Resuming, or in a state the exporter does not know. It
	// leaves out the long state of a running session (a task InProgress, a
	// job Working) and the completed ones, so a client that knows which
	// sessions it saw in a transitional state can tell, from their absence
	// in a complete answer, that they moved on to the long state.
	Transitional bool
}

// Matches reports whether EM would select a session created and ended at
// the given times (ended zero while it runs), in a transitional state or not.
func (c Clause) Matches(created, ended time.Time, transitional bool) bool {
	if !c.Created.contains(created) {
		return false
	}
	if !c.Ended.IsZero() && (ended.IsZero() || !c.Ended.contains(ended)) {
		return false
	}
	return !c.Transitional || transitional
}

// Selection is the sessions that meet any of its clauses. A Selection
// without clauses selects every session.
type Selection []Clause

// Matches reports whether EM would select the session, as Clause.Matches.
func (s Selection) Matches(created, ended time.Time, transitional bool) bool {
	if len(s) == 0 {
		return true
	}
	for _, c := range s {
		if c.Matches(created, ended, transitional) {
			return true
		}
	}
	return false
}

// Created is the selection of the sessions created within w.
func Created(w Window) Selection { return Selection{{Created: w}} }

// sessionFields are the names EM's filters give the fields a Selection
// uses, for one query type: they are not always the names of the elements
// (CreationTime filters CreationTimeUTC), and differ between types.
type sessionFields struct {
	creation, end, state string
	// longStates are the states a running session spends its time in and
	// the completed state: Transitional excludes them.
	longStates []string
}

var (
	taskSessionFields = sessionFields{creation: "CreationTime", end: "EndTime", state: "State",
		longStates: []string{TaskStateInProgress.String(), TaskStateCompleted.String()}}
	jobSessionFields = sessionFields{creation: "CreationTime", end: "EndTime", state: "State",
		longStates: []string{JobStateWorking.String(), JobStateStopped.String()}}
)

// filter turns sel into EM's filter grammar: ';' is AND, ',' is OR, and
// each clause of several is put in parentheses rather than relying on
// EM's precedence of ';' over ','. An empty Selection, or a clause without
// conditions, needs no filter.
func (f sessionFields) filter(sel Selection) string {
	clauses := make([]string, 0, len(sel))
	for _, c := range sel {
		conditions := f.conditions(c)
		if len(conditions) == 0 {
			return ""
		}
		clauses = append(clauses, conditions.Encode())
	}
	if len(clauses) == 1 {
		return clauses[0]
	}
	for i, c := range clauses {
		clauses[i] = "(" + c + ")"
	}
	return strings.Join(clauses, ",")
}

func (f sessionFields) conditions(c Clause) Filter {
	var conditions Filter
	window := func(field string, w Window) {
		if !w.Since.IsZero() {
			conditions = append(conditions, Condition{Field: field, Op: OpGreaterOrEqual, Value: formatFilterTime(w.Since)})
		}
		if !w.Until.IsZero() {
			conditions = append(conditions, Condition{Field: field, Op: OpLess, Value: formatFilterTime(w.Until)})
		}
	}
	window(f.creation, c.Created)
	if !c.Ended.IsZero() {
		window(f.end, c.Ended)
	}
	if c.Transitional {
		for _, state := range f.longStates {
			conditions = append(conditions, Condition{Field: f.state, Op: OpNotEqual, Value: state})
		}
	}
	return conditions
}

func formatFilterTime(t time.Time) string {
	return filterTime(t).Format("2006-01-02T15:04:05Z")
}
