package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// missingMessage is what the SDK reports for a required field absent from
// the input.
const missingMessage = "required field is missing from input"

// grafanaFills lists the required fields the dashboards may leave out
// because Grafana fills them in itself: when it loads a panel it merges the
// panel plugin's default options into the panel's own, so an option left
// out takes its default. Keys are panel types, values the paths of the
// fields within the panel. Anything else reported missing is an error.
func grafanaFills() map[string][]string {
	return map[string][]string{
		// Grafana 11's percent change display; Grafana 10.4, the oldest
		// release the dashboards are written for, has no such option, and
		// later releases default it to "standard".
		"stat": {"options.percentChangeColorMode"},
		// Which frame a table shows when a query returns several; the
		// default is the first.
		"table": {"options.frameIndex"},
		// The legend's calculations (min, max, mean, ...): none by default.
		"timeseries":     {"options.legend.calcs"},
		"state-timeline": {"options.legend.calcs"},
		// The same, and the orientation of the stat-like panel options the
		// pie chart inherits but does not use.
		"piechart": {"options.legend.calcs", "options.orientation"},
		// The bar gauge's legend, hidden by default.
		"bargauge": {"options.legend"},
	}
}

// customUnit matches Grafana's custom units: a suffix, a prefix, a date
// format, an SI unit with its scale, a count or a currency.
var customUnit = regexp.MustCompile(`^(suffix|prefix|time|si|count|currency):.+$`)

// TestDashboardsFitGrafanaSchema decodes every dashboard of ../ strictly
// with Grafana's SDK and checks what the SDK decodes loosely.
func TestDashboardsFitGrafanaSchema(t *testing.T) {
	files, err := filepath.Glob("../*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found dashboards %q, want both of ../", files)
	}
	units := knownUnits(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			content, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, problem := range checkSchema(content, units) {
				t.Error(problem)
			}
		})
	}
}

// TestSchemaViolationsFail plants one fault at a time in a copy of the
// overview dashboard and expects the check to name it.
func TestSchemaViolationsFail(t *testing.T) {
	units := knownUnits(t)
	content, err := os.ReadFile("../veeam-em-overview.json")
	if err != nil {
		t.Fatal(err)
	}
	if problems := checkSchema(content, units); len(problems) > 0 {
		t.Fatalf("the dashboard has problems before it is broken: %v", errors.Join(problems...))
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, doc map[string]any)
		want  string
	}{
		{"unknown panel field", func(t *testing.T, doc map[string]any) {
			firstPanel(t, doc, "timeseries")["titel"] = "Misspelt"
		}, "Panel: unexpected field 'titel'"},
		{"wrong type of a panel field", func(t *testing.T, doc map[string]any) {
			child(t, firstPanel(t, doc, "timeseries"), "gridPos")["h"] = "8"
		}, "gridPos.h: json: cannot unmarshal string"},
		{"unknown panel option", func(t *testing.T, doc map[string]any) {
			child(t, firstPanel(t, doc, "timeseries"), "options")["lengend"] = map[string]any{}
		}, "unexpected field 'lengend'"},
		{"unknown custom field setting", func(t *testing.T, doc map[string]any) {
			child(t, child(t, child(t, firstPanel(t, doc, "timeseries"), "fieldConfig"), "defaults"), "custom")["lineWidht"] = 2
		}, "fieldConfig.defaults.custom.GraphFieldConfig: unexpected field 'lineWidht'"},
		{"unknown field default", func(t *testing.T, doc map[string]any) {
			child(t, child(t, firstPanel(t, doc, "stat"), "fieldConfig"), "defaults")["unti"] = "s"
		}, "fieldConfig.defaults.FieldConfig: unexpected field 'unti'"},
		{"unit Grafana does not know", func(t *testing.T, doc map[string]any) {
			child(t, child(t, firstPanel(t, doc, "stat"), "fieldConfig"), "defaults")["unit"] = "seconds"
		}, `unit "seconds" is neither one of Grafana's units`},
		{"panel type the SDK does not know", func(t *testing.T, doc map[string]any) {
			firstPanel(t, doc, "timeseries")["type"] = "graph"
		}, `type "graph" is not a panel type`},
		{"unknown query field", func(t *testing.T, doc map[string]any) {
			targets, _ := firstPanel(t, doc, "timeseries")["targets"].([]any)
			targets[0].(map[string]any)["exprr"] = "up"
		}, "targets[0].Dataquery: unexpected field 'exprr'"},
		{"required field Grafana does not fill", func(t *testing.T, doc map[string]any) {
			delete(child(t, child(t, firstPanel(t, doc, "timeseries"), "options"), "legend"), "displayMode")
		}, "options.legend.displayMode: " + missingMessage},
		{"wrong type of a variable field", func(t *testing.T, doc map[string]any) {
			list, _ := child(t, doc, "templating")["list"].([]any)
			list[1].(map[string]any)["refresh"] = "2"
		}, "templating.list[1].refresh: json: cannot unmarshal string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(content, &doc); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, doc)
			broken, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			problems := errors.Join(checkSchema(broken, units)...)
			if problems == nil || !strings.Contains(problems.Error(), tc.want) {
				t.Fatalf("problems = %v, want one containing %q", problems, tc.want)
			}
		})
	}
}

// firstPanel returns the first top-level panel of a type.
func firstPanel(t *testing.T, doc map[string]any, panelType string) map[string]any {
	t.Helper()
	panels, _ := doc["panels"].([]any)
	for _, p := range panels {
		if panel, _ := p.(map[string]any); panel["type"] == panelType {
			return panel
		}
	}
	t.Fatalf("no %s panel", panelType)
	return nil
}

// child returns the object under key.
func child(t *testing.T, object map[string]any, key string) map[string]any {
	t.Helper()
	value, ok := object[key].(map[string]any)
	if !ok {
		t.Fatalf("no object under %q", key)
	}
	return value
}

var registerPlugins sync.Once

// checkSchema returns the problems of a dashboard's JSON:
//   - what the SDK's strict decoding reports, but the required fields
//     grafanaFills lists;
//   - a panel type the SDK has no options model for, whose options and
//     custom field settings it would take unchecked;
//   - in fieldConfig, which the SDK decodes loosely: unknown fields and
//     wrong types, and units Grafana does not know;
//   - a query the SDK did not decode as Prometheus's, so unchecked.
func checkSchema(content []byte, units map[string]bool) []error {
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	var raw struct {
		Panels []rawPanel `json:"panels"`
	}
	if err := json.Unmarshal(content, &raw); err != nil {
		return []error{err}
	}
	var problems []error
	// The dashboards are written in the classic JSON model, the one the
	// Grafana releases they support (10.4 onwards) import; dashboardv2,
	// which the SDK prefers, is Grafana 12's new resource format.
	//lint:ignore SA1019 the classic model is the dashboards' format
	var d dashboard.Dashboard
	if err := d.UnmarshalJSONStrict(content); err != nil {
		var buildErrs cog.BuildErrors
		if !errors.As(err, &buildErrs) {
			return append(problems, err)
		}
		for _, e := range buildErrs {
			if !filledByGrafana(e, raw.Panels) {
				problems = append(problems, e)
			}
		}
	}
	walkPanels(raw.Panels, "panels", func(p rawPanel, path string) {
		problems = append(problems, checkPanel(p, path, units)...)
	})
	for i, p := range d.Panels {
		switch {
		case p.Panel != nil:
			problems = append(problems, checkQueries(*p.Panel, fmt.Sprintf("panels[%d]", i))...)
		case p.RowPanel != nil:
			for j, nested := range p.RowPanel.Panels {
				problems = append(problems, checkQueries(nested, fmt.Sprintf("panels[%d].panels[%d]", i, j))...)
			}
		}
	}
	return problems
}

// rawPanel is a panel as written, the parts the SDK leaves loose kept raw.
type rawPanel struct {
	Type        string          `json:"type"`
	FieldConfig json.RawMessage `json:"fieldConfig"`
	Panels      []rawPanel      `json:"panels"`
}

// walkPanels calls visit for each panel, those of rows included, with the
// path the SDK names it by in its errors.
func walkPanels(panels []rawPanel, path string, visit func(rawPanel, string)) {
	for i, p := range panels {
		at := fmt.Sprintf("%s[%d]", path, i)
		visit(p, at)
		walkPanels(p.Panels, at+".panels", visit)
	}
}

// panelPath splits an error path such as panels[3].options.legend.calcs
// or panels[0].panels[2].options.frameIndex into the panel's indices and
// the rest.
var panelPath = regexp.MustCompile(`^panels\[(\d+)\](?:\.panels\[(\d+)\])?\.(.+)$`)

// filledByGrafana reports whether a decoding error is a required field
// missing that grafanaFills allows for the panel's type.
func filledByGrafana(e *cog.BuildError, panels []rawPanel) bool {
	if e.Message != missingMessage {
		return false
	}
	m := panelPath.FindStringSubmatch(e.Path)
	if m == nil {
		return false
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(panels) {
		return false
	}
	p := panels[i]
	if m[2] != "" {
		j, _ := strconv.Atoi(m[2])
		if j >= len(p.Panels) {
			return false
		}
		p = p.Panels[j]
	}
	return slices.Contains(grafanaFills()[p.Type], m[3])
}

// checkPanel checks what the SDK decodes loosely in one panel.
func checkPanel(p rawPanel, path string, units map[string]bool) []error {
	if p.Type == "row" {
		return nil // rows have no options and no field config
	}
	var problems []error
	if cfg, found := cog.ConfigForPanelcfgVariant(p.Type); !found || cfg.StrictOptionsUnmarshaler == nil {
		problems = append(problems, fmt.Errorf("%s: type %q is not a panel type the SDK models, so its options went unchecked", path, p.Type))
	}
	if len(p.FieldConfig) == 0 {
		return problems
	}
	var fieldConfig dashboard.FieldConfigSource
	if err := fieldConfig.UnmarshalJSONStrict(p.FieldConfig); err != nil {
		var buildErrs cog.BuildErrors
		if errors.As(err, &buildErrs) {
			for _, e := range buildErrs {
				problems = append(problems, fmt.Errorf("%s.fieldConfig.%s: %s", path, e.Path, e.Message))
			}
		} else {
			problems = append(problems, fmt.Errorf("%s.fieldConfig: %w", path, err))
		}
	}
	checkUnit := func(at, unit string) {
		if unit != "" && !units[unit] && !customUnit.MatchString(unit) {
			problems = append(problems, fmt.Errorf("%s: unit %q is neither one of Grafana's units nor a custom unit (suffix:, prefix:, ...)", at, unit))
		}
	}
	if fieldConfig.Defaults.Unit != nil {
		checkUnit(path+".fieldConfig.defaults.unit", *fieldConfig.Defaults.Unit)
	}
	for i, override := range fieldConfig.Overrides {
		for j, property := range override.Properties {
			if property.Id != "unit" {
				continue
			}
			unit, isString := property.Value.(string)
			if !isString {
				problems = append(problems, fmt.Errorf("%s.fieldConfig.overrides[%d].properties[%d]: unit %v is not a string", path, i, j, property.Value))
				continue
			}
			checkUnit(fmt.Sprintf("%s.fieldConfig.overrides[%d].properties[%d]", path, i, j), unit)
		}
	}
	return problems
}

// checkQueries wants every query of a decoded panel decoded as a
// Prometheus query: any other would have been decoded loosely.
func checkQueries(p dashboard.Panel, path string) []error {
	var problems []error
	for i, target := range p.Targets {
		if _, isPrometheus := target.(*prometheus.Dataquery); !isPrometheus {
			problems = append(problems, fmt.Errorf("%s.targets[%d]: decoded as %T, not as a Prometheus query; its datasource type must be prometheus", path, i, target))
		}
	}
	return problems
}

var (
	unitsOnce  sync.Once
	unitsKnown map[string]bool
	unitsErr   error
)

// knownUnits returns the unit ids of the SDK's units package, Grafana's
// list of units. Go cannot list a package's constants, so they are read
// from its source, which `go list` finds.
func knownUnits(t *testing.T) map[string]bool {
	t.Helper()
	unitsOnce.Do(func() { unitsKnown, unitsErr = readUnits() })
	if unitsErr != nil {
		t.Fatal(unitsErr)
	}
	return unitsKnown
}

func readUnits() (map[string]bool, error) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/grafana/grafana-foundation-sdk/go/units").Output()
	if err != nil {
		return nil, fmt.Errorf("find the SDK's units package: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	units := make(map[string]bool)
	fset := token.NewFileSet()
	for _, file := range files {
		parsed, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			return nil, err
		}
		for _, decl := range parsed.Decls {
			gen, isGen := decl.(*ast.GenDecl)
			if !isGen || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				for _, value := range spec.(*ast.ValueSpec).Values {
					if lit, isLit := value.(*ast.BasicLit); isLit && lit.Kind == token.STRING {
						if unit, err := strconv.Unquote(lit.Value); err == nil {
							units[unit] = true
						}
					}
				}
			}
		}
	}
	if len(units) < 100 {
		names := make([]string, 0, len(units))
		for unit := range units {
			names = append(names, unit)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("read only %d units from %s: %q", len(units), dir, names)
	}
	return units, nil
}

func TestKnownUnits(t *testing.T) {
	units := knownUnits(t)
	for _, unit := range []string{"s", "bytes", "percentunit", "short", "none", "opm", "dateTimeAsIso", "dateTimeFromNow"} {
		if !units[unit] {
			t.Errorf("unit %q is not among the %d units read from the SDK", unit, len(units))
		}
	}
	for _, unit := range []string{"seconds", "Bytes", ""} {
		if units[unit] {
			t.Errorf("%q is taken for a unit", unit)
		}
	}
}
