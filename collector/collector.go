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

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// Defaults of the Options left zero.
const (
	// DefaultLookback is the history reflected in the metrics.
	DefaultLookback = 7 * 24 * time.Hour
	// DefaultRefreshTimeout bounds a refresh, whoever waits for it.
	DefaultRefreshTimeout = 10 * time.Minute
	// DefaultInventoryInterval is how often the inventory collectors read
	// EM: the estate changes slowly.
	DefaultInventoryInterval = 5 * time.Minute
	// DefaultRescanInterval is how often the overlap is checked for
	// sessions that reached EM late.
	DefaultRescanInterval = 15 * time.Minute
)

// Options configure a Collector.
type Options struct {
	// Lookback is the history of sessions reflected in the metrics; a series
	// whose latest session is older disappears. Zero means DefaultLookback.
	Lookback time.Duration
	// Overlap is how long after its creation, or its end, a session may
	// still reach EM and be counted: each rescan checks that much history.
	Overlap time.Duration
	// RescanInterval is how often the overlap is checked against EM's
	// counts, and read where EM holds sessions the exporter has not seen.
	// Zero means DefaultRescanInterval.
	RescanInterval time.Duration
	// RefreshTimeout bounds each refresh; a refresh outlives the scrape
	// that started it up to this. Zero means DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	// MinRefreshInterval is how long after a successful refresh the state
	// is served as it is, without asking EM; zero refreshes at every
	// Refresh. It follows the wall clock, as scrapes do, not Now.
	MinRefreshInterval time.Duration
	// InventoryInterval is how long the inventory collectors (repository,
	// job, backup_server, summary) serve their last successful read before
	// reading EM again. Zero means DefaultInventoryInterval.
	InventoryInterval time.Duration
	// ReplicaPointFullInterval is how often the replica_point collector
	// checks each replica's restore points against EM's count: how long
	// counts and oldest points may lag. Zero means
	// DefaultReplicaPointFullInterval.
	ReplicaPointFullInterval time.Duration
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
	src            Source
	now            func() time.Time
	logger         log.Logger
	own            ownDescs
	members        []*member
	lookback       time.Duration
	rescanInterval time.Duration
	refreshTimeout time.Duration
	// minRefreshInterval: see Options.MinRefreshInterval.
	minRefreshInterval time.Duration

	flightMu sync.Mutex
	flight   *refreshFlight // the refresh under way, nil if none
	// lastRefreshed is when the last successful refresh ended.
	lastRefreshed time.Time
	closed        bool // Close was called: no new refresh starts
	// life ends at Close; every refresh's calls to EM end with it.
	life    context.Context
	endLife context.CancelFunc

	mu     sync.RWMutex
	status refreshStatus
	// families are every kind's series families, sorted by name.
	families []cachedFamily
}

// kindCollector is the unit of one kind of sessions. The Collector's mu
// guards everything but kind and descs, which are read-only.
type kindCollector struct {
	kind   sessionKind
	descs  descs
	state  *state
	series seriesCache // the metrics of state's series
	// jobs and tasks are where the reading of each query type stands.
	jobs, tasks typeSync
	// loadDone is set once the initial load of the lookback is complete;
	// the series are published from then on. loadStart is when it began,
	// loadCounted whether its sessions were counted.
	loadDone    bool
	loadStart   time.Time
	loadCounted bool
}

func (k *kindCollector) name() Kind { return k.kind.name }

func (k *kindCollector) seriesDescs() []*prometheus.Desc {
	var descs []*prometheus.Desc
	for _, f := range k.descs.series() {
		descs = append(descs, f.desc)
	}
	return descs
}

func (k *kindCollector) requestTypes() []string { return []string{k.kind.jobQuery, k.kind.taskQuery} }

// interval is 0: sessions are read at every refresh, and a steady read
// costs what changed.
func (k *kindCollector) interval() time.Duration { return 0 }

func (k *kindCollector) read(ctx context.Context, c *Collector) (bool, []*fetchError) {
	return c.refreshKind(ctx, k)
}

func (k *kindCollector) loaded() bool { return k.loadDone }

func (k *kindCollector) publish() bool { return k.series.catchUp(k.state, &k.descs) }

func (k *kindCollector) families() []cachedFamily { return k.series.families }

func (k *kindCollector) queryMetrics(d *ownDescs) []prometheus.Metric {
	var metrics []prometheus.Metric
	for _, q := range []struct {
		queryType string
		stats     queryStats
	}{{k.kind.taskQuery, k.state.taskQueries}, {k.kind.jobQuery, k.state.jobQueries}} {
		metrics = append(metrics,
			prometheus.MustNewConstMetric(d.sessionsFetched, prometheus.CounterValue, float64(q.stats.fetched), q.queryType),
			prometheus.MustNewConstMetric(d.invalidSessions, prometheus.CounterValue, float64(q.stats.invalid), q.queryType))
	}
	return metrics
}

// loadProgress is how far the initial load has come, from 0 to 1: the
// share of the sessions EM counted when it began that it has read. It
// stays below 1 until the load is complete, as sessions can reach EM
// meanwhile; 0 when EM would not count them.
func (k *kindCollector) loadProgress() float64 {
	if k.loadDone {
		return 1
	}
	total := k.jobs.loadTotal + k.tasks.loadTotal
	if !k.loadCounted || k.jobs.loadTotal < 0 || k.tasks.loadTotal < 0 || total == 0 {
		return 0
	}
	return min(float64(k.jobs.loadRead+k.tasks.loadRead)/float64(total), 0.99)
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
	if opts.RefreshTimeout <= 0 {
		opts.RefreshTimeout = DefaultRefreshTimeout
	}
	if opts.RescanInterval <= 0 {
		opts.RescanInterval = DefaultRescanInterval
	}
	if opts.ReplicaPointFullInterval <= 0 {
		opts.ReplicaPointFullInterval = DefaultReplicaPointFullInterval
	}
	if opts.InventoryInterval <= 0 {
		opts.InventoryInterval = DefaultInventoryInterval
	}
	life, endLife := context.WithCancel(context.Background())
	c := &Collector{
		src:                src,
		now:                opts.Now,
		logger:             opts.Logger,
		own:                newOwnDescs(),
		lookback:           opts.Lookback,
		rescanInterval:     opts.RescanInterval,
		refreshTimeout:     opts.RefreshTimeout,
		minRefreshInterval: opts.MinRefreshInterval,
		life:               life,
		endLife:            endLife,
	}
	for _, name := range opts.Kinds {
		if slices.ContainsFunc(c.members, func(m *member) bool { return m.name() == name }) {
			continue
		}
		u, err := newUnit(name, opts)
		if err != nil {
			panic(fmt.Sprintf("collector.New: %v", err))
		}
		c.members = append(c.members, &member{unit: u})
	}
	return c
}

// Ready reports whether every kind has loaded its history and its queries
// have succeeded once, so that all the metrics reflect EM.
func (c *Collector) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range c.members {
		if !m.everSucceeded {
			return false
		}
	}
	return true
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.describeOwn(ch)
	for _, m := range c.members {
		for _, d := range m.seriesDescs() {
			ch <- d
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
	for _, m := range c.members {
		families = append(families, m.families()...)
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
	retryAfter := 0.0
	if !stats.RetryAfterUntil.IsZero() {
		retryAfter = max(stats.RetryAfterUntil.Sub(c.now()).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.own.retryAfter, prometheus.GaugeValue, retryAfter)
	for _, typ := range c.requestTypes() {
		for _, outcome := range veeam.RequestOutcomes {
			n := stats.RequestsByOutcome[veeam.RequestKey{Type: typ, Outcome: outcome}]
			ch <- prometheus.MustNewConstMetric(c.own.requests, prometheus.CounterValue, float64(n), typ, string(outcome))
		}
		ch <- prometheus.MustNewConstMetric(c.own.answerBytes, prometheus.CounterValue, float64(stats.AnswerBytes[typ]), typ)
	}
	for _, m := range status {
		ch <- m
	}
}

// requestTypes are the types of request the collector makes: logon,
// logoff and the query types of its kinds. Their counters start at 0.
func (c *Collector) requestTypes() []string {
	types := []string{veeam.LogonRequest, veeam.LogoffRequest}
	for _, m := range c.members {
		types = append(types, m.requestTypes()...)
	}
	return types
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
	for _, m := range c.members {
		name := string(m.name())
		lastSuccess := 0.0
		if m.everSucceeded {
			lastSuccess = unixSeconds(m.lastSuccess)
		}
		metrics = append(metrics,
			prometheus.MustNewConstMetric(d.collectorSuccess, prometheus.GaugeValue, boolValue(m.succeeded), name),
			prometheus.MustNewConstMetric(d.collectorDuration, prometheus.GaugeValue, m.duration.Seconds(), name),
			prometheus.MustNewConstMetric(d.collectorLastSuccess, prometheus.GaugeValue, lastSuccess, name),
			prometheus.MustNewConstMetric(d.loadProgress, prometheus.GaugeValue, m.loadProgress(), name))
		metrics = append(metrics, m.queryMetrics(d)...)
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
