package emsim

import (
	"cmp"
	"strconv"
	"strings"
	"time"
)

// A field is one property that filters and sorting can name. Its value is
// computed as of the request's time, since State, Result and EndTime change,
// and as EM shows it then: a late session's as of its lag earlier.

type fieldKind uint8

const (
	fieldText fieldKind = iota
	fieldDateTime
	fieldNumber
	fieldEnum
	fieldBool
)

// fieldValue holds one kind of value: text, a time, or a number (which also
// carries enumeration positions and booleans).
type fieldValue struct {
	text   string
	time   time.Time
	number int64
}

type field[T any] struct {
	name string
	kind fieldKind
	enum []string // names in EM's order, for fieldEnum
	// value reports false when the entity has no value, such as the
	// EndTime of a running session.
	value func(e T, now time.Time) (fieldValue, bool)
}

type fieldSet[T any] []*field[T]

func (fs fieldSet[T]) lookup(name string) (*field[T], bool) {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return f, true
		}
	}
	return nil, false
}

func (fs fieldSet[T]) names() string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

const creationTimeField = "CreationTime"

// parseLiteral turns a filter value into a value of the field's kind.
func (f *field[T]) parseLiteral(s string) (fieldValue, error) {
	switch f.kind {
	case fieldDateTime:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !strings.HasSuffix(s, "Z") {
			return fieldValue{}, &filterValueError{field: f.name, value: s, want: "a UTC DateTime such as 2025-08-15T06:00:00Z"}
		}
		return fieldValue{time: t}, nil
	case fieldNumber:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fieldValue{}, &filterValueError{field: f.name, value: s, want: "an integer"}
		}
		return fieldValue{number: n}, nil
	case fieldEnum:
		for i, name := range f.enum {
			if strings.EqualFold(name, s) {
				return fieldValue{number: int64(i)}, nil
			}
		}
		return fieldValue{}, &filterValueError{field: f.name, value: s, want: "one of " + strings.Join(f.enum, ", ")}
	case fieldBool:
		switch {
		case strings.EqualFold(s, "true"):
			return fieldValue{number: 1}, nil
		case strings.EqualFold(s, "false"):
			return fieldValue{number: 0}, nil
		}
		return fieldValue{}, &filterValueError{field: f.name, value: s, want: "true or false"}
	}
	return fieldValue{text: s}, nil
}

func (f *field[T]) compare(a, b fieldValue) int {
	switch f.kind {
	case fieldText:
		return strings.Compare(a.text, b.text)
	case fieldDateTime:
		return a.time.Compare(b.time)
	}
	return cmp.Compare(a.number, b.number)
}

type filterValueError struct {
	field, value, want string
}

func (e *filterValueError) Error() string {
	return "the value " + strconv.Quote(e.value) + " of " + e.field + " is not " + e.want
}

func textValue(s string) (fieldValue, bool)  { return fieldValue{text: s}, true }
func numberValue(n int64) (fieldValue, bool) { return fieldValue{number: n}, true }
func timeValue(t time.Time) (fieldValue, bool) {
	return fieldValue{time: t}, !t.IsZero()
}

func boolValue(b bool) (fieldValue, bool) {
	if b {
		return numberValue(1)
	}
	return numberValue(0)
}

var taskFields = fieldSet[*taskRun]{
	{name: "UID", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(taskUID(t)) }},
	{name: "Name", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(t.name()) }},
	{name: creationTimeField, kind: fieldDateTime, value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return timeValue(t.creation) }},
	{name: "EndTime", kind: fieldDateTime, value: func(t *taskRun, now time.Time) (fieldValue, bool) { return timeValue(t.endAt(t.shownAt(now))) }},
	{name: "State", kind: fieldEnum, enum: taskStateNames, value: func(t *taskRun, now time.Time) (fieldValue, bool) {
		state, _ := t.stateAt(t.shownAt(now))
		return numberValue(int64(state))
	}},
	{name: "Result", kind: fieldEnum, enum: resultNames, value: func(t *taskRun, now time.Time) (fieldValue, bool) {
		_, res := t.stateAt(t.shownAt(now))
		return numberValue(int64(res))
	}},
	{name: "Reason", value: func(t *taskRun, now time.Time) (fieldValue, bool) { return textValue(t.reasonAt(t.shownAt(now))) }},
	{name: "TotalSize", kind: fieldNumber, value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return numberValue(t.vm.totalSize) }},
	{name: "JobSessionUid", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(runUID(t.run)) }},
	{name: "JobUid", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(jobUID(t.run.job)) }},
	{name: "JobName", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(t.run.job.name) }},
	{name: "BackupServerUid", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(serverUID(t.run.job.server)) }},
	{name: "BackupServerName", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(t.run.job.server.name) }},
	{name: "VmDisplayName", value: func(t *taskRun, _ time.Time) (fieldValue, bool) { return textValue(t.vm.name) }},
}

var jobFields = fieldSet[*jobRun]{
	{name: "UID", value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return textValue(runUID(r)) }},
	{name: "Name", value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return textValue(r.name()) }},
	{name: "JobUid", value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return textValue(jobUID(r.job)) }},
	{name: "JobName", value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return textValue(r.job.name) }},
	{name: "JobType", value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return textValue(r.job.jobType) }},
	{name: creationTimeField, kind: fieldDateTime, value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return timeValue(r.creation) }},
	{name: "EndTime", kind: fieldDateTime, value: func(r *jobRun, now time.Time) (fieldValue, bool) { return timeValue(r.endAt(r.shownAt(now))) }},
	{name: "State", kind: fieldEnum, enum: jobStateNames, value: func(r *jobRun, now time.Time) (fieldValue, bool) {
		state, _, _ := r.stateAt(r.shownAt(now))
		return numberValue(int64(state))
	}},
	{name: "Result", kind: fieldEnum, enum: resultNames, value: func(r *jobRun, now time.Time) (fieldValue, bool) {
		_, res, _ := r.stateAt(r.shownAt(now))
		return numberValue(int64(res))
	}},
	{name: "Progress", kind: fieldNumber, value: func(r *jobRun, now time.Time) (fieldValue, bool) {
		_, _, progress := r.stateAt(r.shownAt(now))
		return numberValue(int64(progress))
	}},
	{name: "IsRetry", kind: fieldBool, value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return boolValue(r.isRetry()) }},
	{name: "BackupServerUid", value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return textValue(serverUID(r.job.server)) }},
	{name: "BackupServerName", value: func(r *jobRun, _ time.Time) (fieldValue, bool) { return textValue(r.job.server.name) }},
}
