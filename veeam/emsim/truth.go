package emsim

import "time"

// TaskSession is the ground truth of one replica or backup task session as
// of a moment, for tests that compare the exporter's output with the data.
type TaskSession struct {
	UID, Name, VM, BackupServer, JobName, JobSessionUID, JobSessionName string
	Creation                                                            time.Time
	End                                                                 time.Time // zero while running
	State, Result, Reason                                               string
	TotalSize                                                           int64
	// VMUID is the VmUid of a backup task session; empty for replicas,
	// which do not report it.
	VMUID string
	// Lag is how late the session reaches EM and how far EM's view of it
	// trails it (Topology.LateFraction); 0 for a timely session.
	Lag time.Duration
}

// JobSession is the ground truth of one replica or backup job session as
// of a moment; JobType is Replica, Backup or BackupCopy.
type JobSession struct {
	UID, Name, JobUID, JobName, JobType, BackupServer string
	Creation                                          time.Time
	End                                               time.Time // zero while running
	State, Result                                     string
	Progress                                          int
	IsRetry                                           bool
	// Lag is how late the session reaches EM and how far EM's view of it
	// trails it (Topology.LateFraction); 0 for a timely session.
	Lag time.Duration
}

// truthView is which ground truth a function returns.
type truthView bool

const (
	// trueView: every session created by asOf, as it really is at asOf.
	trueView truthView = false
	// emView: the sessions EM shows at asOf, as it shows them.
	emView truthView = true
)

// TaskSessions returns every replica task session that exists at asOf
// (created at or before it), with its state as of asOf, sorted by creation
// time. A late session is there before EM shows it, and as it really is;
// TaskSessionsShown gives what EM shows.
func (s *Server) TaskSessions(asOf time.Time) []TaskSession {
	return s.taskTruth(asOf, replicaTasks, trueView)
}

// JobSessions returns every replica job session that exists at asOf, with
// its state as of asOf, sorted by creation time.
func (s *Server) JobSessions(asOf time.Time) []JobSession {
	return s.jobTruth(asOf, replicaRuns, trueView)
}

// BackupTaskSessions returns every backup task session (of backup and
// backup copy jobs) that exists at asOf, with its state as of asOf, sorted
// by creation time.
func (s *Server) BackupTaskSessions(asOf time.Time) []TaskSession {
	return s.taskTruth(asOf, backupTasks, trueView)
}

// BackupJobSessions returns every backup job session that exists at asOf,
// with its state as of asOf, sorted by creation time.
func (s *Server) BackupJobSessions(asOf time.Time) []JobSession {
	return s.jobTruth(asOf, backupRuns, trueView)
}

// TaskSessionsShown returns what a query at asOf shows of the replica task
// sessions: only those EM knows of by then, a late one with its state,
// end, result and reason as of its Lag before asOf. Sorted by creation
// time. Without late arrivals it equals TaskSessions.
func (s *Server) TaskSessionsShown(asOf time.Time) []TaskSession {
	return s.taskTruth(asOf, replicaTasks, emView)
}

// JobSessionsShown returns what a query at asOf shows of the replica job
// sessions, as TaskSessionsShown does for tasks.
func (s *Server) JobSessionsShown(asOf time.Time) []JobSession {
	return s.jobTruth(asOf, replicaRuns, emView)
}

// BackupTaskSessionsShown returns what a query at asOf shows of the backup
// task sessions, as TaskSessionsShown does for replicas.
func (s *Server) BackupTaskSessionsShown(asOf time.Time) []TaskSession {
	return s.taskTruth(asOf, backupTasks, emView)
}

// BackupJobSessionsShown returns what a query at asOf shows of the backup
// job sessions, as TaskSessionsShown does for replica tasks.
func (s *Server) BackupJobSessionsShown(asOf time.Time) []JobSession {
	return s.jobTruth(asOf, backupRuns, emView)
}

func replicaTasks(d *dataset) []*taskRun { return d.replica.tasks }
func replicaRuns(d *dataset) []*jobRun   { return d.replica.runs }
func backupTasks(d *dataset) []*taskRun  { return d.backup.tasks }
func backupRuns(d *dataset) []*jobRun    { return d.backup.runs }

func (s *Server) taskTruth(asOf time.Time, items func(*dataset) []*taskRun, view truthView) []TaskSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	tasks := existing(items(d), asOf, taskCreation)
	out := make([]TaskSession, 0, len(tasks))
	for _, t := range tasks {
		at := asOf
		if view == emView {
			if !t.visibleAt(asOf) {
				continue
			}
			at = t.shownAt(asOf)
		}
		state, res := t.stateAt(at)
		ts := TaskSession{
			UID:            taskUID(t),
			Name:           t.name(),
			VM:             t.vm.name,
			BackupServer:   t.run.job.server.name,
			JobName:        t.run.job.name,
			JobSessionUID:  runUID(t.run),
			JobSessionName: t.run.name(),
			Creation:       t.creation,
			End:            t.endAt(at),
			State:          state.String(),
			Result:         res.String(),
			Reason:         t.reasonAt(at),
			TotalSize:      t.vm.totalSize,
			Lag:            t.lag,
		}
		if t.run.job.kind.withVMUIDs {
			ts.VMUID = t.vm.uid
		}
		out = append(out, ts)
	}
	return out
}

func (s *Server) jobTruth(asOf time.Time, items func(*dataset) []*jobRun, view truthView) []JobSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	runs := existing(items(d), asOf, runCreation)
	out := make([]JobSession, 0, len(runs))
	for _, r := range runs {
		at := asOf
		if view == emView {
			if !r.visibleAt(asOf) {
				continue
			}
			at = r.shownAt(asOf)
		}
		state, res, progress := r.stateAt(at)
		out = append(out, JobSession{
			UID:          runUID(r),
			Name:         r.name(),
			JobUID:       jobUID(r.job),
			JobName:      r.job.name,
			JobType:      r.job.jobType,
			BackupServer: r.job.server.name,
			Creation:     r.creation,
			End:          r.endAt(at),
			State:        state.String(),
			Result:       res.String(),
			Progress:     progress,
			IsRetry:      r.isRetry(),
			Lag:          r.lag,
		})
	}
	return out
}
