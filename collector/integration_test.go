package collector_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

const (
	simUser     = "restuser@corp.local"
	simPassword = "integration-secret"
	lookback    = 36 * time.Hour
	overlap     = time.Hour
)

// stack is the production path without the binary: the real client against
// the simulator over HTTPS, feeding the collector. Its network can be broken
// on purpose (see route).
type stack struct {
	sim       *emsim.Running
	clock     *emsim.ManualClock
	client    *veeam.Client
	transport *http.Transport
	route     *atomic.Int32 // a route* constant: where the next connection goes
	collector *collector.Collector
	registry  *prometheus.Registry
	logs      *lockedBuffer
	logger    log.Logger
	password  *atomic.Value // what the exporter sends at its next logon

	closeForeign func()
}

// Where the stack's connections go.
const (
	routeSimulator    int32 = iota
	routeUnresolvable       // a host name that does not resolve
	routeForeignCA          // a TLS server whose certificate EM's CA did not sign
)

func newStack(t *testing.T, pageSize int, maxBody int64, adjust ...func(*collector.Options)) *stack {
	t.Helper()
	start := time.Date(2025, 6, 17, 20, 30, 0, 0, time.UTC)
	clock := emsim.NewManualClock(start)
	// EM's session outlives the hours a test moves its clock by, so that
	// the logons a test counts are those its faults cause.
	sim, err := emsim.Start(emsim.Config{Seed: 3, Username: simUser, Password: simPassword, Clock: clock, Topology: emsim.TestTopology(), IdleTimeout: 24 * time.Hour}, true)
	if err != nil {
		t.Fatal(err)
	}
	// The foreign server's complaints about the client refusing its
	// certificate are the point of the test, not news.
	foreign := httptest.NewUnstartedServer(http.NotFoundHandler())
	foreign.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	foreign.StartTLS()
	var closeForeign sync.Once
	route := &atomic.Int32{}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: sim.CertPool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			switch route.Load() {
			case routeUnresolvable:
				addr = "em.invalid:443"
			case routeForeignCA:
				addr = foreign.Listener.Addr().String()
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	logs := &lockedBuffer{}
	logger := log.NewLogfmtLogger(logs)
	password := &atomic.Value{}
	password.Store(simPassword)
	client, err := veeam.New(veeam.Config{
		URL:          sim.URL,
		Username:     simUser,
		Password:     func() (string, error) { return password.Load().(string), nil },
		PageSize:     pageSize,
		MaxBodyBytes: maxBody,
		Transport:    transport,
		Logger:       logger,
		Now:          clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := collector.Options{Lookback: lookback, Overlap: overlap, Now: clock.Now, Logger: logger}
	for _, a := range adjust {
		a(&opts)
	}
	c := collector.New(client, opts)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	s := &stack{sim: sim, clock: clock, client: client, transport: transport, route: route, collector: c, registry: reg, logs: logs, logger: logger, password: password}
	s.closeForeign = func() { closeForeign.Do(foreign.Close) }
	t.Cleanup(s.close)
	return s
}

// lockedBuffer is a log the collector's background refreshes write to while
// the test reads and resets it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// close ends everything the stack started; it may be called more than once.
func (s *stack) close() {
	s.closeForeign()
	s.sim.Close()
	s.client.Close()
	s.transport.CloseIdleConnections()
}

// reroute sends the next connections to r; open ones are dropped so that
// they are not reused.
func (s *stack) reroute(r int32) {
	s.route.Store(r)
	s.transport.CloseIdleConnections()
}

func (s *stack) scrape(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	h := collector.NewHandler(s.collector, s.registry, collector.HandlerOptions{Timeout: timeout, TimeoutOffset: 0, Logger: s.logger})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Code, rec.Body.String()
}

func up(body string) string {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "veeam_em_up ") {
			return strings.TrimPrefix(line, "veeam_em_up ")
		}
	}
	return "absent"
}

// entitiesReturned sums what the simulator sent for one query type since the
// last ResetRequests, count probes (pageSize=1) left out.
func entitiesReturned(sim *emsim.Running, queryType string) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Type == queryType && !strings.Contains(r.RawQuery, "&pageSize=1&") {
			n += r.Entities
		}
	}
	return n
}

// TestSteadyRefreshAsksOnlyForWhatChanged checks the cost of a steady
// refresh: after the first one, EM returns only the sessions created since
// the last refresh, those seen running that ended since (less the slack),
// and those still in a transitional state; and the counters still equal the
// simulator's ground truth.
func TestSteadyRefreshAsksOnlyForWhatChanged(t *testing.T) {
	s := newStack(t, 50, 0)
	ctx := context.Background()
	t0 := s.clock.Now()
	if err := s.collector.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first := entitiesReturned(s.sim, "ReplicaTaskSession")
	inWindow := 0
	floor := t0.Add(-lookback).Truncate(time.Second)
	oldestRunning := time.Time{}
	for _, ts := range s.sim.TaskSessions(t0) {
		if ts.Creation.Before(floor) {
			continue
		}
		inWindow++
		if ts.State != "Completed" && (oldestRunning.IsZero() || ts.Creation.Before(oldestRunning)) {
			oldestRunning = ts.Creation
		}
	}
	if first != inWindow {
		t.Fatalf("first refresh fetched %d task sessions, want the %d of the lookback", first, inWindow)
	}

	previous := t0
	for step := 1; step <= 4; step++ {
		s.sim.ResetRequests()
		s.clock.Advance(15 * time.Minute)
		now := s.clock.Now()
		until := now.Truncate(time.Second)
		changedSince := previous.Add(-10 * time.Second).Truncate(time.Second)
		want := 0
		nextOldest := time.Time{}
		for _, ts := range s.sim.TaskSessions(now) {
			if ts.Creation.Before(floor) || !ts.Creation.Before(until) {
				continue
			}
			followed := !oldestRunning.IsZero() && !ts.Creation.Before(oldestRunning.Truncate(time.Second))
			switch {
			case !ts.Creation.Before(previous.Truncate(time.Second)):
				want++ // created since the last refresh
			case followed && !ts.End.IsZero() && !ts.End.Before(changedSince) && ts.End.Before(until):
				want++ // ended since
			case followed && ts.State == "Pending":
				want++ // still in a transitional state
			}
			if ts.State != "Completed" && (nextOldest.IsZero() || ts.Creation.Before(nextOldest)) {
				nextOldest = ts.Creation
			}
		}
		if err := s.collector.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		got := entitiesReturned(s.sim, "ReplicaTaskSession")
		if got != want {
			t.Errorf("refresh %d fetched %d task sessions, want the %d that changed", step, got, want)
		}
		if got*10 > first {
			t.Errorf("refresh %d fetched %d task sessions, more than a tenth of the first refresh's %d", step, got, first)
		}
		previous, oldestRunning = now, nextOldest
	}

	// Every completed session of the window is counted exactly once.
	now := s.clock.Now()
	wantCompleted := 0
	for _, ts := range s.sim.TaskSessions(now) {
		if ts.State == "Completed" && !ts.Creation.Before(t0.Add(-lookback).Truncate(time.Second)) {
			wantCompleted++
		}
	}
	var got float64
	mfs, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "veeam_em_replica_task_sessions_total" {
			for _, m := range mf.GetMetric() {
				got += m.GetCounter().GetValue()
			}
		}
	}
	if int(got) != wantCompleted {
		t.Errorf("sum of veeam_em_replica_task_sessions_total = %v, want the simulator's %d completed sessions", got, wantCompleted)
	}
	if problems, err := testutil.GatherAndLint(s.registry); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
