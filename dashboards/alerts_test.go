package dashboards

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v2"
)

// The alerting conventions of monitoring-mixins (mixtool lint) for
// deploy/prometheus/veeam_em_alerts.yml, and the runbook links that
// deploy/prometheus/test.sh also checks.
const (
	alertsFile  = "../deploy/prometheus/veeam_em_alerts.yml"
	runbookFile = "../deploy/RUNBOOK.md"
	// runbookURL is where the runbook is published; each alert links to
	// its own section, an anchor of this page.
	runbookURL = "https://github.com/veeam-em-exporter/veeam_em_exporter/blob/main/deploy/RUNBOOK.md"
)

// alertSeverities are the values of the severity label Alertmanager routes
// on (deploy/alertmanager) and the mixins' linter accepts.
func alertSeverities() []string { return []string{"critical", "warning", "info"} }

// alertRuleFile is a Prometheus rule file, every field Prometheus reads
// declared, so that a strict decoding rejects misspelt and repeated keys
// (such as two runbook_url annotations on one alert).
type alertRuleFile struct {
	Groups []struct {
		Name        string            `yaml:"name"`
		Interval    string            `yaml:"interval"`
		QueryOffset string            `yaml:"query_offset"`
		Limit       int               `yaml:"limit"`
		Labels      map[string]string `yaml:"labels"`
		Rules       []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	// camelCase is an alert name of capitalised words and acronyms, such
	// as VeeamEMReplicaRPOBreached: letters and digits, starting with a
	// capital and holding a small letter.
	camelCase      = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$`)
	goTemplate     = regexp.MustCompile(`\{\{.*?\}\}`)
	markdownHeader = regexp.MustCompile(`^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$`)
)

// TestAlertConventions checks the alerts of the shipped rule file against
// the runbook.
func TestAlertConventions(t *testing.T) {
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	alerts, problems := checkAlertRules(rules, string(runbook))
	for _, problem := range problems {
		t.Error(problem)
	}
	if alerts == 0 {
		t.Fatalf("%s holds no alert: the test would prove nothing", alertsFile)
	}
	t.Logf("%d alerts checked", alerts)
}

// TestAlertViolationsFail breaks the real rule file in memory, one rule at
// a time, and expects the check to name the break.
func TestAlertViolationsFail(t *testing.T) {
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, problems := checkAlertRules(rules, string(runbook)); len(problems) > 0 {
		t.Fatalf("the rule file has problems before it is broken: %v", errors.Join(problems...))
	}
	const link = "          runbook_url: " + runbookURL + "#veeamemunreachable\n"
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"alert without runbook_url", link, "", "VeeamEMUnreachable: no runbook_url annotation"},
		{"runbook_url twice", link, link + link, `key "runbook_url" already set`},
		{"runbook_url to another section", link, strings.Replace(link, "#veeamemunreachable", "#veeamemexporterdown", 1), "VeeamEMUnreachable: runbook_url " + runbookURL + "#veeamemexporterdown, want " + runbookURL + "#veeamemunreachable"},
		{"runbook_url to another page", link, strings.Replace(link, "blob/main/deploy/RUNBOOK.md", "wiki", 1), "want " + runbookURL + "#veeamemunreachable"},
		{"alert without a runbook section", "      - alert: VeeamEMUnreachable\n", "      - alert: VeeamEMUnreachableNow\n", "VeeamEMUnreachableNow: RUNBOOK.md has no section \"## VeeamEMUnreachableNow\""},
		{"name not in CamelCase", "      - alert: VeeamEMUnreachable\n", "      - alert: veeam_em_unreachable\n", "veeam_em_unreachable: name is not CamelCase"},
		{"unknown severity", "          severity: critical\n", "          severity: page\n", `severity "page", want one of`},
		{"summary with a template", "summary: Replication of a VM failed.", "summary: Replication of VM {{ $labels.vm }} failed.", "VeeamEMReplicaTaskFailed: summary uses a template"},
		{"summary not a sentence", "summary: Replication of a VM failed.", "summary: replication of a VM failed", "VeeamEMReplicaTaskFailed: summary \"replication of a VM failed\" is not a sentence"},
		{"description without a template", "replica task session of VM {{ $labels.vm }} in job {{ $labels.job_name }} on backup server\n            {{ $labels.backup_server }} finished", "replica task session of a VM finished", "VeeamEMReplicaTaskWarning: description uses no template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(rules), tc.from) {
				t.Fatalf("the rule file does not contain %q", tc.from)
			}
			broken := strings.Replace(string(rules), tc.from, tc.to, 1)
			_, problems := checkAlertRules([]byte(broken), string(runbook))
			joined := errors.Join(problems...)
			if joined == nil || !strings.Contains(joined.Error(), tc.want) {
				t.Fatalf("problems = %v, want one containing %q", joined, tc.want)
			}
		})
	}
}

// checkAlertRules checks every alert of a rule file: its name, severity,
// summary and description, and a runbook_url to the runbook section named
// after it. It returns how many alerts it checked.
func checkAlertRules(content []byte, runbook string) (int, []error) {
	var file alertRuleFile
	if err := yaml.UnmarshalStrict(content, &file); err != nil {
		return 0, []error{fmt.Errorf("%s: %w", alertsFile, err)}
	}
	anchors := runbookSections(runbook)
	var problems []error
	seen := make(map[string]bool)
	alerts := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			fail := func(format string, args ...any) {
				problems = append(problems, fmt.Errorf("alert %s: %s", r.Alert, fmt.Sprintf(format, args...)))
			}
			if seen[r.Alert] {
				fail("defined twice; each alert has a runbook section of its own")
			}
			seen[r.Alert] = true
			if !camelCase.MatchString(r.Alert) {
				fail("name is not CamelCase")
			}
			if severity := r.Labels["severity"]; !slices.Contains(alertSeverities(), severity) {
				fail("severity %q, want one of %q", severity, alertSeverities())
			}
			summary, hasSummary := r.Annotations["summary"]
			switch {
			case !hasSummary:
				fail("no summary annotation")
			case goTemplate.MatchString(summary):
				// Alertmanager shows the common summary of a group of
				// alerts: it must read the same for each.
				fail("summary uses a template; say what is wrong in general, the description names what")
			case !isSentence(summary):
				fail("summary %q is not a sentence: one line, a capital first, a full stop last", summary)
			}
			if description, ok := r.Annotations["description"]; !ok {
				fail("no description annotation")
			} else if !goTemplate.MatchString(description) {
				fail("description uses no template; it should name the instance, job or VM")
			}
			section, hasSection := anchors[r.Alert]
			if !hasSection {
				fail("RUNBOOK.md has no section %q", "## "+r.Alert)
			}
			link, hasLink := r.Annotations["runbook_url"]
			want := runbookURL + "#" + section
			switch {
			case !hasLink:
				fail("no runbook_url annotation")
			case hasSection && link != want:
				fail("runbook_url %s, want %s", link, want)
			}
		}
	}
	return alerts, problems
}

// isSentence reports whether s is one line that starts with a capital
// letter and ends with a full stop.
func isSentence(s string) bool {
	first := []rune(s)
	return len(first) > 1 && unicode.IsUpper(first[0]) && strings.HasSuffix(s, ".") && !strings.ContainsAny(s, "\n\r")
}

// runbookSections maps the text of each second-level heading of a Markdown
// document to the anchor GitHub gives it.
func runbookSections(markdown string) map[string]string {
	sections := make(map[string]string)
	for _, h := range markdownHeadings(markdown) {
		if h.level == 2 {
			sections[h.text] = h.anchor
		}
	}
	return sections
}

type markdownHeading struct {
	level        int
	text, anchor string
}

// markdownHeadings returns the ATX headings of a Markdown document outside
// fenced code blocks, with the anchors GitHub gives them: lower case,
// punctuation dropped, spaces turned into hyphens, and -1, -2, ... added
// to an anchor already taken by an earlier heading of any level.
func markdownHeadings(markdown string) []markdownHeading {
	var headings []markdownHeading
	taken := make(map[string]int)
	fence := ""
	for _, line := range strings.Split(markdown, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		m := markdownHeader.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		anchor := githubAnchor(m[2])
		if n := taken[anchor]; n > 0 {
			taken[anchor]++
			anchor = fmt.Sprintf("%s-%d", anchor, n)
		} else {
			taken[anchor] = 1
		}
		headings = append(headings, markdownHeading{level: len(m[1]), text: m[2], anchor: anchor})
	}
	return headings
}

// githubAnchor turns a heading's text into the fragment GitHub links it
// by, before duplicates are numbered.
func githubAnchor(text string) string {
	var out strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			out.WriteRune(r)
		case r == ' ':
			out.WriteRune('-')
		}
	}
	return out.String()
}

func TestMarkdownHeadings(t *testing.T) {
	markdown := strings.Join([]string{
		"# Runbook: veeam_em_exporter alerts",
		"```sh",
		"# Log on: not a heading",
		"```",
		"## VeeamEMExporterDown",
		"## What's next? (v2.0) ##",
		"### Details",
		"## Details",
		"#NoSpace",
	}, "\n")
	var got []string
	for _, h := range markdownHeadings(markdown) {
		got = append(got, fmt.Sprintf("%d %s #%s", h.level, h.text, h.anchor))
	}
	want := []string{
		"1 Runbook: veeam_em_exporter alerts #runbook-veeam_em_exporter-alerts",
		"2 VeeamEMExporterDown #veeamemexporterdown",
		"2 What's next? (v2.0) #whats-next-v20",
		"3 Details #details",
		"2 Details #details-1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("markdownHeadings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
