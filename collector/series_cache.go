package collector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// seriesCache holds the metrics of every task and job series as ready
// protobuf metric families, built when a refresh changes a series rather
// than on every scrape: at thousands of VMs, building and sorting tens of
// thousands of metrics per scrape would cost more than encoding them. A
// refresh rebuilds only the series it changed, and keeps the series in
// order as they come and go instead of sorting them again.
//
// Copy on write: scrapes encode the families of the last refresh without a
// lock, so nothing published in families is ever modified. A refresh that
// changed something builds new metrics for the changed series and new
// family values and slices, and replaces families.
type seriesCache struct {
	tasks     map[taskKey]*taskEntry
	taskOrder []*taskEntry // sorted by compareTaskEntries
	jobs      map[jobKey]*jobEntry
	jobOrder  []*jobEntry // sorted by compareJobEntries

	taskFamilies, jobFamilies []cachedFamily
	// families are taskFamilies and jobFamilies together, sorted by name,
	// each family's metrics in the order the registry sorts them into.
	families []cachedFamily
}

// cachedFamily is a family of series metrics with its descriptor, which the
// Collector needs to send the metrics one by one.
type cachedFamily struct {
	desc   *prometheus.Desc
	family *dto.MetricFamily
}

// taskEntry is the cache's view of one task series. Its metrics are
// replaced, never modified, when the series changes.
type taskEntry struct {
	key     taskKey
	labels  *taskLabels
	metrics *taskMetrics
	gone    bool // the series left the state
}

// jobEntry is the cache's view of one job key: the job series and the task
// duration histogram, either of which may be absent.
type jobEntry struct {
	key      jobKey
	labels   *jobLabels
	metrics  *jobMetrics // nil without a job series
	duration *dto.Metric // nil without a histogram
	gone     bool
}

func compareTaskEntries(a, b *taskEntry) int {
	return cmp.Or(cmp.Compare(a.key.backupServer, b.key.backupServer), cmp.Compare(a.key.job, b.key.job), cmp.Compare(a.key.vm, b.key.vm))
}

func compareJobEntries(a, b *jobEntry) int {
	return cmp.Or(cmp.Compare(a.key.backupServer, b.key.backupServer), cmp.Compare(a.key.job, b.key.job))
}

// catchUp brings the cache in line with s, visiting only the series s
// listed as touched since the last catch-up: it builds the metrics of those
// that are new or changed and drops those s no longer has. It clears the
// marks and the lists, and reports whether families changed.
func (c *seriesCache) catchUp(s *state, d *descs) bool {
	if !s.changed {
		return false
	}
	s.changed = false
	if c.tasks == nil {
		c.tasks, c.jobs = make(map[taskKey]*taskEntry), make(map[jobKey]*jobEntry)
	}
	tasksChanged := c.catchUpTasks(s, d, s.touchedTasks)
	jobsChanged := c.catchUpJobs(s, d, s.touchedJobs)
	s.touchedTasks, s.touchedJobs = s.touchedTasks[:0], s.touchedJobs[:0]
	if tasksChanged {
		c.taskFamilies = taskFamilies(d, c.taskOrder)
	}
	if jobsChanged {
		c.jobFamilies = jobFamilies(d, c.jobOrder)
	}
	if tasksChanged || jobsChanged {
		families := slices.Concat(c.taskFamilies, c.jobFamilies)
		slices.SortFunc(families, func(a, b cachedFamily) int { return strings.Compare(a.family.GetName(), b.family.GetName()) })
		c.families = families
	}
	return tasksChanged || jobsChanged
}

func (c *seriesCache) catchUpTasks(s *state, d *descs, touched []taskKey) bool {
	var added []*taskEntry
	removed := false
	for _, key := range touched {
		series, inState := s.tasks[key]
		entry, inCache := c.tasks[key]
		switch {
		case !inState && inCache:
			entry.gone, removed = true, true
			delete(c.tasks, key)
		case inState && !inCache:
			entry = &taskEntry{key: key, labels: newTaskLabels(&d.labels, key)}
			c.tasks[key] = entry
			added = append(added, entry)
			fallthrough
		case inState && series.changed:
			entry.metrics = newTaskMetrics(entry.labels, series)
			series.changed = false
		}
	}
	if len(added) > 0 || removed {
		c.taskOrder = mergeSorted(c.taskOrder, added, func(e *taskEntry) bool { return e.gone }, compareTaskEntries)
	}
	return len(touched) > 0
}

func (c *seriesCache) catchUpJobs(s *state, d *descs, touched []jobKey) bool {
	var added []*jobEntry
	removed := false
	for _, key := range touched {
		series, hasJob := s.jobs[key]
		histogram, hasHistogram := s.durations[key]
		entry := c.jobs[key]
		if !hasJob && !hasHistogram {
			if entry != nil {
				entry.gone, removed = true, true
				delete(c.jobs, key)
			}
			continue
		}
		if entry == nil {
			entry = &jobEntry{key: key, labels: newJobLabels(&d.labels, key, d.jobTypeLabel, d.jobType(series))}
			c.jobs[key] = entry
			added = append(added, entry)
		}
		relabel := hasJob && entry.labels.jobType != d.jobType(series)
		if relabel {
			// EM reported another type for the job's newest session.
			entry.labels = newJobLabels(&d.labels, key, d.jobTypeLabel, d.jobType(series))
		}
		switch {
		case !hasJob:
			entry.metrics = nil
		case series.changed || entry.metrics == nil || relabel:
			entry.metrics = newJobMetrics(entry.labels, series)
			series.changed = false
		}
		switch {
		case !hasHistogram:
			entry.duration = nil
		case histogram.changed || entry.duration == nil:
			entry.duration = durationMetric(entry.labels, histogram)
			histogram.changed = false
		}
	}
	if len(added) > 0 || removed {
		c.jobOrder = mergeSorted(c.jobOrder, added, func(e *jobEntry) bool { return e.gone }, compareJobEntries)
	}
	return len(touched) > 0
}

// mergeSorted returns the elements of sorted that are not gone merged with
// added, all in cmp order, without sorting sorted again. It sorts added.
func mergeSorted[E any](sorted, added []E, gone func(E) bool, cmp func(a, b E) int) []E {
	slices.SortFunc(added, cmp)
	merged := make([]E, 0, len(sorted)+len(added))
	next := 0
	for _, e := range sorted {
		if gone(e) {
			continue
		}
		for next < len(added) && cmp(added[next], e) < 0 {
			merged = append(merged, added[next])
			next++
		}
		merged = append(merged, e)
	}
	return append(merged, added[next:]...)
}

func newCachedFamily(f *family, metrics []*dto.Metric) cachedFamily {
	return cachedFamily{desc: f.desc, family: &dto.MetricFamily{Name: f.name, Help: f.help, Type: &f.kind, Metric: metrics}}
}

// appendFamily appends the family of metrics unless it is empty: the
// registry exposes no family without metrics either.
func appendFamily(families []cachedFamily, f *family, metrics []*dto.Metric) []cachedFamily {
	if len(metrics) == 0 {
		return families
	}
	return append(families, newCachedFamily(f, metrics))
}

// taskFamilies assembles the task families from the series' metrics, each
// in the registry's order: by label values in the order of the label names,
// which puts a state or result label between job_name and vm.
func taskFamilies(d *descs, order []*taskEntry) []cachedFamily {
	var families []cachedFamily
	perVM := func(f *family, pick func(*taskMetrics) *dto.Metric) {
		metrics := make([]*dto.Metric, 0, len(order))
		for _, e := range order {
			if m := pick(e.metrics); m != nil {
				metrics = append(metrics, m)
			}
		}
		families = appendFamily(families, f, metrics)
	}
	perValue := func(f *family, values []int, pick func(*taskMetrics, int) *dto.Metric) {
		metrics := make([]*dto.Metric, 0, len(order)*len(values))
		for start, end := 0, 0; start < len(order); start = end {
			// order[start:end] is one backup server's job.
			for end = start + 1; end < len(order) && order[end].key.backupServer == order[start].key.backupServer && order[end].key.job == order[start].key.job; end++ {
			}
			for _, i := range values {
				for _, e := range order[start:end] {
					if m := pick(e.metrics, i); m != nil {
						metrics = append(metrics, m)
					}
				}
			}
		}
		families = appendFamily(families, f, metrics)
	}
	perVM(&d.taskLastStart, func(m *taskMetrics) *dto.Metric { return m.lastStart })
	perVM(&d.taskLastEnd, func(m *taskMetrics) *dto.Metric { return m.lastEnd })
	perVM(&d.taskLastDuration, func(m *taskMetrics) *dto.Metric { return m.lastDuration })
	perVM(&d.taskLastTotalSize, func(m *taskMetrics) *dto.Metric { return m.lastTotalSize })
	stateOrder, resultOrder := orderByName(veeam.TaskStates[:]), orderByName(veeam.Results[:])
	perValue(&d.taskLastState, stateOrder, func(m *taskMetrics, i int) *dto.Metric { return m.lastState[i] })
	perValue(&d.taskSessions, resultOrder, func(m *taskMetrics, i int) *dto.Metric { return m.sessions[i] })
	perValue(&d.taskLastCompletion, resultOrder, func(m *taskMetrics, i int) *dto.Metric { return m.lastCompletion[i] })
	perValue(&d.taskLastResult, resultOrder, func(m *taskMetrics, i int) *dto.Metric { return m.lastResult[i] })
	return families
}

// jobFamilies assembles the job families and the task duration histograms
// in the registry's order.
func jobFamilies(d *descs, order []*jobEntry) []cachedFamily {
	var families []cachedFamily
	perJob := func(f *family, perEntry int, add func(e *jobEntry, metrics []*dto.Metric) []*dto.Metric) {
		metrics := make([]*dto.Metric, 0, len(order)*perEntry)
		for _, e := range order {
			metrics = add(e, metrics)
		}
		families = appendFamily(families, f, metrics)
	}
	plain := func(f *family, pick func(*jobMetrics) *dto.Metric) {
		perJob(f, 1, func(e *jobEntry, metrics []*dto.Metric) []*dto.Metric {
			if e.metrics == nil {
				return metrics
			}
			if m := pick(e.metrics); m != nil {
				metrics = append(metrics, m)
			}
			return metrics
		})
	}
	stateOrder, resultOrder := orderByName(veeam.JobStates[:]), orderByName(veeam.Results[:])
	perValue := func(f *family, values []int, pick func(*jobMetrics, int) []*dto.Metric) {
		perJob(f, len(values)*2, func(e *jobEntry, metrics []*dto.Metric) []*dto.Metric {
			if e.metrics == nil {
				return metrics
			}
			for _, i := range values {
				for _, m := range pick(e.metrics, i) {
					if m != nil {
						metrics = append(metrics, m)
					}
				}
			}
			return metrics
		})
	}
	plain(&d.jobLastStart, func(m *jobMetrics) *dto.Metric { return m.lastStart })
	plain(&d.jobLastEnd, func(m *jobMetrics) *dto.Metric { return m.lastEnd })
	plain(&d.jobLastDuration, func(m *jobMetrics) *dto.Metric { return m.lastDuration })
	perValue(&d.jobLastState, stateOrder, func(m *jobMetrics, i int) []*dto.Metric { return m.lastState[i : i+1] })
	perValue(&d.jobLastResult, resultOrder, func(m *jobMetrics, i int) []*dto.Metric { return m.lastResult[i : i+1] })
	// retry="false" sorts before retry="true", as sessions[i] holds them.
	perValue(&d.jobSessions, resultOrder, func(m *jobMetrics, i int) []*dto.Metric { return m.sessions[i][:] })
	perJob(&d.taskDuration, 1, func(e *jobEntry, metrics []*dto.Metric) []*dto.Metric {
		if e.duration != nil {
			metrics = append(metrics, e.duration)
		}
		return metrics
	})
	return families
}

// orderByName gives the indices of values in the order of their names.
func orderByName[T fmt.Stringer](values []T) []int {
	order := make([]int, len(values))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(values[a].String(), values[b].String()) })
	return order
}
