package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// shutTimeout is the --web.shutdown-timeout of the test with a hanging EM;
// shutMargin is what the exporter may take beyond it: cancelled scrapes get a
// second to answer, and the logoff is a local round trip.
const (
	shutTimeout = 2 * time.Second
	shutMargin  = 2 * time.Second
)

// shutSimulator serves a simulator over plain HTTP and reports each query
// request as it arrives, so a test knows a scrape is at EM before it sends
// the signal.
type shutSimulator struct {
	*emsim.Server
	url     string
	queries chan struct{}
}

func shutStartSimulator(t *testing.T) *shutSimulator {
	t.Helper()
	sim, err := emsim.New(emsim.Config{
		Seed:     3,
		Username: e2eUser,
		Password: e2ePassword,
		Clock:    emsim.NewManualClock(time.Now().UTC()),
		Topology: emsim.TestTopology(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &shutSimulator{Server: sim, queries: make(chan struct{}, 64)}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(strings.TrimSuffix(r.URL.Path, "/"), "/api/query") {
			select {
			case s.queries <- struct{}{}:
			default:
			}
		}
		sim.ServeHTTP(w, r)
	}))
	// Registered before the exporter's cleanup, so it runs after the
	// exporter is gone and no request of it still hangs here.
	t.Cleanup(server.Close)
	s.url = server.URL
	return s
}

// shutScrapeResult is what a scrape sent before the signal got back.
type shutScrapeResult struct {
	code int
	body string
	err  error
}

func shutScrapeInBackground(addr string) <-chan shutScrapeResult {
	result := make(chan shutScrapeResult, 1)
	go func() {
		// Far beyond the shutdown timeout: the exporter must end the scrape.
		client := &http.Client{Timeout: 30 * time.Second}
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			result <- shutScrapeResult{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		result <- shutScrapeResult{code: resp.StatusCode, body: string(body), err: err}
	}()
	return result
}

func shutStartExporter(t *testing.T, sim *shutSimulator, extraArgs ...string) *exporterProcess {
	t.Helper()
	passwordFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte(e2ePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startExporter(t, buildBinary(t), append([]string{
		"--veeam.url=" + sim.url,
		"--veeam.username=" + e2eUser,
		"--veeam.password-file=" + passwordFile,
		"--veeam.timeout=60s",
	}, extraArgs...)...)
}

// shutSignal sends SIGTERM and returns how long the exporter took to exit.
func shutSignal(t *testing.T, exp *exporterProcess, timeout time.Duration) time.Duration {
	t.Helper()
	sent := time.Now()
	if err := exp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exp.done:
		took := time.Since(sent)
		// Put the outcome back for startExporter's cleanup.
		exp.done <- err
		t.Logf("exporter exited %v after SIGTERM", took)
		if err != nil {
			t.Errorf("exporter exited with %v", err)
		}
		return took
	case <-time.After(timeout + 10*time.Second):
		t.Fatalf("exporter still running %v after SIGTERM", timeout+10*time.Second)
		return 0
	}
}

func shutWaitForQuery(t *testing.T, sim *shutSimulator) {
	t.Helper()
	select {
	case <-sim.queries:
	case <-time.After(10 * time.Second):
		t.Fatal("the scrape never reached EM")
	}
}

func shutAssertLoggedOff(t *testing.T, exp *exporterProcess, sim *shutSimulator) {
	t.Helper()
	if got := sim.Logoffs(); got != 1 {
		t.Errorf("logoffs = %d, want 1\n%s", got, exp.stderr.String())
	}
	if got := sim.ActiveSessions(); got != 0 {
		t.Errorf("sessions left open on EM = %d, want 0", got)
	}
}

// TestShutdownCancelsScrapeHangingOnEM sends SIGTERM while a scrape waits for
// an EM that never answers: the exporter must not wait for the refresh's own
// deadline, must end the scrape, and must still log off.
func TestShutdownCancelsScrapeHangingOnEM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	sim := shutStartSimulator(t)
	exp := shutStartExporter(t, sim, "--web.shutdown-timeout="+shutTimeout.String())
	if _, families := exp.scrape(); gaugeValue(families, "veeam_em_up") != 1 {
		t.Fatal("the first scrape did not log on and refresh")
	}
	for len(sim.queries) > 0 {
		<-sim.queries
	}

	sim.InjectFault(emsim.Fault{Path: "query", Hang: true, Count: -1})
	scrape := shutScrapeInBackground(exp.addr)
	shutWaitForQuery(t, sim)
	took := shutSignal(t, exp, shutTimeout)
	if took > shutTimeout+shutMargin {
		t.Errorf("exporter exited %v after SIGTERM, want within %v + %v", took, shutTimeout, shutMargin)
	}
	if took < shutTimeout-200*time.Millisecond {
		t.Errorf("exporter exited %v after SIGTERM: it did not give the scrape its %v", took, shutTimeout)
	}

	select {
	case got := <-scrape:
		t.Logf("the scrape in flight got: status %d, error %v", got.code, got.err)
		var netErr net.Error
		switch {
		case errors.As(got.err, &netErr) && netErr.Timeout():
			t.Errorf("the scrape in flight hung until its client gave up: %v", got.err)
		case got.err == nil && got.code != http.StatusOK:
			t.Errorf("the scrape in flight got %d, want 200 or a closed connection\n%s", got.code, got.body)
		case got.err == nil && !strings.Contains(got.body, "veeam_em_up"):
			t.Errorf("the scrape in flight got 200 without metrics:\n%s", got.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the scrape in flight had no answer and no closed connection after the exporter exited")
	}
	shutAssertLoggedOff(t, exp, sim)
	if !strings.Contains(exp.stderr.String(), "Logged off from Enterprise Manager") {
		t.Errorf("no logoff in the log:\n%s", exp.stderr.String())
	}
}

// TestShutdownLetsSlowScrapeFinish sends SIGTERM while a scrape waits for an
// EM that answers after a second, well within the default shutdown timeout:
// the scrape completes with fresh metrics, and the exporter exits as soon as
// it has, not at the end of the timeout.
func TestShutdownLetsSlowScrapeFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	sim := shutStartSimulator(t)
	exp := shutStartExporter(t, sim)
	// The first page of each of the two queries; the task query has more.
	sim.InjectFault(emsim.Fault{Path: "query", Page: 1, Delay: time.Second, Count: 2})

	// No scrape has succeeded before this one, so veeam_em_up 1 in its
	// answer proves its own refresh completed.
	scrape := shutScrapeInBackground(exp.addr)
	shutWaitForQuery(t, sim)
	const defaultTimeout = 10 * time.Second
	took := shutSignal(t, exp, defaultTimeout)
	if took > defaultTimeout/2 {
		t.Errorf("exporter exited %v after SIGTERM, want soon after the scrape's second at EM", took)
	}

	got := <-scrape
	if got.err != nil || got.code != http.StatusOK {
		t.Fatalf("the scrape in flight: %d %v, want 200\n%s", got.code, got.err, got.body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(got.body))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	if up := gaugeValue(families, "veeam_em_up"); up != 1 {
		t.Errorf("veeam_em_up = %v in the scrape in flight, want 1: its refresh was cut\n%s", up, got.body)
	}
	shutAssertLoggedOff(t, exp, sim)
}
