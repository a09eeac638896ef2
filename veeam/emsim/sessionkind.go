package emsim

// A sessionKind is what differs between replica and backup sessions: the
// names EM gives their types and resources, and the random streams their
// runs are drawn from. Everything else (planning, states, filters) is
// shared.
type sessionKind struct {
	taskType, taskRefType string // ReplicaTaskSession, ReplicaTaskSessionReference
	runType, runRefType   string // ReplicaJobSession, ReplicaJobSessionReference
	taskListType          string // the job session's Down link to its tasks
	taskPath, runPath     string // collection paths under /api/
	taskListSuffix        string // appended to a job session's Href for its tasks
	runStream, taskStream int64
	// lateRunStream and lateTaskStream draw the lags of late arrivals.
	lateRunStream, lateTaskStream int64
	// replicaPoints: a successful replica task links the restore point it
	// made. withVMUIDs: backup task sessions carry VmUid.
	replicaPoints, withVMUIDs bool
}

var (
	replicaKind = &sessionKind{
		taskType: "ReplicaTaskSession", taskRefType: "ReplicaTaskSessionReference",
		runType: "ReplicaJobSession", runRefType: "ReplicaJobSessionReference",
		taskListType: "ReplicaTaskSessionReferenceList",
		taskPath:     "replicaTaskSessions", runPath: "replicaSessions", taskListSuffix: "/replicaTaskSessions",
		runStream: kindRun, taskStream: kindTask,
		lateRunStream: kindLateRun, lateTaskStream: kindLateTask,
		replicaPoints: true,
	}
	backupKind = &sessionKind{
		taskType: "BackupTaskSession", taskRefType: "BackupTaskSessionReference",
		runType: "BackupJobSession", runRefType: "BackupJobSessionReference",
		taskListType: "BackupTaskSessionReferenceList",
		taskPath:     "backupTaskSessions", runPath: "backupSessions", taskListSuffix: "/taskSessions",
		runStream: kindBackupRun, taskStream: kindBackupTask,
		lateRunStream: kindLateBackupRun, lateTaskStream: kindLateBackupTask,
		withVMUIDs: true,
	}
)

// Job types, as JobType reports them.
const (
	replicaJobType    = "Replica"
	backupJobType     = "Backup"
	backupCopyJobType = "BackupCopy"
)
