package collector

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// seriesCache holds the metrics of every task and job series, built when a
// refresh changes a series rather than on every scrape: at thousands of VMs,
// building tens of thousands of const metrics per scrape would cost more
// than the rest of the scrape together. Only the series a refresh changed
// are built again.
type seriesCache struct {
	tasks     map[taskKey]*taskMetrics
	jobs      map[jobKey][]prometheus.Metric
	durations map[jobKey]prometheus.Metric
	// all is every cached metric, in one slice for Collect to send. The task
	// metrics in it come in the order the registry sorts them into, so that
	// its sort of each family finds them sorted, which is most of what a
	// Gather would otherwise cost.
	all []prometheus.Metric
}

// catchUp brings the cache in line with s, building the metrics of the
// series s marked as changed and dropping those of series s no longer has.
// It clears the marks.
func (c *seriesCache) catchUp(s *state, d *descs) {
	if !s.changed {
		return
	}
	s.changed = false
	tasks := make(map[taskKey]*taskMetrics, len(s.tasks))
	for key, series := range s.tasks {
		metrics, ok := c.tasks[key]
		if !ok || series.changed {
			metrics = newTaskMetrics(d, key, series)
			series.changed = false
		}
		tasks[key] = metrics
	}
	jobs := make(map[jobKey][]prometheus.Metric, len(s.jobs))
	size := 0
	for key, series := range s.jobs {
		metrics, ok := c.jobs[key]
		if !ok || series.changed {
			metrics = jobMetrics(d, key, series)
			series.changed = false
		}
		jobs[key] = metrics
		size += len(metrics)
	}
	durations := make(map[jobKey]prometheus.Metric, len(s.durations))
	for key, h := range s.durations {
		metric, ok := c.durations[key]
		if !ok || h.changed {
			metric = durationMetric(d, key, h)
			h.changed = false
		}
		durations[key] = metric
	}
	all := make([]prometheus.Metric, 0, len(tasks)*maxTaskMetrics+size+len(durations))
	all = appendTaskMetrics(all, tasks)
	for _, metrics := range jobs {
		all = append(all, metrics...)
	}
	for _, metric := range durations {
		all = append(all, metric)
	}
	*c = seriesCache{tasks: tasks, jobs: jobs, durations: durations, all: all}
}

// taskMetrics are the metrics of one task series; the arrays follow
// veeam.TaskStates and veeam.Results, and nil stands for an absent series.
type taskMetrics struct {
	lastState                            [len(veeam.TaskStates)]prometheus.Metric
	sessions, lastCompletion, lastResult [resultCount]prometheus.Metric
	lastStart, lastEnd                   prometheus.Metric
	lastDuration, lastTotalSize          prometheus.Metric
}

// maxTaskMetrics is the most metrics one task series has.
const maxTaskMetrics = len(veeam.TaskStates) + 3*resultCount + 4

func newTaskMetrics(d *descs, key taskKey, series *taskSeries) *taskMetrics {
	labels := []string{key.backupServer, key.job, key.vm}
	with := func(extra string) []string { return append(labels[:3:3], extra) }
	gauge := func(desc *prometheus.Desc, value float64, labelValues []string) prometheus.Metric {
		return prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, value, labelValues...)
	}
	m := &taskMetrics{}
	for i, st := range veeam.TaskStates {
		m.lastState[i] = gauge(d.taskLastState, boolValue(st == series.latestState), with(st.String()))
	}
	m.lastStart = gauge(d.taskLastStart, unixSeconds(series.latest.creation), labels)
	for i, r := range veeam.Results {
		m.sessions[i] = prometheus.MustNewConstMetric(d.taskSessions, prometheus.CounterValue, float64(series.completed[i]), with(r.String())...)
		if last := series.lastByResult[i]; last.uid != "" {
			m.lastCompletion[i] = gauge(d.taskLastCompletion, unixSeconds(last.end), with(r.String()))
		}
	}
	last := series.lastCompleted
	if last.uid == "" {
		return m
	}
	for i, r := range veeam.Results {
		m.lastResult[i] = gauge(d.taskLastResult, boolValue(r == last.result), with(r.String()))
	}
	m.lastEnd = gauge(d.taskLastEnd, unixSeconds(last.end), labels)
	m.lastDuration = gauge(d.taskLastDuration, last.duration().Seconds(), labels)
	m.lastTotalSize = gauge(d.taskLastTotalSize, float64(last.totalSize), labels)
	return m
}

// appendTaskMetrics appends the metrics of tasks family by family, each in
// the registry's order: by label values in the order of the label names,
// which puts a state or result label between job_name and vm.
func appendTaskMetrics(all []prometheus.Metric, tasks map[taskKey]*taskMetrics) []prometheus.Metric {
	keys := slices.SortedFunc(maps.Keys(tasks), func(a, b taskKey) int {
		return cmp.Or(cmp.Compare(a.backupServer, b.backupServer), cmp.Compare(a.job, b.job), cmp.Compare(a.vm, b.vm))
	})
	// jobs splits keys into runs of one backup server and job.
	var jobs [][]taskKey
	for start, i := 0, 1; i <= len(keys); i++ {
		if i == len(keys) || keys[i].backupServer != keys[start].backupServer || keys[i].job != keys[start].job {
			jobs = append(jobs, keys[start:i])
			start = i
		}
	}
	perVM := func(pick func(*taskMetrics) prometheus.Metric) {
		for _, key := range keys {
			if m := pick(tasks[key]); m != nil {
				all = append(all, m)
			}
		}
	}
	perValue := func(order []int, pick func(*taskMetrics, int) prometheus.Metric) {
		for _, run := range jobs {
			for _, i := range order {
				for _, key := range run {
					if m := pick(tasks[key], i); m != nil {
						all = append(all, m)
					}
				}
			}
		}
	}
	perVM(func(m *taskMetrics) prometheus.Metric { return m.lastStart })
	perVM(func(m *taskMetrics) prometheus.Metric { return m.lastEnd })
	perVM(func(m *taskMetrics) prometheus.Metric { return m.lastDuration })
	perVM(func(m *taskMetrics) prometheus.Metric { return m.lastTotalSize })
	stateOrder, resultOrder := orderByName(veeam.TaskStates[:]), orderByName(veeam.Results[:])
	perValue(stateOrder, func(m *taskMetrics, i int) prometheus.Metric { return m.lastState[i] })
	perValue(resultOrder, func(m *taskMetrics, i int) prometheus.Metric { return m.sessions[i] })
	perValue(resultOrder, func(m *taskMetrics, i int) prometheus.Metric { return m.lastCompletion[i] })
	perValue(resultOrder, func(m *taskMetrics, i int) prometheus.Metric { return m.lastResult[i] })
	return all
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

func durationMetric(d *descs, key jobKey, h *durationHistogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(taskDurationBuckets))
	for i, upper := range taskDurationBuckets {
		buckets[upper] = h.cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d.taskDuration, h.count, h.sum, buckets, key.backupServer, key.job)
}

func jobMetrics(d *descs, key jobKey, series *jobSeries) []prometheus.Metric {
	labels := []string{key.backupServer, key.job}
	with := func(extra ...string) []string { return append(labels[:2:2], extra...) }
	var metrics []prometheus.Metric
	add := func(desc *prometheus.Desc, valueType prometheus.ValueType, value float64, labelValues []string) {
		metrics = append(metrics, prometheus.MustNewConstMetric(desc, valueType, value, labelValues...))
	}
	for _, st := range veeam.JobStates {
		add(d.jobLastState, prometheus.GaugeValue, boolValue(st == series.latestState), with(st.String()))
	}
	add(d.jobLastStart, prometheus.GaugeValue, unixSeconds(series.latest.creation), labels)
	for i, r := range veeam.Results {
		for retry, count := range series.completed[i] {
			add(d.jobSessions, prometheus.CounterValue, float64(count), with(r.String(), strconv.FormatBool(retry == 1)))
		}
	}
	last := series.lastCompleted
	if last.uid == "" {
		return metrics
	}
	for _, r := range veeam.Results {
		add(d.jobLastResult, prometheus.GaugeValue, boolValue(r == last.result), with(r.String()))
	}
	add(d.jobLastEnd, prometheus.GaugeValue, unixSeconds(last.end), labels)
	add(d.jobLastDuration, prometheus.GaugeValue, last.duration().Seconds(), labels)
	return metrics
}
