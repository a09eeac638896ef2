package config

import "github.com/prometheus/client_golang/prometheus"

// ReloadCollector exposes the outcome of configuration reloads.
type ReloadCollector struct {
	reloader    *Reloader
	successful  *prometheus.Desc
	successTime *prometheus.Desc
}

// NewReloadCollector returns a collector reporting r's reloads.
func NewReloadCollector(r *Reloader) *ReloadCollector {
	return &ReloadCollector{
		reloader: r,
		successful: prometheus.NewDesc(
			"veeam_em_exporter_config_last_reload_successful",
			"Whether the last configuration reload attempt was successful (1) or not (0).",
			nil, nil),
		successTime: prometheus.NewDesc(
			"veeam_em_exporter_config_last_reload_success_timestamp_seconds",
			"Unix time of the last successful configuration load.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ReloadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.successful
	ch <- c.successTime
}

// Collect implements prometheus.Collector.
func (c *ReloadCollector) Collect(ch chan<- prometheus.Metric) {
	successful, at := c.reloader.LastReload()
	value := 0.0
	if successful {
		value = 1
	}
	ch <- prometheus.MustNewConstMetric(c.successful, prometheus.GaugeValue, value)
	ch <- prometheus.MustNewConstMetric(c.successTime, prometheus.GaugeValue, float64(at.UnixNano())/1e9)
}
