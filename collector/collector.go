// Package collector keeps the exporter's incremental view of Enterprise
// Manager's replica and backup sessions and exposes it as Prometheus
// metrics.
//
// Scrapes drive refreshes (see NewHandler): each refresh asks EM only for the
// sessions created since the overlap or since the oldest session still
// running, and folds them into state covering the lookback, one state per
// kind of sessions (see Kind). Collect emits that state and never calls EM.
package collector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
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
	// Kinds are the kinds of sessions followed, each with its own metrics
	// and EM queries; none means every kind (see Kinds). New panics on an
	// unknown kind.
	Kinds []Kind
}

// Collector is a prometheus.Collector of the task and job sessions of the
// kinds it follows.
type Collector struct {
	src    Source
	now    func() time.Time
	logger log.Logger
	own    ownDescs
	kinds  []*kindCollector

	flightMu sync.Mutex
	flight   *refreshFlight // the refresh under way, nil if none
	closed   bool           // Close was called: no new refresh starts
	// life ends at Close; every refresh's calls to EM end with it.
	life    context.Context
	endLife context.CancelFunc

	mu     sync.RWMutex
	status refreshStatus
	// families are every kind's series families, sorted by name.
	families []cachedFamily
}

// kindCollector is the state of one kind of sessions. The Collector's mu
// guards everything but kind and descs, which are read-only.
type kindCollector struct {
	kind   sessionKind
	descs  descs
	state  *state
	series seriesCache // the metrics of state's series
	// The outcome of the kind's queries in the last refresh, and whether
	// they ever succeeded.
	succeeded, everSucceeded bool
	duration                 time.Duration
}

// refreshStatus is the outcome of the refreshes so far.
type refreshStatus struct {
	up          bool
	succeeded   bool // a refresh in which every kind succeeded
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
	if len(opts.Kinds) == 0 {
		opts.Kinds = Kinds()
	}
	life, endLife := context.WithCancel(context.Background())
	c := &Collector{
		src:     src,
		now:     opts.Now,
		logger:  opts.Logger,
		own:     newOwnDescs(),
		life:    life,
		endLife: endLife,
	}
	for _, name := range opts.Kinds {
		kind, err := kindOf(name)
		if err != nil {
			panic(fmt.Sprintf("collector.New: %v", err))
		}
		if slices.ContainsFunc(c.kinds, func(k *kindCollector) bool { return k.kind.name == name }) {
			continue
		}
		c.kinds = append(c.kinds, &kindCollector{kind: kind, descs: newDescs(kind), state: newState(opts.Lookback, opts.Overlap)})
	}
	return c
}

// Ready reports whether every kind's queries have succeeded, so that all
// the metrics reflect EM.
func (c *Collector) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, k := range c.kinds {
		if !k.everSucceeded {
			return false
		}
	}
	return true
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.describeOwn(ch)
	for _, k := range c.kinds {
		for _, f := range k.descs.series() {
			ch <- f.desc
		}
	}
}

// Collect implements prometheus.Collector. It emits the state of each kind's
// last successful refresh; it does not refresh. The series' metrics come
// from the cache that refresh built; only the exporter's own few metrics are
// built on every scrape. The handler serves the same cache without this
// per-metric path (see NewHandler).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectOwn(ch)
	for _, f := range c.cachedFamilies() {
		for _, m := range f.family.Metric {
			ch <- cachedMetric{desc: f.desc, metric: m}
		}
	}
}

// cachedFamilies are the series families of every kind as the last refresh
// that changed something left them. Nothing is locked while they are used:
// a refresh replaces them, it never modifies them.
func (c *Collector) cachedFamilies() []cachedFamily {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.families
}

// mergeFamilies sets families from every kind's. The caller holds mu.
func (c *Collector) mergeFamilies() {
	var families []cachedFamily
	for _, k := range c.kinds {
		families = append(families, k.series.families...)
	}
	slices.SortFunc(families, func(a, b cachedFamily) int { return strings.Compare(a.family.GetName(), b.family.GetName()) })
	c.families = families
}

func (c *Collector) describeOwn(ch chan<- *prometheus.Desc) {
	for _, d := range c.own.all() {
		ch <- d
	}
}

// collectOwn emits the exporter's own metrics: the refreshes' outcome and
// what they fetched.
func (c *Collector) collectOwn(ch chan<- prometheus.Metric) {
	stats := c.src.Stats()
	c.mu.RLock()
	status := c.statusMetrics()
	c.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(c.own.logons, prometheus.CounterValue, float64(stats.Logons))
	ch <- prometheus.MustNewConstMetric(c.own.logonRejections, prometheus.CounterValue, float64(stats.LogonRejections))
	backoff := 0.0
	if !stats.LogonBackoffUntil.IsZero() {
		backoff = max(stats.LogonBackoffUntil.Sub(c.now()).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.own.logonBackoff, prometheus.GaugeValue, backoff)
	for _, m := range status {
		ch <- m
	}
}

// ownMetrics is a prometheus.Collector of the Collector's own metrics alone,
// for the handler, which adds the cached series itself.
type ownMetrics struct{ c *Collector }

func (o ownMetrics) Describe(ch chan<- *prometheus.Desc) { o.c.describeOwn(ch) }

func (o ownMetrics) Collect(ch chan<- prometheus.Metric) { o.c.collectOwn(ch) }

func (c *Collector) statusMetrics() []prometheus.Metric {
	d, st := &c.own, &c.status
	lastSuccess := 0.0
	if st.succeeded {
		lastSuccess = unixSeconds(st.lastSuccess)
	}
	metrics := []prometheus.Metric{
		prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, boolValue(st.up)),
		prometheus.MustNewConstMetric(d.scrapeDuration, prometheus.GaugeValue, st.duration.Seconds()),
		prometheus.MustNewConstMetric(d.lastSuccess, prometheus.GaugeValue, lastSuccess),
		prometheus.MustNewConstMetric(d.refreshes, prometheus.CounterValue, float64(st.refreshes)),
		prometheus.MustNewConstMetric(d.refreshFailures, prometheus.CounterValue, float64(st.failures)),
	}
	for _, k := range c.kinds {
		name := string(k.kind.name)
		metrics = append(metrics,
			prometheus.MustNewConstMetric(d.collectorSuccess, prometheus.GaugeValue, boolValue(k.succeeded), name),
			prometheus.MustNewConstMetric(d.collectorDuration, prometheus.GaugeValue, k.duration.Seconds(), name))
		for _, q := range []struct {
			queryType string
			stats     queryStats
		}{{k.kind.taskQuery, k.state.taskQueries}, {k.kind.jobQuery, k.state.jobQueries}} {
			metrics = append(metrics,
				prometheus.MustNewConstMetric(d.sessionsFetched, prometheus.CounterValue, float64(q.stats.fetched), q.queryType),
				prometheus.MustNewConstMetric(d.invalidSessions, prometheus.CounterValue, float64(q.stats.invalid), q.queryType))
		}
	}
	return metrics
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
