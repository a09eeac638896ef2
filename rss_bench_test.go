package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// rssOfProcess is the resident set of process pid, VmRSS in /proc.
func rssOfProcess(pid int) (int64, error) {
	return rssStatusField(pid, "VmRSS")
}

// rssStatusField reads a memory field of /proc/<pid>/status, in bytes.
func rssStatusField(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		name, value, ok := strings.Cut(lines.Text(), ":")
		if !ok || name != field {
			continue
		}
		kB, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s of process %d: %w", field, pid, err)
		}
		return kB << 10, nil
	}
	if err := lines.Err(); err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	return 0, fmt.Errorf("process %d: no %s in /proc status", pid, field)
}

// rssSessionSamples counts the exposed samples of the veeam_em_replica_*
// and veeam_em_backup_* families, histogram buckets included: what a
// Prometheus stores per scrape.
func rssSessionSamples(body string) int {
	n := 0
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "veeam_em_replica_") || strings.HasPrefix(line, "veeam_em_backup_") {
			n++
		}
	}
	return n
}

// BenchmarkExporterRSSScale measures the resident memory of the real binary
// after its first full refresh of emsim.ScaleTopology(): 4,000 VMs, 48
// hours of hourly task sessions, all inside the exporter's lookback. The
// simulator runs in the benchmark process over plain HTTP without latency,
// so the exporter process holds only its own memory. Run it with
// -benchtime 1x: every iteration starts a fresh exporter. The second case
// gives the exporter a soft memory limit, to show how much of the resident
// set is garbage the runtime had not yet needed to collect. Each runs with
// the replica collector alone, which issue 4's target was set for, and with
// both collectors, as the exporter runs by default.
func BenchmarkExporterRSSScale(b *testing.B) {
	const user, password = "restuser@corp.local", "rss-Pa55word"
	sim, err := emsim.Start(emsim.Config{Seed: 42, Username: user, Password: password, Topology: emsim.ScaleTopology()}, false)
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	passwordFile := filepath.Join(b.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte(password), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := buildBinary(b)
	args := []string{
		"--veeam.url=" + sim.URL,
		"--veeam.username=" + user,
		"--veeam.password-file=" + passwordFile,
		"--veeam.timeout=5m",
		"--sessions.lookback=49h",
	}
	cases := []struct {
		name string
		env  []string
	}{
		{"gomemlimit=off", []string{"GOMEMLIMIT=off", "GOGC=100"}},
		{"gomemlimit=100MiB", []string{"GOMEMLIMIT=100MiB", "GOGC=100"}},
	}
	collectors := []struct {
		name string
		args []string
	}{
		{"replica", []string{"--no-collector.backup"}},
		{"replica+backup", nil},
	}
	for _, set := range collectors {
		for _, c := range cases {
			b.Run("collectors="+set.name+"/"+c.name, func(b *testing.B) {
				rssMeasure(b, bin, c.env, append(slices.Clone(args), set.args...))
			})
		}
	}
}

// rssMeasure starts a fresh exporter per iteration, scrapes it twice and
// reports its resident memory.
func rssMeasure(b *testing.B, bin string, env, args []string) {
	var firstRSS, peakRSS, secondRSS int64
	var samples int
	var firstScrape time.Duration
	var err error
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		exp := startExporterWithEnv(b, bin, env, args...)
		pid := exp.cmd.Process.Pid
		b.StartTimer()
		began := time.Now()
		body, families := exp.scrape()
		firstScrape = time.Since(began)
		b.StopTimer()
		if up := gaugeValue(families, "veeam_em_up"); up != 1 {
			b.Fatalf("first scrape: veeam_em_up = %v, want 1", up)
		}
		samples = rssSessionSamples(body)
		if firstRSS, err = rssOfProcess(pid); err != nil {
			b.Fatal(err)
		}
		if peakRSS, err = rssStatusField(pid, "VmHWM"); err != nil {
			b.Fatal(err)
		}
		exp.scrape()
		if secondRSS, err = rssOfProcess(pid); err != nil {
			b.Fatal(err)
		}
		_ = exp.cmd.Process.Kill()
		b.StartTimer()
	}
	b.StopTimer()
	if samples == 0 {
		b.Fatal("the scrape exposed no session samples")
	}
	const mib = 1 << 20
	b.ReportMetric(float64(firstRSS)/mib, "process-RSS-MiB")
	b.ReportMetric(float64(peakRSS)/mib, "peak-RSS-MiB")
	b.ReportMetric(float64(secondRSS)/mib, "second-scrape-RSS-MiB")
	b.ReportMetric(float64(samples), "series")
	b.ReportMetric(float64(firstRSS)/float64(samples), "RSS-bytes/series")
	b.ReportMetric(firstScrape.Seconds(), "first-scrape-s")
}
