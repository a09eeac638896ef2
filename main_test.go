package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

const (
	e2eUser     = "restuser@corp.local"
	e2ePassword = "e2e-Pa55word-never-printed"
)

// requiredFamilies is the metrics contract of the exporter: every family must
// be present in a scrape of a healthy exporter.
var requiredFamilies = withBackupFamilies([]string{
	"veeam_em_up",
	"veeam_em_scrape_duration_seconds",
	"veeam_em_last_successful_refresh_timestamp_seconds",
	"veeam_em_exporter_build_info",
	"veeam_em_logons_total",
	"veeam_em_logon_rejections_total",
	"veeam_em_logon_backoff_seconds",
	"veeam_em_invalid_sessions_total",
	"veeam_em_collector_success",
	"veeam_em_collector_duration_seconds",
	"veeam_em_collector_initial_load_progress_ratio",
	"veeam_em_requests_total",
	"veeam_em_response_bytes_total",
	"veeam_em_retry_after_seconds",
	"veeam_em_replica_task_last_state",
	"veeam_em_replica_task_last_result",
	"veeam_em_replica_task_last_start_timestamp_seconds",
	"veeam_em_replica_task_last_end_timestamp_seconds",
	"veeam_em_replica_task_last_duration_seconds",
	"veeam_em_replica_task_last_total_size_bytes",
	"veeam_em_replica_task_last_completion_timestamp_seconds",
	"veeam_em_replica_task_sessions_total",
	"veeam_em_replica_task_duration_seconds",
	"veeam_em_replica_job_last_state",
	"veeam_em_replica_job_last_result",
	"veeam_em_replica_job_sessions_total",
})

// withBackupFamilies adds to names the backup twin of every replica family
// in it.
func withBackupFamilies(names []string) []string {
	for _, name := range names {
		if backup, ok := strings.CutPrefix(name, "veeam_em_replica_"); ok {
			names = append(names, "veeam_em_backup_"+backup)
		}
	}
	return names
}

// exporterProcess is the real binary, started against a simulator.
type exporterProcess struct {
	t      testing.TB
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds the exporter once per test run.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "veeam_em_exporter-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "veeam_em_exporter")
		// -buildvcs=auto stamps the revision in a Git checkout even where
		// the environment's GOFLAGS turns it off, as this test checks it.
		if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startExporter(tb testing.TB, bin string, args ...string) *exporterProcess {
	tb.Helper()
	return startExporterWithEnv(tb, bin, nil, args...)
}

// startExporterWithEnv starts bin with the test's environment plus env.
func startExporterWithEnv(tb testing.TB, bin string, env []string, args ...string) *exporterProcess {
	tb.Helper()
	p := &exporterProcess{t: tb, addr: freeAddr(tb), stderr: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"--web.listen-address=" + p.addr, "--log.level=debug"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if tb.Failed() {
			tb.Logf("exporter log:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + p.addr + "/-/healthy"); err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("exporter did not start:\n%s", p.stderr.String())
	return nil
}

func (p *exporterProcess) get(path string) (int, string) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func (p *exporterProcess) scrape() (string, map[string]*dto.MetricFamily) {
	p.t.Helper()
	code, body := p.get("/metrics")
	if code != http.StatusOK {
		p.t.Fatalf("/metrics answered %d:\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		p.t.Fatalf("parse scrape: %v", err)
	}
	return body, families
}

func (p *exporterProcess) stop(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("exporter exited with %v", err)
		}
		p.done <- nil
	case <-time.After(15 * time.Second):
		p.t.Fatal("exporter did not stop within 15s of the signal")
	}
}

func gaugeValue(families map[string]*dto.MetricFamily, name string) float64 {
	mf, ok := families[name]
	if !ok || len(mf.GetMetric()) == 0 {
		return -1
	}
	m := mf.GetMetric()[0]
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

func sumCounter(families map[string]*dto.MetricFamily, name string) float64 {
	var sum float64
	for _, m := range families[name].GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func labelValues(families map[string]*dto.MetricFamily, metric, label string) map[string]bool {
	values := map[string]bool{}
	for _, m := range families[metric].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				values[lp.GetValue()] = true
			}
		}
	}
	return values
}

// simulatedEM is a simulator over HTTPS and the files the exporter needs to
// reach it: its CA and the right password, in a temporary directory.
type simulatedEM struct {
	*emsim.Running
	dir, caFile, passwordFile string
}

// startSimulatedEM starts a TestTopology simulator on clock, closed when the
// test ends.
func startSimulatedEM(t *testing.T, seed int64, clock emsim.Clock) *simulatedEM {
	t.Helper()
	sim, err := emsim.Start(emsim.Config{
		Seed:     seed,
		Username: e2eUser,
		Password: e2ePassword,
		Clock:    clock,
		Topology: emsim.TestTopology(),
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	em := &simulatedEM{Running: sim, dir: t.TempDir()}
	em.caFile = filepath.Join(em.dir, "em-ca.pem")
	em.passwordFile = filepath.Join(em.dir, "password")
	if err := os.WriteFile(em.caFile, sim.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	em.writePassword(t, e2ePassword)
	return em
}

func (em *simulatedEM) writePassword(t *testing.T, password string) {
	t.Helper()
	if err := os.WriteFile(em.passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// flags point the exporter at em.
func (em *simulatedEM) flags() []string {
	return []string{
		"--veeam.url=" + em.URL,
		"--veeam.username=" + e2eUser,
		"--veeam.password-file=" + em.passwordFile,
		"--veeam.ca-file=" + em.caFile,
	}
}

// TestEndToEnd starts the real binary against the simulator over HTTPS with a
// custom CA and checks the contract a user sees: metrics, logon reuse,
// re-logon after expiry, failures served as veeam_em_up 0, and logoff at
// SIGTERM.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// The exporter bounds each query window by its own wall clock, so the
	// simulator starts two hours behind it: advancing the simulator by two
	// hours below then creates and completes sessions within the last two
	// hours of the exporter's clock, which the exporter has read past. To it
	// they are sessions and completions that reached EM late: the rescan of
	// the overlap, due at every refresh here, finds them.
	clock := emsim.NewManualClock(time.Now().UTC().Add(-2 * time.Hour))
	sim := startSimulatedEM(t, 7, clock)
	exp := startExporter(t, buildBinary(t), append(sim.flags(), "--veeam.page-size=7", "--sessions.overlap=3h", "--sessions.rescan-interval=1ms")...)

	body, families := exp.scrape()
	if got := gaugeValue(families, "veeam_em_up"); got != 1 {
		t.Fatalf("veeam_em_up = %v, want 1\n%s", got, body)
	}
	for _, name := range requiredFamilies {
		if _, ok := families[name]; !ok {
			t.Errorf("metric family %s missing from the scrape", name)
		}
	}
	if code, _ := exp.get("/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready = %d after a good refresh, want 200", code)
	}

	t.Run("hard names are label values verbatim", func(t *testing.T) {
		servers, jobs, vms := emsim.HardNames()
		check := func(label string, want []string) {
			got := labelValues(families, "veeam_em_replica_task_last_state", label)
			for _, name := range want {
				if !got[name] {
					t.Errorf("%s=%q missing; have %v", label, name, got)
				}
			}
		}
		check("backup_server", servers)
		check("job_name", jobs)
		check("vm", vms)
	})

	t.Run("concurrent scrapes reuse one logon", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { exp.scrape() })
		}
		wg.Wait()
		if got := sim.Logons(); got != 1 {
			t.Errorf("logons after 21 scrapes = %d, want 1", got)
		}
	})

	t.Run("expired session causes exactly one new logon", func(t *testing.T) {
		sim.ExpireSessions()
		_, families := exp.scrape()
		if got := gaugeValue(families, "veeam_em_up"); got != 1 {
			t.Errorf("veeam_em_up after re-logon = %v, want 1", got)
		}
		if got := sim.Logons(); got != 2 {
			t.Errorf("logons = %d, want 2", got)
		}
	})

	t.Run("counters rise as sessions complete", func(t *testing.T) {
		_, before := exp.scrape()
		clock.Advance(2 * time.Hour)
		_, after := exp.scrape()
		b, a := sumCounter(before, "veeam_em_replica_task_sessions_total"), sumCounter(after, "veeam_em_replica_task_sessions_total")
		if a <= b {
			t.Errorf("veeam_em_replica_task_sessions_total: %v then %v, want a rise", b, a)
		}
	})

	t.Run("EM failure is served as veeam_em_up 0 and recovers", func(t *testing.T) {
		sim.InjectFault(emsim.Fault{Path: "query", Status: http.StatusInternalServerError, Count: 1})
		body, families := exp.scrape()
		if got := gaugeValue(families, "veeam_em_up"); got != 0 {
			t.Errorf("veeam_em_up during a 500 = %v, want 0", got)
		}
		if _, ok := families["veeam_em_replica_task_last_state"]; !ok {
			t.Errorf("the last good state is not served during a failure:\n%s", body)
		}
		if !strings.Contains(exp.stderr.String(), "500") {
			t.Errorf("no log line names the HTTP 500")
		}
		_, families = exp.scrape()
		if got := gaugeValue(families, "veeam_em_up"); got != 1 {
			t.Errorf("veeam_em_up after recovery = %v, want 1", got)
		}
	})

	t.Run("SIGTERM logs off once", func(t *testing.T) {
		exp.stop(syscall.SIGTERM)
		if got := sim.Logoffs(); got != 1 {
			t.Errorf("logoffs after SIGTERM = %d, want 1", got)
		}
		if got := sim.ActiveSessions(); got != 0 {
			t.Errorf("sessions left open on EM = %d, want 0", got)
		}
	})

	if strings.Contains(exp.stderr.String(), e2ePassword) {
		t.Error("the password appears in the exporter's log")
	}
}

// TestDemo runs the binary as the README tells a newcomer to.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	exp := startExporter(t, buildBinary(t), "--demo")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if code, _ := exp.get("/-/ready"); code == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, families := exp.scrape()
	if got := gaugeValue(families, "veeam_em_up"); got != 1 {
		t.Fatalf("veeam_em_up = %v in demo mode, want 1\n%s", got, body)
	}
	for _, name := range requiredFamilies {
		if _, ok := families[name]; !ok {
			t.Errorf("metric family %s missing from the demo scrape", name)
		}
	}
	if code, landing := exp.get("/"); code != http.StatusOK || !strings.Contains(landing, "/metrics") {
		t.Errorf("landing page: %d %q", code, landing)
	}
	if !strings.Contains(exp.stderr.String(), "DEMO MODE") {
		t.Error("demo mode is not announced in the log")
	}
	exp.stop(syscall.SIGINT)
	if !strings.Contains(exp.stderr.String(), "Logged off") {
		t.Errorf("no logoff at shutdown:\n%s", exp.stderr.String())
	}
}

func TestHelpHasNoPasswordFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	out, _ := exec.Command(buildBinary(t), "--help").CombinedOutput()
	help := string(out)
	for _, want := range []string{"--veeam.url", "--veeam.password-file", "VEEAM_EXPORTER_VEEAM_URL", "--web.config.file", "VEEAM_EXPORTER_WEB_LISTEN_ADDRESS", ":9724"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if strings.Contains(help, "--veeam.password ") || strings.Contains(help, "--veeam.password=") {
		t.Error("there must be no password flag")
	}
}
