package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The conventions of Grafana's dashboard-linter that apply to these
// dashboards and that checkSettings, checkPanels and checkDatasources do not
// already enforce (title, unit and datasource of every panel and target, no
// hard-coded datasource). Rules of the linter left out on purpose:
//   - template-job-rule, template-instance-rule and target-job-rule, which
//     want job and instance variables and matchers: the series of this
//     exporter are chosen by backup server, job and VM, which its labels
//     name whatever the scrape job;
//   - uneditable-dashboard-rule: the dashboards are also imported by hand
//     and adapted (thresholds, links), so they stay editable.

// counterFunctions are the functions a counter may stand in: each reads
// the increments over a range, never the raw value, which only says how
// long the exporter has been running.
func counterFunctions() []string { return []string{"rate", "irate", "increase", "resets"} }

// fixedWindow is a query allowed to read a range other than
// $__rate_interval with rate(), irate() or increase().
type fixedWindow struct {
	window string // as written between the brackets
	reason string
}

// fixedWindows are the exceptions to the $__rate_interval rule, by the
// record name of the query (promQuery.record), which names dashboard,
// panel and target.
func fixedWindows() map[string]fixedWindow {
	return map[string]fixedWindow{
		"dashboard:veeam_em_vm:panel_15_B": {
			window: "1d",
			reason: "the 95th percentile of the job's task durations over the preceding day is a baseline for the VM's own duration; over $__rate_interval it would hold only the sessions of a few minutes",
		},
	}
}

// checkConventions returns the problems of d with the dashboard-linter
// conventions above; counters are the exporter's cumulative series.
func checkConventions(d *grafanaDashboard, counters map[string]bool) []error {
	var problems []error
	problems = append(problems, checkDescriptions(d)...)
	problems = append(problems, checkVariables(d)...)
	queries, err := d.queries()
	if err != nil {
		return append(problems, err)
	}
	for _, q := range queries {
		problems = append(problems, checkRangeWindows(q)...)
		if !q.variable {
			// A variable's query only lists label values: a counter in it
			// is a selector, not a value.
			for _, err := range checkCounterUse(q.expr, counters) {
				problems = append(problems, fmt.Errorf("%s: %w", q.source, err))
			}
		}
	}
	return problems
}

// checkDescriptions wants a description on every panel but rows: it is the
// panel's (i) tooltip, where a reader learns what it shows.
func checkDescriptions(d *grafanaDashboard) []error {
	var problems []error
	for _, p := range d.allPanels() {
		if p.Type != "row" && strings.TrimSpace(p.Description) == "" {
			problems = append(problems, fmt.Errorf("%s panel %d %q: no description", d.file, p.ID, p.Title))
		}
	}
	return problems
}

// checkVariables checks the template variables: one datasource variable,
// labelled as Grafana labels its own, and query variables that run on the
// chosen datasource and refresh when the time range changes, so that
// their values follow the series of the range shown.
func checkVariables(d *grafanaDashboard) []error {
	var problems []error
	datasources := 0
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			datasources++
			if v.Label != "Data source" {
				problems = append(problems, fmt.Errorf("%s variable %q: label %q, want \"Data source\"", d.file, v.Name, v.Label))
			}
		case "query":
			if v.Refresh != 2 {
				problems = append(problems, fmt.Errorf("%s variable %q: refresh %d, want 2 (on time range change)", d.file, v.Name, v.Refresh))
			}
			if v.Datasource == nil {
				problems = append(problems, fmt.Errorf("%s variable %q: no datasource", d.file, v.Name))
			}
		}
	}
	if datasources != 1 {
		problems = append(problems, fmt.Errorf("%s: %d datasource variables, want 1", d.file, datasources))
	}
	return problems
}

// checkRangeWindows wants every range read by rate(), irate() and
// increase() to be $__rate_interval: Grafana derives it from the panel's
// step and the datasource's scrape interval, so the windows neither miss
// increments between steps nor hold fewer than two samples. increase()
// over $__range is allowed in an instant query, where it is the total of
// the time range shown; fixedWindows lists the other exceptions.
func checkRangeWindows(q promQuery) []error {
	scan, err := scanExpr(q.expr)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", q.source, err)}
	}
	var problems []error
	for _, r := range scan.ranges {
		if r.call != "rate" && r.call != "irate" && r.call != "increase" {
			continue
		}
		variable := ""
		if len(r.window) == 1 && r.window[0].kind == variableToken {
			variable = r.window[0].text
		}
		window := windowText(r.window)
		exception, excepted := fixedWindows()[q.record]
		switch {
		case variable == "__rate_interval":
		case variable == "__range" && r.call == "increase" && q.instant:
		case excepted && exception.window == window:
		case variable == "__range" && r.call == "increase":
			problems = append(problems, fmt.Errorf("%s: increase() over [$__range] in a range query; use it only in an instant query, or use [$__rate_interval]", q.source))
		default:
			problems = append(problems, fmt.Errorf("%s: %s() over [%s]; use [$__rate_interval]", q.source, r.call, window))
		}
	}
	return problems
}

// windowText renders a range window as written.
func windowText(window []token) string {
	var out strings.Builder
	for _, tok := range window {
		if tok.kind == variableToken {
			out.WriteString("$")
		}
		out.WriteString(tok.text)
	}
	return out.String()
}

// checkCounterUse wants every counter an expression selects to stand,
// with a range, directly in one of counterFunctions.
func checkCounterUse(expr string, counters map[string]bool) []error {
	scan, err := scanExpr(expr)
	if err != nil {
		return []error{err}
	}
	var problems []error
	for _, s := range scan.selectors {
		if !counters[s.metric] {
			continue
		}
		inFunction := false
		for _, f := range counterFunctions() {
			inFunction = inFunction || s.call == f
		}
		if !inFunction || !s.ranged {
			problems = append(problems, fmt.Errorf("counter %s is not read through %s over a range", s.metric, strings.Join(counterFunctions(), "(), ")+"()"))
		}
	}
	return problems
}

// TestConventionViolationsFail plants one violation of a convention in a
// copy of a real dashboard, as a careless edit would, and expects the
// checks to name it.
func TestConventionViolationsFail(t *testing.T) {
	known := loadKnownMetrics(t)
	for _, tc := range []struct {
		name, file, from, to, want string
	}{
		{"rate over a fixed window", overview,
			"rate(veeam_em_refreshes_total[$__rate_interval])", "rate(veeam_em_refreshes_total[5m])",
			`panel 31 "Refreshes and failures per minute" target A: rate() over [5m]; use [$__rate_interval]`},
		{"annotation over a fixed window", overview,
			"increase(veeam_em_refresh_failures_total[$__rate_interval])) > 0", "increase(veeam_em_refresh_failures_total[2m])) > 0",
			`annotation "Refresh failures": increase() over [2m]; use [$__rate_interval]`},
		{"increase over the time range in a range query", overview,
			"increase(veeam_em_logons_total[$__rate_interval])", "increase(veeam_em_logons_total[$__range])",
			`panel 33 "Logons to EM, and rejected" target A: increase() over [$__range] in a range query`},
		{"another window than the exception's", vmDashboard,
			"[1d]", "[2d]",
			`panel 15 "Task duration" target B: increase() over [2d]; use [$__rate_interval]`},
		{"counter outside any function", overview,
			"sum by (instance) (rate(veeam_em_refreshes_total[$__rate_interval])) * 60", "sum by (instance) (veeam_em_refreshes_total)",
			`target A: counter veeam_em_refreshes_total is not read through rate(), irate(), increase(), resets() over a range`},
		{"counter in a gauge's function", overview,
			"rate(veeam_em_refreshes_total[$__rate_interval])", "max_over_time(veeam_em_refreshes_total[$__rate_interval])",
			"counter veeam_em_refreshes_total is not read through"},
		{"histogram count outside increase", overview,
			"(increase(veeam_em_replica_task_duration_seconds_count{", "(last_over_time(veeam_em_replica_task_duration_seconds_count{",
			"counter veeam_em_replica_task_duration_seconds_count is not read through"},
		{"query variable refreshed on load only", overview,
			`"refresh": 2`, `"refresh": 1`,
			`variable "backup_server": refresh 1, want 2 (on time range change)`},
		{"datasource variable labelled otherwise", overview,
			`"label": "Data source"`, `"label": "Prometheus"`,
			`variable "datasource": label "Prometheus", want "Data source"`},
		{"hard-coded datasource uid", overview,
			`"uid": "${datasource}"`, `"uid": "P1809F7CD0C75ACF3"`,
			`.annotations.list[0].datasource is map[type:prometheus uid:P1809F7CD0C75ACF3], want {"type": "prometheus", "uid": "${datasource}"}`},
		{"panel without a unit", overview,
			`"unit": "opm"`, `"unit": ""`,
			`panel 31 "Refreshes and failures per minute": no unit in fieldConfig.defaults`},
		{"panel without a title", overview,
			`"title": "Refreshes and failures per minute"`, `"title": ""`,
			`panel 31 "": no title`},
		{"panel without a description", overview,
			`"description": "Refreshes from Enterprise Manager that failed in the selected time range; the exporter's log names the cause of each."`, `"description": ""`,
			`panel 28 "Refresh failures (time range)": no description`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(content), tc.from) {
				t.Fatalf("%s does not contain %q", tc.file, tc.from)
			}
			broken := strings.Replace(string(content), tc.from, tc.to, 1)
			assertProblem(t, []byte(broken), tc.file, known, tc.want)
		})
	}
}

// TestCollapsedRowPanelsAreChecked moves a panel into a collapsed row, where
// Grafana keeps it in the row's own list, and plants a fixed rate window
// there.
func TestCollapsedRowPanelsAreChecked(t *testing.T) {
	known := loadKnownMetrics(t)
	content, err := os.ReadFile(overview)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(content, &doc); err != nil {
		t.Fatal(err)
	}
	panels, _ := doc["panels"].([]any)
	var moved map[string]any
	var kept []any
	for _, p := range panels {
		panel, _ := p.(map[string]any)
		if id, _ := panel["id"].(float64); id == 31 {
			moved = panel
			continue
		}
		kept = append(kept, p)
	}
	if moved == nil {
		t.Fatal("no panel 31")
	}
	row, _ := kept[0].(map[string]any)
	if row["type"] != "row" {
		t.Fatalf("the first panel is a %v, not a row", row["type"])
	}
	row["collapsed"] = true
	row["panels"] = []any{moved}
	doc["panels"] = kept
	nested, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if problems := dashboardProblems(t, nested, overview, known); problems != nil {
		t.Fatalf("the dashboard with a collapsed row has problems before it is broken: %v", problems)
	}
	broken := strings.Replace(string(nested), "[$__rate_interval]", "[5m]", -1)
	assertProblem(t, []byte(broken), overview, known, `panel 31 "Refreshes and failures per minute" target A: rate() over [5m]`)
}

const (
	overview    = "veeam-em-overview.json"
	vmDashboard = "veeam-em-vm.json"
)

// assertProblem checks the dashboard content, named file, and wants a
// problem containing want.
func assertProblem(t *testing.T, content []byte, file string, known knownMetrics, want string) {
	t.Helper()
	problems := dashboardProblems(t, content, file, known)
	if problems == nil || !strings.Contains(problems.Error(), want) {
		t.Fatalf("problems = %v, want one containing %q", problems, want)
	}
}

// dashboardProblems checks the dashboard content, named file, with the
// other real dashboards it may link to.
func dashboardProblems(t *testing.T, content []byte, file string, known knownMetrics) error {
	t.Helper()
	d, err := parseDashboard(file, content)
	if err != nil {
		t.Fatal(err)
	}
	all := []*grafanaDashboard{d}
	for _, other := range []string{overview, vmDashboard} {
		if other != file {
			o, err := loadDashboard(other)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, o)
		}
	}
	return errors.Join(checkDashboard(d, all, known)...)
}

// TestCounterUse runs hand-written expressions through the counter rule.
func TestCounterUse(t *testing.T) {
	counters := map[string]bool{"veeam_em_refreshes_total": true, "veeam_em_replica_task_duration_seconds_bucket": true}
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`rate(veeam_em_refreshes_total[5m])`, true},
		{`sum by (instance) (increase(veeam_em_refreshes_total{instance=~"$instance"}[$__rate_interval]))`, true},
		{`resets(veeam_em_refreshes_total[1h]) > 0 and irate(veeam_em_refreshes_total[5m]) > 0`, true},
		{`increase({__name__="veeam_em_refreshes_total"}[1h])`, true},
		{`histogram_quantile(0.9, sum by (le) (rate(veeam_em_replica_task_duration_seconds_bucket[5m])))`, true},
		{`label_replace(rate(veeam_em_refreshes_total[5m]), "a", "$1", "b", "(.*)")`, true},
		{`veeam_em_up`, true},
		{`veeam_em_refreshes_total`, false},
		{`sum(veeam_em_refreshes_total)`, false},
		{`sum by (instance) (veeam_em_refreshes_total)`, false},
		{`rate(veeam_em_refreshes_total[5m:1m])`, false},
		{`{__name__="veeam_em_refreshes_total"} > 0`, false},
		{`rate(veeam_em_refreshes_total[5m]) / veeam_em_refreshes_total`, false},
		{`histogram_quantile(0.9, veeam_em_replica_task_duration_seconds_bucket)`, false},
	} {
		problems := checkCounterUse(tc.expr, counters)
		if (len(problems) == 0) != tc.ok {
			t.Errorf("checkCounterUse(%q) = %v, want ok %t", tc.expr, problems, tc.ok)
		}
	}
}

// TestRangeWindows runs hand-written queries through the $__rate_interval
// rule.
func TestRangeWindows(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		instant bool
		ok      bool
	}{
		{`rate(veeam_em_refreshes_total[$__rate_interval])`, false, true},
		{`sum(irate(veeam_em_refreshes_total{job="x"}[${__rate_interval}])) * 60`, false, true},
		{`increase(veeam_em_refreshes_total[$__range])`, true, true},
		{`max_over_time(veeam_em_up[1d]) and delta(veeam_em_up[15m])`, false, true},
		{`rate(veeam_em_refreshes_total[5m])`, false, false},
		{`increase(veeam_em_refreshes_total[1h])`, true, false},
		{`rate(veeam_em_refreshes_total[$__interval])`, false, false},
		{`rate(veeam_em_refreshes_total[$__range])`, true, false},
		{`increase(veeam_em_refreshes_total[$__range])`, false, false},
		{`rate(max_over_time(veeam_em_refreshes_total[1h])[5m:])`, false, false},
	} {
		q := promQuery{source: "test", record: "test:query", expr: tc.expr, instant: tc.instant}
		problems := checkRangeWindows(q)
		if (len(problems) == 0) != tc.ok {
			t.Errorf("checkRangeWindows(%q, instant %t) = %v, want ok %t", tc.expr, tc.instant, problems, tc.ok)
		}
	}
}
