//go:build soak

package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// The soak run: the real binary against the simulator, both on one fast
// clock, scraped steadily by several scrapers for a long stretch. SOAK.md
// explains the knobs, the rules and the figures of a recorded run.

// soakTopology is a mid-size site: two backup servers with six hourly
// replica jobs of 4 to 12 VMs, two backup jobs every 2 hours and a backup
// copy job every 6 hours per server, every hard name, no retention, so that
// the simulator's ground truth still holds every session the exporter ever
// counted.
func soakTopology() emsim.Topology {
	return emsim.Topology{
		BackupServers:    2,
		JobsPerServer:    6,
		VMsPerJob:        12,
		MinVMsPerJob:     4,
		JobInterval:      time.Hour,
		History:          48 * time.Hour,
		TaskStagger:      20 * time.Second,
		TaskDurationMin:  time.Minute,
		TaskDurationMax:  20 * time.Minute,
		FailureRate:      0.05,
		WarningRate:      0.1,
		RetryFailureRate: 0.3,
		BrokenVMs:        2,
		MaxRetries:       2,
		RetryDelay:       5 * time.Minute,
		WithHardNames:    true,
		Backup: emsim.BackupJobs{
			JobsPerServer:     2,
			CopyJobsPerServer: 1,
			Interval:          2 * time.Hour,
			CopyInterval:      6 * time.Hour,
			TaskStagger:       30 * time.Second,
			TaskDurationMin:   5 * time.Minute,
			TaskDurationMax:   30 * time.Minute,
			FailureRate:       0.05,
			WarningRate:       0.1,
			RetryFailureRate:  0.3,
			MaxRetries:        1,
			RetryDelay:        10 * time.Minute,
		},
	}
}

// soakConfig holds the knobs, from SOAK_* environment variables.
type soakConfig struct {
	duration       time.Duration // wall time of the scraping
	speed          float64       // simulated seconds per wall second
	scrapers       int
	scrapeInterval time.Duration // per scraper, wall time
	pauseEvery     time.Duration // wall time between silences
	pageSize       int           // the exporter's --veeam.page-size
	summaryFile    string
}

func soakConfigFromEnv(t *testing.T) soakConfig {
	t.Helper()
	cfg := soakConfig{
		duration:       soakEnvDuration(t, "SOAK_DURATION", 90*time.Second),
		speed:          soakEnvFloat(t, "SOAK_SPEED", 4320),
		scrapers:       soakEnvInt(t, "SOAK_SCRAPERS", 3),
		scrapeInterval: soakEnvDuration(t, "SOAK_SCRAPE_INTERVAL", time.Second),
		pageSize:       soakEnvInt(t, "SOAK_PAGE_SIZE", 1000),
		summaryFile:    os.Getenv("SOAK_SUMMARY"),
	}
	cfg.pauseEvery = soakEnvDuration(t, "SOAK_PAUSE_EVERY", cfg.duration/5)
	if cfg.scrapers < 1 || cfg.pageSize < 1 || cfg.scrapeInterval <= 0 || cfg.duration < 20*cfg.scrapeInterval {
		t.Fatalf("need SOAK_SCRAPERS ≥ 1, SOAK_PAGE_SIZE ≥ 1 and SOAK_DURATION ≥ 20 × SOAK_SCRAPE_INTERVAL, got %d, %d, %v, %v", cfg.scrapers, cfg.pageSize, cfg.duration, cfg.scrapeInterval)
	}
	if cfg.pauseEvery < 2*cfg.pause() {
		t.Fatalf("SOAK_PAUSE_EVERY (%v) must be at least twice a silence (%v)", cfg.pauseEvery, cfg.pause())
	}
	return cfg
}

func soakEnvDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", name, v)
	}
	return d
}

func soakEnvFloat(t *testing.T, name string, def float64) float64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return f
}

func soakEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: want an integer", name, v)
	}
	return n
}

// idleWall is the simulator's idle expiry in wall time: two scrape
// intervals, so that steady scraping keeps one logon session alive.
func (c soakConfig) idleWall() time.Duration { return 2 * c.scrapeInterval }

// pause is a silence of every scraper, longer than the idle expiry, so that
// the session expires on EM and the next refresh must log on again.
func (c soakConfig) pause() time.Duration { return 3 * c.scrapeInterval }

// inPause reports whether the scrapers are silent at elapsed: from each
// multiple of pauseEvery for one pause, never at the very start or end.
func (c soakConfig) inPause(elapsed time.Duration) bool {
	if elapsed < c.pauseEvery || elapsed+c.pause() > c.duration-c.scrapeInterval {
		return false
	}
	return elapsed%c.pauseEvery < c.pause()
}

// pauses counts the silences of a whole run.
func (c soakConfig) pauses() int {
	n := 0
	for at := c.pauseEvery; at+c.pause() <= c.duration-c.scrapeInterval; at += c.pauseEvery {
		n++
	}
	return n
}

// soakSample is one reading of the exporter's resources.
type soakSample struct {
	elapsed    time.Duration
	rss        int64 // VmRSS from /proc
	promRSS    int64 // process_resident_memory_bytes
	goroutines int   // go_goroutines
}

// soakScrapeLog collects what the scrapers saw, safe for concurrent use.
type soakScrapeLog struct {
	mu          sync.Mutex
	starts      []time.Time
	scrapes     int
	errors      int
	firstErrors []string
}

func (l *soakScrapeLog) add(start time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.starts = append(l.starts, start)
	l.scrapes++
	if err != nil {
		l.errors++
		if len(l.firstErrors) < 5 {
			l.firstErrors = append(l.firstErrors, err.Error())
		}
	}
}

// soakScrape fetches /metrics as a Prometheus replica does, with its
// timeout header, and fails unless the exporter is up.
func soakScrape(ctx context.Context, client *http.Client, addr string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("build scrape request: %w", err)
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read scrape: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape answered %d", resp.StatusCode)
	}
	if !strings.Contains(string(body), "\nveeam_em_up 1\n") {
		return string(body), fmt.Errorf("scrape has no veeam_em_up 1")
	}
	return string(body), nil
}

// soakTicks calls f at every tick of interval, from offset on, until ctx
// ends, skipping the silences.
func soakTicks(ctx context.Context, cfg soakConfig, began time.Time, offset, interval time.Duration, f func()) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(offset):
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if !cfg.inPause(time.Since(began)) {
			f()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// soakKind is one collector's sessions as the soak checks them: the
// exporter's counters against the simulator's own record.
type soakKind struct {
	name, taskType, jobType string
	tasks                   func(asOf time.Time) []emsim.TaskSession
	jobs                    func(asOf time.Time) []emsim.JobSession
}

func soakKinds(sim *emsim.Running) []soakKind {
	return []soakKind{
		{"replica", "ReplicaTaskSession", "ReplicaJobSession", sim.TaskSessions, sim.JobSessions},
		{"backup", "BackupTaskSession", "BackupJobSession", sim.BackupTaskSessions, sim.BackupJobSessions},
	}
}

// completed counts the simulator's completed task and job sessions of k as
// of asOf.
func (k soakKind) completed(asOf time.Time) (tasks, jobs int) {
	for _, ts := range k.tasks(asOf) {
		if ts.State == "Completed" {
			tasks++
		}
	}
	for _, js := range k.jobs(asOf) {
		if js.State == "Stopped" {
			jobs++
		}
	}
	return tasks, jobs
}

// taskDiff lists the task series of k whose counter differs from the
// simulator's completed sessions as of asOf, to say where a mismatch is.
func (k soakKind) taskDiff(asOf time.Time, families map[string]*dto.MetricFamily) []string {
	type key struct{ server, job, vm string }
	want := map[key]int{}
	for _, ts := range k.tasks(asOf) {
		if ts.State == "Completed" {
			want[key{ts.BackupServer, ts.JobName, ts.VM}]++
		}
	}
	got := map[key]int{}
	for _, m := range families["veeam_em_"+k.name+"_task_sessions_total"].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		got[key{labels["backup_server"], labels["job_name"], labels["vm"]}] += int(m.GetCounter().GetValue())
	}
	var diffs []string
	for k, n := range want {
		if got[k] != n {
			diffs = append(diffs, fmt.Sprintf("%s/%s/%s: exporter %d, simulator %d", k.server, k.job, k.vm, got[k], n))
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s/%s/%s: exporter %d, unknown to the simulator", k.server, k.job, k.vm, n))
		}
	}
	slices.Sort(diffs)
	return diffs
}

// soakCounts are one kind's counters in the final scrape and the range the
// simulator's totals took while that scrape's refresh read its pages.
type soakCounts struct {
	kind             soakKind
	tasks, jobs      int
	tasksLo, tasksHi int
	jobsLo, jobsHi   int
	taskLast         time.Time
}

func (k soakKind) counts(t *testing.T, requests []emsim.Request, families map[string]*dto.MetricFamily) soakCounts {
	t.Helper()
	taskFirst, taskLast, taskOK := soakPageTimes(requests, k.taskType)
	jobFirst, jobLast, jobOK := soakPageTimes(requests, k.jobType)
	if !taskOK || !jobOK {
		t.Fatalf("the final scrape read no pages of %s or %s; requests: %+v", k.taskType, k.jobType, requests)
	}
	c := soakCounts{
		kind:     k,
		tasks:    int(sumCounter(families, "veeam_em_"+k.name+"_task_sessions_total")),
		jobs:     int(sumCounter(families, "veeam_em_"+k.name+"_job_sessions_total")),
		taskLast: taskLast,
	}
	c.tasksLo, _ = k.completed(taskFirst)
	c.tasksHi, _ = k.completed(taskLast)
	_, c.jobsLo = k.completed(jobFirst)
	_, c.jobsHi = k.completed(jobLast)
	return c
}

// soakPageTimes is the simulated time of the first and the last answered
// page of one query type in the request log.
func soakPageTimes(requests []emsim.Request, typ string) (first, last time.Time, ok bool) {
	for _, r := range requests {
		if r.Type != typ || r.Status != http.StatusOK {
			continue
		}
		if !ok || r.Time.Before(first) {
			first = r.Time
		}
		if !ok || r.Time.After(last) {
			last = r.Time
		}
		ok = true
	}
	return first, last, ok
}

// soakWindow gives the samples taken from elapsed time from up to to.
func soakWindow(samples []soakSample, from, to time.Duration) []soakSample {
	var out []soakSample
	for _, s := range samples {
		if s.elapsed >= from && s.elapsed < to {
			out = append(out, s)
		}
	}
	return out
}

func soakMaxRSS(samples []soakSample) int64 {
	var m int64
	for _, s := range samples {
		m = max(m, s.rss)
	}
	return m
}

func soakGoroutineRange(samples []soakSample) (lo, hi int) {
	lo, hi = math.MaxInt, 0
	for _, s := range samples {
		lo, hi = min(lo, s.goroutines), max(hi, s.goroutines)
	}
	return lo, hi
}

func soakMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// TestSoak runs the exporter for SOAK_DURATION against a simulator whose
// clock runs SOAK_SPEED times as fast, and checks that its memory and
// goroutines stay flat, its counters match the simulator's totals, it logs
// on once per idle expiry, and it logs off once at the end.
func TestSoak(t *testing.T) {
	cfg := soakConfigFromEnv(t)
	clock, err := emsim.NewScaledClock(time.Now().UTC().Truncate(time.Second), time.Now(), cfg.speed)
	if err != nil {
		t.Fatal(err)
	}
	idle := clock.Simulated(cfg.idleWall())
	// The default overlap, although a silence lasts several simulated
	// hours: the next window starts an overlap before the last refresh, not
	// before now, so the sessions of the gap are read then.
	overlap := time.Hour
	sim, err := emsim.Start(emsim.Config{
		Seed:        11,
		Username:    e2eUser,
		Password:    e2ePassword,
		IdleTimeout: idle,
		Clock:       clock,
		Topology:    soakTopology(),
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	passwordFile := filepath.Join(dir, "password")
	if err := os.WriteFile(caFile, sim.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwordFile, []byte(e2ePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp := startExporter(t, buildBinary(t),
		"--veeam.url="+sim.URL,
		"--veeam.username="+e2eUser,
		"--veeam.password-file="+passwordFile,
		"--veeam.ca-file="+caFile,
		"--veeam.timeout=20s",
		"--veeam.page-size="+strconv.Itoa(cfg.pageSize),
		"--sessions.overlap="+overlap.String(),
		"--debug.clock="+clock.String(),
	)
	pid := exp.cmd.Process.Pid
	simStart := clock.Now()

	var scrapeLog soakScrapeLog
	var samples []soakSample
	var samplesMu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	began := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.scrapers {
		client := &http.Client{Timeout: 30 * time.Second}
		offset := cfg.scrapeInterval * time.Duration(i) / time.Duration(cfg.scrapers)
		wg.Go(func() {
			soakTicks(ctx, cfg, began, offset, cfg.scrapeInterval, func() {
				start := time.Now()
				_, err := soakScrape(ctx, client, exp.addr)
				if ctx.Err() == nil {
					scrapeLog.add(start, err)
				}
			})
		})
	}
	sampleEvery := min(max(cfg.duration/100, time.Second), 5*time.Second)
	wg.Go(func() {
		client := &http.Client{Timeout: 30 * time.Second}
		soakTicks(ctx, cfg, began, 0, sampleEvery, func() {
			start := time.Now()
			body, err := soakScrape(ctx, client, exp.addr)
			if ctx.Err() != nil {
				return
			}
			scrapeLog.add(start, err)
			rss, rssErr := rssOfProcess(pid)
			parser := expfmt.NewTextParser(model.UTF8Validation)
			families, parseErr := parser.TextToMetricFamilies(strings.NewReader(body))
			if err != nil || rssErr != nil || parseErr != nil {
				return
			}
			samplesMu.Lock()
			defer samplesMu.Unlock()
			samples = append(samples, soakSample{
				elapsed:    time.Since(began),
				rss:        rss,
				promRSS:    int64(gaugeValue(families, "process_resident_memory_bytes")),
				goroutines: int(gaugeValue(families, "go_goroutines")),
			})
		})
	})
	time.Sleep(cfg.duration)
	cancel()
	wg.Wait()
	elapsed := time.Since(began)

	// One last scrape alone, whose refresh the request log isolates: the
	// counters it shows are compared with the simulator's totals as of the
	// pages that refresh read. The scrape before it waits out any refresh
	// that a cancelled scraper left running.
	exp.scrape()
	sim.ResetRequests()
	finalStart := time.Now()
	_, families := exp.scrape()
	scrapeLog.add(finalStart, nil)
	requests := sim.Requests()
	var counts []soakCounts
	for _, k := range soakKinds(sim) {
		counts = append(counts, k.counts(t, requests, families))
	}
	finalRSS, err := rssOfProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	finalGoroutines := int(gaugeValue(families, "go_goroutines"))
	simElapsed := clock.Now().Sub(simStart)
	logons := sim.Logons()

	exp.stop(syscall.SIGTERM)
	logoffs, active := sim.Logoffs(), sim.ActiveSessions()

	// Flatness: the first quarter is warm-up, the second the plateau, the
	// last quarter must stay within 25% of the plateau's peak resident set
	// and within 5 goroutines of the plateau's range.
	quarter := cfg.duration / 4
	plateau := soakWindow(samples, quarter, 2*quarter)
	last := soakWindow(samples, 3*quarter, cfg.duration+time.Minute)
	if len(plateau) < 3 || len(last) < 3 {
		t.Fatalf("too few samples: %d in the plateau, %d in the last quarter (of %d)", len(plateau), len(last), len(samples))
	}
	plateauRSS, lastRSS := soakMaxRSS(plateau), soakMaxRSS(last)
	plateauLo, plateauHi := soakGoroutineRange(plateau)
	lastLo, lastHi := soakGoroutineRange(last)

	// Logons: one at the start and one after every silence, plus one for
	// any other gap between scrapes long enough for the session to expire
	// (a stalled machine); the brief's coarser bound is reported too.
	slices.SortFunc(scrapeLog.starts, func(a, b time.Time) int { return a.Compare(b) })
	longGaps := 0
	for i := 1; i < len(scrapeLog.starts); i++ {
		if scrapeLog.starts[i].Sub(scrapeLog.starts[i-1]) > cfg.idleWall()*9/10 {
			longGaps++
		}
	}
	pauses := cfg.pauses()
	coarseBound := 2 + int(simElapsed/idle)

	first := samples[0]
	summary := []string{
		fmt.Sprintf("date: %s", began.UTC().Format(time.RFC3339)),
		fmt.Sprintf("wall: %v of scraping (%v in all); simulated: %v (%.1f days) at speed %g", cfg.duration, elapsed.Round(time.Second), simElapsed.Round(time.Minute), simElapsed.Hours()/24, cfg.speed),
		fmt.Sprintf("scrapers: %d every %v, plus a sampler every %v; idle expiry %v simulated (%v wall); %d silences of %v; overlap %v; page size %d", cfg.scrapers, cfg.scrapeInterval, sampleEvery, idle, cfg.idleWall(), pauses, cfg.pause(), overlap, cfg.pageSize),
		fmt.Sprintf("scrapes: %d, errors: %d %v", scrapeLog.scrapes, scrapeLog.errors, scrapeLog.firstErrors),
		fmt.Sprintf("VmRSS: first sample %s, plateau peak %s, last-quarter peak %s (limit %s), end %s", soakMiB(first.rss), soakMiB(plateauRSS), soakMiB(lastRSS), soakMiB(plateauRSS*5/4), soakMiB(finalRSS)),
		fmt.Sprintf("process_resident_memory_bytes: first %s, last %s", soakMiB(first.promRSS), soakMiB(samples[len(samples)-1].promRSS)),
		fmt.Sprintf("go_goroutines: first %d, plateau %d..%d, last quarter %d..%d, end %d", first.goroutines, plateauLo, plateauHi, lastLo, lastHi, finalGoroutines),
		fmt.Sprintf("logons: %d (1 + %d silences = %d expected, ≤ 1 + %d silences and gaps; coarse bound 1 + elapsed/idle + 1 = %d)", logons, pauses, 1+pauses, longGaps, coarseBound),
		fmt.Sprintf("after SIGTERM: logoffs %d, active sessions %d", logoffs, active),
		fmt.Sprintf("samples: %d", len(samples)),
	}
	for _, c := range counts {
		summary = append(summary,
			fmt.Sprintf("veeam_em_%s_task_sessions_total: %d; simulator's completed %s task sessions as of the final pages: %d..%d", c.kind.name, c.tasks, c.kind.name, c.tasksLo, c.tasksHi),
			fmt.Sprintf("veeam_em_%s_job_sessions_total: %d; simulator's completed %s job sessions as of the final pages: %d..%d", c.kind.name, c.jobs, c.kind.name, c.jobsLo, c.jobsHi))
	}

	if scrapeLog.errors > 0 {
		t.Errorf("%d of %d scrapes failed, first: %v", scrapeLog.errors, scrapeLog.scrapes, scrapeLog.firstErrors)
	}
	if lastRSS > plateauRSS*5/4 {
		t.Errorf("resident memory grew: last-quarter peak %s > 1.25 × plateau peak %s", soakMiB(lastRSS), soakMiB(plateauRSS))
	}
	if lastLo < plateauLo-5 || lastHi > plateauHi+5 {
		t.Errorf("goroutines moved: last quarter %d..%d, plateau %d..%d (±5 allowed)", lastLo, lastHi, plateauLo, plateauHi)
	}
	for _, c := range counts {
		if c.tasks < c.tasksLo || c.tasks > c.tasksHi {
			diffs := c.kind.taskDiff(c.taskLast, families)
			t.Errorf("veeam_em_%s_task_sessions_total sums to %d, the simulator completed %d..%d; series that differ: %v", c.kind.name, c.tasks, c.tasksLo, c.tasksHi, diffs[:min(len(diffs), 10)])
		}
		if c.jobs < c.jobsLo || c.jobs > c.jobsHi {
			t.Errorf("veeam_em_%s_job_sessions_total sums to %d, the simulator completed %d..%d", c.kind.name, c.jobs, c.jobsLo, c.jobsHi)
		}
	}
	if logons < 1+pauses || logons > 1+longGaps || logons > coarseBound {
		t.Errorf("logons = %d, want between 1 + %d silences and 1 + %d long gaps (and ≤ %d)", logons, pauses, longGaps, coarseBound)
	}
	if logoffs != 1 || active != 0 {
		t.Errorf("after SIGTERM: %d logoffs and %d sessions open on EM, want 1 and 0", logoffs, active)
	}
	if strings.Contains(exp.stderr.String(), e2ePassword) {
		t.Error("the password appears in the exporter's log")
	}
	verdict := "PASS"
	if t.Failed() {
		verdict = "FAIL"
	}
	summary = append(summary, "verdict: "+verdict)
	text := strings.Join(summary, "\n") + "\n"
	t.Log("soak summary:\n" + text)
	if cfg.summaryFile != "" {
		if err := os.WriteFile(cfg.summaryFile, []byte(text), 0o644); err != nil {
			t.Errorf("write the summary: %v", err)
		}
	}
}
