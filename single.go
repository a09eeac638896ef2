package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-kit/log"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// singleTargetConfig is what the --veeam.*, --sessions.* and --collector.*
// flags say about the one Enterprise Manager served on /metrics.
type singleTargetConfig struct {
	url, username, passwordFile, caFile string
	insecure                            bool
	pageSize                            int
	maxBody                             int64
	demo                                bool
	collector                           collector.Options
}

// singleTarget is the Enterprise Manager of --veeam.url, or the demo's
// simulator, whose metrics /metrics serves.
type singleTarget struct {
	client    *veeam.Client
	sessions  *collector.Collector
	closeDemo func()
}

func newSingleTarget(cfg singleTargetConfig, clock func() time.Time, logger log.Logger) (*singleTarget, error) {
	clientConfig := veeam.Config{
		URL:                cfg.url,
		Username:           cfg.username,
		CAFile:             cfg.caFile,
		InsecureSkipVerify: cfg.insecure,
		PageSize:           cfg.pageSize,
		MaxBodyBytes:       cfg.maxBody,
		Logger:             log.With(logger, "component", "veeam"),
		Now:                clock,
	}
	if cfg.passwordFile != "" {
		clientConfig.Password = veeam.PasswordFile(cfg.passwordFile)
	} else {
		clientConfig.Password = veeam.PasswordEnv(passwordEnv)
	}
	closeDemo := func() {}
	if cfg.demo {
		sim, err := startDemo(&clientConfig, log.With(logger, "component", "demo"))
		if err != nil {
			return nil, fmt.Errorf("start the demo simulator: %w", err)
		}
		closeDemo = sim.Close
	}
	if clientConfig.Username == "" {
		closeDemo()
		return nil, errors.New("--veeam.username is required with --veeam.url")
	}
	client, err := veeam.New(clientConfig)
	if err != nil {
		closeDemo()
		return nil, fmt.Errorf("invalid Enterprise Manager configuration: %w", err)
	}
	opts := cfg.collector
	opts.Logger = log.With(logger, "component", "collector")
	sessions := collector.New(client, opts)
	return &singleTarget{client: client, sessions: sessions, closeDemo: closeDemo}, nil
}

// close ends the refreshes and logs off from EM.
func (s *singleTarget) close(logger log.Logger) {
	collector.Retire(s.sessions, s.client, logger)
}
