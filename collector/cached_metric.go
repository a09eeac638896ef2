package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// cachedMetric is one metric of the series cache as a prometheus.Metric, for
// registries that collect the Collector. Write shares the cached label pairs
// and values, as client_golang's own const metrics do: neither the registry
// nor the encoders modify them.
type cachedMetric struct {
	desc   *prometheus.Desc
	metric *dto.Metric
}

func (m cachedMetric) Desc() *prometheus.Desc { return m.desc }

func (m cachedMetric) Write(out *dto.Metric) error {
	out.Label = m.metric.Label
	out.Gauge, out.Counter, out.Histogram = m.metric.Gauge, m.metric.Counter, m.metric.Histogram
	return nil
}
