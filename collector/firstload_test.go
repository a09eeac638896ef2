package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// simExporter is the real client and collector, served by the real handler,
// against a simulator on a manual clock over plain HTTP.
type simExporter struct {
	sim       *emsim.Running
	clock     *emsim.ManualClock
	collector *collector.Collector
	registry  *prometheus.Registry
	logs      *lockedBuffer
	logger    log.Logger
}

func newSimExporter(tb testing.TB, topology emsim.Topology, latency time.Duration, pageSize int, opts collector.Options) *simExporter {
	tb.Helper()
	clock := emsim.NewManualClock(time.Date(2025, 6, 17, 20, 30, 0, 0, time.UTC))
	sim, err := emsim.Start(emsim.Config{Seed: 11, Username: simUser, Password: simPassword, Clock: clock, Topology: topology,
		Latency: latency, IdleTimeout: 30 * 24 * time.Hour}, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sim.Close)
	logs := &lockedBuffer{}
	logger := log.NewLogfmtLogger(logs)
	client, err := veeam.New(veeam.Config{
		URL: sim.URL, Username: simUser, Password: func() (string, error) { return simPassword, nil },
		PageSize: pageSize, Logger: logger, Now: clock.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(client.Close)
	opts.Now, opts.Logger = clock.Now, logger
	if opts.Kinds == nil {
		// The session collectors' loads and counters are what these tests
		// follow; the inventory would only add its own requests.
		opts.Kinds = []collector.Kind{collector.Replica, collector.Backup}
	}
	if opts.Lookback == 0 {
		opts.Lookback = lookback
	}
	if opts.Overlap == 0 {
		opts.Overlap = overlap
	}
	c := collector.New(client, opts)
	tb.Cleanup(c.Close)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return &simExporter{sim: sim, clock: clock, collector: c, registry: reg, logs: logs, logger: logger}
}

// scrape serves /metrics as Prometheus asks for it, with a scrape timeout.
func (e *simExporter) scrape(tb testing.TB, timeout time.Duration) string {
	tb.Helper()
	h := collector.NewHandler(e.collector, prometheus.NewRegistry(), collector.HandlerOptions{Logger: e.logger})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("scrape answered %d", rec.Code)
	}
	return rec.Body.String()
}

// sample is the value of the first sample of name whose line holds every
// part, or -1.
func sample(body, name string, parts ...string) float64 {
lines:
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return -1
		}
		return v
	}
	return -1
}

// countersWithin checks every series of a *_task_sessions_total family
// against the simulator: at least the completed sessions low shows, at most
// those high shows, created since from. With low and high the same the
// counters must equal the truth.
func countersWithin(tb testing.TB, reg prometheus.Gatherer, family string, from time.Time, low, high []emsim.TaskSession) {
	tb.Helper()
	count := func(sessions []emsim.TaskSession) map[string]float64 {
		n := map[string]float64{}
		for _, ts := range sessions {
			if ts.State == "Completed" && !ts.Creation.Before(from) {
				n[seriesKey(ts.BackupServer, ts.JobName, ts.VM, ts.Result)]++
			}
		}
		return n
	}
	lo, hi := count(low), count(high)
	if len(hi) == 0 {
		tb.Fatalf("the simulator has no completed session for %s: the check would prove nothing", family)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[seriesKey(labelOf(m, "backup_server"), labelOf(m, "job_name"), labelOf(m, "vm"), labelOf(m, "result"))] = m.GetCounter().GetValue()
		}
	}
	var diffs []string
	for k := range hi {
		if got[k] < lo[k] || got[k] > hi[k] {
			diffs = append(diffs, fmt.Sprintf("%s: exporter %v, simulator between %v and %v", k, got[k], lo[k], hi[k]))
		}
	}
	for k, g := range got {
		if _, ok := hi[k]; !ok && g != 0 {
			diffs = append(diffs, fmt.Sprintf("%s: exporter %v, simulator 0", k, g))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		tb.Errorf("%s differs from the simulator in %d series:\n%s", family, len(diffs), strings.Join(diffs, "\n"))
	}
}

func labelOf(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// TestFirstLoadSpansScrapes is issue 10's slow Enterprise Manager in small:
// the first load needs many times a scrape's timeout. Every scrape answers
// by its deadline with veeam_em_up 0 and the load's progress, which rises;
// the load goes on between scrapes, is never started over, and ends with
// veeam_em_up 1 and counters equal to the simulator's truth. With a refresh
// timeout shorter than the load, the load is cut again and again and goes on
// from where it was each time, counting nothing twice.
func TestFirstLoadSpansScrapes(t *testing.T) {
	if testing.Short() {
		t.Skip("pages a simulator with latency")
	}
	for _, tc := range []struct {
		name           string
		refreshTimeout time.Duration
	}{
		{"refresh outlives the scrapes", 0},
		{"refresh cut by its timeout and resumed", 150 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const (
				latency       = 20 * time.Millisecond
				scrapeTimeout = 100 * time.Millisecond
			)
			e := newSimExporter(t, emsim.TestTopology(), latency, 10, collector.Options{RefreshTimeout: tc.refreshTimeout})
			t0 := e.clock.Now()
			var progress []float64
			scrapes := 0
			for deadline := time.Now().Add(60 * time.Second); ; {
				if time.Now().After(deadline) {
					t.Fatalf("not up after %d scrapes; progress %v\n%s", scrapes, progress, e.logs)
				}
				e.logs.Reset()
				began := time.Now()
				body := e.scrape(t, scrapeTimeout)
				if took := time.Since(began); took > scrapeTimeout+time.Second {
					t.Errorf("scrape %d took %v, want it answered by its %v deadline", scrapes, took, scrapeTimeout)
				}
				scrapes++
				// One line of its own while the load goes on, none once it is
				// done; the background refresh may add its own.
				if n := strings.Count(e.logs.String(), `msg="serving the last state`); n != 1 && !strings.Contains(body, "\nveeam_em_up 1\n") {
					t.Errorf("scrape %d logged %d lines of its own, want 1:\n%s", scrapes, n, e.logs)
				}
				p := sample(body, "veeam_em_collector_initial_load_progress_ratio", `collector="replica"`) +
					sample(body, "veeam_em_collector_initial_load_progress_ratio", `collector="backup"`)
				if n := len(progress); n > 0 && p < progress[n-1] {
					t.Errorf("progress fell from %v to %v", progress[n-1], p)
				}
				progress = append(progress, p)
				if sample(body, "veeam_em_up") == 1 && p != 2 {
					t.Errorf("veeam_em_up 1 with load progress %v of 2", p)
				}
				// Once loaded, the next refresh may outlast a scrape on a
				// busy machine: veeam_em_up is then 0 with the series
				// served, as it should be.
				if p == 2 {
					break
				}
				if strings.Contains(body, "veeam_em_replica_task_last_state{") {
					t.Fatal("series served before the load completed")
				}
				time.Sleep(scrapeTimeout)
			}
			rising := 0
			for i := 1; i < len(progress); i++ {
				if progress[i] > progress[i-1] && progress[i] < 2 {
					rising++
				}
			}
			if scrapes < 4 || rising < 2 {
				t.Errorf("%d scrapes, progress %v: want a load spread over scrapes, its progress rising", scrapes, progress)
			}
			if strings.Contains(e.logs.String(), "level=error") {
				t.Errorf("a load that progresses logged an error:\n%s", e.logs)
			}
			body := e.scrape(t, 5*time.Second)
			if tc.refreshTimeout > 0 {
				if n := sample(body, "veeam_em_refreshes_total"); n < 3 {
					t.Errorf("%v refreshes, want the load cut by its timeout several times", n)
				}
			}
			if n := sample(body, "veeam_em_refresh_failures_total"); n != 0 {
				t.Errorf("%v failed refreshes, want none for a load that progressed", n)
			}
			from := t0.Add(-lookback).Truncate(time.Second)
			now := e.clock.Now()
			countersWithin(t, e.registry, "veeam_em_replica_task_sessions_total", from, e.sim.TaskSessions(now), e.sim.TaskSessions(now))
			countersWithin(t, e.registry, "veeam_em_backup_task_sessions_total", from, e.sim.BackupTaskSessions(now), e.sim.BackupTaskSessions(now))
		})
	}
}

// TestDayWithLateArrivals scrapes every minute for a simulated day while a
// fifth of the sessions, and of their completions, reach EM one to ten
// minutes late. Every six hours, and at the end, each counter holds every
// completed session EM showed a rescan interval and a scrape before, and
// none it did not show: no session is lost or counted twice, and a late one
// is counted within the documented delay.
func TestDayWithLateArrivals(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulated day of scrapes")
	}
	topology := emsim.TestTopology()
	topology.LateFraction, topology.LateDelayMin, topology.LateDelayMax = 0.2, time.Minute, 10*time.Minute
	e := newSimExporter(t, topology, 0, 100, collector.Options{})
	t0 := e.clock.Now()
	from := t0.Add(-lookback).Truncate(time.Second)
	// What EM shows at a moment is counted within a rescan interval and a
	// scrape: the delay the README documents.
	delay := collector.DefaultRescanInterval + time.Minute
	ctx := context.Background()
	if err := e.collector.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	late := 0
	for minute := 1; minute <= 24*60; minute++ {
		e.clock.Advance(time.Minute)
		if err := e.collector.Refresh(ctx); err != nil {
			t.Fatalf("minute %d: %v", minute, err)
		}
		if minute%(6*60) != 0 {
			continue
		}
		now := e.clock.Now()
		countersWithin(t, e.registry, "veeam_em_replica_task_sessions_total", from, e.sim.TaskSessionsShown(now.Add(-delay)), e.sim.TaskSessionsShown(now))
		countersWithin(t, e.registry, "veeam_em_backup_task_sessions_total", from, e.sim.BackupTaskSessionsShown(now.Add(-delay)), e.sim.BackupTaskSessionsShown(now))
	}
	for _, ts := range e.sim.TaskSessions(e.clock.Now()) {
		if ts.Lag > 0 && !ts.Creation.Before(t0) {
			late++
		}
	}
	if late < 50 {
		t.Errorf("only %d late replica task sessions in the day: the test proves little", late)
	}
	// Once nothing is late any more, the counters equal the truth.
	e.clock.Advance(topology.LateDelayMax)
	if err := e.collector.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(collector.DefaultRescanInterval)
	if err := e.collector.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	settled := now.Add(-collector.DefaultRescanInterval - topology.LateDelayMax)
	// Sessions created since the last refreshes may still be running or
	// hidden; those created before settled are all shown, and were read.
	var replicaLow, backupLow []emsim.TaskSession
	for _, ts := range e.sim.TaskSessionsShown(now) {
		if ts.Creation.Before(settled) {
			replicaLow = append(replicaLow, ts)
		}
	}
	for _, ts := range e.sim.BackupTaskSessionsShown(now) {
		if ts.Creation.Before(settled) {
			backupLow = append(backupLow, ts)
		}
	}
	countersWithin(t, e.registry, "veeam_em_replica_task_sessions_total", from, replicaLow, e.sim.TaskSessionsShown(now))
	countersWithin(t, e.registry, "veeam_em_backup_task_sessions_total", from, backupLow, e.sim.BackupTaskSessionsShown(now))
}
