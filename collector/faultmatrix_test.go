package collector_test

import (
	"cmp"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// faultOutcome is what a scrape during the fault must show.
type faultOutcome int

const (
	// refreshFails: veeam_em_up 0, the previous state served unchanged, an
	// error line naming the cause.
	refreshFails faultOutcome = iota
	// refreshHeals: the client works around the fault (one re-logon, a
	// duplicate dropped, an anomalous page tolerated): veeam_em_up 1.
	refreshHeals
	// refreshOutlivesScrape: EM does not answer in time; the scrape is
	// answered at its deadline with veeam_em_up 0, the previous state
	// served unchanged and a warning that the refresh goes on; the refresh
	// then fails at its own timeout, with one error line naming the cause.
	refreshOutlivesScrape
)

// faultRefreshTimeout bounds the refreshes of the fault matrix, so that a
// refresh stuck on a hanging EM fails within the test.
const faultRefreshTimeout = 3 * time.Second

// faultCase is one row of the fault matrix. The fault is injected (Count
// -1, until cleared, unless the row sets Count), setup breaks what a fault
// cannot (password, network), heal undoes it.
type faultCase struct {
	name    string
	fault   emsim.Fault
	setup   func(*stack)
	heal    func(*stack)
	outcome faultOutcome
	logHas  string // for refreshFails: what the error line must name
	// newLogons is the exact number of successful logons the faulty scrape
	// makes; rejected is the number of rejected logon attempts.
	newLogons, rejected int
	// invalid is how many task sessions the faulty refresh must count as
	// invalid.
	invalid int
	maxBody int64
	// quiet: EM asked for a pause with Retry-After; the scrapes after the
	// faulty one send it nothing, and serve the state meanwhile.
	quiet time.Duration
}

func expireSessions(s *stack) { s.sim.ExpireSessions() }

// TestFaultMatrix holds every fault of issue 5 to one contract: the scrape
// during the fault answers 200 within its deadline; a failed refresh shows
// veeam_em_up 0, serves the previous state unchanged and logs one error line
// naming the cause; logons stay bounded (and a rejected password is not
// retried at every scrape); once the fault is gone the next refresh shows
// veeam_em_up 1 and counters equal to the simulator's own totals; and no
// goroutine is left behind.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix starts a simulator per case")
	}
	const bodyCap = 512 << 10
	cases := []faultCase{
		{name: "query 500", fault: emsim.Fault{Path: "query", Status: 500, Message: "Database is not available"}, logHas: "Database is not available"},
		{name: "query 503", fault: emsim.Fault{Path: "query", Status: 503}, logHas: "503"},
		{name: "query 403", fault: emsim.Fault{Path: "query", Status: 403}, logHas: "permission denied"},
		{name: "session expires on page 1", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 1, ExpireSession: true, Count: 1}, outcome: refreshHeals, newLogons: 1},
		{name: "session expires on a middle page", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 2, ExpireSession: true, Count: 1}, outcome: refreshHeals, newLogons: 1},
		{name: "logon 401 wrong password", setup: func(s *stack) {
			s.sim.ExpireSessions()
			s.password.Store("a-wrong-password")
		}, heal: func(s *stack) { s.password.Store(simPassword) }, logHas: "authentication failed", rejected: 1},
		{name: "logon 403", setup: expireSessions, fault: emsim.Fault{Path: "logon", Status: 403}, logHas: "permission denied", rejected: 1},
		{name: "logon 500", setup: expireSessions, fault: emsim.Fault{Path: "logon", Status: 500}, logHas: "500"},
		{name: "query 503 with Retry-After", fault: emsim.Fault{Path: "query", Status: 503, RetryAfter: "120"}, logHas: "503", quiet: 120 * time.Second},
		{name: "EM hangs", fault: emsim.Fault{Path: "query", Hang: true}, outcome: refreshOutlivesScrape, logHas: "timed out"},
		{name: "EM slower than the deadline", fault: emsim.Fault{Path: "query", Delay: 5 * time.Second}, outcome: refreshOutlivesScrape, logHas: "timed out"},
		{name: "body cut in the middle of an element", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", TruncateAt: 700}, logHas: "ReplicaTaskSession"},
		{name: "proxy HTML page with 200", fault: emsim.Fault{Path: "query", Body: "<html><body>Proxy login</body></html>", ContentType: "text/html"}, logHas: "decode"},
		{name: "well-formed XML with the wrong root", fault: emsim.Fault{Path: "query", Body: `<EntityRef xmlns="http://www.veeam.com/ent/v1.0"/>`, ContentType: "application/xml"}, logHas: "QueryResult"},
		{name: "body larger than the cap", maxBody: bodyCap, fault: emsim.Fault{Path: "query", Body: `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities>` + strings.Repeat("<!-- padding -->", bodyCap/8), ContentType: "application/xml"}, logHas: "cap"},
		{name: "connection reset", fault: emsim.Fault{Path: "query", Reset: true}, logHas: "reset"},
		{name: "DNS name does not resolve", setup: func(s *stack) { s.reroute(routeUnresolvable) }, heal: func(s *stack) { s.reroute(routeSimulator) }, logHas: "does not resolve"},
		{name: "TLS certificate from an unknown CA", setup: func(s *stack) { s.reroute(routeForeignCA) }, heal: func(s *stack) { s.reroute(routeSimulator) }, logHas: "--veeam.ca-file"},
		{name: "PagesCount grows between pages", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 2, PagesCountDelta: 2, Count: 1}, outcome: refreshHeals},
		{name: "PagesCount shrinks between pages", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 2, PagesCountDelta: -1, Count: 1}, outcome: refreshHeals},
		{name: "a page beyond the end has no entities", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 1, PagesCountDelta: 1, Count: 1}, outcome: refreshHeals},
		{name: "a page within the count has no entities", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 2, EmptyPage: true, Count: 1}, outcome: refreshHeals},
		{name: "duplicate sessions across pages", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 2, DuplicateFromPrevious: 2, Count: 1}, outcome: refreshHeals},
		{name: "missing CreationTimeUTC", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 1, Count: 1, Corrupt: emsim.Corruption{MissingCreationTime: 1}}, outcome: refreshHeals, invalid: 1},
		{name: "unparseable CreationTimeUTC", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 1, Count: 1, Corrupt: emsim.Corruption{BadCreationTime: 1}}, outcome: refreshHeals, invalid: 1},
		{name: "unknown State and Result", fault: emsim.Fault{Path: "query", Type: "ReplicaTaskSession", Page: 1, Count: 1, Corrupt: emsim.Corruption{UnknownState: 1, UnknownResult: 1}}, outcome: refreshHeals, invalid: 2},
	}
	// A fault aimed at replica task sessions is aimed at backup task
	// sessions too: both kinds go through the same client and decoder, and
	// one kind's failure must leave the other's refresh alone.
	for _, tc := range cases {
		if tc.fault.Type == "ReplicaTaskSession" {
			backup := tc
			backup.name, backup.fault.Type = "backup task sessions: "+tc.name, "BackupTaskSession"
			backup.logHas = strings.ReplaceAll(tc.logHas, "ReplicaTaskSession", "BackupTaskSession")
			cases = append(cases, backup)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			runFaultCase(t, tc)
			goleak.VerifyNone(t, before)
		})
	}
}

// faultKinds are the series prefixes and the collectors a fault of type
// queryType breaks, and those it must leave alone.
func faultKinds(queryType string) (hit, spared []string) {
	switch {
	case strings.HasPrefix(queryType, "Replica"):
		return []string{"replica"}, []string{"backup"}
	case strings.HasPrefix(queryType, "Backup"):
		return []string{"backup"}, []string{"replica"}
	default:
		return []string{"replica", "backup"}, nil
	}
}

// scrapeUntilUp scrapes until veeam_em_up is 1, for at most a minute: on a
// machine busy with other tests a load of five-session pages can outlast the
// fault matrix's refresh timeout, and goes on at the next refresh.
func scrapeUntilUp(t *testing.T, s *stack) (int, string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := s.scrape(t, 10*time.Second)
		if code != 200 || up(body) == "1" || time.Now().After(deadline) {
			return code, body
		}
	}
}

func runFaultCase(t *testing.T, tc faultCase) {
	// A small page makes the incremental refresh span several pages, so
	// that "page 2" and "a middle page" exist.
	// The session collectors alone: the other collectors' faults are
	// TestInventoryFaults', and their pages would only slow every case.
	s := newStack(t, 5, tc.maxBody, func(o *collector.Options) {
		o.RefreshTimeout = faultRefreshTimeout
		o.Kinds = []collector.Kind{collector.Replica, collector.Backup}
	})
	defer s.close()
	t0 := s.clock.Now()
	if code, body := scrapeUntilUp(t, s); code != 200 || up(body) != "1" {
		t.Fatalf("first scrape: %d, veeam_em_up %s\n%s", code, up(body), s.logs)
	}
	// The faulty refresh is an incremental one, with new sessions to read.
	s.clock.Advance(15 * time.Minute)
	code, good := scrapeUntilUp(t, s)
	if code != 200 || up(good) != "1" {
		t.Fatalf("second scrape: %d, veeam_em_up %s\n%s", code, up(good), s.logs)
	}
	// The faulty refresh reads three hours of sessions, over several pages.
	s.clock.Advance(3 * time.Hour)
	logons, rejected := s.sim.Logons(), rejectedLogons(s.sim)
	taskType := cmp.Or(tc.fault.Type, "ReplicaTaskSession")
	hit, spared := faultKinds(tc.fault.Type)
	invalidBefore := counterValue(t, s, "veeam_em_invalid_sessions_total", map[string]string{"type": taskType})
	if tc.setup != nil {
		tc.setup(s)
	}
	if tc.fault != (emsim.Fault{}) {
		if tc.fault.Count == 0 {
			tc.fault.Count = -1
		}
		s.sim.InjectFault(tc.fault)
	}
	s.logs.Reset()

	const deadline = time.Second
	began := time.Now()
	code, body := s.scrape(t, deadline)
	if elapsed := time.Since(began); elapsed > deadline+time.Second {
		t.Errorf("the scrape took %v, want it answered within its %v deadline", elapsed.Round(time.Millisecond), deadline)
	}
	if code != 200 {
		t.Fatalf("the scrape during the fault answered %d, want 200", code)
	}
	logs := s.logs.String()
	if strings.Contains(logs+body, simPassword) || strings.Contains(logs+body, "a-wrong-password") {
		t.Error("a password leaked into the log or the metrics")
	}
	if got := s.sim.Logons() - logons; got != tc.newLogons {
		t.Errorf("%d successful logons during the fault, want %d\n%s", got, tc.newLogons, logs)
	}
	if got := rejectedLogons(s.sim) - rejected; got != tc.rejected {
		t.Errorf("%d rejected logons during the fault, want %d\n%s", got, tc.rejected, logs)
	}
	if tc.outcome == refreshOutlivesScrape {
		if up(body) != "0" {
			t.Errorf("veeam_em_up = %s while the refresh goes on, want 0\n%s", up(body), logs)
		}
		for _, kind := range hit {
			if got, want := seriesLines(body, kind), seriesLines(good, kind); got != want {
				t.Errorf("the previous %s state is not served unchanged while the refresh goes on:\n%s", kind, lineDiff(want, got))
			}
		}
		if !strings.Contains(logs, "level=warn") || !strings.Contains(logs, "the refresh did not end within the scrape timeout") || strings.Contains(logs, "level=error") {
			t.Errorf("want one warning that the refresh goes on, and no error yet:\n%s", logs)
		}
		// The next scrape waits for that refresh, which ends at its own
		// timeout.
		code, body = s.scrape(t, 2*faultRefreshTimeout)
		if code != 200 {
			t.Fatalf("the scrape after the faulty one answered %d, want 200", code)
		}
		logs = s.logs.String()
	}
	switch tc.outcome {
	case refreshFails, refreshOutlivesScrape:
		if up(body) != "0" {
			t.Errorf("veeam_em_up = %s during the fault, want 0\n%s", up(body), logs)
		}
		for _, kind := range hit {
			if got, want := seriesLines(body, kind), seriesLines(good, kind); got != want {
				t.Errorf("the previous %s state is not served unchanged during the fault:\n%s", kind, lineDiff(want, got))
			}
			if v := counterValue(t, s, "veeam_em_collector_success", map[string]string{"collector": kind}); v != 0 {
				t.Errorf("veeam_em_collector_success{collector=%q} = %v during the fault, want 0", kind, v)
			}
		}
		for _, kind := range spared {
			if v := counterValue(t, s, "veeam_em_collector_success", map[string]string{"collector": kind}); v != 1 {
				t.Errorf("veeam_em_collector_success{collector=%q} = %v: a fault of the other collector hid it", kind, v)
			}
		}
		errorLines := 0
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			if strings.Contains(line, "level=error") {
				errorLines++
				if !strings.Contains(line, tc.logHas) {
					t.Errorf("the error line does not name the cause %q:\n%s", tc.logHas, line)
				}
			}
		}
		if errorLines != 1 {
			t.Errorf("%d error lines for one failed refresh, want 1:\n%s", errorLines, logs)
		}
	case refreshHeals:
		if up(body) != "1" && strings.Contains(logs, "the refresh did not end within the scrape timeout") {
			// A machine busy with other tests can take more than the
			// scrape's second for three hours of five-session pages: the
			// healing is then seen by the next scrape.
			if code, body = s.scrape(t, 2*faultRefreshTimeout); code != 200 {
				t.Fatalf("the scrape after the faulty one answered %d, want 200", code)
			}
			logs = s.logs.String()
		}
		if up(body) != "1" {
			t.Errorf("veeam_em_up = %s, want 1: the client should work around this\n%s", up(body), logs)
		}
		invalid := counterValue(t, s, "veeam_em_invalid_sessions_total", map[string]string{"type": taskType}) - invalidBefore
		if int(invalid) != tc.invalid {
			t.Errorf("veeam_em_invalid_sessions_total rose by %v, want %d", invalid, tc.invalid)
		}
		if tc.invalid != len(s.sim.CorruptedUIDs()) {
			t.Errorf("the simulator corrupted %d sessions, the case expects %d", len(s.sim.CorruptedUIDs()), tc.invalid)
		}
	}
	if tc.quiet > 0 {
		// EM asked for a pause: nothing reaches it, the state is served.
		s.sim.ResetRequests()
		for range 3 {
			s.clock.Advance(tc.quiet / 4)
			code, body := s.scrape(t, deadline)
			if code != 200 || up(body) != "0" {
				t.Errorf("scrape during the Retry-After pause: %d, veeam_em_up %s", code, up(body))
			}
			for _, kind := range hit {
				if got, want := seriesLines(body, kind), seriesLines(good, kind); got != want {
					t.Errorf("the previous %s state is not served during the pause:\n%s", kind, lineDiff(want, got))
				}
			}
			if !strings.Contains(body, "\nveeam_em_retry_after_seconds ") || strings.Contains(body, "\nveeam_em_retry_after_seconds 0\n") {
				t.Errorf("veeam_em_retry_after_seconds is not positive during the pause")
			}
		}
		if reqs := s.sim.Requests(); len(reqs) != 0 {
			t.Errorf("%d requests reached EM before its Retry-After expired, want none: first %s %s", len(reqs), reqs[0].Method, reqs[0].RawQuery)
		}
	}
	if tc.rejected > 0 {
		// No logon storm: the next scrapes within the back-off do not log on.
		s.logs.Reset()
		for range 3 {
			s.clock.Advance(time.Second)
			if code, body := s.scrape(t, deadline); code != 200 || up(body) != "0" {
				t.Errorf("scrape during the logon back-off: %d, veeam_em_up %s", code, up(body))
			}
		}
		if got := rejectedLogons(s.sim) - rejected; got != tc.rejected {
			t.Errorf("%d rejected logons after 3 more scrapes within the back-off, want still %d: a logon storm\n%s", got, tc.rejected, s.logs)
		}
		if !strings.Contains(s.logs.String(), "logon not attempted") {
			t.Errorf("the scrapes during the back-off do not say why EM was not asked:\n%s", s.logs)
		}
		if v := gaugeValue(t, s, "veeam_em_logon_backoff_seconds"); v <= 0 {
			t.Errorf("veeam_em_logon_backoff_seconds = %v during the back-off, want > 0", v)
		}
	}

	// The fault ends: the next refresh is good and the counters equal what
	// the simulator knows happened.
	s.sim.ClearFaults()
	if tc.heal != nil {
		tc.heal(s)
	}
	switch {
	case tc.rejected > 0 && tc.heal == nil:
		// Nothing the exporter can see changed (an EM role was granted):
		// the back-off has to run out.
		s.clock.Advance(10 * time.Minute)
	case tc.rejected > 0:
		// A new password ends the back-off at once: no time passes.
	default:
		s.clock.Advance(time.Minute)
	}
	s.logs.Reset()
	if code, body := s.scrape(t, 10*time.Second); code != 200 || up(body) != "1" {
		t.Fatalf("after the fault: %d, veeam_em_up %s, want 200 and 1\n%s", code, up(body), s.logs)
	}
	if tc.rejected > 0 {
		if v := gaugeValue(t, s, "veeam_em_logon_backoff_seconds"); v != 0 {
			t.Errorf("veeam_em_logon_backoff_seconds = %v after a good logon, want 0", v)
		}
	}
	checkCountersMatchSimulator(t, s, t0)
}

// checkCountersMatchSimulator compares veeam_em_replica_task_sessions_total
// and veeam_em_backup_task_sessions_total series by series with the
// completed sessions the simulator created since the first refresh's
// lookback.
func checkCountersMatchSimulator(t *testing.T, s *stack, t0 time.Time) {
	t.Helper()
	now := s.clock.Now()
	checkCounterMatches(t, s, t0, "veeam_em_replica_task_sessions_total", s.sim.TaskSessions(now))
	checkCounterMatches(t, s, t0, "veeam_em_backup_task_sessions_total", s.sim.BackupTaskSessions(now))
}

func checkCounterMatches(t *testing.T, s *stack, t0 time.Time, family string, truth []emsim.TaskSession) {
	t.Helper()
	want := map[string]float64{}
	from := t0.Add(-lookback).Truncate(time.Second)
	for _, ts := range truth {
		if ts.State == "Completed" && !ts.Creation.Before(from) {
			want[seriesKey(ts.BackupServer, ts.JobName, ts.VM, ts.Result)]++
		}
	}
	if len(want) == 0 {
		t.Fatalf("the simulator has no completed session for %s: the check would prove nothing", family)
	}
	got := map[string]float64{}
	mfs, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if v := m.GetCounter().GetValue(); v != 0 {
				got[seriesKey(labels["backup_server"], labels["job_name"], labels["vm"], labels["result"])] = v
			}
		}
	}
	var diffs []string
	for k, w := range want {
		if got[k] != w {
			diffs = append(diffs, fmt.Sprintf("%s: exporter %v, simulator %v", k, got[k], w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: exporter %v, simulator 0", k, g))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s differs from the simulator's completed sessions in %d series:\n%s", family, len(diffs), strings.Join(diffs, "\n"))
	}
}

// rejectedLogons counts the logons EM answered 401 or 403, whether the
// password was wrong or a fault said so.
func rejectedLogons(sim *emsim.Running) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/api/sessionMngr") && (r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden) {
			n++
		}
	}
	return n
}

func seriesKey(server, job, vm, result string) string {
	return fmt.Sprintf("%s/%s/%s/%s", server, job, vm, result)
}

// seriesLines is the part of an exposition that reflects EM's sessions of
// one kind.
func seriesLines(body, kind string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "veeam_em_"+kind+"_task_") || strings.HasPrefix(line, "veeam_em_"+kind+"_job_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// lineDiff names the first lines that differ, enough to debug a failure.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d: want %q\n got %q (%d lines want, %d got)", i+1, wl, gl, len(w), len(g))
		}
	}
	return "no difference"
}

// counterValue is the value of one series of a family, 0 if absent.
func counterValue(t *testing.T, s *stack, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func gaugeValue(t *testing.T, s *stack, name string) float64 {
	t.Helper()
	return counterValue(t, s, name, nil)
}
