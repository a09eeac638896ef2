package dashboards

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDashboards checks every dashboard of this directory: its settings,
// panels, datasource references and links, and that each query selects
// only metrics the exporter produces or the recording rules record.
func TestDashboards(t *testing.T) {
	known := loadKnownMetrics(t)
	dashboards, err := loadDashboards(".")
	if err != nil {
		t.Fatal(err)
	}
	files := make([]string, 0, len(dashboards))
	uids := make(map[string]string)
	for _, d := range dashboards {
		files = append(files, d.file)
		if other, taken := uids[d.UID]; taken {
			t.Errorf("%s and %s share the uid %q", other, d.file, d.UID)
		}
		uids[d.UID] = d.file
	}
	for _, want := range []string{"veeam-em-overview.json", "veeam-em-vm.json", "veeam-em-protection.json"} {
		if !slices.Contains(files, want) {
			t.Errorf("dashboard %s is missing; found %q", want, files)
		}
	}
	for _, d := range dashboards {
		t.Run(d.file, func(t *testing.T) {
			queries, err := d.queries()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d panels, %d queries", len(d.allPanels()), len(queries))
			for _, problem := range checkDashboard(d, dashboards, known) {
				t.Error(problem)
			}
		})
	}
}

// TestTypoInDashboardFails breaks one query of a real dashboard, as a
// careless edit would, and expects the check to catch it.
func TestTypoInDashboardFails(t *testing.T) {
	known := loadKnownMetrics(t)
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"metric", "veeam_em_replica_task_last_result{", "veeam_em_replica_task_last_reslt{", "metric veeam_em_replica_task_last_reslt is not produced by the exporter"},
		{"recording rule", "backup_server_job_name_vm:veeam_em_replica_last_success_age:seconds", "backup_server_job_name_vm:veeam_em_replica_last_succes_age:seconds", "recording rule backup_server_job_name_vm:veeam_em_replica_last_succes_age:seconds is not recorded"},
		{"variable", `job_name=~"$job_name"`, `job_name=~"$jobname"`, "variable $jobname is not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := loadDashboard("veeam-em-overview.json")
			if err != nil {
				t.Fatal(err)
			}
			all := []*grafanaDashboard{d}
			if vm, err := loadDashboard("veeam-em-vm.json"); err == nil {
				all = append(all, vm)
			}
			if problems := checkDashboard(d, all, known); len(problems) > 0 {
				t.Fatalf("the dashboard has problems before it is broken: %v", errors.Join(problems...))
			}
			broken := false
			for i := range d.Panels {
				for j := range d.Panels[i].Targets {
					target := &d.Panels[i].Targets[j]
					if !broken && strings.Contains(target.Expr, tc.from) {
						target.Expr = strings.Replace(target.Expr, tc.from, tc.to, 1)
						broken = true
					}
				}
			}
			if !broken {
				t.Fatalf("no query contains %q", tc.from)
			}
			problems := errors.Join(checkDashboard(d, all, known)...)
			if problems == nil || !strings.Contains(problems.Error(), tc.want) {
				t.Fatalf("problems = %v, want one containing %q", problems, tc.want)
			}
		})
	}
}

// TestCheckExpr runs hand-written expressions through the check the
// dashboards go through.
func TestCheckExpr(t *testing.T) {
	known := knownMetrics{
		exporter: map[string]bool{
			"veeam_em_up":                                   true,
			"veeam_em_replica_task_last_result":             true,
			"veeam_em_replica_task_sessions_total":          true,
			"veeam_em_replica_task_duration_seconds_bucket": true,
		},
		recorded:    map[string]bool{"result:veeam_em_replica_vms:count": true},
		rulesSource: "rules.yml",
	}
	variables := map[string]bool{"datasource": true, "backup_server": true, "vm": true}
	for _, tc := range []struct {
		name, expr string
		want       string // a substring of the only problem; "" for none
	}{
		{"plain metric", "veeam_em_up", ""},
		{"recording rule", "result:veeam_em_replica_vms:count", ""},
		{"label names are not metrics", `sum by (backup_server, not_a_metric) (veeam_em_replica_task_last_result{not_a_metric="x", result="Failed"} == 1)`, ""},
		{"matching modifiers", `veeam_em_up * on (instance) group_left (version, job) veeam_em_up unless ignoring (x) veeam_em_up`, ""},
		{"keywords in any case", `veeam_em_up AND veeam_em_up OR veeam_em_up > bool 1 + Inf`, ""},
		{"operator before a parenthesis", `veeam_em_up or (veeam_em_up unless(veeam_em_up))`, ""},
		{"durations, subqueries, offset and @", `max_over_time(rate(veeam_em_replica_task_sessions_total[1h30m])[1d:5m] offset 1w) @ end()`, ""},
		{"variables in matchers", `veeam_em_replica_task_last_result{backup_server=~"$backup_server", vm="${vm}", job_name=~"${backup_server:regex}"}`, ""},
		{"interval variables", `increase(veeam_em_replica_task_sessions_total[$__rate_interval]) / $__range_s`, ""},
		{"histogram series", `histogram_quantile(0.95, sum by (le) (rate(veeam_em_replica_task_duration_seconds_bucket[5m])))`, ""},
		{"__name__ matcher", `{__name__="veeam_em_up"}`, ""},
		{"comment", "veeam_em_up # veeam_em_nonsense", ""},
		{"strings are not metrics", `label_replace(veeam_em_up, "dst", "veeam_em_nonsense", "src", "(.*)")`, ""},
		{"capture group reference", `label_replace(veeam_em_up, "dst", "$1", "vm", "$vm")`, ""},

		{"typo in a metric", `veeam_em_replica_task_last_reslt{result="Failed"} == 1`, "metric veeam_em_replica_task_last_reslt is not produced by the exporter"},
		{"histogram without its suffix", `rate(veeam_em_replica_task_duration_seconds[5m])`, "metric veeam_em_replica_task_duration_seconds is not produced"},
		{"unknown recording rule", `backup_server_job_name:veeam_em_replica_task_sessions:success_ratio_1h`, "recording rule backup_server_job_name:veeam_em_replica_task_sessions:success_ratio_1h is not recorded in rules.yml"},
		{"unknown metric after a known one", `veeam_em_up / veeam_em_down`, "metric veeam_em_down is not produced"},
		{"unknown metric after an operator and a parenthesis", `veeam_em_up or (veeam_em_down)`, "metric veeam_em_down is not produced"},
		{"unknown metric by __name__", `{__name__="veeam_em_nope"}`, "metric veeam_em_nope is not produced"},
		{"unknown function", `rat(veeam_em_replica_task_sessions_total[5m])`, "unknown function rat()"},
		{"undefined variable", `veeam_em_up{instance=~"$instanse"}`, "variable $instanse is not defined"},
		{"variable outside a matcher", `topk($vm, veeam_em_up)`, "used outside a label matcher"},
		{"deprecated variable syntax", `veeam_em_up{vm="[[vm]]"}`, "deprecated variable syntax [[vm]]"},
		{"end anchor is not a variable", `veeam_em_up{vm=~"app.*$", job_name=~"^x$|$backup_server"}`, ""},
		{"character class is not a variable", `veeam_em_up{vm=~"[[:alpha:]]+"}`, ""},
		{"deprecated variable syntax outside a string", `veeam_em_up[[[vm]]]`, "deprecated variable syntax"},
		{"unterminated string", `veeam_em_up{vm="x}`, "unterminated string"},
		{"no metric at all", `vector(1)`, "selects no metric"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := checkExpr(tc.expr, variables, known)
			switch {
			case tc.want == "" && len(problems) > 0:
				t.Fatalf("checkExpr(%q) = %v, want no problem", tc.expr, problems)
			case tc.want != "" && (len(problems) != 1 || !strings.Contains(problems[0].Error(), tc.want)):
				t.Fatalf("checkExpr(%q) = %v, want one problem containing %q", tc.expr, problems, tc.want)
			}
		})
	}
}

func TestVariableExpr(t *testing.T) {
	for _, tc := range []struct {
		name, query, want string
		wantErr           bool
	}{
		{"label_values of a metric", `"label_values(veeam_em_up, instance)"`, "veeam_em_up", false},
		{"label_values of a selector", `"label_values(veeam_em_replica_task_last_state{backup_server=\"$backup_server\"}, job_name)"`, `veeam_em_replica_task_last_state{backup_server="$backup_server"}`, false},
		{"label_values without a metric", `"label_values(job_name)"`, "", false},
		{"query_result", `"query_result(topk(5, veeam_em_up))"`, "topk(5, veeam_em_up)", false},
		{"object form", `{"query": "label_values(veeam_em_up, instance)", "refId": "PrometheusVariableQueryEditor-VariableQuery"}`, "veeam_em_up", false},
		{"metrics() lists names, which cannot be checked", `"metrics(veeam_em_.*)"`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := variableExpr([]byte(tc.query))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("variableExpr(%s) = %q, %v; want %q, error %t", tc.query, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestMissingRulesFileFallsBackToPlannedNames(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "veeam_em_rules.yml")
	recorded, source := recordedMetrics(t, missing)
	for _, name := range plannedRecordingRules() {
		if !recorded[name] {
			t.Errorf("planned recording rule %s is not known", name)
		}
	}
	known := knownMetrics{exporter: map[string]bool{}, recorded: recorded, rulesSource: source}
	err := known.check("backup_server_job_name:veeam_em_replica_task_sessions:success_ratio_1h")
	if err == nil || !strings.Contains(err.Error(), missing+" (missing") {
		t.Fatalf("check of an unplanned recording rule = %v, want an error naming the missing file", err)
	}
}

func TestRecordedNames(t *testing.T) {
	ruleFile := `# Override example, not a rule of this file:
#   - record: veeam_em_replica_rpo_override_seconds
groups:
  - name: veeam_em_recording
    rules:
      - record: result:veeam_em_replica_vms:count
        expr: count by (result) (veeam_em_replica_task_last_result == 1)
      - expr: vector(1)
        record: "quoted:name"   # keys in either order
  - name: alerts
    rules:
      - alert: VeeamEMExporterDown
`
	got := recordedNames(ruleFile)
	want := []string{"result:veeam_em_replica_vms:count", "quoted:name"}
	if !slices.Equal(got, want) {
		t.Fatalf("recordedNames = %q, want %q", got, want)
	}
}
