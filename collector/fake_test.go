package collector

import (
	"context"
	"slices"
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

	// taskSinces and jobSinces are the oldest creation time each query
	// of replica task and job sessions could return; zero for none.
	taskSinces, jobSinces []time.Time
	// asked holds each query's selection, and counts the count probes,
	// by query type.
	asked  map[string][]veeam.Selection
	counts map[string]int
	// returned counts the sessions every query returned.
	returned int
	// taskDeadlines holds, per task query, the time left before the ctx
	// deadline when the call arrived; zero if there was no deadline.
	taskDeadlines []time.Duration
	// release, when set, makes every call wait until it is closed.
	release chan struct{}
	// entered, when set, receives one value per call as it arrives.
	entered             chan struct{}
	inFlight, maxFlight int

	// The estate the inventory queries return, and their errors by
	// request type.
	repositories  []veeam.Repository
	estateJobs    []veeam.Job
	backupServers []veeam.BackupServer
	overview      veeam.OverviewReport
	vmsOverview   veeam.VMsOverviewReport
	jobStatistics veeam.JobStatisticsReport
	estateErr     map[string]error

	// The replica restore points, the selections asked for them (counts
	// included), and the error of every points request.
	points    []veeam.VmReplicaPoint
	pointSels []veeam.PointSelection
	pointErr  error

	// CDP: the policies (their error in estateErr), the sessions and their
	// error.
	cdpPolicies []veeam.CdpPolicy
	cdpTasks    []veeam.CdpReplicaTaskSession
	cdpJobs     []veeam.CdpReplicaSession
	cdpErr      error
}

// estate answers an inventory query of request type typ with items, in one
// page, or with the error set for typ.
func estate[T any](f *fakeSource, typ string, items []T, each func(veeam.Page[T]) error) (veeam.QueryStats, error) {
	f.count(typ)
	f.mu.Lock()
	err := f.estateErr[typ]
	items = slices.Clone(items)
	f.mu.Unlock()
	if err != nil {
		return veeam.QueryStats{}, err
	}
	return veeam.QueryStats{Pages: 1, Entities: len(items)}, each(veeam.Page[T]{Items: items})
}

// report answers a summary report request of type typ.
func report[R any](f *fakeSource, typ string, r R) (R, error) {
	f.count(typ)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.estateErr[typ]; err != nil {
		var none R
		return none, err
	}
	return r, nil
}

func (f *fakeSource) Repositories(_ context.Context, each func(veeam.Page[veeam.Repository]) error) (veeam.QueryStats, error) {
	return estate(f, veeam.RepositoryType, f.repositories, each)
}

func (f *fakeSource) Jobs(_ context.Context, each func(veeam.Page[veeam.Job]) error) (veeam.QueryStats, error) {
	return estate(f, veeam.JobType, f.estateJobs, each)
}

func (f *fakeSource) BackupServers(_ context.Context, each func(veeam.Page[veeam.BackupServer]) error) (veeam.QueryStats, error) {
	return estate(f, veeam.BackupServerType, f.backupServers, each)
}

func (f *fakeSource) OverviewReport(context.Context) (veeam.OverviewReport, error) {
	return report(f, veeam.OverviewReportType, f.overview)
}

func (f *fakeSource) VMsOverviewReport(context.Context) (veeam.VMsOverviewReport, error) {
	return report(f, veeam.VMsOverviewReportType, f.vmsOverview)
}

func (f *fakeSource) JobStatisticsReport(context.Context) (veeam.JobStatisticsReport, error) {
	return report(f, veeam.JobStatisticsReportType, f.jobStatistics)
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

// selections are the selections the queries of queryType asked for, in
// order; count probes are not queries.
func (f *fakeSource) selections(queryType string) []veeam.Selection {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]veeam.Selection(nil), f.asked[queryType]...)
}

// counted counts the count probes of queryType so far.
func (f *fakeSource) counted(queryType string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[queryType]
}

// sessionsFetched counts the sessions every query returned so far.
func (f *fakeSource) sessionsFetched() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.returned
}

// oldestCreated is the oldest creation time a selection can return, the
// lowest Since of its clauses; zero if one is open.
func oldestCreated(sel veeam.Selection) time.Time {
	var oldest time.Time
	for i, c := range sel {
		if c.Created.Since.IsZero() {
			return time.Time{}
		}
		if i == 0 || c.Created.Since.Before(oldest) {
			oldest = c.Created.Since
		}
	}
	return oldest
}

// sessionInfo is what EM's filters see of a session.
func replicaTaskInfo(t *veeam.ReplicaTaskSession) (time.Time, time.Time, bool) {
	return t.CreationTime, endOf(t.Completed(), t.EndTime), t.Transitional()
}

func replicaJobInfo(j *veeam.ReplicaJobSession) (time.Time, time.Time, bool) {
	return j.CreationTime, endOf(j.Completed(), j.EndTime), j.Transitional()
}

func (f *fakeSource) ReplicaTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaTaskSession]) error) (veeam.QueryStats, error) {
	f.mu.Lock()
	f.taskSinces = append(f.taskSinces, oldestCreated(sel))
	left := time.Duration(0)
	if deadline, ok := ctx.Deadline(); ok {
		left = time.Until(deadline)
	}
	f.taskDeadlines = append(f.taskDeadlines, left)
	f.mu.Unlock()
	return fakeQuery(f, ctx, veeam.ReplicaTaskSessionType, sel, each, func() ([]veeam.ReplicaTaskSession, int, error) { return f.tasks, f.taskInvalid, f.taskErr }, replicaTaskInfo)
}

func (f *fakeSource) ReplicaJobSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaJobSession]) error) (veeam.QueryStats, error) {
	f.mu.Lock()
	f.jobSinces = append(f.jobSinces, oldestCreated(sel))
	f.mu.Unlock()
	return fakeQuery(f, ctx, veeam.ReplicaJobSessionType, sel, each, func() ([]veeam.ReplicaJobSession, int, error) { return f.jobs, f.jobInvalid, f.jobErr }, replicaJobInfo)
}

func (f *fakeSource) BackupTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.BackupTaskSession]) error) (veeam.QueryStats, error) {
	return fakeQuery(f, ctx, veeam.BackupTaskSessionType, sel, each, func() ([]veeam.BackupTaskSession, int, error) { return f.backupTasks, 0, f.backupErr },
		func(s *veeam.BackupTaskSession) (time.Time, time.Time, bool) {
			return replicaTaskInfo(&s.ReplicaTaskSession)
		})
}

func (f *fakeSource) BackupJobSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.BackupJobSession]) error) (veeam.QueryStats, error) {
	return fakeQuery(f, ctx, veeam.BackupJobSessionType, sel, each, func() ([]veeam.BackupJobSession, int, error) { return f.backupJobs, 0, f.backupErr },
		func(s *veeam.BackupJobSession) (time.Time, time.Time, bool) {
			return replicaJobInfo(&s.ReplicaJobSession)
		})
}

func (f *fakeSource) CountSessions(ctx context.Context, typ string, sel veeam.Selection) (veeam.Count, error) {
	f.mu.Lock()
	if f.counts == nil {
		f.counts = make(map[string]int)
	}
	f.counts[typ]++
	f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return veeam.Count{}, err
	}
	var n int
	count := func(created, ended time.Time, transitional bool) {
		if sel.Matches(created, ended, transitional) {
			n++
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	switch typ {
	case veeam.ReplicaTaskSessionType:
		err = f.taskErr
		for i := range f.tasks {
			count(replicaTaskInfo(&f.tasks[i]))
		}
	case veeam.ReplicaJobSessionType:
		err = f.jobErr
		for i := range f.jobs {
			count(replicaJobInfo(&f.jobs[i]))
		}
	case veeam.BackupTaskSessionType:
		err = f.backupErr
		for i := range f.backupTasks {
			count(replicaTaskInfo(&f.backupTasks[i].ReplicaTaskSession))
		}
	case veeam.BackupJobSessionType:
		err = f.backupErr
		for i := range f.backupJobs {
			count(replicaJobInfo(&f.backupJobs[i].ReplicaJobSession))
		}
	case veeam.CdpReplicaTaskSessionType:
		err = f.cdpErr
		for i := range f.cdpTasks {
			count(replicaTaskInfo(&f.cdpTasks[i].ReplicaTaskSession))
		}
	case veeam.CdpReplicaSessionType:
		err = f.cdpErr
		for i := range f.cdpJobs {
			count(replicaJobInfo(&f.cdpJobs[i].ReplicaJobSession))
		}
	}
	if err != nil {
		return veeam.Count{}, err
	}
	return veeam.Count{N: n, Exact: true}, nil
}

// fakeQuery answers a query with one page of the sessions all gives that
// sel selects, newest first, under the source's lock.
func fakeQuery[T any](f *fakeSource, ctx context.Context, typ string, sel veeam.Selection, each func(veeam.Page[T]) error,
	all func() ([]T, int, error), info func(*T) (created, ended time.Time, transitional bool),
) (veeam.QueryStats, error) {
	f.count(typ)
	f.mu.Lock()
	if f.asked == nil {
		f.asked = make(map[string][]veeam.Selection)
	}
	f.asked[typ] = append(f.asked[typ], sel)
	f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return veeam.QueryStats{}, err
	}
	f.mu.Lock()
	sessions, invalid, err := all()
	if err != nil {
		f.mu.Unlock()
		return veeam.QueryStats{}, err
	}
	var page veeam.Page[T]
	for i := range sessions {
		if sel.Matches(info(&sessions[i])) {
			page.Items = append(page.Items, sessions[i])
		}
	}
	f.returned += len(page.Items)
	f.mu.Unlock()
	slices.SortStableFunc(page.Items, func(a, b T) int {
		ca, _, _ := info(&a)
		cb, _, _ := info(&b)
		return cb.Compare(ca)
	})
	// The invalid entities were created a minute before t0: only the
	// queries that select that moment return them.
	if sel.Matches(t0.Add(-time.Minute), time.Time{}, false) {
		page.Invalid = invalid
	}
	stats := veeam.QueryStats{Pages: 1, Entities: len(page.Items), Invalid: page.Invalid}
	return stats, each(page)
}

// replicaOf is the replica kind's part of c.
func replicaOf(c *Collector) *kindCollector {
	for _, m := range c.members {
		if k, ok := m.unit.(*kindCollector); ok && k.kind.name == Replica {
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
