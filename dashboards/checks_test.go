package dashboards

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// minSchemaVersion is the dashboard schema of Grafana 10.4, the oldest
// release the dashboards are written for.
const minSchemaVersion = 39

// panelTypes are the panel types the dashboards may use: Grafana's current
// core visualisations, without the deprecated "graph" and "singlestat".
func panelTypes() []string {
	return []string{"row", "text", "timeseries", "stat", "gauge", "table", "bargauge", "barchart",
		"piechart", "state-timeline", "status-history", "heatmap", "histogram"}
}

// stableUID is what Grafana accepts as a dashboard uid.
var stableUID = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`)

// checkDashboard returns every problem of d; all are the dashboards it may
// link to, itself included.
func checkDashboard(d *grafanaDashboard, all []*grafanaDashboard, known knownMetrics) []error {
	var problems []error
	problems = append(problems, checkSettings(d)...)
	problems = append(problems, checkPanels(d)...)
	problems = append(problems, checkDatasources(d.file, "", d.raw)...)
	problems = append(problems, checkLinks(d, all)...)
	problems = append(problems, checkQueries(d, known)...)
	problems = append(problems, checkConventions(d, known.counters)...)
	return problems
}

func checkSettings(d *grafanaDashboard) []error {
	var problems []error
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(d.file+": "+format, args...))
	}
	if d.SchemaVersion < minSchemaVersion {
		fail("schemaVersion %d, want %d or later", d.SchemaVersion, minSchemaVersion)
	}
	if !stableUID.MatchString(d.UID) {
		fail("uid %q is not a stable Grafana uid (1 to 40 of a-z, A-Z, 0-9, - and _)", d.UID)
	}
	if d.ID != nil {
		fail("id is %v, want null so that importing creates the dashboard instead of overwriting another", d.ID)
	}
	if d.Title == "" {
		fail("no title")
	}
	if !slices.Contains(d.Tags, "veeam") {
		fail("tags %q lack \"veeam\"", d.Tags)
	}
	if refresh, err := time.ParseDuration(d.Refresh); err != nil || refresh < 30*time.Second {
		fail("refresh %q, want a duration of at least 30s: the exporter's data change once per scrape", d.Refresh)
	}
	if !strings.HasPrefix(d.Time.From, "now-") || d.Time.To != "now" {
		fail("time range %s to %s, want a relative range ending now", d.Time.From, d.Time.To)
	}
	hasDatasourceVariable := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			hasDatasourceVariable = v.Type == "datasource" && string(v.Query) == `"prometheus"`
		}
	}
	if !hasDatasourceVariable {
		fail(`no variable "datasource" of type datasource with query "prometheus"`)
	}
	return problems
}

func checkPanels(d *grafanaDashboard) []error {
	var problems []error
	ids := make(map[int]string)
	for _, p := range d.allPanels() {
		fail := func(format string, args ...any) {
			problems = append(problems, fmt.Errorf("%s panel %d %q: %s", d.file, p.ID, p.Title, fmt.Sprintf(format, args...)))
		}
		if p.ID <= 0 {
			fail("no positive id")
		} else if other, taken := ids[p.ID]; taken {
			fail("id already used by panel %q", other)
		}
		ids[p.ID] = p.Title
		if !slices.Contains(panelTypes(), p.Type) {
			fail("type %q is not one of %q", p.Type, panelTypes())
		}
		if p.Title == "" {
			fail("no title")
		}
		if p.Type == "row" || p.Type == "text" {
			continue
		}
		if p.Datasource == nil {
			fail("no datasource")
		}
		if p.FieldConfig.Defaults.Unit == "" {
			fail("no unit in fieldConfig.defaults")
		}
		if len(p.Targets) == 0 {
			fail("no query")
		}
		refIDs := make(map[string]bool)
		for _, target := range p.Targets {
			if target.RefID == "" || refIDs[target.RefID] {
				fail("target refId %q is empty or not unique", target.RefID)
			}
			refIDs[target.RefID] = true
			if target.Datasource == nil {
				fail("target %s has no datasource", target.RefID)
			}
			if strings.TrimSpace(target.Expr) == "" {
				fail("target %s has no expr", target.RefID)
			}
			// Grafana's date units count milliseconds; the exporter's
			// timestamps are seconds.
			if strings.HasPrefix(p.FieldConfig.Defaults.Unit, "dateTime") && !strings.Contains(target.Expr, "1000") {
				fail("unit %s needs milliseconds, but target %s does not multiply by 1000", p.FieldConfig.Defaults.Unit, target.RefID)
			}
		}
	}
	return problems
}

// checkDatasources walks the whole document: every datasource reference,
// wherever it is, must be the Prometheus datasource the variable chooses,
// never a hard-coded uid or name.
func checkDatasources(file, path string, node any) []error {
	var problems []error
	switch node := node.(type) {
	case map[string]any:
		keys := make([]string, 0, len(node))
		for key := range node {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			value, at := node[key], path+"."+key
			if key == "datasource" && value != nil {
				ref, isObject := value.(map[string]any)
				uid, _ := ref["uid"].(string)
				if !isObject || ref["type"] != "prometheus" || (uid != "${datasource}" && uid != "$datasource") {
					problems = append(problems, fmt.Errorf(`%s%s is %v, want {"type": "prometheus", "uid": "${datasource}"}`, file, at, value))
				}
				continue
			}
			problems = append(problems, checkDatasources(file, at, value)...)
		}
	case []any:
		for i, value := range node {
			problems = append(problems, checkDatasources(file, fmt.Sprintf("%s[%d]", path, i), value)...)
		}
	}
	return problems
}

var (
	dashboardLink = regexp.MustCompile(`/d/([a-zA-Z0-9_-]+)`)
	linkVariable  = regexp.MustCompile(`[?&]var-([a-zA-Z0-9_]+)=`)
)

// checkLinks checks that every link to a dashboard by uid (data links and
// panel links) names an existing dashboard and only its variables.
func checkLinks(d *grafanaDashboard, all []*grafanaDashboard) []error {
	byUID := make(map[string]*grafanaDashboard, len(all))
	for _, other := range all {
		byUID[other.UID] = other
	}
	var problems []error
	for _, url := range stringsUnderKey(d.raw, "url") {
		m := dashboardLink.FindStringSubmatch(url)
		if m == nil {
			continue
		}
		target, found := byUID[m[1]]
		if !found {
			problems = append(problems, fmt.Errorf("%s: link %q: no dashboard has uid %q", d.file, url, m[1]))
			continue
		}
		variables := target.variableNames()
		for _, v := range linkVariable.FindAllStringSubmatch(url, -1) {
			if !variables[v[1]] {
				problems = append(problems, fmt.Errorf("%s: link %q sets var-%s, which %s does not have", d.file, url, v[1], target.file))
			}
		}
	}
	return problems
}

// stringsUnderKey returns the string values of every key named key in a
// JSON document.
func stringsUnderKey(node any, key string) []string {
	var found []string
	switch node := node.(type) {
	case map[string]any:
		for k, value := range node {
			if s, isString := value.(string); isString && k == key {
				found = append(found, s)
			}
			found = append(found, stringsUnderKey(value, key)...)
		}
	case []any:
		for _, value := range node {
			found = append(found, stringsUnderKey(value, key)...)
		}
	}
	sort.Strings(found)
	return found
}

// checkQueries checks that every query of d selects only known metrics.
func checkQueries(d *grafanaDashboard, known knownMetrics) []error {
	queries, err := d.queries()
	if err != nil {
		return []error{err}
	}
	variables := d.variableNames()
	var problems []error
	for _, q := range queries {
		for _, err := range checkExpr(q.expr, variables, known) {
			problems = append(problems, fmt.Errorf("%s: %w", q.source, err))
		}
	}
	return problems
}

// checkExpr checks one expression: its Grafana variables are defined and
// used where they can be, and every metric it selects is known.
func checkExpr(expr string, variables map[string]bool, known knownMetrics) []error {
	substituted, err := substituteVariables(expr, variables)
	if err != nil {
		return []error{err}
	}
	names, err := selectedMetrics(substituted)
	if err != nil {
		return []error{fmt.Errorf("read %q: %w", substituted, err)}
	}
	if len(names) == 0 {
		return []error{fmt.Errorf("%q selects no metric", expr)}
	}
	var problems []error
	for _, name := range names {
		if err := known.check(name); err != nil {
			problems = append(problems, err)
		}
	}
	return problems
}
