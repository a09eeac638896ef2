package veeam

import "time"

// TaskState is the State of a task session (ReplicaTaskSession, BackupTaskSession).
type TaskState uint8

// Task session states, in EM's enumeration order.
const (
	TaskStateUnknown TaskState = iota
	TaskStatePending
	TaskStateInProgress
	TaskStateCompleted
)

// TaskStates lists the known task states in EM's order, for state-set metrics.
var TaskStates = [...]TaskState{TaskStatePending, TaskStateInProgress, TaskStateCompleted}

func (s TaskState) String() string {
	switch s {
	case TaskStatePending:
		return "Pending"
	case TaskStateInProgress:
		return "InProgress"
	case TaskStateCompleted:
		return "Completed"
	}
	return "Unknown"
}

// Transitional reports whether a task session leaves s without completing:
// Pending, or a state the exporter does not know. InProgress is where a
// running task spends its time.
func (s TaskState) Transitional() bool {
	return s != TaskStateInProgress && s != TaskStateCompleted
}

// ParseTaskState maps EM's text to a TaskState; ok is false for an unknown value.
func ParseTaskState(s string) (TaskState, bool) {
	for _, st := range TaskStates {
		if st.String() == s {
			return st, true
		}
	}
	return TaskStateUnknown, false
}

// JobState is the State of a job session (ReplicaJobSession, BackupJobSession).
type JobState uint8

// Job session states, in EM's enumeration order.
const (
	JobStateUnknown JobState = iota
	JobStateStarting
	JobStateStopping
	JobStateWorking
	JobStatePausing
	JobStateResuming
	JobStateStopped
)

// JobStates lists the known job states in EM's order, for state-set metrics.
var JobStates = [...]JobState{JobStateStarting, JobStateStopping, JobStateWorking, JobStatePausing, JobStateResuming, JobStateStopped}

func (s JobState) String() string {
	switch s {
	case JobStateStarting:
		return "Starting"
	case JobStateStopping:
		return "Stopping"
	case JobStateWorking:
		return "Working"
	case JobStatePausing:
		return "Pausing"
	case JobStateResuming:
		return "Resuming"
	case JobStateStopped:
		return "Stopped"
	}
	return "Unknown"
}

// Transitional reports whether a job session leaves s without completing:
// Starting, Stopping, Pausing, Resuming, or a state the exporter does not
// know. Working is where a running job spends its time.
func (s JobState) Transitional() bool {
	return s != JobStateWorking && s != JobStateStopped
}

// ParseJobState maps EM's text to a JobState; ok is false for an unknown value.
func ParseJobState(s string) (JobState, bool) {
	for _, st := range JobStates {
		if st.String() == s {
			return st, true
		}
	}
	return JobStateUnknown, false
}

// Result is the Result of a task or job session. EM reports None while a
// session has not completed.
type Result uint8

// Session results, in EM's enumeration order.
const (
	ResultNone Result = iota
	ResultSuccess
	ResultWarning
	ResultFailed
)

// Results lists the results a completed session can have, for state-set
// metrics and counters.
var Results = [...]Result{ResultSuccess, ResultWarning, ResultFailed}

func (r Result) String() string {
	switch r {
	case ResultSuccess:
		return "Success"
	case ResultWarning:
		return "Warning"
	case ResultFailed:
		return "Failed"
	}
	return "None"
}

// ParseResult maps EM's text to a Result; ok is false for an unknown value.
func ParseResult(s string) (Result, bool) {
	if s == "None" {
		return ResultNone, true
	}
	for _, r := range Results {
		if r.String() == s {
			return r, true
		}
	}
	return ResultNone, false
}

// ReplicaTaskSession is one VM's part of a replica job session, as returned by
// the query type ReplicaTaskSession with format=Entities.
type ReplicaTaskSession struct {
	UID           string // urn:veeam:ReplicaTaskSession:{guid}
	Name          string // "<vm>@<timestamp>"
	VMDisplayName string
	// BackupServerName is the Name of the Rel="Up" BackupServerReference link.
	BackupServerName string
	JobSessionUID    string
	// JobSessionName is the Name of the Rel="Up" ReplicaJobSessionReference
	// link (BackupJobSessionReference for a backup task session):
	// "<job>@<timestamp>" in current versions, "<job>" in old ones.
	JobSessionName string
	CreationTime   time.Time
	EndTime        time.Time // zero while the session runs
	State          TaskState
	Result         Result
	Reason         string
	TotalSize      int64 // bytes
}

// Completed reports whether the session has finished with a result.
func (s *ReplicaTaskSession) Completed() bool {
	return s.State == TaskStateCompleted && s.Result != ResultNone && !s.EndTime.IsZero()
}

// Transitional reports whether the session is in a state it leaves without
// completing (see Clause.Transitional).
func (s *ReplicaTaskSession) Transitional() bool { return s.State.Transitional() }

// ReplicaJobSession is one run of a replica job, as returned by the query
// type ReplicaJobSession with format=Entities.
type ReplicaJobSession struct {
	UID              string // urn:veeam:ReplicaJobSession:{guid}
	Name             string // "<job>@<timestamp>"
	JobUID           string
	JobName          string
	JobType          string
	BackupServerName string
	CreationTime     time.Time
	EndTime          time.Time // zero while the session runs
	State            JobState
	Result           Result
	Progress         int
	IsRetry          bool
}

// Completed reports whether the job session has finished with a result.
func (s *ReplicaJobSession) Completed() bool {
	return s.State == JobStateStopped && s.Result != ResultNone && !s.EndTime.IsZero()
}

// Transitional reports whether the job session is in a state it leaves
// without completing (see Clause.Transitional).
func (s *ReplicaJobSession) Transitional() bool { return s.State.Transitional() }

// BackupTaskSession is one VM's part of a backup or backup copy job
// session, as returned by the query type BackupTaskSession with
// format=Entities. EM gives it the fields of a replica task session, its
// UID and JobSessionUID naming backup sessions, plus the VM's UID. The
// embedded ReplicaTaskSession carries those fields, so code written for
// replica task sessions serves backup ones as well.
type BackupTaskSession struct {
	ReplicaTaskSession
	VMUID string // VmUid, e.g. urn:VMware:Vm:{vCenter guid}.vm-1042
}

// BackupJobSession is one run of a backup job of any type, as returned by
// the query type BackupJobSession with format=Entities. EM gives it the
// fields of a replica job session, which the embedded ReplicaJobSession
// carries. JobType is kept as EM writes it, only trimmed: Backup,
// BackupCopy, or any other type EM knows.
type BackupJobSession struct {
	ReplicaJobSession
}

// Stats counts what the client has done since it was created, and tells
// whether it is backing off after EM rejected its credentials.
type Stats struct {
	Logons uint64 // successful logons
	// LogonFailures counts logon attempts that failed, whatever the cause;
	// calls refused by the back-off without contacting EM are not attempts.
	LogonFailures uint64
	Logoffs       uint64
	Requests      uint64 // HTTP requests sent, logons and logoffs included
	// LogonRejections counts the logons EM refused for the credentials (401)
	// or the account's role (403), in total, not only the consecutive ones.
	LogonRejections uint64
	// LogonBackoffUntil is when a logon with the rejected password will be
	// tried again; zero when the client is not backing off.
	LogonBackoffUntil time.Time
	// RetryAfterUntil is when the client sends requests again after EM
	// answered 503 or 429 with Retry-After; zero when it is not waiting.
	RetryAfterUntil time.Time
	// RequestsByOutcome counts the requests sent, by type and outcome;
	// AnswerBytes the answer body bytes read, by type.
	RequestsByOutcome map[RequestKey]uint64
	AnswerBytes       map[string]uint64
}
