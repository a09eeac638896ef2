// Command veeam_em_exporter exposes Veeam Backup Enterprise Manager replica
// task sessions as Prometheus metrics.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

const (
	exporterName = "veeam_em_exporter"
	envPrefix    = "VEEAM_EXPORTER_"
	// passwordEnv is read when no password file is given; there is
	// deliberately no password flag, so it never shows in ps or shell history.
	passwordEnv    = envPrefix + "PASSWORD"
	defaultAddress = ":9724"
)

func main() {
	var (
		metricsPath   = kingpin.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		shutdownGrace = kingpin.Flag("web.shutdown-timeout", "How long scrapes in flight at shutdown may still run before they are cancelled.").Default("10s").Duration()
		timeoutOffset = kingpin.Flag("web.timeout-offset", "Subtracted from Prometheus's scrape timeout to give the refresh deadline.").Default("0.5s").Duration()
		webConfig     = kingpinflag.AddFlags(kingpin.CommandLine, defaultAddress)
		emURL         = kingpin.Flag("veeam.url", "Enterprise Manager REST API base URL, e.g. https://em.example.com:9398.").String()
		username      = kingpin.Flag("veeam.username", "Enterprise Manager user, as user@domain (role Portal Administrator, Portal User or Restore Operator).").String()
		passwordFile  = kingpin.Flag("veeam.password-file", "File holding the Enterprise Manager password, read at every logon; else the environment variable "+passwordEnv+" is used.").String()
		caFile        = kingpin.Flag("veeam.ca-file", "PEM file of CA certificates to trust for Enterprise Manager, in addition to the system roots.").String()
		insecure      = kingpin.Flag("veeam.insecure-skip-verify", "Do not verify Enterprise Manager's TLS certificate (unsafe).").Bool()
		timeout       = kingpin.Flag("veeam.timeout", "Refresh deadline when Prometheus sends no scrape timeout header.").Default("30s").Duration()
		pageSize      = kingpin.Flag("veeam.page-size", "Entities per page in Enterprise Manager queries.").Default("1000").Int()
		maxBody       = kingpin.Flag("veeam.max-body-bytes", "Largest Enterprise Manager response body accepted.").Default("268435456").Int64()
		lookback      = kingpin.Flag("replica.lookback", "History of replica sessions reflected in the metrics.").Default("168h").Duration()
		overlap       = kingpin.Flag("replica.overlap", "How far back each incremental refresh re-reads, to catch sessions that reach EM late.").Default("1h").Duration()
		logLevel      = kingpin.Flag("log.level", "Only log messages with the given severity or above.").Default("info").Enum("debug", "info", "warn", "error")
		logFormat     = kingpin.Flag("log.format", "Output format of log messages.").Default("logfmt").Enum("logfmt", "json")
		demo          = kingpin.Flag("demo", "Run against a built-in Enterprise Manager simulator with generated data, instead of a real server.").Bool()
		soakClock     = addSoakClockFlag(kingpin.CommandLine)
	)
	addEnvars(kingpin.CommandLine)
	kingpin.Version(version.Print(exporterName))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()

	bareLogger := newBareLogger(*logFormat)
	// The filter goes under With so that "caller" names the line that logged.
	logger := log.With(level.NewFilter(bareLogger, levelOption(*logLevel)), "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)
	level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info())
	level.Info(logger).Log("msg", "Build context", "build_context", version.BuildContext())

	clientConfig := veeam.Config{
		URL:                *emURL,
		Username:           *username,
		CAFile:             *caFile,
		InsecureSkipVerify: *insecure,
		PageSize:           *pageSize,
		MaxBodyBytes:       *maxBody,
		Logger:             log.With(logger, "component", "veeam"),
	}
	if *passwordFile != "" {
		clientConfig.Password = veeam.PasswordFile(*passwordFile)
	} else {
		clientConfig.Password = veeam.PasswordEnv(passwordEnv)
	}
	if *demo {
		sim, err := startDemo(&clientConfig, log.With(logger, "component", "demo"))
		if err != nil {
			level.Error(logger).Log("msg", "Cannot start the demo simulator", "err", err)
			os.Exit(1)
		}
		defer sim.Close()
	}
	if clientConfig.URL == "" || clientConfig.Username == "" {
		level.Error(logger).Log("msg", "--veeam.url and --veeam.username are required (or --demo)")
		os.Exit(1)
	}
	clock := soakClock.now(logger)
	clientConfig.Now = clock
	client, err := veeam.New(clientConfig)
	if err != nil {
		level.Error(logger).Log("msg", "Invalid Enterprise Manager configuration", "err", err)
		os.Exit(1)
	}

	replicas := collector.New(client, collector.Options{
		Lookback: *lookback,
		Overlap:  *overlap,
		Now:      clock,
		Logger:   log.With(logger, "component", "collector"),
	})
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		versioncollector.NewCollector(exporterName),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)

	mux := http.NewServeMux()
	mux.Handle(*metricsPath, collector.NewHandler(replicas, registry, collector.HandlerOptions{
		Timeout:       *timeout,
		TimeoutOffset: *timeoutOffset,
		Logger:        log.With(logger, "component", "handler"),
		ErrorLog:      promhttpLogger{level.Error(logger)},
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !replicas.Ready() {
			http.Error(w, "Not ready: no successful refresh from Enterprise Manager yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	if *metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "Veeam Enterprise Manager Exporter",
			Description: "Prometheus exporter for Veeam Backup Enterprise Manager replica task sessions",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: *metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness"},
			},
		})
		if err != nil {
			level.Error(logger).Log("msg", "Cannot build the landing page", "err", err)
			os.Exit(1)
		}
		mux.Handle("/", landing)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Refreshes run detached from the scrape that starts them, so cancelling
	// this context releases the scrapes waiting for a refresh, not the
	// refresh's own calls to EM.
	requestsCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return requestsCtx },
	}
	serveErr := make(chan error, 1)
	go func() {
		toolkitLogger := slog.New(sloggokit.NewGoKitHandler(bareLogger, slogLevel(*logLevel)))
		serveErr <- web.ListenAndServe(server, webConfig, toolkitLogger)
	}()

	exitCode := 0
	select {
	case err := <-serveErr:
		level.Error(logger).Log("msg", "HTTP server stopped", "err", err)
		exitCode = 1
	case <-ctx.Done():
		level.Info(logger).Log("msg", "Shutting down", "timeout", *shutdownGrace)
	}
	// A second signal now ends the process at once.
	stop()
	shutdownServer(server, cancelRequests, *shutdownGrace, logger)
	// No refresh may log on again once the session is logged off.
	replicas.Close()
	logOff(client, logger)
	if exitCode != 0 {
		os.Exit(exitCode)
	}
}

// addEnvars gives every flag without one an environment variable
// VEEAM_EXPORTER_<FLAG>, including the flags exporter-toolkit defines.
func addEnvars(app *kingpin.Application) {
	for _, f := range app.Model().Flags {
		if f.Envar != "" || f.Name == "help" || f.Name == "version" {
			continue
		}
		name := strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(f.Name))
		app.GetFlag(f.Name).Envar(envPrefix + name)
	}
}

// newBareLogger has no timestamp or caller: exporter-toolkit's slog bridge
// adds its own caller, and main adds both for its logs.
func newBareLogger(format string) log.Logger {
	w := log.NewSyncWriter(os.Stderr)
	if format == "json" {
		return log.NewJSONLogger(w)
	}
	return log.NewLogfmtLogger(w)
}

func levelOption(name string) level.Option {
	switch name {
	case "debug":
		return level.AllowDebug()
	case "warn":
		return level.AllowWarn()
	case "error":
		return level.AllowError()
	}
	return level.AllowInfo()
}

func slogLevel(name string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// promhttpLogger sends promhttp's errors to the application logger.
type promhttpLogger struct{ logger log.Logger }

func (l promhttpLogger) Println(v ...any) {
	l.logger.Log("msg", "Error serving metrics", "err", fmt.Sprint(v...))
}
