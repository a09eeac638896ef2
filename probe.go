package main

import (
	"net/http"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/config"
)

// probeMode is the multi-target side of the exporter: the configuration
// file of auth modules, its reloads, and /probe.
type probeMode struct {
	reloader *config.Reloader
	prober   *collector.Prober
	logger   log.Logger
}

// newProbeMode loads the configuration file at path, failing if it cannot,
// and makes the prober that serves /probe with its auth modules.
func newProbeMode(path string, opts collector.ProbeOptions, logger log.Logger) (*probeMode, error) {
	reloader, err := config.NewReloader(path, nil)
	if err != nil {
		return nil, err
	}
	logWarnings(reloader.Config(), logger)
	opts.Modules = reloader
	return &probeMode{reloader: reloader, prober: collector.NewProber(opts), logger: logger}, nil
}

// register adds /probe and /-/reload to mux, and the reload metrics to
// registry.
func (m *probeMode) register(mux *http.ServeMux, registry *prometheus.Registry) {
	mux.Handle("/probe", m.prober)
	mux.HandleFunc("/-/reload", m.reloadHandler)
	registry.MustRegister(
		config.NewReloadCollector(m.reloader),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veeam_em_exporter_probe_targets",
			Help: "Enterprise Manager targets of /probe that hold an EM session and state now; a target not probed for --probe.target-idle-timeout is forgotten.",
		}, func() float64 { return float64(m.prober.Targets()) }),
	)
}

// close retires every target, logging each off from EM. Call it once the
// HTTP server has stopped.
func (m *probeMode) close() {
	m.prober.Close()
}
