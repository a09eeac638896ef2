package collector

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// inventory is a unit that reads a small, slowly changing part of EM in
// full, at most once per interval, and serves what it read in between.
// Its series are few (one per repository, job or server), so they are
// rebuilt from each read rather than kept up to date.
type inventory struct {
	kind  Kind
	every time.Duration
	types []string // EM request types
	descs []*family
	// fetch reads EM and hands each series to emit.
	fetch func(ctx context.Context, src Source, emit emitFunc) []*fetchError
	// pending holds the families of the last successful read until
	// publish.
	pending, served []cachedFamily
}

// emitFunc adds a series of family f to the read under way.
type emitFunc func(f *family, value float64, labelValues ...string)

func (u *inventory) name() Kind              { return u.kind }
func (u *inventory) requestTypes() []string  { return u.types }
func (u *inventory) interval() time.Duration { return u.every }
func (u *inventory) loaded() bool            { return true }
func (u *inventory) loadProgress() float64   { return 1 }

func (u *inventory) seriesDescs() []*prometheus.Desc {
	descs := make([]*prometheus.Desc, len(u.descs))
	for i, f := range u.descs {
		descs[i] = f.desc
	}
	return descs
}

func (u *inventory) queryMetrics(*ownDescs) []prometheus.Metric { return nil }

func (u *inventory) families() []cachedFamily { return u.served }

func (u *inventory) publish() bool {
	u.served, u.pending = u.pending, nil
	return true
}

func (u *inventory) read(ctx context.Context, c *Collector) (bool, []*fetchError) {
	return false, u.fetchInto(ctx, c)
}

// fetchInto reads EM and, if that succeeds, keeps the families read for
// publish.
func (u *inventory) fetchInto(ctx context.Context, c *Collector) []*fetchError {
	b := newFamiliesBuilder(u.descs)
	if errs := u.fetch(ctx, c.src, b.emit); len(errs) > 0 {
		return errs
	}
	families := b.families()
	c.mu.Lock()
	u.pending = families
	c.mu.Unlock()
	return nil
}

// familiesBuilder collects the series of one read into families.
type familiesBuilder struct {
	descs   []*family
	metrics map[*family][]*dto.Metric
	seen    map[*family]map[string]bool
}

func newFamiliesBuilder(descs []*family) *familiesBuilder {
	return &familiesBuilder{descs: descs, metrics: make(map[*family][]*dto.Metric), seen: make(map[*family]map[string]bool)}
}

// emit adds one series. EM names repositories and jobs uniquely within a
// backup server; should it ever list one twice, the first stands, as two
// series with the same labels would make the whole scrape invalid.
func (b *familiesBuilder) emit(f *family, value float64, labelValues ...string) {
	key := strings.Join(labelValues, "\xff")
	if b.seen[f] == nil {
		b.seen[f] = make(map[string]bool)
	}
	if b.seen[f][key] {
		return
	}
	b.seen[f][key] = true
	valueType := prometheus.GaugeValue
	if f.kind == dto.MetricType_COUNTER {
		valueType = prometheus.CounterValue
	}
	var m dto.Metric
	// The label values come from EM and are valid UTF-8 once decoded, so
	// this cannot fail but on a programming error.
	if err := prometheus.MustNewConstMetric(f.desc, valueType, value, labelValues...).Write(&m); err != nil {
		panic(err)
	}
	b.metrics[f] = append(b.metrics[f], &m)
}

// families are the families with at least one series, their metrics in
// label order, as a registry would serve them.
func (b *familiesBuilder) families() []cachedFamily {
	var families []cachedFamily
	for _, f := range b.descs {
		metrics := b.metrics[f]
		if len(metrics) == 0 {
			continue
		}
		slices.SortFunc(metrics, compareLabels)
		families = append(families, cachedFamily{desc: f.desc, family: &dto.MetricFamily{Name: f.name, Help: f.help, Type: &f.kind, Metric: metrics}})
	}
	return families
}

func compareLabels(a, b *dto.Metric) int {
	for i := range min(len(a.Label), len(b.Label)) {
		if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.Label), len(b.Label))
}

// newFamily is the descriptor of an inventory series family.
func newFamily(subsystem, metric string, kind dto.MetricType, help string, labels ...string) *family {
	name := fqName(subsystem, metric)
	return &family{desc: prometheus.NewDesc(name, help, labels, nil), name: &name, help: &help, kind: kind}
}
