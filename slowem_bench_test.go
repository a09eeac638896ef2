package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// BenchmarkSlowEMFirstLoad is issue 10's slow Enterprise Manager: the real
// binary against the scale preset (4,000 VMs, about 250,000 replica and
// backup sessions in its 49 h lookback), every request answered after 2 s,
// scraped every 20 s with a 15 s scrape timeout, as Prometheus would. Every
// scrape must answer within its timeout, the load's progress must rise, and
// veeam_em_up must become 1 with counters equal to the simulator's truth.
// It reports the time the load took next to pages × latency ÷ 4, the pages
// a perfectly parallel client would have waited for. The exporter and the
// simulator share a clock that stands still, so the truth does not move
// while the load runs. Run with -benchtime 1x; it takes a few minutes.
func BenchmarkSlowEMFirstLoad(b *testing.B) {
	const (
		user, password = "restuser@corp.local", "slow-Pa55word"
		latency        = 2 * time.Second
		scrapeTimeout  = 15 * time.Second
		interval       = 20 * time.Second
		concurrency    = 4 // pages in flight per EM
	)
	clock, err := emsim.NewScaledClock(time.Date(2025, 6, 17, 20, 30, 0, 0, time.UTC), time.Now(), 1e-9)
	if err != nil {
		b.Fatal(err)
	}
	sim, err := emsim.Start(emsim.Config{Seed: 42, Username: user, Password: password, Clock: clock, Topology: emsim.ScaleTopology(), Latency: latency}, false)
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	passwordFile := filepath.Join(b.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte(password), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := buildBinary(b)
	for b.Loop() {
		b.StopTimer()
		sim.ResetRequests()
		exp := startExporter(b, bin, "--veeam.url="+sim.URL, "--veeam.username="+user, "--veeam.password-file="+passwordFile,
			"--sessions.lookback=49h", "--debug.clock="+clock.String())
		b.StartTimer()
		began := time.Now()
		var progress []string
		var slowest time.Duration
		scrapes := 0
		var families map[string]*dto.MetricFamily
		for {
			scrapeBegan := time.Now()
			families = scrapeWithTimeout(b, exp, scrapeTimeout)
			took := time.Since(scrapeBegan)
			slowest = max(slowest, took)
			scrapes++
			if took > scrapeTimeout {
				b.Errorf("scrape %d took %v, more than its %v timeout", scrapes, took, scrapeTimeout)
			}
			replica, backup := loadProgress(families, "replica"), loadProgress(families, "backup")
			progress = append(progress, fmt.Sprintf("%.2f/%.2f", replica, backup))
			if gaugeValue(families, "veeam_em_up") == 1 {
				break
			}
			if time.Since(began) > 30*time.Minute {
				b.Fatalf("not up after %v; progress %v", time.Since(began), progress)
			}
			time.Sleep(max(interval-took, 0))
		}
		loaded := time.Since(began)
		b.StopTimer()
		pages := 0
		for _, r := range sim.Requests() {
			if r.Type != "" {
				pages++
			}
		}
		ideal := time.Duration(pages) * latency / concurrency
		b.ReportMetric(loaded.Seconds(), "load-s")
		b.ReportMetric(ideal.Seconds(), "pages×latency÷4-s")
		b.ReportMetric(float64(pages), "requests")
		b.ReportMetric(float64(scrapes), "scrapes")
		b.ReportMetric(slowest.Seconds(), "slowest-scrape-s")
		b.Logf("progress per scrape (replica/backup): %s", strings.Join(progress, " "))
		now := clock.Now()
		for _, c := range []struct {
			family string
			truth  []emsim.TaskSession
		}{
			{"veeam_em_replica_task_sessions_total", sim.TaskSessions(now)},
			{"veeam_em_backup_task_sessions_total", sim.BackupTaskSessions(now)},
		} {
			if diffs := counterDiffs(families, c.family, c.truth, now.Add(-49*time.Hour)); len(diffs) > 0 {
				b.Errorf("%s differs from the simulator in %d series, e.g.\n%s", c.family, len(diffs), strings.Join(diffs[:min(len(diffs), 10)], "\n"))
			}
		}
		exp.stop(os.Interrupt)
		b.StartTimer()
	}
}

// scrapeWithTimeout scrapes /metrics as Prometheus does with a scrape
// timeout.
func scrapeWithTimeout(tb testing.TB, p *exporterProcess, timeout time.Duration) map[string]*dto.MetricFamily {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+"/metrics", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprint(timeout.Seconds()))
	resp, err := (&http.Client{Timeout: timeout + 5*time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		tb.Fatalf("parse scrape: %v", err)
	}
	return families
}

func loadProgress(families map[string]*dto.MetricFamily, collector string) float64 {
	for _, m := range families["veeam_em_collector_initial_load_progress_ratio"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "collector" && lp.GetValue() == collector {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// counterDiffs compares a *_task_sessions_total family with the completed
// sessions of truth created since from, series by series.
func counterDiffs(families map[string]*dto.MetricFamily, family string, truth []emsim.TaskSession, from time.Time) []string {
	key := func(server, job, vm, result string) string { return server + "|" + job + "|" + vm + "|" + result }
	want := map[string]float64{}
	for _, ts := range truth {
		if ts.State == "Completed" && !ts.Creation.Before(from.Truncate(time.Second)) {
			want[key(ts.BackupServer, ts.JobName, ts.VM, ts.Result)]++
		}
	}
	got := map[string]float64{}
	for _, m := range families[family].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if v := m.GetCounter().GetValue(); v != 0 {
			got[key(labels["backup_server"], labels["job_name"], labels["vm"], labels["result"])] = v
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
	if len(want) == 0 {
		diffs = append(diffs, "the simulator has no completed session: the check proves nothing")
	}
	sort.Strings(diffs)
	return diffs
}
