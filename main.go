// Command veeam_em_exporter exposes Veeam Backup Enterprise Manager replica
// and backup sessions as Prometheus metrics.
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
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
		timeout       = kingpin.Flag("veeam.timeout", "How long a scrape waits for the refresh when Prometheus sends no scrape timeout header.").Default("30s").Duration()
		minRefresh    = kingpin.Flag("veeam.min-refresh-interval", "A scrape that comes within this of the end of an EM server's last successful refresh is served that refresh's state without asking EM. 0 refreshes at every scrape; set it a little below the scrape interval when two Prometheus servers (an HA pair) scrape this exporter, so that EM sees one refresh per interval.").Default("0s").Duration()
		refreshLimit  = kingpin.Flag("veeam.refresh-timeout", "Upper bound of a refresh, which goes on past the scrape that started it: a first load of a long history on a slow EM spans several scrapes, and one cut by this bound goes on from where it is at the next.").Default("10m").Duration()
		pageSize      = kingpin.Flag("veeam.page-size", "Entities per page in Enterprise Manager queries.").Default("1000").Int()
		maxBody       = kingpin.Flag("veeam.max-body-bytes", "Largest Enterprise Manager response body accepted.").Default("268435456").Int64()
		collectorsOn  = addCollectorFlags(kingpin.CommandLine)
		inventoryFreq = kingpin.Flag("collector.inventory-interval", "How often the repository, job, backup_server and summary collectors read Enterprise Manager; scrapes in between serve their last values.").Default("5m").Duration()
		pointFull     = kingpin.Flag("collector.replica-point.full-interval", "How often the replica_point collector checks each replica's restore points against Enterprise Manager: how long restore point counts and oldest points may lag. The newest point follows at every scrape.").Default("1h").Duration()
		lookbackFlag  = addRenamedDuration(kingpin.CommandLine, "sessions.lookback", "replica.lookback", "History of sessions reflected in the metrics, for every session collector.", "168h")
		overlapFlag   = addRenamedDuration(kingpin.CommandLine, "sessions.overlap", "replica.overlap", "How long after its creation, or its end, a session may still reach EM and be counted.", "1h")
		rescan        = kingpin.Flag("sessions.rescan-interval", "How often each session collector checks the last --sessions.overlap against EM's counts, and reads the sessions that reached EM late.").Default("15m").Duration()
		logLevel      = kingpin.Flag("log.level", "Only log messages with the given severity or above.").Default("info").Enum("debug", "info", "warn", "error")
		logFormat     = kingpin.Flag("log.format", "Output format of log messages.").Default("logfmt").Enum("logfmt", "json")
		demo          = kingpin.Flag("demo", "Run against a built-in Enterprise Manager simulator with generated data, instead of a real server.").Bool()
		configFile    = kingpin.Flag("config.file", "YAML file of auth modules for /probe?target=<EM URL>&auth_module=<name>; reloaded on SIGHUP and POST /-/reload.").String()
		configCheck   = kingpin.Flag("config.check", "Check --config.file, print OK or the error, and exit 0 or 1 without serving.").Bool()
		probeIdle     = kingpin.Flag("probe.target-idle-timeout", "How long a /probe target keeps its EM session and state without being probed.").Default("1h").Duration()
		soakClock     = addSoakClockFlag(kingpin.CommandLine)
	)
	addEnvars(kingpin.CommandLine)
	setVersionFromBuild()
	kingpin.Version(version.Print(exporterName))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	if *configCheck {
		os.Exit(checkConfig(*configFile, os.Stdout, os.Stderr))
	}

	bareLogger := newBareLogger(*logFormat)
	// The filter goes under With so that "caller" names the line that logged.
	logger := log.With(level.NewFilter(bareLogger, levelOption(*logLevel)), "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)
	level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info())
	level.Info(logger).Log("msg", "Build context", "build_context", version.BuildContext())
	lookback, overlap := lookbackFlag.resolve(kingpin.CommandLine, logger), overlapFlag.resolve(kingpin.CommandLine, logger)
	level.Info(logger).Log("msg", "Session history", "lookback", lookback, "overlap", overlap)

	kinds, err := collectorsOn.enabled()
	if err != nil {
		level.Error(logger).Log("msg", "Nothing to collect", "err", err)
		os.Exit(1)
	}
	clock := soakClock.now(logger)
	collectorOptions := collector.Options{Kinds: kinds, Lookback: lookback, Overlap: overlap, RescanInterval: *rescan,
		RefreshTimeout: *refreshLimit, MinRefreshInterval: *minRefresh, InventoryInterval: *inventoryFreq,
		ReplicaPointFullInterval: *pointFull, Now: clock}
	// Single-target mode serves EM's metrics on /metrics; with a
	// configuration file, /probe serves any number of EM servers.
	var single *singleTarget
	if *demo || *emURL != "" {
		single, err = newSingleTarget(singleTargetConfig{
			url: *emURL, username: *username, passwordFile: *passwordFile, caFile: *caFile, insecure: *insecure,
			pageSize: *pageSize, maxBody: *maxBody, demo: *demo,
			collector: collectorOptions,
		}, clock, logger)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot set up Enterprise Manager", "err", err)
			os.Exit(1)
		}
		defer single.closeDemo()
	} else if *configFile == "" {
		level.Error(logger).Log("msg", "--veeam.url and --veeam.username are required (or --demo, or --config.file for /probe)")
		os.Exit(1)
	}
	handlerOptions := collector.HandlerOptions{
		Timeout:       *timeout,
		TimeoutOffset: *timeoutOffset,
		Logger:        log.With(logger, "component", "handler"),
		ErrorLog:      promhttpLogger{level.Error(logger)},
	}
	var probes *probeMode
	if *configFile != "" {
		probes, err = newProbeMode(*configFile, collector.ProbeOptions{
			Client: func(cfg *veeam.Config) {
				cfg.PageSize, cfg.MaxBodyBytes, cfg.Now = *pageSize, *maxBody, clock
			},
			Collector:   collectorOptions,
			Handler:     handlerOptions,
			IdleTimeout: *probeIdle,
			Logger:      logger,
		}, log.With(logger, "component", "config"))
		if err != nil {
			level.Error(logger).Log("msg", "Cannot load the configuration file", "err", err)
			os.Exit(1)
		}
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		versioncollector.NewCollector(exporterName),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)

	mux := http.NewServeMux()
	if probes != nil {
		probes.register(mux, registry)
	}
	if single != nil {
		mux.Handle(*metricsPath, collector.NewHandler(single.sessions, registry, handlerOptions))
	} else {
		mux.Handle(*metricsPath, promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorLog: handlerOptions.ErrorLog}))
	}
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		// In probe-only mode, the configuration loaded at start is enough.
		if single != nil && !single.sessions.Ready() {
			http.Error(w, "Not ready: not every collector has refreshed from Enterprise Manager successfully yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	if *metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "Veeam Enterprise Manager Exporter",
			Description: "Prometheus exporter for Veeam Backup Enterprise Manager replica and backup sessions",
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
	stopReloads := func() {}
	if probes != nil {
		stopReloads = probes.reloadOnHangup()
	}
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
	stopReloads()
	if single != nil {
		single.close(logger)
	}
	if probes != nil {
		probes.close()
	}
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
		app.GetFlag(f.Name).Envar(envPrefix + envName(f.Name))
	}
}

// envName is the environment variable suffix of a flag: upper case, with
// "." and "-" as "_".
func envName(flag string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flag))
}
