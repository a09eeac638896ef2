package dashboards

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// rulesFile holds the recording rules dashboards may use besides the
// exporter's own metrics.
const rulesFile = "../deploy/prometheus/veeam_em_rules.yml"

// knownMetrics are the metric names a dashboard may select.
type knownMetrics struct {
	exporter    map[string]bool
	recorded    map[string]bool
	rulesSource string // where recorded comes from, for messages
	// counters are the exporter's cumulative series: the families of type
	// counter, and the _bucket, _sum and _count series of its histograms.
	counters map[string]bool
}

func (k knownMetrics) check(name string) error {
	if k.exporter[name] || k.recorded[name] {
		return nil
	}
	// Recording rules are named level:metric:operations; metrics never
	// contain a colon.
	if strings.Contains(name, ":") {
		return fmt.Errorf("recording rule %s is not recorded in %s, and the exporter does not produce it", name, k.rulesSource)
	}
	return fmt.Errorf("metric %s is not produced by the exporter, and no recording rule in %s records it", name, k.rulesSource)
}

// loadKnownMetrics collects the exporter's metric names and the names the
// recording rules of rulesFile record.
func loadKnownMetrics(t *testing.T) knownMetrics {
	t.Helper()
	recorded, source := recordedMetrics(t, rulesFile)
	exporter, counters := exporterMetricNames(t)
	return knownMetrics{exporter: exporter, recorded: recorded, rulesSource: source, counters: counters}
}

// recordedMetrics returns the names the rule file at path records, and how
// to name their source in messages. Until the rule file exists, the
// recording rules whose names the project fixed for it stand in.
func recordedMetrics(t *testing.T, path string) (map[string]bool, string) {
	t.Helper()
	recorded := make(map[string]bool)
	content, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Logf("%s does not exist yet: only the recording rules planned for it are known", path)
		for _, name := range plannedRecordingRules() {
			recorded[name] = true
		}
		return recorded, path + " (missing; checked against the recording rule names planned for it)"
	case err != nil:
		t.Fatalf("read the recording rules: %v", err)
	}
	for _, name := range recordedNames(string(content)) {
		recorded[name] = true
	}
	if len(recorded) == 0 {
		t.Fatalf("%s records nothing: no `record:` line found", path)
	}
	return recorded, path
}

// plannedRecordingRules are the recording rules the dashboards were
// designed around, whose names the project fixed.
func plannedRecordingRules() []string {
	return []string{
		"backup_server_job_name:veeam_em_replica_task_sessions:success_ratio_24h",
		"result:veeam_em_replica_vms:count",
		"backup_server_job_name_vm:veeam_em_replica_last_success_age:seconds",
		"backup_server_job_name_vm:veeam_em_replica_rpo_threshold:seconds",
	}
}

// recordLine matches the `record:` key of a rule in a Prometheus rule file,
// not one quoted in a comment.
var recordLine = regexp.MustCompile(`^\s*(?:-\s+)?record:\s*["']?([a-zA-Z_:][a-zA-Z0-9_:]*)["']?\s*(?:#.*)?$`)

// recordedNames returns the names a Prometheus rule file records. Rule
// files in this repository write one `record: name` per line, which keeps
// a YAML parser, and a module dependency, out of this test.
func recordedNames(ruleFile string) []string {
	var names []string
	for _, line := range strings.Split(ruleFile, "\n") {
		if m := recordLine.FindStringSubmatch(line); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}

// exporterMetricNames returns every metric name the exporter serves: its
// registry assembled as main.go does, after one refresh from the simulated
// Enterprise Manager, so every family has series. Histograms contribute
// the names of their series (_bucket, _sum, _count), which is what PromQL
// selects. counters holds the names among them whose value only grows:
// counters, and the series of histograms and summaries but their quantiles.
// A counter family whose name lacks _total fails the test: the suffix is
// how the rules, the dashboards and their readers tell counters apart.
func exporterMetricNames(t *testing.T) (names, counters map[string]bool) {
	t.Helper()
	sim, err := emsim.Start(emsim.Config{
		Seed:     1,
		Username: "u",
		Password: "p",
		Topology: emsim.TestTopology(),
		Clock:    emsim.NewManualClock(time.Now()),
	}, false)
	if err != nil {
		t.Fatalf("start the simulator: %v", err)
	}
	t.Cleanup(sim.Close)
	client, err := veeam.New(veeam.Config{
		URL:      sim.URL,
		Username: "u",
		Password: func() (string, error) { return "p", nil },
	})
	if err != nil {
		t.Fatalf("create the EM client: %v", err)
	}
	replicas := collector.New(client, collector.Options{})
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		replicas,
		// main.go's exporter name, which names the build_info metric.
		versioncollector.NewCollector("veeam_em_exporter"),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := replicas.Refresh(ctx); err != nil {
		t.Fatalf("refresh from the simulator: %v", err)
	}
	families, err := registry.Gather()
	if err != nil {
		t.Fatalf("gather the exporter's metrics: %v", err)
	}
	names, counters = make(map[string]bool), make(map[string]bool)
	for _, family := range families {
		name := family.GetName()
		switch family.GetType().String() {
		case "HISTOGRAM":
			for _, series := range []string{name + "_bucket", name + "_sum", name + "_count"} {
				names[series] = true
				counters[series] = true
			}
		case "GAUGE_HISTOGRAM":
			names[name+"_bucket"] = true
			names[name+"_sum"] = true
			names[name+"_count"] = true
		case "SUMMARY":
			names[name] = true
			names[name+"_sum"] = true
			names[name+"_count"] = true
			counters[name+"_sum"] = true
			counters[name+"_count"] = true
		case "COUNTER":
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s lacks the _total suffix", name)
			}
			names[name] = true
			counters[name] = true
		default:
			names[name] = true
		}
	}
	return names, counters
}
