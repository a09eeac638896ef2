package collector

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// fleetShape is the size of a generated fleet.
type fleetShape struct {
	servers, jobsPerServer, vmsPerJob int
}

// benchShape is the benchmark fleet: 4 backup servers with 25 jobs each and
// 40 VMs per job, 4,000 VMs in all.
var benchShape = fleetShape{servers: 4, jobsPerServer: 25, vmsPerJob: 40}

// benchRuns is the number of hourly job runs before the refresh.
const benchRuns = 4

// benchFleet builds the sessions of a fleet: benchRuns hourly completed runs
// per job, where every seventh VM has seen all three results and the others
// only Success, and a last run still going on in every fifth job.
func benchFleet(now time.Time, shape fleetShape) ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession) {
	var tasks []veeam.ReplicaTaskSession
	var jobs []veeam.ReplicaJobSession
	for s := range shape.servers {
		server := fmt.Sprintf("vbr-%02d.corp.example", s)
		for j := range shape.jobsPerServer {
			jobName := fmt.Sprintf("Replica %s job %03d", server, j)
			for run := range benchRuns + 1 {
				created := now.Add(-time.Duration(benchRuns-run)*time.Hour - 50*time.Minute)
				uid := fmt.Sprintf("%d-%d-%d", s, j, run)
				stillRunning := run == benchRuns
				if stillRunning && j%5 != 0 {
					continue
				}
				took := 40 * time.Minute
				if stillRunning {
					took = 0
				}
				jr := jobRun(uid, server, jobName, created, took, veeam.ResultSuccess, false)
				jobs = append(jobs, jr)
				for v := range shape.vmsPerJob {
					vm := fmt.Sprintf("vm-%d-%03d-%02d", s, j, v)
					taskUID := fmt.Sprintf("%s-%d", uid, v)
					start := created.Add(time.Duration(v) * 30 * time.Second)
					if stillRunning {
						tasks = append(tasks, running(taskUID, jr, vm, start, veeam.TaskStateInProgress))
						continue
					}
					result := veeam.ResultSuccess
					if v%7 == 0 && run < len(veeam.Results) {
						result = veeam.Results[run]
					}
					tasks = append(tasks, done(taskUID, jr, vm, start, time.Duration(5+v)*time.Minute, result))
				}
			}
		}
	}
	return tasks, jobs
}

// benchCollector is a collector refreshed once from the benchmark fleet, a
// registry holding only it, and the gatherer the handler serves it with
// (beside an empty registry, as main gives it the process and Go metrics).
func benchCollector(b *testing.B) (*Collector, *fakeSource, *prometheus.Registry, prometheus.Gatherer) {
	return benchCollectorOf(b, false)
}

// benchCollectorOf is benchCollector, with every VM of the fleet also
// backed up by a job of the same shape when backedUp is set.
func benchCollectorOf(b *testing.B, backedUp bool) (*Collector, *fakeSource, *prometheus.Registry, prometheus.Gatherer) {
	b.Helper()
	src := &fakeSource{logons: 1}
	tasks, jobs := benchFleet(t0, benchShape)
	src.set(tasks, jobs)
	if backedUp {
		src.setBackup(asBackup(tasks, jobs, func(string) string { return "Backup" }))
	}
	c := New(src, Options{Lookback: 48 * time.Hour, Overlap: time.Hour, Now: func() time.Time { return t0 }})
	if err := c.Refresh(context.Background()); err != nil {
		b.Fatalf("refresh: %v", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return c, src, reg, newScrapeGatherer(c, prometheus.NewRegistry())
}

func seriesCount(b testing.TB, g prometheus.Gatherer) int {
	b.Helper()
	families, err := g.Gather()
	if err != nil {
		b.Fatalf("gather: %v", err)
	}
	n := 0
	for _, mf := range families {
		n += len(mf.GetMetric())
	}
	return n
}

// processCPU is the CPU time, user and system, the process used so far.
func processCPU(b testing.TB) time.Duration {
	b.Helper()
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// benchScrape serves /metrics b.N times with the given request headers and
// reports the series count and the process CPU per scrape, garbage
// collection included. It serves what NewHandler serves, without the
// refresh before each scrape; viaRegistry serves a registry that collects
// the Collector instead.
func benchScrape(b *testing.B, header http.Header, viaRegistry bool) {
	benchScrapeOf(b, header, viaRegistry, false)
}

func benchScrapeOf(b *testing.B, header http.Header, viaRegistry, backedUp bool) {
	_, _, reg, g := benchCollectorOf(b, backedUp)
	if viaRegistry {
		g = reg
	}
	series := seriesCount(b, g)
	handler := promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header = header
	b.ReportAllocs()
	b.ResetTimer()
	cpuBefore := processCPU(b)
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpuBefore)/float64(time.Millisecond)/float64(b.N), "cpu-ms/scrape")
	b.ReportMetric(float64(series), "series")
}

func BenchmarkScrape4000VMs(b *testing.B) {
	benchScrape(b, http.Header{}, false)
}

// BenchmarkScrape4000VMsReplicatedAndBackedUp is the scrape of the same
// fleet when every VM is also backed up: the backup families double the
// series.
func BenchmarkScrape4000VMsReplicatedAndBackedUp(b *testing.B) {
	benchScrapeOf(b, http.Header{}, false, true)
}

func BenchmarkScrape4000VMsOpenMetrics(b *testing.B) {
	benchScrape(b, http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}}, false)
}

func BenchmarkScrape4000VMsGzip(b *testing.B) {
	benchScrape(b, http.Header{"Accept-Encoding": {"gzip"}}, false)
}

// BenchmarkScrape4000VMsRegistered is the scrape of a registry that
// collects the Collector, for those who register it themselves.
func BenchmarkScrape4000VMsRegistered(b *testing.B) {
	benchScrape(b, http.Header{}, true)
}

// BenchmarkGather4000VMs is the Gather the handler serves.
func BenchmarkGather4000VMs(b *testing.B) {
	_, _, _, g := benchCollector(b)
	benchGather(b, g)
}

// BenchmarkCollect4000VMs is the Gather of a registry that collects the
// Collector.
func BenchmarkCollect4000VMs(b *testing.B) {
	_, _, reg, _ := benchCollector(b)
	benchGather(b, reg)
}

func benchGather(b *testing.B, g prometheus.Gatherer) {
	series := seriesCount(b, g)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := g.Gather(); err != nil {
			b.Fatalf("gather: %v", err)
		}
	}
	b.ReportMetric(float64(series), "series")
}

// BenchmarkRefreshOneVMAndGather4000VMs is a refresh in which one VM
// completed a session, followed by one Gather: what a scrape costs, beyond
// EM's answer, when the state has just changed.
func BenchmarkRefreshOneVMAndGather4000VMs(b *testing.B) {
	c, src, _, g := benchCollector(b)
	jr := jobRun("bench-run", "vbr-00.corp.example", "Replica vbr-00.corp.example job 000", t0.Add(-20*time.Minute), 10*time.Minute, veeam.ResultSuccess, false)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		changed := done(fmt.Sprintf("bench-%d", i), jr, "vm-0-000-01", jr.CreationTime, 5*time.Minute, veeam.ResultWarning)
		src.set([]veeam.ReplicaTaskSession{changed}, nil)
		if err := c.Refresh(context.Background()); err != nil {
			b.Fatalf("refresh: %v", err)
		}
		if _, err := g.Gather(); err != nil {
			b.Fatalf("gather: %v", err)
		}
	}
}
