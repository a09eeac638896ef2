package collector

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// metricArena hands out the metrics of one series from four allocations
// instead of three per metric. The metrics live as long as the series'
// metrics are cached, and are replaced together.
type metricArena struct {
	metrics  []dto.Metric
	gauges   []dto.Gauge
	counters []dto.Counter
	values   []float64
}

func newMetricArena(gauges, counters int) metricArena {
	return metricArena{
		metrics:  make([]dto.Metric, gauges+counters),
		gauges:   make([]dto.Gauge, gauges),
		counters: make([]dto.Counter, counters),
		values:   make([]float64, gauges+counters),
	}
}

// next takes the next metric and value slot, with the value set.
func (a *metricArena) next(labels []*dto.LabelPair, value float64) (*dto.Metric, *float64) {
	m, v := &a.metrics[0], &a.values[0]
	a.metrics, a.values = a.metrics[1:], a.values[1:]
	m.Label, *v = labels, value
	return m, v
}

func (a *metricArena) gauge(labels []*dto.LabelPair, value float64) *dto.Metric {
	m, v := a.next(labels, value)
	m.Gauge, a.gauges = &a.gauges[0], a.gauges[1:]
	m.Gauge.Value = v
	return m
}

func (a *metricArena) counter(labels []*dto.LabelPair, value float64) *dto.Metric {
	m, v := a.next(labels, value)
	m.Counter, a.counters = &a.counters[0], a.counters[1:]
	m.Counter.Value = v
	return m
}

// taskMetrics are the metrics of one task series; the arrays follow
// veeam.TaskStates and veeam.Results, and nil stands for an absent series.
type taskMetrics struct {
	lastState                            [len(veeam.TaskStates)]*dto.Metric
	sessions, lastCompletion, lastResult [resultCount]*dto.Metric
	lastStart, lastEnd                   *dto.Metric
	lastDuration, lastTotalSize          *dto.Metric
}

// Most gauges and counters one task series has.
const (
	taskCounters = resultCount
	taskGauges   = len(veeam.TaskStates) + 2*resultCount + 4
)

func newTaskMetrics(labels *taskLabels, series *taskSeries) *taskMetrics {
	arena := newMetricArena(taskGauges, taskCounters)
	m := &taskMetrics{}
	for i, st := range veeam.TaskStates {
		m.lastState[i] = arena.gauge(labels.byState[i], boolValue(st == series.latestState))
	}
	m.lastStart = arena.gauge(labels.plain, unixSeconds(series.latest.creation))
	for i := range veeam.Results {
		m.sessions[i] = arena.counter(labels.byResult[i], float64(series.completed[i]))
		if last := series.lastByResult[i]; last.uid != "" {
			m.lastCompletion[i] = arena.gauge(labels.byResult[i], unixSeconds(last.end))
		}
	}
	last := series.lastCompleted
	if last.uid == "" {
		return m
	}
	for i, r := range veeam.Results {
		m.lastResult[i] = arena.gauge(labels.byResult[i], boolValue(r == last.result))
	}
	m.lastEnd = arena.gauge(labels.plain, unixSeconds(last.end))
	m.lastDuration = arena.gauge(labels.plain, last.duration().Seconds())
	m.lastTotalSize = arena.gauge(labels.plain, float64(last.totalSize))
	return m
}

// jobMetrics are the metrics of one job series, as taskMetrics are for a
// task series; sessions[result][retry].
type jobMetrics struct {
	lastState                        [len(veeam.JobStates)]*dto.Metric
	lastResult                       [resultCount]*dto.Metric
	sessions                         [resultCount][2]*dto.Metric
	lastStart, lastEnd, lastDuration *dto.Metric
}

// Most gauges and counters one job series has.
const (
	jobCounters = 2 * resultCount
	jobGauges   = len(veeam.JobStates) + resultCount + 3
)

func newJobMetrics(labels *jobLabels, series *jobSeries) *jobMetrics {
	arena := newMetricArena(jobGauges, jobCounters)
	m := &jobMetrics{}
	for i, st := range veeam.JobStates {
		m.lastState[i] = arena.gauge(labels.byState[i], boolValue(st == series.latestState))
	}
	m.lastStart = arena.gauge(labels.plain, unixSeconds(series.latest.creation))
	for i := range veeam.Results {
		for retry, count := range series.completed[i] {
			m.sessions[i][retry] = arena.counter(labels.byResultRetry[i][retry], float64(count))
		}
	}
	last := series.lastCompleted
	if last.uid == "" {
		return m
	}
	for i, r := range veeam.Results {
		m.lastResult[i] = arena.gauge(labels.byResult[i], boolValue(r == last.result))
	}
	m.lastEnd = arena.gauge(labels.plain, unixSeconds(last.end))
	m.lastDuration = arena.gauge(labels.plain, last.duration().Seconds())
	return m
}

// durationMetric is the task duration histogram of one job, with every
// bucket, as a const histogram writes it.
func durationMetric(labels *jobLabels, h *durationHistogram) *dto.Metric {
	count, sum := h.count, h.sum
	buckets := make([]dto.Bucket, len(taskDurationBuckets))
	refs := make([]*dto.Bucket, len(taskDurationBuckets))
	cumulative, upper := h.cumulative, taskDurationBuckets
	for i := range buckets {
		buckets[i].CumulativeCount, buckets[i].UpperBound = &cumulative[i], &upper[i]
		refs[i] = &buckets[i]
	}
	return &dto.Metric{Label: labels.keyOnly, Histogram: &dto.Histogram{SampleCount: &count, SampleSum: &sum, Bucket: refs}}
}
