package dashboards

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ruleFileEnv names the file TestWriteRuleFile writes for check.sh.
const ruleFileEnv = "VEEAM_EM_DASHBOARD_RULES"

// TestWriteRuleFile writes every dashboard query, Grafana variables filled
// in, as a recording rule, for promtool to parse (see check.sh). It writes
// to $VEEAM_EM_DASHBOARD_RULES, or to a temporary file when that is unset,
// and checks that the file holds each query once.
func TestWriteRuleFile(t *testing.T) {
	dashboards, err := loadDashboards(".")
	if err != nil {
		t.Fatal(err)
	}
	ruleFile, queries, err := dashboardRuleFile(dashboards)
	if err != nil {
		t.Fatal(err)
	}
	path := os.Getenv(ruleFileEnv)
	if path == "" {
		path = filepath.Join(t.TempDir(), "dashboards.rules.yml")
	}
	if err := os.WriteFile(path, []byte(ruleFile), 0o644); err != nil {
		t.Fatalf("write the rule file: %v", err)
	}
	t.Logf("wrote %d dashboard queries to %s", queries, path)

	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	records := recordedNames(string(written))
	if len(records) != queries || queries == 0 {
		t.Fatalf("rule file records %d names for %d queries", len(records), queries)
	}
	seen := make(map[string]bool, len(records))
	for _, name := range records {
		if seen[name] {
			t.Errorf("record name %s is used twice: promtool would report a duplicate", name)
		}
		seen[name] = true
	}
}

// dashboardRuleFile renders a Prometheus rule file with one group per
// dashboard and one recording rule per query, and returns how many queries
// it holds.
func dashboardRuleFile(dashboards []*grafanaDashboard) (string, int, error) {
	var out strings.Builder
	out.WriteString("# Generated from dashboards/*.json by TestWriteRuleFile for check.sh: every\n")
	out.WriteString("# dashboard query, Grafana variables filled in, for `promtool check rules`.\n")
	out.WriteString("groups:\n")
	count := 0
	for _, d := range dashboards {
		queries, err := d.queries()
		if err != nil {
			return "", 0, err
		}
		fmt.Fprintf(&out, "  - name: %s\n    rules:\n", quoted(d.file))
		for _, q := range queries {
			expr, err := substituteVariables(q.expr, d.variableNames())
			if err != nil {
				return "", 0, fmt.Errorf("%s: %w", q.source, err)
			}
			fmt.Fprintf(&out, "      # %s\n", strings.ReplaceAll(q.source, "\n", " "))
			fmt.Fprintf(&out, "      - record: %s\n        expr: %s\n", q.record, quoted(expr))
			count++
		}
	}
	return out.String(), count, nil
}

// quoted renders s as a YAML double-quoted scalar: every escape sequence
// Go's quoting produces (\n, \", \\, \xXX, \uXXXX, ...) means the same in YAML.
func quoted(s string) string {
	return strconv.Quote(s)
}
