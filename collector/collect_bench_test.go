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

// Shape of the benchmark fleet: 4 backup servers with 25 jobs each and 40
// VMs per job, 4,000 VMs in all.
const (
	benchServers       = 4
	benchJobsPerServer = 25
	benchVMsPerJob     = 40
	benchRuns          = 4 // hourly job runs before the refresh
)

// benchFleet builds the sessions of the benchmark fleet: benchRuns hourly
// completed runs per job, where every seventh VM has seen all three results
// and the others only Success, and a last run still going on in every fifth
// job.
func benchFleet(now time.Time) ([]veeam.ReplicaTaskSession, []veeam.ReplicaJobSession) {
	var tasks []veeam.ReplicaTaskSession
	var jobs []veeam.ReplicaJobSession
	for s := range benchServers {
		server := fmt.Sprintf("vbr-%02d.corp.example", s)
		for j := range benchJobsPerServer {
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
				for v := range benchVMsPerJob {
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

// benchCollector is a collector refreshed once from the benchmark fleet and
// a registry holding only it.
func benchCollector(b *testing.B) (*Collector, *fakeSource, *prometheus.Registry) {
	b.Helper()
	src := &fakeSource{logons: 1}
	src.set(benchFleet(t0))
	c := New(src, Options{Lookback: 48 * time.Hour, Overlap: time.Hour, Now: func() time.Time { return t0 }})
	if err := c.Refresh(context.Background()); err != nil {
		b.Fatalf("refresh: %v", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return c, src, reg
}

func seriesCount(b *testing.B, g prometheus.Gatherer) int {
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
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// benchScrape serves /metrics b.N times with the given request headers and
// reports the series count and the process CPU per scrape, garbage
// collection included.
func benchScrape(b *testing.B, header http.Header) {
	_, _, reg := benchCollector(b)
	series := seriesCount(b, reg)
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
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
	benchScrape(b, http.Header{})
}

func BenchmarkScrape4000VMsOpenMetrics(b *testing.B) {
	benchScrape(b, http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}})
}

func BenchmarkScrape4000VMsGzip(b *testing.B) {
	benchScrape(b, http.Header{"Accept-Encoding": {"gzip"}})
}

func BenchmarkCollect4000VMs(b *testing.B) {
	_, _, reg := benchCollector(b)
	series := seriesCount(b, reg)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatalf("gather: %v", err)
		}
	}
	b.ReportMetric(float64(series), "series")
}

// BenchmarkRefreshOneVMAndGather4000VMs is a refresh in which one VM
// completed a session, followed by one Gather: what a scrape costs, beyond
// EM's answer, when the state has just changed.
func BenchmarkRefreshOneVMAndGather4000VMs(b *testing.B) {
	c, src, reg := benchCollector(b)
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
		if _, err := reg.Gather(); err != nil {
			b.Fatalf("gather: %v", err)
		}
	}
}
