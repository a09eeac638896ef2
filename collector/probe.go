package collector

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/veeam-em-exporter/veeam_em_exporter/config"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

const (
	// DefaultProbeIdleTimeout is how long a target keeps its EM session
	// and state without a probe when ProbeOptions.IdleTimeout is zero.
	DefaultProbeIdleTimeout = time.Hour
)

// ModuleSource tells the auth module of a name in the configuration in
// use; *config.Reloader implements it.
type ModuleSource interface {
	Module(name string) (config.AuthModule, bool)
}

// ProbeOptions configure NewProber.
type ProbeOptions struct {
	// Modules gives the auth modules that probes name.
	Modules ModuleSource
	// Client completes each target's client configuration with the
	// exporter-wide settings (page size, body limit, clock); nil leaves
	// the module's alone. The logger is set by the prober.
	Client func(*veeam.Config)
	// Collector configures every target's collector; its Logger is set by
	// the prober.
	Collector Options
	// Handler bounds each probe's refresh as for the single-target
	// /metrics; its Logger is set by the prober.
	Handler HandlerOptions
	// IdleTimeout is how long a target not probed keeps its EM session and
	// state. Zero means DefaultProbeIdleTimeout.
	IdleTimeout time.Duration
	// Now tells the time of probes for the idle timeout; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives a line per target added and retired, and the lines
	// of the targets' clients, collectors and handlers, each with a
	// component, the target and the auth module; nil discards.
	Logger log.Logger
}

// Prober serves /probe: the metrics of the EM named by the request, logged
// on with the named auth module. Each (target, module settings) keeps its
// own client, with its EM session, and its own Collector, with its
// incremental state, from one probe to the next; a target not probed for
// the idle timeout, or whose module changed at a reload, is retired: its
// collector closed and its session logged off.
type Prober struct {
	opts ProbeOptions

	mu      sync.Mutex
	targets map[probeKey]*probeTarget
	closed  bool // Close was called: no target is added any more

	stopSweeps chan struct{}
	sweeps     sync.WaitGroup
}

// probeKey names a target's state. The module's fingerprint is part of it,
// so a probe after a reload that changed the module gets a fresh client.
type probeKey struct {
	target, module, fingerprint string
}

type probeTarget struct {
	key       probeKey
	client    *veeam.Client
	collector *Collector
	handler   http.Handler
	logger    log.Logger
	lastProbe time.Time // guarded by Prober.mu
}

// NewProber returns a Prober and starts its sweep of idle targets, which
// Close stops.
func NewProber(opts ProbeOptions) *Prober {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultProbeIdleTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	p := &Prober{
		opts:       opts,
		targets:    make(map[probeKey]*probeTarget),
		stopSweeps: make(chan struct{}),
	}
	p.sweeps.Go(func() {
		// A target outlives its idle timeout by at most a quarter of it.
		ticker := time.NewTicker(max(opts.IdleTimeout/4, time.Second))
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				p.RetireStale()
			case <-p.stopSweeps:
				return
			}
		}
	})
	return p
}

// ServeHTTP implements http.Handler. A request naming no usable target or
// auth module gets 400, a target its module does not allow 403; EM is not
// contacted then. Otherwise the answer is 200 with the target's metrics,
// veeam_em_up 0 when EM failed.
func (p *Prober) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	rawTarget, moduleName := query.Get("target"), query.Get("auth_module")
	if rawTarget == "" {
		http.Error(w, "target parameter is missing: /probe?target=<Enterprise Manager URL>&auth_module=<name>", http.StatusBadRequest)
		return
	}
	target, err := config.NormalizeTarget(rawTarget)
	if err != nil {
		http.Error(w, fmt.Sprintf("target parameter %s", err), http.StatusBadRequest)
		return
	}
	if moduleName == "" {
		http.Error(w, "auth_module parameter is missing: name one of the auth modules of the configuration file", http.StatusBadRequest)
		return
	}
	module, ok := p.opts.Modules.Module(moduleName)
	if !ok {
		http.Error(w, fmt.Sprintf("auth module %q is not defined in the configuration file", moduleName), http.StatusBadRequest)
		return
	}
	if !module.AllowsTarget(target) {
		http.Error(w, fmt.Sprintf("auth module %q may not be used for target %s: it is not in the module's targets list", moduleName, target), http.StatusForbidden)
		return
	}
	t, err := p.target(probeKey{target: target, module: moduleName, fingerprint: module.Fingerprint()}, module)
	if errors.Is(err, errProberClosed) {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	t.handler.ServeHTTP(w, r)
}

// errProberClosed refuses probes that arrive while the exporter shuts down.
var errProberClosed = errors.New("the exporter is shutting down")

// target returns the state of key, creating it on its first probe, and
// records the probe for the idle timeout.
func (p *Prober) target(key probeKey, module config.AuthModule) (*probeTarget, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errProberClosed
	}
	now := p.opts.Now()
	if t, ok := p.targets[key]; ok {
		t.lastProbe = now
		return t, nil
	}
	t, err := p.newTarget(key, module)
	if err != nil {
		return nil, err
	}
	t.lastProbe = now
	p.targets[key] = t
	level.Info(t.logger).Log("msg", "Probing a new target")
	return t, nil
}

// newTarget builds a target's client, collector and handler. It does not
// contact EM: the first refresh logs on.
func (p *Prober) newTarget(key probeKey, module config.AuthModule) (*probeTarget, error) {
	logger := func(component string) log.Logger {
		return log.With(p.opts.Logger, "component", component, "target", key.target, "auth_module", key.module)
	}
	clientConfig := module.ClientConfig(key.target)
	if p.opts.Client != nil {
		p.opts.Client(&clientConfig)
	}
	clientConfig.Logger = logger("veeam")
	client, err := veeam.New(clientConfig)
	if err != nil {
		return nil, fmt.Errorf("auth module %q cannot make a client for target %s: %w", key.module, key.target, err)
	}
	collectorOpts := p.opts.Collector
	collectorOpts.Logger = logger("collector")
	if len(module.Collectors) > 0 {
		// The module's own choice replaces the --collector.* flags.
		collectorOpts.Kinds = make([]Kind, len(module.Collectors))
		for i, name := range module.Collectors {
			collectorOpts.Kinds[i] = Kind(name)
		}
	}
	c := New(client, collectorOpts)
	handlerOpts := p.opts.Handler
	handlerOpts.Logger = logger("handler")
	// An empty registry: a probe serves the target's metrics alone, not
	// the exporter's process metrics, which /metrics has.
	return &probeTarget{
		key:       key,
		client:    client,
		collector: c,
		handler:   NewHandler(c, prometheus.NewRegistry(), handlerOpts),
		logger:    logger("probe"),
	}, nil
}

// RetireStale retires the targets not probed for the idle timeout and those
// whose auth module is gone or changed, after a reload. It returns when
// they are logged off.
func (p *Prober) RetireStale() {
	now := p.opts.Now()
	p.mu.Lock()
	var stale []*probeTarget
	for key, t := range p.targets {
		reason := p.staleReason(t, now)
		if reason == "" {
			continue
		}
		delete(p.targets, key)
		level.Info(t.logger).Log("msg", "Retiring a target", "reason", reason)
		stale = append(stale, t)
	}
	p.mu.Unlock()
	retire(stale)
}

// staleReason says why t must be retired, or "" when it need not.
func (p *Prober) staleReason(t *probeTarget, now time.Time) string {
	if idle := now.Sub(t.lastProbe); idle >= p.opts.IdleTimeout {
		return fmt.Sprintf("not probed for %s", idle.Round(time.Second))
	}
	module, ok := p.opts.Modules.Module(t.key.module)
	switch {
	case !ok:
		return "auth module removed from the configuration"
	case module.Fingerprint() != t.key.fingerprint:
		return "auth module changed in the configuration"
	case !module.AllowsTarget(t.key.target):
		return "target removed from the auth module's targets list"
	}
	return ""
}

// Targets tells how many targets hold state now.
func (p *Prober) Targets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.targets)
}

// Close stops the sweep, refuses new probes and retires every target,
// logging each off. Call it once the HTTP server has stopped.
func (p *Prober) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	targets := slices.Collect(maps.Values(p.targets))
	clear(p.targets)
	p.mu.Unlock()
	close(p.stopSweeps)
	p.sweeps.Wait()
	retire(targets)
}

// retire closes the targets' collectors and logs them off, all at once so
// that one unreachable EM delays the others by no more than its own
// logoff timeout.
func retire(targets []*probeTarget) {
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(t.retire)
	}
	wg.Wait()
}

func (t *probeTarget) retire() { Retire(t.collector, t.client, t.logger) }
