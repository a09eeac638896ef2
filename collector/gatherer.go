package collector

import (
	"errors"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scrapeGatherer is what the handler serves: the families of the caller's
// gatherer, the Collector's own metrics, and the series families the cache
// built at the last refresh that changed something, handed over as they
// are. A registry collecting the Collector would copy, check and sort tens of
// thousands of metrics on every scrape only to arrive at the same families.
//
// The cached families are shared by every scrape under way, so nothing here
// sorts or modifies a family: only the list of families, new for each
// Gather, is sorted. prometheus.Gatherers is not used for the merge since it
// sorts each family's metrics in place.
type scrapeGatherer struct {
	others prometheus.Gatherer
	own    prometheus.Gatherer // the Collector's own metrics
	c      *Collector
}

func newScrapeGatherer(c *Collector, others prometheus.Gatherer) *scrapeGatherer {
	own := prometheus.NewRegistry()
	own.MustRegister(ownMetrics{c})
	return &scrapeGatherer{others: others, own: own, c: c}
}

// Gather implements prometheus.Gatherer. A family the caller's gatherer
// already has is not added again: if the Collector is registered there too,
// its metrics are served once, from that registry.
func (g *scrapeGatherer) Gather() ([]*dto.MetricFamily, error) {
	others, othersErr := g.others.Gather()
	own, ownErr := g.own.Gather()
	cached := g.c.cachedFamilies()
	families := make([]*dto.MetricFamily, 0, len(others)+len(own)+len(cached))
	exposed := make(map[string]bool, cap(families))
	add := func(f *dto.MetricFamily) {
		if !exposed[f.GetName()] {
			exposed[f.GetName()] = true
			families = append(families, f)
		}
	}
	for _, f := range others {
		add(f)
	}
	for _, f := range own {
		add(f)
	}
	for _, f := range cached {
		add(f.family)
	}
	slices.SortFunc(families, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return families, errors.Join(othersErr, ownErr)
}
