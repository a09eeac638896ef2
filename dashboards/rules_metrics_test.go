package dashboards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

// ruleFiles are the Prometheus rule files shipped in deploy/: the alerts,
// the recording rules, and the example of per-job and per-VM overrides.
var ruleFiles = []string{
	"../deploy/prometheus/veeam_em_alerts.yml",
	"../deploy/prometheus/veeam_em_rules.yml",
	"../deploy/prometheus/examples/veeam_em_overrides.yml",
}

// ruleGroups is the part of a Prometheus rule file this test reads.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestRulesSelectKnownMetrics checks that every alert and recording rule
// selects only metrics the exporter really produces, after a refresh of both
// collectors, or names the rule files record: a rule on a misspelt or
// renamed metric would never fire, and promtool's unit tests, fed with
// hand-written series, cannot tell. Counters, as in the dashboards, may only
// be read through rate(), irate(), increase() or resets() over a range.
func TestRulesSelectKnownMetrics(t *testing.T) {
	files := make(map[string]ruleGroups, len(ruleFiles))
	recorded := make(map[string]bool)
	for _, path := range ruleFiles {
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var groups ruleGroups
		if err := yaml.Unmarshal(content, &groups); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		files[path] = groups
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
			}
		}
	}
	// Prometheus itself writes up for every target.
	recorded["up"] = true
	exporter, counters := exporterMetricNames(t)
	known := knownMetrics{exporter: exporter, recorded: recorded, rulesSource: "the rule files of deploy/prometheus", counters: counters}
	checked := 0
	for path, groups := range files {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				name := r.Alert + r.Record
				names, err := selectedMetrics(strings.TrimSpace(r.Expr))
				if err != nil {
					t.Errorf("%s: %s: %v", filepath.Base(path), name, err)
					continue
				}
				for _, metric := range names {
					checked++
					if err := known.check(metric); err != nil {
						t.Errorf("%s: %s: %v", filepath.Base(path), name, err)
					}
				}
				for _, err := range checkCounterUse(r.Expr, known.counters) {
					t.Errorf("%s: %s: %v", filepath.Base(path), name, err)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no metric selected by any rule: the test would prove nothing")
	}
}
