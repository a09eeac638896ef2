package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// grafanaDashboard is the part of Grafana's dashboard model the checks read;
// raw keeps the whole document for checks that must see every field.
type grafanaDashboard struct {
	file string
	raw  map[string]any

	ID            any      `json:"id"`
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	SchemaVersion int      `json:"schemaVersion"`
	Tags          []string `json:"tags"`
	Refresh       string   `json:"refresh"`
	Time          struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []templateVariable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []annotationQuery `json:"list"`
	} `json:"annotations"`
}

type grafanaPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	Targets     []panelTarget  `json:"targets"`
	Panels      []grafanaPanel `json:"panels"` // those of a collapsed row
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type panelTarget struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Instant    bool           `json:"instant"`
	Datasource *datasourceRef `json:"datasource"`
}

type templateVariable struct {
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Type       string          `json:"type"`
	Refresh    int             `json:"refresh"` // 1 on dashboard load, 2 on time range change
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
}

type annotationQuery struct {
	Name       string         `json:"name"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// promQuery is one PromQL expression a dashboard runs.
type promQuery struct {
	source string // where it is, for messages: `veeam-em-vm.json panel 3 "State" target A`
	record string // a unique metric name for it in the generated rule file
	expr   string // as written, Grafana variables included
	// variable is set for the query of a template variable, which lists
	// label values rather than plotting the series it selects.
	variable bool
	instant  bool // a panel target evaluated once, at the end of the time range
}

// loadDashboards reads every *.json file of dir.
func loadDashboards(dir string) ([]*grafanaDashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list dashboards in %s: %w", dir, err)
	}
	sort.Strings(files)
	dashboards := make([]*grafanaDashboard, 0, len(files))
	for _, file := range files {
		d, err := loadDashboard(file)
		if err != nil {
			return nil, err
		}
		dashboards = append(dashboards, d)
	}
	return dashboards, nil
}

func loadDashboard(file string) (*grafanaDashboard, error) {
	content, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	return parseDashboard(filepath.Base(file), content)
}

// parseDashboard reads a dashboard from its JSON text; file names it in
// messages.
func parseDashboard(file string, content []byte) (*grafanaDashboard, error) {
	d := &grafanaDashboard{file: file}
	if err := json.Unmarshal(content, &d.raw); err != nil {
		return nil, fmt.Errorf("dashboard %s is not valid JSON: %w", d.file, err)
	}
	if err := json.Unmarshal(content, d); err != nil {
		return nil, fmt.Errorf("dashboard %s does not fit Grafana's dashboard model: %w", d.file, err)
	}
	return d, nil
}

// allPanels returns the panels in layout order, the panels of collapsed
// rows included.
func (d *grafanaDashboard) allPanels() []grafanaPanel {
	var all []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return all
}

// variableNames returns the names of the dashboard's template variables.
func (d *grafanaDashboard) variableNames() map[string]bool {
	names := make(map[string]bool, len(d.Templating.List))
	for _, v := range d.Templating.List {
		names[v.Name] = true
	}
	return names
}

// labelValuesQuery is how Grafana's Prometheus data source spells a
// variable that lists a label's values, optionally of the series a selector
// picks; queryResultQuery lists the results of an expression.
var (
	labelValuesQuery = regexp.MustCompile(`^label_values\((?:(.+),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)\s*$`)
	queryResultQuery = regexp.MustCompile(`^query_result\((.+)\)\s*$`)
)

// queries returns every PromQL expression of the dashboard: panel targets,
// annotations, and the selectors and expressions of query variables.
func (d *grafanaDashboard) queries() ([]promQuery, error) {
	prefix := "dashboard:" + recordFragment(d.UID)
	var queries []promQuery
	for _, p := range d.allPanels() {
		for _, target := range p.Targets {
			queries = append(queries, promQuery{
				source:  fmt.Sprintf("%s panel %d %q target %s", d.file, p.ID, p.Title, target.RefID),
				record:  fmt.Sprintf("%s:panel_%d_%s", prefix, p.ID, recordFragment(target.RefID)),
				expr:    target.Expr,
				instant: target.Instant,
			})
		}
	}
	for i, a := range d.Annotations.List {
		if a.Expr == "" {
			continue
		}
		queries = append(queries, promQuery{
			source: fmt.Sprintf("%s annotation %q", d.file, a.Name),
			record: fmt.Sprintf("%s:annotation_%d", prefix, i),
			expr:   a.Expr,
		})
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		expr, err := variableExpr(v.Query)
		if err != nil {
			return nil, fmt.Errorf("%s variable %q: %w", d.file, v.Name, err)
		}
		if expr == "" {
			continue
		}
		queries = append(queries, promQuery{
			source:   fmt.Sprintf("%s variable %q", d.file, v.Name),
			record:   fmt.Sprintf("%s:variable_%s", prefix, recordFragment(v.Name)),
			expr:     expr,
			variable: true,
		})
	}
	return queries, nil
}

// variableExpr returns the PromQL a query variable runs: the selector of
// label_values(selector, label) or the expression of query_result(expr);
// "" for label_values(label), which selects no metric.
func variableExpr(raw json.RawMessage) (string, error) {
	var query string
	if err := json.Unmarshal(raw, &query); err != nil {
		// Grafana 10 and later may store the query as an object.
		var object struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(raw, &object); err != nil {
			return "", fmt.Errorf("query is neither a string nor an object with a query: %s", raw)
		}
		query = object.Query
	}
	query = strings.TrimSpace(query)
	if m := labelValuesQuery.FindStringSubmatch(query); m != nil {
		return m[1], nil
	}
	if m := queryResultQuery.FindStringSubmatch(query); m != nil {
		return m[1], nil
	}
	return "", fmt.Errorf("query %q is neither label_values(...) nor query_result(...)", query)
}

// recordFragment turns s into characters allowed in a metric name.
func recordFragment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
