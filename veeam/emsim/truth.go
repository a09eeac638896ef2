package emsim

import "time"

// TaskSession is the ground truth of one replica task session as of a
// moment, for tests that compare the exporter's output with the data.
type TaskSession struct {
	UID, Name, VM, BackupServer, JobName, JobSessionUID, JobSessionName string
	Creation                                                            time.Time
	End                                                                 time.Time // zero while running
	State, Result, Reason                                               string
	TotalSize                                                           int64
}

// JobSession is the ground truth of one replica job session as of a moment.
type JobSession struct {
	UID, Name, JobUID, JobName, JobType, BackupServer string
	Creation                                          time.Time
	End                                               time.Time // zero while running
	State, Result                                     string
	Progress                                          int
	IsRetry                                           bool
}

// TaskSessions returns every task session that exists at asOf (created at
// or before it), with its state as of asOf, sorted by creation time.
func (s *Server) TaskSessions(asOf time.Time) []TaskSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	tasks := existing(d.tasks, asOf, taskCreation)
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
	}
	return out
}

// JobSessions returns every job session that exists at asOf, with its state
// as of asOf, sorted by creation time.
func (s *Server) JobSessions(asOf time.Time) []JobSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	runs := existing(d.runs, asOf, runCreation)
	out := make([]JobSession, len(runs))
	for i, r := range runs {
		state, res, progress := r.stateAt(asOf)
		out[i] = JobSession{
			UID:          runUID(r),
			Name:         r.name(),
			JobUID:       jobUID(r.job),
			JobName:      r.job.name,
			JobType:      replicaJobType,
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
