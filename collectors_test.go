package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// TestCollectorSwitches runs the binary with each collector switched off in
// turn: the simulator's request log must show none of its requests and the
// scrape none of its series, while the other collectors work as usual.
func TestCollectorSwitches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		off      collector.Kind
		types    []string // its EM request types
		prefixes []string // its families
	}{
		{collector.Replica, []string{"ReplicaTaskSession", "ReplicaJobSession"}, []string{"veeam_em_replica_task_", "veeam_em_replica_job_"}},
		{collector.Backup, []string{"BackupTaskSession", "BackupJobSession"}, []string{"veeam_em_backup_task_", "veeam_em_backup_job_"}},
		{collector.Repository, []string{"Repository"}, []string{"veeam_em_repository_"}},
		{collector.Job, []string{"Job"}, []string{"veeam_em_job_"}},
		{collector.BackupServer, []string{"BackupServer"}, []string{"veeam_em_backup_server_"}},
		{collector.Summary, []string{"OverviewReportFrame", "VmsOverviewReportFrame", "JobStatisticsReportFrame"}, []string{"veeam_em_summary_"}},
		{collector.ReplicaPoint, []string{"VmReplicaPoint"}, []string{"veeam_em_replica_vm_"}},
		{collector.CDP, []string{"CdpPolicy", "CdpReplicaSession", "CdpReplicaTaskSession"}, []string{"veeam_em_cdp_"}},
	} {
		flag := "--no-collector." + string(tc.off)
		t.Run(flag, func(t *testing.T) {
			sim := startSimulatedEM(t, 11, emsim.NewManualClock(time.Now().UTC()))
			exp := startExporter(t, bin, append(sim.flags(), flag)...)
			exp.scrape()
			_, families := exp.scrape()
			if got := gaugeValue(families, "veeam_em_up"); got != 1 {
				t.Fatalf("veeam_em_up = %v with %s, want 1", got, flag)
			}

			queried := map[string]int{}
			for _, r := range sim.Requests() {
				if r.Type != "" {
					queried[r.Type]++
				}
			}
			for _, q := range tc.types {
				if queried[q] != 0 {
					t.Errorf("%s requested %d times with %s", q, queried[q], flag)
				}
			}
			// Every other collector's requests reached EM.
			for _, q := range []string{"ReplicaTaskSession", "BackupTaskSession", "Repository", "Job", "BackupServer", "OverviewReportFrame"} {
				if !slices.Contains(tc.types, q) && queried[q] == 0 {
					t.Errorf("%s never requested with %s", q, flag)
				}
			}

			for name, mf := range families {
				for _, prefix := range tc.prefixes {
					if strings.HasPrefix(name, prefix) {
						t.Errorf("family %s exposed with %s", name, flag)
					}
				}
				for _, m := range mf.GetMetric() {
					if label := labelOf(m, "collector", "type"); label == string(tc.off) || slices.Contains(tc.types, label) {
						t.Errorf("%s{…%q} exposed with %s", name, label, flag)
					}
				}
			}
			for _, k := range collector.Kinds() {
				if k != tc.off {
					if v := labelledValue(families, "veeam_em_collector_success", "collector", string(k)); v != 1 {
						t.Errorf("veeam_em_collector_success{collector=%q} = %v with %s, want 1", k, v, flag)
					}
				}
			}
		})
	}

	t.Run("all off", func(t *testing.T) {
		args := []string{"--demo", "--web.listen-address=" + freeAddr(t)}
		for _, k := range collector.Kinds() {
			args = append(args, "--no-collector."+string(k))
		}
		// Bounded: an exporter that started anyway would serve forever.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("the exporter started with every collector off:\n%s", out)
		}
		if !strings.Contains(string(out), "no collector enabled") {
			t.Errorf("the error does not say why:\n%s", out)
		}
	})
}

// labelOf is the value of the first of names m has, "" if none.
func labelOf(m *dto.Metric, names ...string) string {
	for _, lp := range m.GetLabel() {
		if slices.Contains(names, lp.GetName()) {
			return lp.GetValue()
		}
	}
	return ""
}

// labelledValue is the value of the series of name whose label is value, -1
// if there is none.
func labelledValue(families map[string]*dto.MetricFamily, name, label, value string) float64 {
	for _, m := range families[name].GetMetric() {
		if labelOf(m, label) == value {
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}
