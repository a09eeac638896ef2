package collector

import (
	"context"
	"sync"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// t0 is the exporter's clock at the first refresh of most tests.
var t0 = time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)

// fakeSource stands in for EM: it returns the sessions created since the
// asked time, as EM's CreationTime>= filter does, and records every call.
type fakeSource struct {
	mu          sync.Mutex
	tasks       []veeam.ReplicaTaskSession
	jobs        []veeam.ReplicaJobSession
	taskInvalid int
	jobInvalid  int
	taskErr     error
	jobErr      error
	logons      uint64

	backupTasks []veeam.BackupTaskSession
	backupJobs  []veeam.BackupJobSession
	backupErr   error // fails both backup queries
	// queries counts calls per EM query type.
	queries map[string]int

	taskSinces, jobSinces []time.Time
	// taskDeadlines holds, per task query, the time left before the ctx
	// deadline when the call arrived; zero if there was no deadline.
	taskDeadlines []time.Duration
	// release, when set, makes every call wait until it is closed.
	release chan struct{}
	// entered, when set, receives one value per call as it arrives.
	entered             chan struct{}
	inFlight, maxFlight int
}

func (f *fakeSource) set(tasks []veeam.ReplicaTaskSession, jobs []veeam.ReplicaJobSession) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks, f.jobs = tasks, jobs
}

func (f *fakeSource) setBackup(tasks []veeam.BackupTaskSession, jobs []veeam.BackupJobSession) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backupTasks, f.backupJobs = tasks, jobs
}

func (f *fakeSource) failBackupWith(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backupErr = err
}

// queried counts the calls for queryType so far.
func (f *fakeSource) queried(queryType string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[queryType]
}

func (f *fakeSource) count(queryType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queries == nil {
		f.queries = make(map[string]int)
	}
	f.queries[queryType]++
}

func (f *fakeSource) failWith(taskErr, jobErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.taskErr, f.jobErr = taskErr, jobErr
}

func (f *fakeSource) sinces() (tasks, jobs []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.taskSinces...), append([]time.Time(nil), f.jobSinces...)
}

// inWindow is how EM's filter selects by creation time, except that EM
// sees whole seconds.
func inWindow(w veeam.Window, created time.Time) bool {
	return !created.Before(w.Since) && (w.Until.IsZero() || created.Before(w.Until))
}

func (f *fakeSource) ReplicaTaskSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.ReplicaTaskSession], error) {
	f.count("ReplicaTaskSession")
	f.mu.Lock()
	f.taskSinces = append(f.taskSinces, w.Since)
	left := time.Duration(0)
	if deadline, ok := ctx.Deadline(); ok {
		left = time.Until(deadline)
	}
	f.taskDeadlines = append(f.taskDeadlines, left)
	f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return veeam.QueryResult[veeam.ReplicaTaskSession]{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.taskErr != nil {
		return veeam.QueryResult[veeam.ReplicaTaskSession]{}, f.taskErr
	}
	var r veeam.QueryResult[veeam.ReplicaTaskSession]
	for _, t := range f.tasks {
		if inWindow(w, t.CreationTime) {
			r.Items = append(r.Items, t)
		}
	}
	r.Invalid, r.Pages = f.taskInvalid, 1
	return r, nil
}

func (f *fakeSource) ReplicaJobSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.ReplicaJobSession], error) {
	f.count("ReplicaJobSession")
	f.mu.Lock()
	f.jobSinces = append(f.jobSinces, w.Since)
	f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return veeam.QueryResult[veeam.ReplicaJobSession]{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.jobErr != nil {
		return veeam.QueryResult[veeam.ReplicaJobSession]{}, f.jobErr
	}
	var r veeam.QueryResult[veeam.ReplicaJobSession]
	for _, j := range f.jobs {
		if inWindow(w, j.CreationTime) {
			r.Items = append(r.Items, j)
		}
	}
	r.Invalid, r.Pages = f.jobInvalid, 1
	return r, nil
}

func (f *fakeSource) BackupTaskSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.BackupTaskSession], error) {
	f.count("BackupTaskSession")
	return backupQuery(f, ctx, w, func() []veeam.BackupTaskSession { return f.backupTasks },
		func(s *veeam.BackupTaskSession) time.Time { return s.CreationTime })
}

func (f *fakeSource) BackupJobSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.BackupJobSession], error) {
	f.count("BackupJobSession")
	return backupQuery(f, ctx, w, func() []veeam.BackupJobSession { return f.backupJobs },
		func(s *veeam.BackupJobSession) time.Time { return s.CreationTime })
}

// backupQuery answers a backup query from the sessions all gives, under the
// source's lock, as the replica queries do.
func backupQuery[T any](f *fakeSource, ctx context.Context, w veeam.Window, all func() []T, created func(*T) time.Time) (veeam.QueryResult[T], error) {
	if err := f.enter(ctx); err != nil {
		return veeam.QueryResult[T]{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.backupErr != nil {
		return veeam.QueryResult[T]{}, f.backupErr
	}
	r := veeam.QueryResult[T]{Pages: 1}
	for _, s := range all() {
		if inWindow(w, created(&s)) {
			r.Items = append(r.Items, s)
		}
	}
	return r, nil
}

// replicaOf is the replica kind's part of c.
func replicaOf(c *Collector) *kindCollector {
	for _, k := range c.kinds {
		if k.kind.name == Replica {
			return k
		}
	}
	panic("the collector does not follow replicas")
}

// enter tracks concurrency and blocks while release is set and open.
func (f *fakeSource) enter(ctx context.Context) error {
	f.mu.Lock()
	f.inFlight++
	f.maxFlight = max(f.maxFlight, f.inFlight)
	release, entered := f.release, f.entered
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if entered != nil {
		entered <- struct{}{}
	}
	if release == nil {
		return nil
	}
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeSource) Stats() veeam.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return veeam.Stats{Logons: f.logons}
}

// jobRun builds a replica job session. A zero took means it is still
// running (Working, no result, no end).
func jobRun(uid, server, job string, created time.Time, took time.Duration, result veeam.Result, retry bool) veeam.ReplicaJobSession {
	j := veeam.ReplicaJobSession{
		UID:              "urn:veeam:ReplicaJobSession:" + uid,
		Name:             job + "@" + created.Format(time.DateTime),
		JobUID:           "urn:veeam:Job:" + job,
		JobName:          job,
		JobType:          "Replica",
		BackupServerName: server,
		CreationTime:     created,
		State:            veeam.JobStateWorking,
		Result:           veeam.ResultNone,
		Progress:         50,
		IsRetry:          retry,
	}
	if took > 0 {
		j.EndTime, j.State, j.Result, j.Progress = created.Add(took), veeam.JobStateStopped, result, 100
	}
	return j
}

// task builds a task session of job run j that has not started yet.
func task(uid string, j veeam.ReplicaJobSession, vm string, created time.Time) veeam.ReplicaTaskSession {
	return veeam.ReplicaTaskSession{
		UID:              "urn:veeam:ReplicaTaskSession:" + uid,
		Name:             vm + "@" + created.Format(time.DateTime),
		VMDisplayName:    vm,
		BackupServerName: j.BackupServerName,
		JobSessionUID:    j.UID,
		JobSessionName:   j.Name,
		CreationTime:     created,
		State:            veeam.TaskStatePending,
		Result:           veeam.ResultNone,
		TotalSize:        int64(len(vm)) << 30,
	}
}

// done builds a task session that completed with result after took.
func done(uid string, j veeam.ReplicaJobSession, vm string, created time.Time, took time.Duration, result veeam.Result) veeam.ReplicaTaskSession {
	t := task(uid, j, vm, created)
	t.EndTime, t.State, t.Result = created.Add(took), veeam.TaskStateCompleted, result
	return t
}

// running builds a task session that has not completed, in state.
func running(uid string, j veeam.ReplicaJobSession, vm string, created time.Time, state veeam.TaskState) veeam.ReplicaTaskSession {
	t := task(uid, j, vm, created)
	t.State = state
	return t
}
