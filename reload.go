package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/veeam-em-exporter/veeam_em_exporter/config"
)

// checkConfig is --config.check: it loads the file at path and tells
// whether it is valid, without serving. It returns the exit status.
func checkConfig(path string, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintln(stderr, "--config.check needs --config.file")
		return 1
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, warning := range cfg.Warnings() {
		fmt.Fprintln(stdout, "warning:", warning)
	}
	fmt.Fprintf(stdout, "%s: OK, %d auth modules\n", path, len(cfg.AuthModules))
	return 0
}

func logWarnings(cfg *config.Config, logger log.Logger) {
	for _, warning := range cfg.Warnings() {
		level.Warn(logger).Log("msg", warning)
	}
}

// reload loads the configuration file again; a broken file leaves the
// configuration in use as it was. Targets whose auth module changed or went
// away are then retired, logged off from EM.
func (m *probeMode) reload() error {
	if err := m.reloader.Reload(); err != nil {
		level.Error(m.logger).Log("msg", "Configuration reload failed; the previous configuration stays in use", "err", err)
		return err
	}
	logWarnings(m.reloader.Config(), m.logger)
	m.prober.RetireStale()
	level.Info(m.logger).Log("msg", "Configuration reloaded", "auth_modules", len(m.reloader.Config().AuthModules))
	return nil
}

// reloadOnHangup reloads at every SIGHUP until the returned function is
// called. SIGINT and SIGTERM keep their own handling in main.
func (m *probeMode) reloadOnHangup() (stop func()) {
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-hangups:
				// reload has logged the outcome.
				_ = m.reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hangups)
		close(done)
		<-finished
	}
}

// reloadHandler is POST /-/reload: 200 once the file is reloaded, 500 with
// the error when it is not.
func (m *probeMode) reloadHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Only POST reloads the configuration", http.StatusMethodNotAllowed)
		return
	}
	if err := m.reload(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "Configuration reloaded")
}
