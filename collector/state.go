package collector

import (
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// taskDurationBuckets are the upper bounds, in seconds, of the task duration
// histogram: from half a minute to a day, since replicas of small VMs take
// seconds and initial seeding of large ones takes hours. Read-only.
var taskDurationBuckets = [...]float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400}

// resultCount is the number of results a completed session can have; arrays
// indexed by resultIndex hold one entry per result.
const resultCount = len(veeam.Results)

// resultIndex maps a completed session's result to its position in
// veeam.Results.
func resultIndex(r veeam.Result) int { return int(r - veeam.ResultSuccess) }

// taskKey identifies one task series: a VM replicated by a job.
type taskKey struct {
	backupServer, job, vm string
}

// jobKey identifies one job series and the task duration histogram.
type jobKey struct {
	backupServer, job string
}

// sessionRef is what orders sessions: the latest one has the greatest
// creation time, and the UID breaks ties so the choice is deterministic.
type sessionRef struct {
	uid      string
	creation time.Time
}

// same reports whether r and o are the same session at the same instant,
// whatever the location of their times.
func (r sessionRef) same(o sessionRef) bool {
	return r.uid == o.uid && r.creation.Equal(o.creation)
}

// supersedes reports whether r should replace cur as the latest session. A
// re-read of the same session always replaces its earlier version.
func (r sessionRef) supersedes(cur sessionRef) bool {
	if cur.uid == "" || r.uid == cur.uid {
		return true
	}
	if !r.creation.Equal(cur.creation) {
		return r.creation.After(cur.creation)
	}
	return r.uid > cur.uid
}

// finishedSession is what the metrics need of a completed session.
type finishedSession struct {
	sessionRef
	end       time.Time
	result    veeam.Result
	totalSize int64
}

// same reports whether f and o would give the same metric values.
func (f finishedSession) same(o finishedSession) bool {
	return f.sessionRef.same(o.sessionRef) && f.end.Equal(o.end) && f.result == o.result && f.totalSize == o.totalSize
}

func (f finishedSession) duration() time.Duration {
	return max(f.end.Sub(f.creation), 0)
}

// taskSeries is the state of one (backup server, job, VM).
type taskSeries struct {
	latest      sessionRef
	latestState veeam.TaskState
	// lastCompleted, lastByResult[i]: valid when uid != "".
	lastCompleted finishedSession
	lastByResult  [resultCount]finishedSession
	completed     [resultCount]uint64
	// changed is set when the series' metrics differ from what the series
	// cache holds for it; the cache clears it.
	changed bool
	// filed is set while the series is in the state's task expiry queue,
	// under filedMinute.
	filed       bool
	filedMinute int64
}

// earliestRef is the creation time of the oldest session s refers to: the
// first of its references to fall out of the lookback.
func (s *taskSeries) earliestRef() time.Time {
	earliest := s.latest.creation
	older := func(ref finishedSession) {
		if ref.uid != "" && ref.creation.Before(earliest) {
			earliest = ref.creation
		}
	}
	older(s.lastCompleted)
	for _, ref := range s.lastByResult {
		older(ref)
	}
	return earliest
}

// same reports whether s and o would give the same metric values.
func (s *taskSeries) same(o *taskSeries) bool {
	if !s.latest.same(o.latest) || s.latestState != o.latestState || !s.lastCompleted.same(o.lastCompleted) || s.completed != o.completed {
		return false
	}
	for i := range s.lastByResult {
		if !s.lastByResult[i].same(o.lastByResult[i]) {
			return false
		}
	}
	return true
}

// jobSeries is the state of one (backup server, job).
type jobSeries struct {
	latest        sessionRef
	latestState   veeam.JobState
	jobType       string // EM's JobType of the latest session
	lastCompleted finishedSession
	// completed[result][retry]: retry 1 counts retry sessions.
	completed [resultCount][2]uint64
	changed   bool // as in taskSeries
}

// same reports whether s and o would give the same metric values.
func (s *jobSeries) same(o *jobSeries) bool {
	return s.latest.same(o.latest) && s.latestState == o.latestState && s.jobType == o.jobType &&
		s.lastCompleted.same(o.lastCompleted) && s.completed == o.completed
}

// durationHistogram accumulates task durations with cumulative bucket counts,
// the form a const histogram takes.
type durationHistogram struct {
	cumulative [len(taskDurationBuckets)]uint64
	count      uint64
	sum        float64
	changed    bool // as in taskSeries
}

func (h *durationHistogram) observe(seconds float64) {
	for i, upper := range taskDurationBuckets {
		if seconds <= upper {
			h.cumulative[i]++
		}
	}
	h.count++
	h.sum += seconds
}

// jobSessionName remembers a job session's job name, so that task sessions
// can be joined to it, and when to forget it.
type jobSessionName struct {
	job      string
	creation time.Time
}

// queryStats counts, per query type, what EM returned.
type queryStats struct {
	fetched, invalid uint64
}

// state is the exporter's incremental view of the last lookback of one
// kind's sessions. It does no I/O and is not safe for concurrent use; the
// Collector guards it.
type state struct {
	lookback time.Duration
	overlap  time.Duration

	tasks     map[taskKey]*taskSeries
	jobs      map[jobKey]*jobSeries
	durations map[jobKey]*durationHistogram
	// jobNames maps job session UID to its job, for every job session seen
	// within the lookback.
	jobNames map[string]jobSessionName
	// taskExpiry and jobNameExpiry file the task series and job session
	// UIDs by when they may expire, so that a prune visits only those.
	// tasksPerJob counts the task series of each job, which keep the job's
	// duration histogram.
	taskExpiry    expiryQueue[taskKey]
	jobNameExpiry expiryQueue[string]
	tasksPerJob   map[jobKey]int
	// taskLedger and jobLedger hold the sessions a later query can return
	// again, and which of them were counted.
	taskLedger ledger[taskKey]
	jobLedger  ledger[jobKey]

	taskQueries, jobQueries queryStats
	// changed is set when a series was added, removed or changed since the
	// series cache last caught up; the cache clears it. touchedTasks and
	// touchedJobs list the keys of those series (task duration histograms
	// under their job's key), so that the cache visits only them; a key may
	// be listed twice.
	changed      bool
	touchedTasks []taskKey
	touchedJobs  []jobKey
}

func newState(lookback, overlap time.Duration) *state {
	return &state{
		lookback:    lookback,
		overlap:     overlap,
		tasks:       make(map[taskKey]*taskSeries),
		jobs:        make(map[jobKey]*jobSeries),
		durations:   make(map[jobKey]*durationHistogram),
		jobNames:    make(map[string]jobSessionName),
		tasksPerJob: make(map[jobKey]int),
		taskLedger:  newLedger[taskKey](),
		jobLedger:   newLedger[jobKey](),
	}
}

// horizon is the oldest creation or end time a later query can return
// again: the overlap before now.
func (s *state) horizon(now time.Time) time.Time { return now.Add(-s.overlap) }

// applyJobs folds one page of job sessions into the state. Those created
// or ended from horizon on, and those running, are kept in the ledger: a
// later query can return them again.
func (s *state) applyJobs(items []veeam.ReplicaJobSession, invalid int, horizon time.Time) {
	s.jobQueries.fetched += uint64(len(items))
	s.jobQueries.invalid += uint64(invalid)
	for i := range items {
		s.applyJob(&items[i], horizon)
	}
}

// applyTasks folds one page of task sessions into the state, keeping in
// the ledger what applyJobs keeps. The job sessions they belong to are
// applied first, for their job names.
func (s *state) applyTasks(items []veeam.ReplicaTaskSession, invalid int, horizon time.Time) {
	s.taskQueries.fetched += uint64(len(items))
	s.taskQueries.invalid += uint64(invalid)
	for i := range items {
		s.applyTask(&items[i], horizon)
	}
}

// touchTask marks the series of key as changed, or removed when series is
// nil, for the series cache to catch up with.
func (s *state) touchTask(key taskKey, series *taskSeries) {
	s.changed = true
	if series != nil && series.changed {
		return
	}
	s.touchedTasks = append(s.touchedTasks, key)
	if series != nil {
		series.changed = true
	}
}

// touchJob records that the job series or the duration histogram of key was
// added, changed or removed, for the series cache to catch up with.
func (s *state) touchJob(key jobKey, alreadyTouched bool) {
	s.changed = true
	if !alreadyTouched {
		s.touchedJobs = append(s.touchedJobs, key)
	}
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// endOf is a session's end as EM's filters see it: none until it completed.
func endOf(completed bool, end time.Time) time.Time {
	if completed {
		return end
	}
	return time.Time{}
}

// earliest is the earlier of two times, where zero means none yet.
func earliest(cur, t time.Time) time.Time {
	if cur.IsZero() || t.Before(cur) {
		return t
	}
	return cur
}

func (s *state) applyJob(j *veeam.ReplicaJobSession, horizon time.Time) {
	job := j.JobName
	if job == "" {
		job = jobNameFromSessionName(j.Name)
	}
	if known, ok := s.jobNames[j.UID]; !ok || !known.creation.Equal(j.CreationTime) {
		s.jobNameExpiry.add(j.UID, j.CreationTime)
	}
	s.jobNames[j.UID] = jobSessionName{job: job, creation: j.CreationTime}

	key := jobKey{backupServer: j.BackupServerName, job: job}
	series := s.jobs[key]
	if series == nil {
		series = &jobSeries{}
		s.jobs[key] = series
		s.touchJob(key, false)
		series.changed = true
	}
	before := *series
	defer func() {
		if !series.same(&before) {
			s.touchJob(key, series.changed)
			series.changed = true
		}
	}()
	ref := sessionRef{uid: j.UID, creation: j.CreationTime}
	if ref.supersedes(series.latest) {
		series.latest, series.latestState, series.jobType = ref, j.State, j.JobType
	}
	counted := s.jobLedger.counted(j.UID)
	s.jobLedger.note(j.UID, key, j.CreationTime, endOf(j.Completed(), j.EndTime), j.Transitional(), horizon)
	if !j.Completed() {
		return
	}
	if ref.supersedes(series.lastCompleted.sessionRef) {
		series.lastCompleted = finishedSession{sessionRef: ref, end: j.EndTime, result: j.Result}
	}
	if !counted {
		retry := 0
		if j.IsRetry {
			retry = 1
		}
		series.completed[resultIndex(j.Result)][retry]++
	}
}

// jobOf names the job of a task session: the job of its job session if that
// is known, else what the job session's name says.
func (s *state) jobOf(t *veeam.ReplicaTaskSession) string {
	if known, ok := s.jobNames[t.JobSessionUID]; ok {
		return known.job
	}
	return jobNameFromSessionName(t.JobSessionName)
}

func (s *state) applyTask(t *veeam.ReplicaTaskSession, horizon time.Time) {
	key := taskKey{backupServer: t.BackupServerName, job: s.jobOf(t), vm: t.VMDisplayName}
	histogramKey := jobKey{backupServer: key.backupServer, job: key.job}
	series := s.tasks[key]
	if series == nil {
		series = &taskSeries{}
		s.tasks[key] = series
		s.tasksPerJob[histogramKey]++
		s.touchTask(key, series)
	}
	histogram := s.durations[histogramKey]
	if histogram == nil {
		histogram = &durationHistogram{}
		s.durations[histogramKey] = histogram
		s.touchJob(histogramKey, false)
		histogram.changed = true
	}
	before := *series
	defer func() {
		if !series.same(&before) {
			s.touchTask(key, series)
			s.fileTask(key, series)
		}
	}()

	ref := sessionRef{uid: t.UID, creation: t.CreationTime}
	if ref.supersedes(series.latest) {
		series.latest, series.latestState = ref, t.State
	}
	counted := s.taskLedger.counted(t.UID)
	s.taskLedger.note(t.UID, key, t.CreationTime, endOf(t.Completed(), t.EndTime), t.Transitional(), horizon)
	if !t.Completed() {
		return
	}
	done := finishedSession{sessionRef: ref, end: t.EndTime, result: t.Result, totalSize: t.TotalSize}
	if ref.supersedes(series.lastCompleted.sessionRef) {
		series.lastCompleted = done
	}
	i := resultIndex(t.Result)
	if ref.supersedes(series.lastByResult[i].sessionRef) {
		series.lastByResult[i] = done
	}
	if !counted {
		series.completed[i]++
		histogram.observe(done.duration().Seconds())
		s.touchJob(histogramKey, histogram.changed)
		histogram.changed = true
	}
}

// fileTask files the series of key in the expiry queue under its earliest
// reference, unless it is filed already no later than that.
func (s *state) fileTask(key taskKey, series *taskSeries) {
	at := series.earliestRef()
	if series.filed && minuteOf(at) >= series.filedMinute {
		return
	}
	series.filed, series.filedMinute = true, s.taskExpiry.add(key, at)
}

// prune drops every series and entry whose session was created before the
// lookback, and the sessions of the ledgers that no later query returns. It
// visits only the task series and job session names due to expire, and
// every job series: there are few.
func (s *state) prune(now time.Time) {
	windowStart := now.Add(-s.lookback)
	s.taskExpiry.due(windowStart, func(key taskKey, minute int64) {
		series := s.tasks[key]
		if series == nil || !series.filed || series.filedMinute != minute {
			return // gone, or filed again since
		}
		series.filed = false
		s.expireTask(key, series, windowStart)
	})
	for key, series := range s.jobs {
		if series.latest.creation.Before(windowStart) {
			delete(s.jobs, key)
			s.touchJob(key, false)
			s.dropUnusedHistogram(key)
			continue
		}
		if series.lastCompleted.uid != "" && series.lastCompleted.creation.Before(windowStart) {
			series.lastCompleted = finishedSession{}
			s.touchJob(key, series.changed)
			series.changed = true
		}
	}
	s.jobNameExpiry.due(windowStart, func(uid string, _ int64) {
		name, ok := s.jobNames[uid]
		switch {
		case !ok:
		case name.creation.Before(windowStart):
			delete(s.jobNames, uid)
		default:
			s.jobNameExpiry.add(uid, name.creation)
		}
	})
	s.taskLedger.prune(s.horizon(now), windowStart)
	s.jobLedger.prune(s.horizon(now), windowStart)
}

// expireTask drops the series of key if its latest session was created
// before windowStart, else the references to older sessions, and files what
// is left again.
func (s *state) expireTask(key taskKey, series *taskSeries, windowStart time.Time) {
	if series.latest.creation.Before(windowStart) {
		delete(s.tasks, key)
		s.touchTask(key, nil)
		job := jobKey{backupServer: key.backupServer, job: key.job}
		if s.tasksPerJob[job]--; s.tasksPerJob[job] == 0 {
			delete(s.tasksPerJob, job)
			s.dropUnusedHistogram(job)
		}
		return
	}
	if series.lastCompleted.uid != "" && series.lastCompleted.creation.Before(windowStart) {
		series.lastCompleted = finishedSession{}
		s.touchTask(key, series)
	}
	for i := range series.lastByResult {
		if series.lastByResult[i].uid != "" && series.lastByResult[i].creation.Before(windowStart) {
			series.lastByResult[i] = finishedSession{}
			s.touchTask(key, series)
		}
	}
	s.fileTask(key, series)
}

// dropUnusedHistogram drops the duration histogram of key once neither a job
// series nor a task series of that job is left.
func (s *state) dropUnusedHistogram(key jobKey) {
	if _, hasJob := s.jobs[key]; hasJob || s.tasksPerJob[key] > 0 {
		return
	}
	if _, ok := s.durations[key]; ok {
		delete(s.durations, key)
		s.touchJob(key, false)
	}
}

// settleTasks records that the task sessions c selected in a transitional
// state and a complete answer to it left out are now in progress.
func (s *state) settleTasks(c veeam.Clause, seen map[string]struct{}) {
	for uid, e := range s.taskLedger.settle(c, seen) {
		series := s.tasks[e.key]
		if series == nil || series.latest.uid != uid || !series.latestState.Transitional() {
			continue
		}
		series.latestState = veeam.TaskStateInProgress
		s.touchTask(e.key, series)
	}
}

// settleJobs records that the job sessions c selected in a transitional
// state and a complete answer to it left out are now working.
func (s *state) settleJobs(c veeam.Clause, seen map[string]struct{}) {
	for uid, e := range s.jobLedger.settle(c, seen) {
		series := s.jobs[e.key]
		if series == nil || series.latest.uid != uid || !series.latestState.Transitional() {
			continue
		}
		series.latestState = veeam.JobStateWorking
		s.touchJob(e.key, series.changed)
		series.changed = true
	}
}
