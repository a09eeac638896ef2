package emsim

// The enumerations below are in EM's order: filters compare them by
// position, so Result>=Warning means Warning or Failed.

type taskState uint8

const (
	taskPending taskState = iota
	taskInProgress
	taskCompleted
)

var taskStateNames = []string{"Pending", "InProgress", "Completed"}

func (s taskState) String() string { return taskStateNames[s] }

type jobState uint8

const (
	jobStarting jobState = iota
	jobStopping
	jobWorking
	jobPausing
	jobResuming
	jobStopped
)

var jobStateNames = []string{"Starting", "Stopping", "Working", "Pausing", "Resuming", "Stopped"}

func (s jobState) String() string { return jobStateNames[s] }

// result is None while a session has not completed.
type result uint8

const (
	resultNone result = iota
	resultSuccess
	resultWarning
	resultFailed
)

var resultNames = []string{"None", "Success", "Warning", "Failed"}

func (r result) String() string { return resultNames[r] }
