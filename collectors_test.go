package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// TestCollectorSwitches runs the binary with each collector switched off in
// turn: the simulator's request log must show none of its queries and the
// scrape none of its series, while the other collector works as usual.
func TestCollectorSwitches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		flag                   string
		kept, off              string // collector label values
		keptTypes, gone        []string
		keptPrefix, gonePrefix string
	}{
		{"--no-collector.backup", "replica", "backup", []string{"ReplicaTaskSession", "ReplicaJobSession"}, []string{"BackupTaskSession", "BackupJobSession"}, "veeam_em_replica_", "veeam_em_backup_"},
		{"--no-collector.replica", "backup", "replica", []string{"BackupTaskSession", "BackupJobSession"}, []string{"ReplicaTaskSession", "ReplicaJobSession"}, "veeam_em_backup_", "veeam_em_replica_"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			sim := startSimulatedEM(t, 11, emsim.NewManualClock(time.Now().UTC()))
			exp := startExporter(t, bin, append(sim.flags(), tc.flag)...)
			exp.scrape()
			_, families := exp.scrape()
			if got := gaugeValue(families, "veeam_em_up"); got != 1 {
				t.Fatalf("veeam_em_up = %v with %s, want 1", got, tc.flag)
			}

			queried := map[string]int{}
			for _, r := range sim.Requests() {
				if r.Type != "" {
					queried[r.Type]++
				}
			}
			for _, q := range tc.keptTypes {
				if queried[q] < 2 {
					t.Errorf("%s queried %d times in 2 scrapes, want at least 2", q, queried[q])
				}
			}
			for _, q := range tc.gone {
				if queried[q] != 0 {
					t.Errorf("%s queried %d times with %s", q, queried[q], tc.flag)
				}
			}

			kept := false
			for name, mf := range families {
				kept = kept || strings.HasPrefix(name, tc.keptPrefix)
				if strings.HasPrefix(name, tc.gonePrefix) {
					t.Errorf("family %s exposed with %s", name, tc.flag)
				}
				for _, m := range mf.GetMetric() {
					if label := labelOf(m, "collector", "type"); label == tc.off || slices.Contains(tc.gone, label) {
						t.Errorf("%s{…%q} exposed with %s", name, label, tc.flag)
					}
				}
			}
			if !kept {
				t.Errorf("no %s family with %s", tc.keptPrefix, tc.flag)
			}
			if v := labelledValue(families, "veeam_em_collector_success", "collector", tc.kept); v != 1 {
				t.Errorf("veeam_em_collector_success{collector=%q} = %v, want 1", tc.kept, v)
			}
		})
	}

	t.Run("both off", func(t *testing.T) {
		out, err := exec.Command(bin, "--demo", "--no-collector.replica", "--no-collector.backup", "--web.listen-address="+freeAddr(t)).CombinedOutput()
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
