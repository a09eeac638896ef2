package collector_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
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
// the simulator over HTTP, feeding the collector.
type stack struct {
	sim       *emsim.Running
	clock     *emsim.ManualClock
	client    *veeam.Client
	collector *collector.Collector
	registry  *prometheus.Registry
	logs      *bytes.Buffer
	password  *atomic.Value // what the exporter sends at its next logon
}

func newStack(t *testing.T, pageSize int, maxBody int64) *stack {
	t.Helper()
	start := time.Date(2025, 6, 17, 20, 30, 0, 0, time.UTC)
	clock := emsim.NewManualClock(start)
	sim, err := emsim.Start(emsim.Config{Seed: 3, Username: simUser, Password: simPassword, Clock: clock, Topology: emsim.TestTopology()}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	logs := &bytes.Buffer{}
	logger := log.NewLogfmtLogger(log.NewSyncWriter(logs))
	password := &atomic.Value{}
	password.Store(simPassword)
	client, err := veeam.New(veeam.Config{
		URL:          sim.URL,
		Username:     simUser,
		Password:     func() (string, error) { return password.Load().(string), nil },
		PageSize:     pageSize,
		MaxBodyBytes: maxBody,
		Logger:       logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := collector.New(client, collector.Options{Lookback: lookback, Overlap: overlap, Now: clock.Now, Logger: logger})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return &stack{sim: sim, clock: clock, client: client, collector: c, registry: reg, logs: logs, password: password}
}

func (s *stack) scrape(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	h := collector.NewHandler(s.collector, s.registry, collector.HandlerOptions{Timeout: timeout, TimeoutOffset: 0})
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
// last ResetRequests.
func entitiesReturned(sim *emsim.Running, queryType string) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Type == queryType {
			n += r.Entities
		}
	}
	return n
}

// TestIncrementalRefreshAsksOnlyForOverlapAndRunning checks the cost of a
// steady refresh: after the first one, EM is asked only for sessions created
// within the overlap or since the oldest session still running, and the
// counters still equal the simulator's ground truth.
func TestIncrementalRefreshAsksOnlyForOverlapAndRunning(t *testing.T) {
	s := newStack(t, 50, 0)
	ctx := context.Background()
	t0 := s.clock.Now()
	if err := s.collector.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first := entitiesReturned(s.sim, "ReplicaTaskSession")
	inWindow := 0
	oldestRunning := t0
	for _, ts := range s.sim.TaskSessions(t0) {
		if ts.Creation.Before(t0.Add(-lookback).Truncate(time.Second)) {
			continue
		}
		inWindow++
		if ts.State != "Completed" && ts.Creation.Before(oldestRunning) {
			oldestRunning = ts.Creation
		}
	}
	if first != inWindow {
		t.Fatalf("first refresh fetched %d task sessions, want the %d of the lookback", first, inWindow)
	}

	for step := 1; step <= 4; step++ {
		s.sim.ResetRequests()
		s.clock.Advance(15 * time.Minute)
		now := s.clock.Now()
		since := now.Add(-overlap)
		if oldestRunning.Before(since) {
			since = oldestRunning
		}
		since = since.Truncate(time.Second)
		want := 0
		oldestRunning = now
		for _, ts := range s.sim.TaskSessions(now) {
			if !ts.Creation.Before(since) {
				want++
			}
			if ts.State != "Completed" && ts.Creation.Before(oldestRunning) {
				oldestRunning = ts.Creation
			}
		}
		if err := s.collector.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		got := entitiesReturned(s.sim, "ReplicaTaskSession")
		if got != want {
			t.Errorf("refresh %d fetched %d task sessions, want %d (created since %s)", step, got, want, since)
		}
		if got*10 > first {
			t.Errorf("refresh %d fetched %d task sessions, more than a tenth of the first refresh's %d", step, got, first)
		}
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

// TestFailureModes checks the contract for every way a refresh can fail: the
// scrape is answered with 200, veeam_em_up 0, the last good state still
// served, a log line that names the cause, and recovery at the next good
// refresh.
func TestFailureModes(t *testing.T) {
	cases := []struct {
		name    string
		fault   emsim.Fault
		wrongPW bool   // the password is wrong for the re-logon
		expire  bool   // expire EM sessions first, forcing a logon
		logHas  string // what the log line must name
		pageSz  int    // page size, when the case needs several pages on an incremental refresh
	}{
		{name: "query 500 with EM message", fault: emsim.Fault{Path: "query", Status: 500}, logHas: "500"},
		{name: "query 503", fault: emsim.Fault{Path: "query", Status: 503}, logHas: "503"},
		{name: "query 403", fault: emsim.Fault{Path: "query", Status: 403}, logHas: "permission denied"},
		{name: "logon 401 wrong password", expire: true, wrongPW: true, logHas: "authentication failed"},
		{name: "logon 403", expire: true, fault: emsim.Fault{Path: "logon", Status: 403}, logHas: "permission denied"},
		{name: "logon 500", expire: true, fault: emsim.Fault{Path: "logon", Status: 500}, logHas: "500"},
		{name: "EM hangs", fault: emsim.Fault{Path: "query", Hang: true}, logHas: "timed out"},
		{name: "EM slower than the deadline", fault: emsim.Fault{Path: "query", Delay: 2 * time.Second}, logHas: "timed out"},
		{name: "truncated XML", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", TruncateAt: 700}, logHas: "ReplicaTaskSession"},
		{name: "HTML page with 200", fault: emsim.Fault{Path: "query", Body: "<html><body>Proxy login</body></html>", ContentType: "text/html"}, logHas: "decode"},
		{name: "wrong XML root", fault: emsim.Fault{Path: "query", Body: `<EntityRef xmlns="http://www.veeam.com/ent/v1.0"/>`, ContentType: "application/xml"}, logHas: "QueryResult"},
		{name: "body larger than the cap", fault: emsim.Fault{Path: "query", Body: `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities>` + strings.Repeat("<!-- padding -->", 1<<16), ContentType: "application/xml"}, logHas: "cap"},
		{name: "session expired on page 2", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 2, ExpireSession: true, Count: 1}, pageSz: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pageSize := 50
			if tc.pageSz != 0 {
				pageSize = tc.pageSz
			}
			s := newStack(t, pageSize, 512<<10)
			code, good := s.scrape(t, 5*time.Second)
			if code != 200 || up(good) != "1" {
				t.Fatalf("first scrape: %d, veeam_em_up %s\n%s", code, up(good), s.logs)
			}
			logonsBefore := s.sim.Logons()
			if tc.expire {
				s.sim.ExpireSessions()
			}
			if tc.wrongPW {
				s.password.Store("a-wrong-password")
			}
			if tc.fault != (emsim.Fault{}) {
				if tc.fault.Count == 0 {
					tc.fault.Count = -1
				}
				s.sim.InjectFault(tc.fault)
			}
			s.logs.Reset()
			began := time.Now()
			code, body := s.scrape(t, time.Second)
			if elapsed := time.Since(began); elapsed > 3*time.Second {
				t.Errorf("scrape took %v, want it bounded by the deadline", elapsed)
			}
			if code != 200 {
				t.Fatalf("scrape during the fault answered %d, want 200", code)
			}
			if tc.name == "session expired on page 2" {
				// A mid-paging expiry is healed by the single re-logon.
				if up(body) != "1" || s.sim.Logons() != logonsBefore+1 {
					t.Errorf("mid-paging expiry: veeam_em_up %s, logons %d→%d; want 1 and one new logon\n%s", up(body), logonsBefore, s.sim.Logons(), s.logs)
				}
				return
			}
			if up(body) != "0" {
				t.Errorf("veeam_em_up = %s during the fault, want 0\n%s", up(body), s.logs)
			}
			if !strings.Contains(body, "veeam_em_replica_task_last_state{") {
				t.Error("the last good state is not served during the fault")
			}
			lines := strings.Count(strings.TrimSpace(s.logs.String()), "\n") + 1
			if !strings.Contains(s.logs.String(), tc.logHas) || !strings.Contains(s.logs.String(), "level=error") {
				t.Errorf("log does not name the cause %q:\n%s", tc.logHas, s.logs)
			} else if lines > 3 {
				t.Errorf("%d log lines for one failed refresh, want about one:\n%s", lines, s.logs)
			}
			if strings.Contains(s.logs.String(), "a-wrong-password") || strings.Contains(s.logs.String(), simPassword) || strings.Contains(body, simPassword) {
				t.Error("the password leaked into the log or the metrics")
			}
			if got := s.sim.Logons() - logonsBefore; got > 1 {
				t.Errorf("%d logons during one failed refresh, want at most 1", got)
			}

			s.sim.ClearFaults()
			if tc.wrongPW {
				s.password.Store(simPassword)
			}
			code, body = s.scrape(t, 5*time.Second)
			if code != 200 || up(body) != "1" {
				t.Errorf("after the fault: %d, veeam_em_up %s, want 200 and 1\n%s", code, up(body), s.logs)
			}
		})
	}
}
