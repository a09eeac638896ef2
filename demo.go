package main

import (
	"crypto/rand"
	"fmt"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

const demoUser = "demo@corp.local"

// startDemo runs the Enterprise Manager simulator on loopback over HTTPS and
// points cfg at it, so the demo exercises the same client path as production:
// logon, TLS verification against the simulator's own certificate, paging and
// decoding.
func startDemo(cfg *veeam.Config, logger log.Logger) (*emsim.Running, error) {
	password := rand.Text()
	sim, err := emsim.Start(emsim.Config{
		Seed:     1,
		Username: demoUser,
		Password: password,
		Topology: emsim.DemoTopology(),
	}, true)
	if err != nil {
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	cfg.URL = sim.URL
	cfg.Username = demoUser
	cfg.Password = func() (string, error) { return password, nil }
	cfg.RootCAs = sim.CertPool
	cfg.CAFile = ""
	cfg.InsecureSkipVerify = false
	level.Warn(logger).Log("msg", "DEMO MODE: metrics come from a built-in Enterprise Manager simulator with generated data, NOT from a real Veeam server", "simulator_url", sim.URL)
	return sim, nil
}
