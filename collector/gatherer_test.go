package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// acceptHeaders are the exposition formats a scrape can negotiate.
var acceptHeaders = map[string]http.Header{
	"text":        {},
	"openmetrics": {"Accept": {"application/openmetrics-text; version=1.0.0"}},
	"gzip":        {"Accept-Encoding": {"gzip"}},
}

// serve answers one scrape of g with the given request headers, unzipped.
func serve(t testing.TB, g prometheus.Gatherer, header http.Header) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header = header
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.String()
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestHandlerGathersAsRegistryWould checks that the handler's families,
// served from the cache without the registry's checks and sort, give the
// same exposition, byte for byte and in every format, as a registry that
// collects the Collector.
func TestHandlerGathersAsRegistryWould(t *testing.T) {
	hard := func() ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession) {
		j := jobRun("dr", "sauvegarde-Genève.corp.local", "Replica@DR site", t0.Add(-4*time.Hour), time.Hour, veeam.ResultSuccess, false)
		var tasks []veeam.ReplicaTaskSession
		for i, vm := range []string{`fs01, "legacy"`, `app;db`, `C:\share\vm`, `Zürich-DC`, `数据库-01`, `a`, `B`} {
			tasks = append(tasks, done(fmt.Sprint("hard", i), j, vm, j.CreationTime.Add(time.Duration(i)*time.Minute), 10*time.Minute, veeam.Results[i%len(veeam.Results)]))
		}
		return tasks, []veeam.ReplicaJobSession{j}
	}
	fleet := func() ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession) {
		return benchFleet(t0, fleetShape{servers: 3, jobsPerServer: 4, vmsPerJob: 9})
	}
	for name, sessions := range map[string]func() ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession){
		"states and results": statesAndResults,
		"hard names":         hard,
		"fleet":              fleet,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.src.set(sessions())
			f.refresh(t)
			registered := prometheus.NewPedanticRegistry()
			registered.MustRegister(f.c)
			for format, header := range acceptHeaders {
				want := serve(t, registered, header)
				if got := serve(t, newScrapeGatherer(f.c, prometheus.NewRegistry()), header); got != want {
					t.Errorf("%s: the handler's exposition differs from the registry's:\n%s\nwant:\n%s", format, got, want)
				}
			}
		})
	}
}

// TestHandlerExposesSeriesOnce registers the Collector with the gatherer it
// gives the handler too, as a caller may: every family must still appear
// once, and the answer must match the one without the registration.
func TestHandlerExposesSeriesOnce(t *testing.T) {
	f := newFixture(t)
	f.src.set(statesAndResults())
	f.refresh(t)
	others := prometheus.NewRegistry()
	others.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "other_metric", Help: "Another collector's metric."}, func() float64 { return 1 }))
	withCollector := prometheus.NewRegistry()
	withCollector.MustRegister(f.c)
	both := prometheus.Gatherers{others, withCollector}

	want := serve(t, newScrapeGatherer(f.c, others), acceptHeaders["text"])
	got := serve(t, newScrapeGatherer(f.c, both), acceptHeaders["text"])
	if got != want {
		t.Errorf("with the Collector registered too:\n%s\nwant:\n%s", got, want)
	}
	for _, name := range []string{"other_metric", "veeam_em_up", "veeam_em_replica_task_last_state", "veeam_em_replica_job_sessions_total"} {
		if n := strings.Count(got, "# TYPE "+name+" "); n != 1 {
			t.Errorf("family %s exposed %d times, want once", name, n)
		}
	}
}

// TestConcurrentScrapesDuringRefreshes scrapes in every format, and
// collects, while refreshes change, add and expire series: run with -race,
// it shows that no refresh modifies what a scrape encodes. Each answer must
// parse and hold one consistent refresh: every VM has as many last_state
// series as there are task states.
func TestConcurrentScrapesDuringRefreshes(t *testing.T) {
	f := newFixture(t)
	shape := fleetShape{servers: 2, jobsPerServer: 3, vmsPerJob: 6}
	tasks, jobs := benchFleet(t0, shape)
	f.src.set(tasks, jobs)
	f.refresh(t)
	// NewHandler does not offer OpenMetrics; the same gatherer behind a
	// handler that does stands in for it.
	handlers := map[string]http.Handler{
		"text":        NewHandler(f.c, prometheus.NewRegistry(), HandlerOptions{}),
		"gzip":        NewHandler(f.c, prometheus.NewRegistry(), HandlerOptions{}),
		"openmetrics": promhttp.HandlerFor(newScrapeGatherer(f.c, prometheus.NewRegistry()), promhttp.HandlerOpts{EnableOpenMetrics: true}),
	}

	stop := make(chan struct{})
	var scrapes atomic.Int64
	var scrapers sync.WaitGroup
	for format, header := range acceptHeaders {
		h := handlers[format]
		scrapers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header = header
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				checkScrape(t, format, rec)
				scrapes.Add(1)
			}
		})
	}
	scrapers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := prometheus.NewRegistry().Gather(); err != nil {
				t.Error(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(f.c)
			if _, err := reg.Gather(); err != nil {
				t.Errorf("gather through a registry: %v", err)
			}
		}
	})

	// Each refresh, a job runs again for some of its VMs, a new VM appears,
	// and runs leave the lookback as the clock moves.
	for i := range 12 {
		// Let some scrapes run between refreshes.
		for before := scrapes.Load(); scrapes.Load() < before+int64(len(acceptHeaders)); {
			runtime.Gosched()
		}
		f.clock.Advance(45 * time.Minute)
		now := f.clock.Now()
		j := jobRun(fmt.Sprint("extra-", i), "vbr-00.corp.example", fmt.Sprintf("Replica vbr-00.corp.example job %03d", i%shape.jobsPerServer), now.Add(-10*time.Minute), 5*time.Minute, veeam.Results[i%len(veeam.Results)], i%2 == 1)
		jobs = append(jobs, j)
		for v := range 3 {
			tasks = append(tasks, done(fmt.Sprintf("extra-%d-%d", i, v), j, fmt.Sprintf("vm-0-%03d-%02d", i%shape.jobsPerServer, v), j.CreationTime, time.Minute, j.Result))
		}
		tasks = append(tasks, running(fmt.Sprint("new-", i), j, fmt.Sprint("new-vm-", i), now.Add(-time.Minute), veeam.TaskStateInProgress))
		f.src.set(tasks, jobs)
		if err := f.c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	scrapers.Wait()
}

// checkScrape parses one answer and checks that every VM it shows has one
// last_state series per task state.
func checkScrape(t *testing.T, format string, rec *httptest.ResponseRecorder) {
	if rec.Code != http.StatusOK {
		t.Errorf("%s: status %d", format, rec.Code)
		return
	}
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			t.Errorf("%s: %v", format, err)
			return
		}
	}
	if strings.Contains(rec.Header().Get("Content-Type"), "openmetrics") != (format == "openmetrics") {
		t.Errorf("%s: answered as %s", format, rec.Header().Get("Content-Type"))
		return
	}
	if format == "openmetrics" {
		// The text parser does not read OpenMetrics; its end marker shows
		// the answer is whole.
		if !bytes.HasSuffix(body, []byte("# EOF\n")) {
			t.Errorf("%s: answer without # EOF", format)
		}
		return
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: unparseable answer: %v", format, err)
		return
	}
	states := map[string]int{}
	for _, m := range families["veeam_em_replica_task_last_state"].GetMetric() {
		var vm string
		for _, l := range m.GetLabel() {
			if l.GetName() == "vm" {
				vm = l.GetValue()
			}
		}
		states[vm]++
	}
	if len(states) == 0 {
		t.Errorf("%s: no task series", format)
	}
	for vm, n := range states {
		if n != len(veeam.TaskStates) {
			t.Errorf("%s: VM %s has %d last_state series, want %d", format, vm, n, len(veeam.TaskStates))
		}
	}
}
