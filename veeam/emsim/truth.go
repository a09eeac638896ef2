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
}

// TaskSessions returns every replica task session that exists at asOf
// (created at or before it), with its state as of asOf, sorted by creation
// time.
func (s *Server) TaskSessions(asOf time.Time) []TaskSession {
	return s.taskTruth(asOf, func(d *dataset) []*taskRun { return d.replica.tasks })
}

// JobSessions returns every replica job session that exists at asOf, with
// its state as of asOf, sorted by creation time.
func (s *Server) JobSessions(asOf time.Time) []JobSession {
	return s.jobTruth(asOf, func(d *dataset) []*jobRun { return d.replica.runs })
}

// BackupTaskSessions returns every backup task session (of backup and
// backup copy jobs) that exists at asOf, with its state as of asOf, sorted
// by creation time.
func (s *Server) BackupTaskSessions(asOf time.Time) []TaskSession {
	return s.taskTruth(asOf, func(d *dataset) []*taskRun { return d.backup.tasks })
}

// BackupJobSessions returns every backup job session that exists at asOf,
// with its state as of asOf, sorted by creation time.
func (s *Server) BackupJobSessions(asOf time.Time) []JobSession {
	return s.jobTruth(asOf, func(d *dataset) []*jobRun { return d.backup.runs })
}

func (s *Server) taskTruth(asOf time.Time, items func(*dataset) []*taskRun) []TaskSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	tasks := existing(items(d), asOf, taskCreation)
	out := make([]TaskSession, len(tasks))
	for i, t := range tasks {
		state, res := t.stateAt(asOf)
		out[i] = TaskSession{
			UID:            taskUID(t),
			Name:           t.name(),
			VM:             t.vm.name,
			BackupServer:   t.run.job.server.name,
			JobName:        t.run.job.name,
			JobSessionUID:  runUID(t.run),
			JobSessionName: t.run.name(),
			Creation:       t.creation,
			End:            t.endAt(asOf),
			State:          state.String(),
			Result:         res.String(),
			Reason:         t.reasonAt(asOf),
			TotalSize:      t.vm.totalSize,
		}
		if t.run.job.kind.withVMUIDs {
			out[i].VMUID = t.vm.uid
		}
	}
	return out
}

func (s *Server) jobTruth(asOf time.Time, items func(*dataset) []*jobRun) []JobSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	runs := existing(items(d), asOf, runCreation)
	out := make([]JobSession, len(runs))
	for i, r := range runs {
		state, res, progress := r.stateAt(asOf)
		out[i] = JobSession{
			UID:          runUID(r),
			Name:         r.name(),
			JobUID:       jobUID(r.job),
			JobName:      r.job.name,
			JobType:      r.job.jobType,
			BackupServer: r.job.server.name,
			Creation:     r.creation,
			End:          r.endAt(asOf),
			State:        state.String(),
			Result:       res.String(),
			Progress:     progress,
			IsRetry:      r.isRetry(),
		}
	}
	return out
}
