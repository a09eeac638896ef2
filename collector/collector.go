// Package collector keeps the exporter's incremental view of Enterprise
// Manager's replica sessions and exposes it as Prometheus metrics.
//
// Scrapes drive refreshes (see NewHandler): each refresh asks EM only for the
// sessions created since the overlap or since the oldest session still
// running, and folds them into state covering the lookback. Collect emits
// that state and never calls EM.
package collector

import (
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// DefaultLookback is the history reflected in the metrics when
// Options.Lookback is zero.
const DefaultLookback = 7 * 24 * time.Hour

// Options configure a Collector.
type Options struct {
	// Lookback is the history of sessions reflected in the metrics; a series
	// whose latest session is older disappears. Zero means DefaultLookback.
	Lookback time.Duration
	// Overlap is how far back each incremental refresh re-reads, to catch
	// sessions that reach EM after later ones.
	Overlap time.Duration
	// Now is the clock that windows and expiry follow; nil means time.Now.
	Now func() time.Time
	// Logger receives one error line per failed refresh; nil discards.
	Logger log.Logger
}

// Collector is a prometheus.Collector of replica task and job sessions.
type Collector struct {
	src    Source
	now    func() time.Time
	logger log.Logger
	descs  descs

	flightMu sync.Mutex
	flight   *refreshFlight // the refresh under way, nil if none

	mu     sync.RWMutex
	state  *state
	status refreshStatus
}

// refreshStatus is the outcome of the refreshes so far.
type refreshStatus struct {
	up          bool
	succeeded   bool
	duration    time.Duration
	lastSuccess time.Time
	refreshes   uint64
	failures    uint64
}

// New returns a Collector fed by src. Nothing is fetched until Refresh.
func New(src Source, opts Options) *Collector {
	if opts.Lookback == 0 {
		opts.Lookback = DefaultLookback
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	return &Collector{
		src:    src,
		now:    opts.Now,
		logger: opts.Logger,
		descs:  newDescs(),
		state:  newState(opts.Lookback, opts.Overlap),
	}
}

// Ready reports whether a refresh has succeeded, so the metrics reflect EM.
func (c *Collector) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.status.succeeded
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs.all() {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It emits the state of the last
// successful refresh; it does not refresh.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	stats := c.src.Stats()
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := &c.descs
	ch <- prometheus.MustNewConstMetric(d.logons, prometheus.CounterValue, float64(stats.Logons))
	c.collectStatus(ch)
	c.collectTasks(ch)
	c.collectJobs(ch)
}

func (c *Collector) collectStatus(ch chan<- prometheus.Metric) {
	d, st, s := &c.descs, &c.status, c.state
	ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, boolValue(st.up))
	ch <- prometheus.MustNewConstMetric(d.scrapeDuration, prometheus.GaugeValue, st.duration.Seconds())
	lastSuccess := 0.0
	if st.succeeded {
		lastSuccess = unixSeconds(st.lastSuccess)
	}
	ch <- prometheus.MustNewConstMetric(d.lastSuccess, prometheus.GaugeValue, lastSuccess)
	ch <- prometheus.MustNewConstMetric(d.refreshes, prometheus.CounterValue, float64(st.refreshes))
	ch <- prometheus.MustNewConstMetric(d.refreshFailures, prometheus.CounterValue, float64(st.failures))
	for _, q := range []struct {
		queryType string
		stats     queryStats
	}{{"ReplicaTaskSession", s.taskQueries}, {"ReplicaJobSession", s.jobQueries}} {
		ch <- prometheus.MustNewConstMetric(d.sessionsFetched, prometheus.CounterValue, float64(q.stats.fetched), q.queryType)
		ch <- prometheus.MustNewConstMetric(d.invalidSessions, prometheus.CounterValue, float64(q.stats.invalid), q.queryType)
	}
}

func (c *Collector) collectTasks(ch chan<- prometheus.Metric) {
	d := &c.descs
	for key, series := range c.state.tasks {
		labels := []string{key.backupServer, key.job, key.vm}
		with := func(extra ...string) []string { return append(labels[:3:3], extra...) }
		for _, st := range veeam.TaskStates {
			ch <- prometheus.MustNewConstMetric(d.taskLastState, prometheus.GaugeValue, boolValue(st == series.latestState), with(st.String())...)
		}
		ch <- prometheus.MustNewConstMetric(d.taskLastStart, prometheus.GaugeValue, unixSeconds(series.latest.creation), labels...)
		for i, r := range veeam.Results {
			ch <- prometheus.MustNewConstMetric(d.taskSessions, prometheus.CounterValue, float64(series.completed[i]), with(r.String())...)
			if last := series.lastByResult[i]; last.uid != "" {
				ch <- prometheus.MustNewConstMetric(d.taskLastCompletion, prometheus.GaugeValue, unixSeconds(last.end), with(r.String())...)
			}
		}
		last := series.lastCompleted
		if last.uid == "" {
			continue
		}
		for _, r := range veeam.Results {
			ch <- prometheus.MustNewConstMetric(d.taskLastResult, prometheus.GaugeValue, boolValue(r == last.result), with(r.String())...)
		}
		ch <- prometheus.MustNewConstMetric(d.taskLastEnd, prometheus.GaugeValue, unixSeconds(last.end), labels...)
		ch <- prometheus.MustNewConstMetric(d.taskLastDuration, prometheus.GaugeValue, last.duration().Seconds(), labels...)
		ch <- prometheus.MustNewConstMetric(d.taskLastTotalSize, prometheus.GaugeValue, float64(last.totalSize), labels...)
	}
	for key, h := range c.state.durations {
		buckets := make(map[float64]uint64, len(taskDurationBuckets))
		for i, upper := range taskDurationBuckets {
			buckets[upper] = h.cumulative[i]
		}
		ch <- prometheus.MustNewConstHistogram(d.taskDuration, h.count, h.sum, buckets, key.backupServer, key.job)
	}
}

func (c *Collector) collectJobs(ch chan<- prometheus.Metric) {
	d := &c.descs
	for key, series := range c.state.jobs {
		labels := []string{key.backupServer, key.job}
		with := func(extra ...string) []string { return append(labels[:2:2], extra...) }
		for _, st := range veeam.JobStates {
			ch <- prometheus.MustNewConstMetric(d.jobLastState, prometheus.GaugeValue, boolValue(st == series.latestState), with(st.String())...)
		}
		ch <- prometheus.MustNewConstMetric(d.jobLastStart, prometheus.GaugeValue, unixSeconds(series.latest.creation), labels...)
		for i, r := range veeam.Results {
			for retry, count := range series.completed[i] {
				ch <- prometheus.MustNewConstMetric(d.jobSessions, prometheus.CounterValue, float64(count), with(r.String(), strconv.FormatBool(retry == 1))...)
			}
		}
		last := series.lastCompleted
		if last.uid == "" {
			continue
		}
		for _, r := range veeam.Results {
			ch <- prometheus.MustNewConstMetric(d.jobLastResult, prometheus.GaugeValue, boolValue(r == last.result), with(r.String())...)
		}
		ch <- prometheus.MustNewConstMetric(d.jobLastEnd, prometheus.GaugeValue, unixSeconds(last.end), labels...)
		ch <- prometheus.MustNewConstMetric(d.jobLastDuration, prometheus.GaugeValue, last.duration().Seconds(), labels...)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds keeps sub-second precision, which EM's timestamps have.
func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
