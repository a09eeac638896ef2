package collector

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unit is one collector of the exporter (replica, backup, repository...):
// its own EM queries, state, series and refresh policy. The Collector
// shares the rest among its units: one EM session, the refresh every
// scrape joins, the deadline, and the status metrics, in which a failing
// unit hides no other.
type unit interface {
	name() Kind
	// seriesDescs are the descriptors of the unit's series.
	seriesDescs() []*prometheus.Desc
	// requestTypes are the EM request types the unit makes, whose
	// request counters start at 0.
	requestTypes() []string
	// interval is how long a successful read stands before the unit
	// reads EM again; 0 reads at every refresh.
	interval() time.Duration
	// read brings the unit's state up to date from EM. It is called
	// without c.mu and takes it to change the state. progressed says
	// an initial load read something, even if it did not end.
	read(ctx context.Context, c *Collector) (progressed bool, errs []*fetchError)
	// The rest is called with c.mu held.
	//
	// loaded is false while an initial load is under way, whose series
	// are not published yet.
	loaded() bool
	// loadProgress is how far the initial load has come, from 0 to 1.
	loadProgress() float64
	// publish brings the unit's families up to date after a successful
	// read, and reports whether they changed.
	publish() (changed bool)
	// families are the unit's series families as last published.
	families() []cachedFamily
	// queryMetrics are the unit's own fetch metrics, if any.
	queryMetrics(d *ownDescs) []prometheus.Metric
}

// member is a unit with the outcome of its reads. The Collector's mu guards
// everything but unit's read.
type member struct {
	unit
	// The outcome of the unit's last read, and whether one ever
	// succeeded.
	succeeded, everSucceeded bool
	duration                 time.Duration
	lastSuccess              time.Time // when the last successful read began, by the Collector's clock
}

// due reports whether the unit reads EM at a refresh at now: once its
// interval has passed since its last successful read. A failed read leaves
// lastSuccess where it was, so the unit reads again at the next refresh.
func (m *member) due(now time.Time) bool {
	return m.interval() <= 0 || now.Sub(m.lastSuccess) >= m.interval()
}
