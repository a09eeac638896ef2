package collector_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// The scale benchmarks run the real client and collector against
// emsim.ScaleTopology(). To time the exporter alone, the simulator's answers
// are recorded once and served again by a replay server that only copies
// bytes, so the simulator costs nothing in the timed loops.

// scaleLookback covers the preset's whole 48 hours of history.
const scaleLookback = 49 * time.Hour

var scaleStart = time.Date(2025, 6, 17, 20, 30, 0, 0, time.UTC)

// sessionCounter is a collector.Source that adds up what the client fetched.
type sessionCounter struct {
	*veeam.Client
	mu           sync.Mutex
	taskSessions int
	pages        int
	bytes        int64
}

func (s *sessionCounter) ReplicaTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaTaskSession]) error) (veeam.QueryStats, error) {
	stats, err := s.Client.ReplicaTaskSessions(ctx, sel, each)
	s.add(stats.Entities, stats.Pages, stats.Bytes)
	return stats, err
}

func (s *sessionCounter) ReplicaJobSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaJobSession]) error) (veeam.QueryStats, error) {
	stats, err := s.Client.ReplicaJobSessions(ctx, sel, each)
	s.add(0, stats.Pages, stats.Bytes)
	return stats, err
}

func (s *sessionCounter) BackupTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.BackupTaskSession]) error) (veeam.QueryStats, error) {
	stats, err := s.Client.BackupTaskSessions(ctx, sel, each)
	s.add(stats.Entities, stats.Pages, stats.Bytes)
	return stats, err
}

func (s *sessionCounter) BackupJobSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.BackupJobSession]) error) (veeam.QueryStats, error) {
	stats, err := s.Client.BackupJobSessions(ctx, sel, each)
	s.add(0, stats.Pages, stats.Bytes)
	return stats, err
}

// add counts one query's task sessions, pages and bytes.
func (s *sessionCounter) add(taskSessions, pages int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taskSessions += taskSessions
	s.pages += pages
	s.bytes += bytes
}

// scaleCollectors are the collector sets the scale benchmarks run with:
// the replica collector alone, which issue 4's targets were set for, and
// both collectors, as the exporter runs by default (the preset adds about
// 55,000 backup task sessions to its replica ones).
var scaleCollectors = []struct {
	name  string
	kinds []collector.Kind
}{
	{"replica", []collector.Kind{collector.Replica}},
	{"replica+backup", []collector.Kind{collector.Replica, collector.Backup}},
}

func (s *sessionCounter) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taskSessions, s.pages, s.bytes = 0, 0, 0
}

// exporter is one client and collector, as the binary builds them.
type exporter struct {
	source    *sessionCounter
	collector *collector.Collector
}

func newExporter(tb testing.TB, url string, transport http.RoundTripper, now func() time.Time, kinds []collector.Kind) *exporter {
	tb.Helper()
	client, err := veeam.New(veeam.Config{
		URL:       url,
		Username:  simUser,
		Password:  func() (string, error) { return simPassword, nil },
		Transport: transport,
	})
	if err != nil {
		tb.Fatal(err)
	}
	source := &sessionCounter{Client: client}
	c := collector.New(source, collector.Options{Lookback: scaleLookback, Overlap: overlap, Now: now, Kinds: kinds})
	return &exporter{source: source, collector: c}
}

func (e *exporter) refresh(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.collector.Refresh(ctx); err != nil {
		tb.Fatal(err)
	}
}

func startSim(tb testing.TB, topology emsim.Topology, clock *emsim.ManualClock) *emsim.Running {
	tb.Helper()
	sim, err := emsim.Start(emsim.Config{Seed: 7, Username: simUser, Password: simPassword, Clock: clock, Topology: topology}, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sim.Close)
	return sim
}

// recordedAnswer is one response as the simulator sent it.
type recordedAnswer struct {
	status int
	header http.Header
	body   []byte
}

// recorder passes requests to the simulator and keeps each answer under its
// method and URL; a refresh asks for each URL once.
type recorder struct {
	next    http.RoundTripper
	mu      sync.Mutex
	answers map[string]recordedAnswer
}

func recordKey(method, requestURI string) string { return method + " " + requestURI }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.answers[recordKey(req.Method, req.URL.RequestURI())] = recordedAnswer{status: resp.StatusCode, header: resp.Header.Clone(), body: body}
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// replayServer answers recorded requests again after latency, the way a
// remote EM would, without the simulator's work.
func replayServer(tb testing.TB, answers map[string]recordedAnswer, latency time.Duration) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return
			}
		}
		a, ok := answers[recordKey(r.Method, r.URL.RequestURI())]
		if !ok {
			http.Error(w, "not recorded: "+r.Method+" "+r.URL.RequestURI(), http.StatusNotFound)
			return
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// recording is the simulator's answers to a first full refresh at
// scaleStart and, when steps are given, to one refresh after each step, for
// every collector.
func recordScale(tb testing.TB, steps ...time.Duration) map[string]recordedAnswer {
	tb.Helper()
	clock := emsim.NewManualClock(scaleStart)
	sim := startSim(tb, emsim.ScaleTopology(), clock)
	rec := &recorder{next: http.DefaultTransport, answers: map[string]recordedAnswer{}}
	e := newExporter(tb, sim.URL, rec, clock.Now, nil)
	e.refresh(tb)
	for _, step := range steps {
		clock.Advance(step)
		e.refresh(tb)
	}
	return rec.answers
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// firstRefreshRun is what one first full refresh cost.
type firstRefreshRun struct {
	wall, cpu           time.Duration
	taskSessions, pages int
	bytes               int64
}

func runFirstRefresh(b *testing.B, url string, kinds []collector.Kind) firstRefreshRun {
	b.Helper()
	clock := emsim.NewManualClock(scaleStart)
	e := newExporter(b, url, nil, clock.Now, kinds)
	// The garbage of the run before is not this run's to collect.
	b.StopTimer()
	runtime.GC()
	b.StartTimer()
	cpu, began := cpuTime(b), time.Now()
	e.refresh(b)
	return firstRefreshRun{
		wall: time.Since(began), cpu: cpuTime(b) - cpu,
		taskSessions: e.source.taskSessions, pages: e.source.pages, bytes: e.source.bytes,
	}
}

// reportFirstRefresh reports the mean of runs.
func reportFirstRefresh(b *testing.B, runs []firstRefreshRun) (wall time.Duration, pages int) {
	var cpu time.Duration
	var sessions int
	var transferred int64
	for _, r := range runs {
		wall += r.wall
		cpu += r.cpu
		sessions += r.taskSessions
		pages += r.pages
		transferred += r.bytes
	}
	n := len(runs)
	b.ReportMetric(float64(sessions/n), "sessions")
	b.ReportMetric(float64(pages/n), "pages")
	b.ReportMetric(float64(transferred)/float64(n)/1e6, "MB")
	b.ReportMetric(float64(wall.Nanoseconds())/float64(sessions), "ns/session")
	b.ReportMetric(float64(cpu.Microseconds())/float64(sessions), "cpu-µs/session")
	return wall / time.Duration(n), pages / n
}

// BenchmarkFirstFullRefresh is a fresh exporter's first refresh of the scale
// preset's 48 hours. Target: at most 15 cpu-µs/session.
func BenchmarkFirstFullRefresh(b *testing.B) {
	srv := replayServer(b, recordScale(b), 0)
	for _, set := range scaleCollectors {
		b.Run("collectors="+set.name, func(b *testing.B) {
			runs := make([]firstRefreshRun, 0, b.N)
			for b.Loop() {
				runs = append(runs, runFirstRefresh(b, srv.URL, set.kinds))
			}
			b.StopTimer()
			reportFirstRefresh(b, runs)
		})
	}
}

// BenchmarkFirstFullRefreshLatency50ms is the first refresh with 50 ms
// between EM and the exporter. latency-share is the wall time the latency
// added over pages × 50 ms. Target: at most 0.33.
func BenchmarkFirstFullRefreshLatency50ms(b *testing.B) {
	const latency = 50 * time.Millisecond
	answers := recordScale(b)
	immediate := replayServer(b, answers, 0)
	remote := replayServer(b, answers, latency)
	for _, set := range scaleCollectors {
		b.Run("collectors="+set.name, func(b *testing.B) {
			// The same refresh without latency, as the baseline.
			var baseline time.Duration
			const baselineRuns = 3
			for range baselineRuns {
				baseline += runFirstRefresh(b, immediate.URL, set.kinds).wall
			}
			baseline /= baselineRuns
			runs := make([]firstRefreshRun, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				runs = append(runs, runFirstRefresh(b, remote.URL, set.kinds))
			}
			b.StopTimer()
			wall, pages := reportFirstRefresh(b, runs)
			b.ReportMetric(wall.Seconds(), "wall-s")
			b.ReportMetric(baseline.Seconds(), "wall-s-at-0ms")
			b.ReportMetric(float64(wall-baseline)/float64(time.Duration(pages)*latency), "latency-share")
		})
	}
}

// BenchmarkSteadyStateRefresh is one incremental refresh after a first full
// one, the clock moved by a scrape interval or by an hour. Targets: bytes
// and CPU at most 5% of the first full refresh's.
func BenchmarkSteadyStateRefresh(b *testing.B) {
	for _, step := range []time.Duration{15 * time.Minute, time.Hour} {
		srv := replayServer(b, recordScale(b, step), 0)
		for _, set := range scaleCollectors {
			b.Run("collectors="+set.name+"/after="+step.String(), func(b *testing.B) {
				var firstCPU, steadyCPU time.Duration
				var firstBytes, steadyBytes int64
				for b.Loop() {
					b.StopTimer()
					clock := emsim.NewManualClock(scaleStart)
					e := newExporter(b, srv.URL, nil, clock.Now, set.kinds)
					runtime.GC()
					cpu := cpuTime(b)
					e.refresh(b)
					firstCPU += cpuTime(b) - cpu
					firstBytes += e.source.bytes
					e.source.reset()
					clock.Advance(step)
					// A scrape interval later the first refresh's garbage is
					// long collected: it is not the steady refresh's cost.
					runtime.GC()
					b.StartTimer()

					cpu = cpuTime(b)
					e.refresh(b)
					steadyCPU += cpuTime(b) - cpu
					steadyBytes += e.source.bytes
				}
				b.ReportMetric(float64(steadyBytes)/float64(b.N), "bytes/refresh")
				b.ReportMetric(100*float64(steadyBytes)/float64(firstBytes), "bytes-%-of-first")
				b.ReportMetric(100*float64(steadyCPU)/float64(firstCPU), "cpu-%-of-first")
			})
		}
	}
}

// BenchmarkFirstFullRefreshMemory is the heap the exporter keeps after its
// first full refresh of the scale preset. Target: at most 150 MiB.
func BenchmarkFirstFullRefreshMemory(b *testing.B) {
	srv := replayServer(b, recordScale(b), 0)
	for _, set := range scaleCollectors {
		b.Run("collectors="+set.name, func(b *testing.B) {
			var heap, series float64
			for b.Loop() {
				before := heapInUse()
				clock := emsim.NewManualClock(scaleStart)
				e := newExporter(b, srv.URL, nil, clock.Now, set.kinds)
				e.refresh(b)
				after := heapInUse()
				reg := prometheus.NewRegistry()
				reg.MustRegister(e.collector)
				families, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, f := range families {
					n += len(f.GetMetric())
				}
				heap += float64(after) - float64(before)
				series += float64(n)
				runtime.KeepAlive(e)
			}
			b.ReportMetric(heap/float64(b.N)/(1<<20), "heap-MiB")
			b.ReportMetric(series/float64(b.N), "series")
			b.ReportMetric(heap/series, "bytes/series")
			if rss, ok := residentBytes(); ok {
				// The whole benchmark process: the replay's recorded pages too.
				b.ReportMetric(float64(rss)/(1<<20), "process-RSS-MiB")
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// residentBytes reads VmRSS from /proc/self/status, where there is one.
func residentBytes() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "VmRSS:")
		if !ok {
			continue
		}
		var kB uint64
		for _, ch := range strings.TrimSuffix(strings.TrimSpace(rest), " kB") {
			if ch < '0' || ch > '9' {
				return 0, false
			}
			kB = kB*10 + uint64(ch-'0')
		}
		return kB << 10, true
	}
	return 0, false
}

// concurrentScrapes sends 20 scrapes at once through the handler and returns
// how many refreshes they started, counted as the loads' counts of the task
// sessions the simulator answered.
func concurrentScrapes(tb testing.TB, topology emsim.Topology) int {
	tb.Helper()
	clock := emsim.NewManualClock(scaleStart)
	sim := startSim(tb, topology, clock)
	e := newExporter(tb, sim.URL, nil, clock.Now, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.collector)
	h := collector.NewHandler(e.collector, reg, collector.HandlerOptions{Timeout: 5 * time.Minute})

	const scrapes = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range scrapes {
		wg.Go(func() {
			<-start
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "veeam_em_up 1") {
				tb.Errorf("scrape status %d, body without veeam_em_up 1", rec.Code)
			}
		})
	}
	close(start)
	wg.Wait()
	refreshes := 0
	for _, r := range sim.Requests() {
		// Each load counts its task sessions once, before it reads them.
		if r.Type == "ReplicaTaskSession" && strings.Contains(r.RawQuery, "&pageSize=1&") {
			refreshes++
		}
	}
	return refreshes
}

// midTopology is a sixteenth of the scale preset's VMs, enough for 20 scrapes
// to overlap a refresh, small enough for the race detector.
func midTopology() emsim.Topology {
	t := emsim.ScaleTopology()
	t.JobsPerServer = 5
	t.VMsPerJob = 5
	return t
}

func TestConcurrentScrapesRefreshOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and refreshes about 13,000 sessions")
	}
	if n := concurrentScrapes(t, midTopology()); n != 1 {
		t.Errorf("20 concurrent scrapes started %d refreshes, want 1", n)
	}
}

// BenchmarkConcurrentScrapesScale is TestConcurrentScrapesRefreshOnce at the
// scale preset. Target: 1 refresh.
func BenchmarkConcurrentScrapesScale(b *testing.B) {
	for b.Loop() {
		n := concurrentScrapes(b, emsim.ScaleTopology())
		b.ReportMetric(float64(n), "refreshes")
		if n != 1 {
			b.Errorf("20 concurrent scrapes started %d refreshes, want 1", n)
		}
	}
}
