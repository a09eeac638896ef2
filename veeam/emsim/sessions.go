package emsim

import (
	"bytes"
	"time"
)

// A jobRun is one job session (replica or backup) and a taskRun one of its
// task sessions. Both are planned in full when generated (creation, end, result)
// and never change afterwards; what EM reports at a given moment is derived
// from the plan by stateAt.

type jobRun struct {
	id      guid
	job     *job
	attempt int // 0 for the scheduled run, n for its n-th retry
	// creation, end and every task time are truncated to the fractional
	// digits they are rendered with, so what is rendered is what is true.
	creation time.Time
	end      time.Time
	result   result
	// padded sessions render their text values with surrounding spaces,
	// as some real EM answers do.
	padded bool
	// lag is how far EM's view of a late session trails it; 0 for most.
	lag   time.Duration
	tasks []*taskRun // in creation order; never empty
}

type taskRun struct {
	id       guid
	run      *jobRun
	vm       *virtualMachine
	creation time.Time
	working  time.Time // end of the Pending phase
	end      time.Time
	result   result
	reason   string
	padded   bool
	lag      time.Duration
}

const nameTimeLayout = "2006-01-02 15:04:05"

func (r *jobRun) isRetry() bool { return r.attempt > 0 }

// name is "<job>@<creation>", as current EM versions name job sessions.
func (r *jobRun) name() string {
	return r.job.name + "@" + r.creation.Format(nameTimeLayout)
}

func (r *jobRun) stateAt(now time.Time) (state jobState, res result, progress int) {
	switch {
	case !now.Before(r.end):
		return jobStopped, r.result, 100
	case now.Before(r.tasks[0].creation):
		return jobStarting, resultNone, 0
	}
	done := 0
	for _, t := range r.tasks {
		if !now.Before(t.end) {
			done++
		}
	}
	// A running job never reports 100%, even in the seconds between its
	// last task and its own end.
	return jobWorking, resultNone, min(done*100/len(r.tasks), 99)
}

func (t *taskRun) name() string {
	return t.vm.name + "@" + t.creation.Format(nameTimeLayout)
}

func (t *taskRun) stateAt(now time.Time) (taskState, result) {
	switch {
	case now.Before(t.working):
		return taskPending, resultNone
	case now.Before(t.end):
		return taskInProgress, resultNone
	}
	return taskCompleted, t.result
}

// reasonAt is empty until the task completes, and on success.
func (t *taskRun) reasonAt(now time.Time) string {
	if now.Before(t.end) {
		return ""
	}
	return t.reason
}

// endAt is the zero time while the session runs.
func (t *taskRun) endAt(now time.Time) time.Time {
	if now.Before(t.end) {
		return time.Time{}
	}
	return t.end
}

func (r *jobRun) endAt(now time.Time) time.Time {
	if now.Before(r.end) {
		return time.Time{}
	}
	return r.end
}

// Collections are kept sorted by creation time, ties broken by UID, so that
// paging is stable and creation-time filters can binary-search.

func compareTasks(a, b *taskRun) int {
	if c := a.creation.Compare(b.creation); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

func compareRuns(a, b *jobRun) int {
	if c := a.creation.Compare(b.creation); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

func taskCreation(t *taskRun) time.Time { return t.creation }
func runCreation(r *jobRun) time.Time   { return r.creation }
