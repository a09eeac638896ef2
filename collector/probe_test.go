package collector_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/config"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// probeModules is a ModuleSource whose modules a test changes, as a reload
// would.
type probeModules struct {
	mu      sync.Mutex
	modules map[string]config.AuthModule
}

func (m *probeModules) Module(name string) (config.AuthModule, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	module, ok := m.modules[name]
	return module, ok
}

func (m *probeModules) set(name string, module config.AuthModule, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok {
		m.modules[name] = module
	} else {
		delete(m.modules, name)
	}
}

// probeClock is the prober's clock, moved by the test.
type probeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *probeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *probeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// probeFixture is two simulated EM servers with their own users and
// passwords, and a prober with one auth module for each.
type probeFixture struct {
	east, dr *emsim.Running
	modules  *probeModules
	clock    *probeClock
	prober   *collector.Prober
}

func newProbeFixture(t *testing.T, idle time.Duration) *probeFixture {
	t.Helper()
	start := time.Date(2025, 6, 17, 20, 30, 0, 0, time.UTC)
	dir := t.TempDir()
	startSim := func(seed int64, user, password string, topology emsim.Topology) (*emsim.Running, config.AuthModule) {
		sim, err := emsim.Start(emsim.Config{Seed: seed, Username: user, Password: password,
			Clock: emsim.NewManualClock(start), Topology: topology}, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		passwordFile := filepath.Join(dir, user+".password")
		if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return sim, config.AuthModule{Username: user, PasswordFile: passwordFile}
	}
	f := &probeFixture{modules: &probeModules{modules: map[string]config.AuthModule{}}, clock: &probeClock{now: start}}
	var east, dr config.AuthModule
	f.east, east = startSim(3, "east@corp.local", "east-secret", emsim.TestTopology())
	f.dr, dr = startSim(4, "dr@corp.local", "dr-secret", emsim.SecondSiteTopology())
	f.modules.set("em_east", east, true)
	f.modules.set("em_dr", dr, true)
	f.prober = collector.NewProber(collector.ProbeOptions{
		Modules:     f.modules,
		Collector:   collector.Options{Lookback: lookback, Overlap: overlap, Now: func() time.Time { return start }},
		IdleTimeout: idle,
		Now:         f.clock.Now,
	})
	// Registered after the simulators' cleanups, so it runs before them:
	// the logoffs reach a simulator still serving.
	t.Cleanup(f.prober.Close)
	return f
}

func probePath(target, module string) string {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	if module != "" {
		q.Set("auth_module", module)
	}
	return "/probe?" + q.Encode()
}

func (f *probeFixture) probe(t *testing.T, target, module string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.prober.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, probePath(target, module), nil))
	return rec.Code, rec.Body.String()
}

// probeLabels returns veeam_em_up and the backup_server values of a probe's
// answer.
func probeLabels(t *testing.T, body string) (up float64, servers map[string]bool) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	up = -1
	if err != nil {
		t.Errorf("parse probe answer: %v\n%s", err, body)
		return up, nil
	}
	if mf, ok := families["veeam_em_up"]; ok {
		up = mf.GetMetric()[0].GetGauge().GetValue()
	}
	servers = map[string]bool{}
	for _, m := range families["veeam_em_replica_task_last_state"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "backup_server" {
				servers[lp.GetValue()] = true
			}
		}
	}
	return up, servers
}

func TestProbeRefusesBadRequests(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	restricted := config.AuthModule{Username: "east@corp.local", PasswordFile: "/nonexistent", Targets: []string{f.east.URL}}
	f.modules.set("em_east_only", restricted, true)
	cases := []struct {
		name, target, module string
		wantCode             int
		wantBody             string
	}{
		{"missing target", "", "em_east", http.StatusBadRequest, "target parameter is missing"},
		{"target not a URL", "em-east.corp.local", "em_east", http.StatusBadRequest, "must be an http:// or https:// URL"},
		{"target of another scheme", "ftp://em-east.corp.local", "em_east", http.StatusBadRequest, "must be an http:// or https:// URL"},
		{"target without a host", "https://", "em_east", http.StatusBadRequest, "has no host"},
		{"target with credentials", "https://u:p@em-east.corp.local", "em_east", http.StatusBadRequest, "must not carry credentials"},
		{"missing auth module", f.east.URL, "", http.StatusBadRequest, "auth_module parameter is missing"},
		{"unknown auth module", f.east.URL, "em_west", http.StatusBadRequest, `auth module "em_west" is not defined`},
		{"target outside the module's list", f.dr.URL, "em_east_only", http.StatusForbidden, "not in the module's targets list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.probe(t, tc.target, tc.module)
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Errorf("probe = %d %q, want %d with %q", code, body, tc.wantCode, tc.wantBody)
			}
			if strings.Count(strings.TrimSpace(body), "\n") != 0 {
				t.Errorf("message %q is not one line", body)
			}
		})
	}
	if n := len(f.east.Requests()) + len(f.dr.Requests()); n != 0 {
		t.Errorf("refused probes sent %d requests to EM, want none", n)
	}
	if n := f.prober.Targets(); n != 0 {
		t.Errorf("refused probes left %d targets, want none", n)
	}
}

func TestProbeAllowedTargetAnySpelling(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	east, _ := f.modules.Module("em_east")
	east.Targets = []string{f.east.URL}
	f.modules.set("em_east", east, true)
	code, body := f.probe(t, strings.ToUpper(f.east.URL[:4])+f.east.URL[4:]+"/api/", "em_east")
	if up, _ := probeLabels(t, body); code != http.StatusOK || up != 1 {
		t.Errorf("probe of a listed target spelled differently = %d, veeam_em_up %v; want 200 and 1", code, up)
	}
}

// Each target keeps its own logon and state across probes, and serves only
// its own metrics.
func TestProbeReusesOneLogonPerTarget(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	type answer struct {
		code    int
		up      float64
		servers map[string]bool
	}
	answers := make([][]answer, 2)
	targets := []struct{ url, module string }{{f.east.URL, "em_east"}, {f.dr.URL, "em_dr"}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, target := range targets {
		for range 20 {
			wg.Go(func() {
				code, body := f.probe(t, target.url, target.module)
				up, servers := probeLabels(t, body)
				mu.Lock()
				answers[i] = append(answers[i], answer{code, up, servers})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for i, sim := range []*emsim.Running{f.east, f.dr} {
		if got := sim.Logons(); got != 1 {
			t.Errorf("%s: logons after 20 probes = %d, want 1", targets[i].module, got)
		}
		for _, a := range answers[i] {
			if a.code != http.StatusOK || a.up != 1 || len(a.servers) == 0 {
				t.Errorf("%s: probe = %d, veeam_em_up %v, servers %v; want 200, 1 and series", targets[i].module, a.code, a.up, a.servers)
				break
			}
		}
	}
	for server := range answers[0][0].servers {
		if answers[1][0].servers[server] {
			t.Errorf("backup server %q appears in both targets' metrics", server)
		}
	}
	if n := f.prober.Targets(); n != 2 {
		t.Errorf("targets = %d, want 2", n)
	}
	_, body := f.probe(t, f.east.URL, "em_east")
	if strings.Contains(body, "process_") || strings.Contains(body, "go_goroutines") {
		t.Error("a probe serves the exporter's own process metrics")
	}
}

func TestProbeForgetsIdleTargets(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	f.probe(t, f.east.URL, "em_east")
	f.clock.advance(40 * time.Minute)
	f.probe(t, f.dr.URL, "em_dr")
	f.clock.advance(30 * time.Minute)
	f.prober.RetireStale()
	if got := f.east.Logoffs(); got != 1 {
		t.Errorf("logoffs of the target idle for 70m = %d, want 1", got)
	}
	if got := f.dr.Logoffs(); got != 0 {
		t.Errorf("logoffs of the target idle for 30m = %d, want 0", got)
	}
	if n := f.prober.Targets(); n != 1 {
		t.Errorf("targets = %d, want 1", n)
	}
	if code, _ := f.probe(t, f.east.URL, "em_east"); code != http.StatusOK {
		t.Errorf("probe of a forgotten target = %d, want 200", code)
	}
	if got := f.east.Logons(); got != 2 {
		t.Errorf("logons after the forgotten target's next probe = %d, want 2", got)
	}
}

// A reload that changes or removes a module retires its targets; a probe
// then starts afresh with the new settings.
func TestProbeRetiresTargetsOfChangedModules(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	f.probe(t, f.east.URL, "em_east")
	f.probe(t, f.dr.URL, "em_dr")

	east, _ := f.modules.Module("em_east")
	east.Targets = []string{f.east.URL}
	f.modules.set("em_east", east, true)
	f.modules.set("em_dr", config.AuthModule{}, false)
	f.prober.RetireStale()
	for name, sim := range map[string]*emsim.Running{"changed": f.east, "removed": f.dr} {
		if got := sim.Logoffs(); got != 1 {
			t.Errorf("logoffs of the target of the %s module = %d, want 1", name, got)
		}
	}
	if n := f.prober.Targets(); n != 0 {
		t.Errorf("targets = %d, want 0", n)
	}
	if code, _ := f.probe(t, f.dr.URL, "em_dr"); code != http.StatusBadRequest {
		t.Errorf("probe with the removed module = %d, want 400", code)
	}
	code, body := f.probe(t, f.east.URL, "em_east")
	if up, _ := probeLabels(t, body); code != http.StatusOK || up != 1 {
		t.Errorf("probe with the changed module = %d, veeam_em_up %v; want 200 and 1", code, up)
	}
	if got := f.east.Logons(); got != 2 {
		t.Errorf("logons = %d, want 2: the changed module gets a fresh client", got)
	}
}

func TestProbeServesEMFailureAsDown(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	f.east.InjectFault(emsim.Fault{Path: "query", Status: http.StatusInternalServerError, Count: 1})
	code, body := f.probe(t, f.east.URL, "em_east")
	if up, _ := probeLabels(t, body); code != http.StatusOK || up != 0 {
		t.Errorf("probe while EM fails = %d, veeam_em_up %v; want 200 and 0", code, up)
	}
}

func TestProbeCloseLogsOffEveryTarget(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	f.probe(t, f.east.URL, "em_east")
	f.probe(t, f.dr.URL, "em_dr")
	f.prober.Close()
	for i, sim := range []*emsim.Running{f.east, f.dr} {
		if got := sim.Logoffs(); got != 1 {
			t.Errorf("simulator %d: logoffs at Close = %d, want 1", i, got)
		}
		if got := sim.ActiveSessions(); got != 0 {
			t.Errorf("simulator %d: sessions left open = %d, want 0", i, got)
		}
	}
	if code, _ := f.probe(t, f.east.URL, "em_east"); code != http.StatusServiceUnavailable {
		t.Errorf("probe after Close = %d, want 503", code)
	}
}

// The prober sweeps idle targets by itself, without a probe or a reload.
func TestProbeSweepsIdleTargetsByItself(t *testing.T) {
	f := newProbeFixture(t, 2*time.Second)
	f.probe(t, f.east.URL, "em_east")
	f.clock.advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for f.east.Logoffs() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("logoffs 5s after the target went idle = %d, want 1", f.east.Logoffs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := f.prober.Targets(); n != 0 {
		t.Errorf("targets = %d, want 0", n)
	}
}

// TestProbeModuleChoosesCollectors: a module's collectors list replaces the
// exporter's default for its targets, down to the queries EM receives, and
// changing it retires the target like any change of its module.
func TestProbeModuleChoosesCollectors(t *testing.T) {
	f := newProbeFixture(t, time.Hour)
	east, _ := f.modules.Module("em_east")
	east.Collectors = []string{"replica"}
	f.modules.set("em_east", east, true)
	code, body := f.probe(t, f.east.URL, "em_east")
	if code != http.StatusOK || !strings.Contains(body, "veeam_em_replica_task_sessions_total{") {
		t.Fatalf("probe = %d without replica series:\n%s", code, body)
	}
	if strings.Contains(body, "veeam_em_backup_") || strings.Contains(body, `collector="backup"`) {
		t.Errorf("a target whose module lists only replica has backup series:\n%s", body)
	}
	for _, r := range f.east.Requests() {
		if strings.HasPrefix(r.Type, "Backup") {
			t.Errorf("EM received a %s query for a module without the backup collector", r.Type)
		}
	}

	east.Collectors = []string{"backup"}
	f.modules.set("em_east", east, true)
	f.prober.RetireStale()
	_, body = f.probe(t, f.east.URL, "em_east")
	if strings.Contains(body, "veeam_em_replica_") || !strings.Contains(body, "veeam_em_backup_task_sessions_total{") {
		t.Errorf("after the module switched to backup, the probe still serves the old collectors:\n%s", body)
	}
}

// TestConfigCollectorsAreTheCollectorKinds keeps the names the
// configuration file accepts equal to the collectors that exist.
func TestConfigCollectorsAreTheCollectorKinds(t *testing.T) {
	var kinds []string
	for _, k := range collector.Kinds() {
		kinds = append(kinds, string(k))
	}
	if got := config.Collectors(); !slices.Equal(got, kinds) {
		t.Errorf("config accepts collectors %v, the collector package has %v", got, kinds)
	}
}
