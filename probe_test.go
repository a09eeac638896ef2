package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

const probeReloadMetric = "veeam_em_exporter_config_last_reload_successful"

// probeSite is a simulated EM with its own user, password and certificate.
type probeSite struct {
	sim          *emsim.Running
	username     string
	password     string
	caFile       string
	passwordFile string
}

func probeStartSite(t *testing.T, dir string, seed int64, username, password string, topology emsim.Topology) *probeSite {
	t.Helper()
	sim, err := emsim.Start(emsim.Config{
		Seed:     seed,
		Username: username,
		Password: password,
		Clock:    emsim.NewManualClock(time.Now().UTC()),
		Topology: topology,
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	site := &probeSite{
		sim:          sim,
		username:     username,
		password:     password,
		caFile:       filepath.Join(dir, topology.Site+"-ca.pem"),
		passwordFile: filepath.Join(dir, topology.Site+".password"),
	}
	if err := os.WriteFile(site.caFile, sim.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(site.passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return site
}

// probeConfig is a configuration file with a module for each site; the
// first module may only be used for its own site.
func probeConfig(east, dr *probeSite) string {
	return "auth_modules:\n" +
		"  em_east:\n" +
		"    username: " + east.username + "\n" +
		"    password_file: " + east.passwordFile + "\n" +
		"    tls:\n" +
		"      ca_file: " + east.caFile + "\n" +
		"    targets: ['" + east.sim.URL + "']\n" +
		"  em_dr:\n" +
		"    username: " + dr.username + "\n" +
		"    password_file: " + dr.passwordFile + "\n" +
		"    tls:\n" +
		"      ca_file: " + dr.caFile + "\n"
}

const probeBrokenConfig = "auth_modules:\n  em_east:\n    username: u\n    pasword_file: p\n"

// probeWriteFile replaces the file by a rename, as configuration managers
// do, so that a reload never reads half a file.
func probeWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func probeQuery(target, module string) string {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	if module != "" {
		q.Set("auth_module", module)
	}
	return "/probe?" + q.Encode()
}

// probe asks the exporter for a target's metrics and returns its
// veeam_em_up and backup servers.
func probeTarget(t *testing.T, exp *exporterProcess, target, module string) (up float64, servers map[string]bool, families map[string]*dto.MetricFamily) {
	t.Helper()
	code, body := exp.get(probeQuery(target, module))
	if code != http.StatusOK {
		t.Fatalf("probe of %s with %s = %d: %s", target, module, code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse probe answer: %v", err)
	}
	return gaugeValue(families, "veeam_em_up"), labelValues(families, "veeam_em_replica_task_last_state", "backup_server"), families
}

func probePost(t *testing.T, exp *exporterProcess, path string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+exp.addr+path, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp.StatusCode, body.String()
}

// probeWaitForReloadMetric waits for the reload metric to show the outcome
// of a reload the exporter does on its own, after a SIGHUP.
func probeWaitForReloadMetric(t *testing.T, exp *exporterProcess, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, families := exp.scrape()
		got := gaugeValue(families, probeReloadMetric)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v 10s after SIGHUP, want %v", probeReloadMetric, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProbeTwoEnterpriseManagers runs the binary in multi-target mode against
// two simulated EM servers with their own credentials and certificates.
func TestProbeTwoEnterpriseManagers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	east := probeStartSite(t, dir, 7, "east@corp.local", "east-Pa55word-never-printed", emsim.TestTopology())
	dr := probeStartSite(t, dir, 8, "dr@corp.local", "dr-Pa55word-never-printed", emsim.SecondSiteTopology())
	configFile := filepath.Join(dir, "config.yml")
	probeWriteFile(t, configFile, probeConfig(east, dr))
	exp := startExporter(t, buildBinary(t), "--config.file="+configFile)

	if code, _ := exp.get("/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready = %d in probe-only mode with the configuration loaded, want 200", code)
	}
	body, families := exp.scrape()
	if got := gaugeValue(families, probeReloadMetric); got != 1 {
		t.Errorf("%s = %v at start, want 1", probeReloadMetric, got)
	}
	for _, name := range []string{"veeam_em_exporter_build_info", "process_cpu_seconds_total", "go_goroutines", "veeam_em_exporter_config_last_reload_success_timestamp_seconds"} {
		if _, ok := families[name]; !ok {
			t.Errorf("/metrics lacks %s in probe-only mode", name)
		}
	}
	if strings.Contains(body, "veeam_em_up") {
		t.Error("/metrics serves EM metrics in probe-only mode")
	}

	eastUp, eastServers, eastFamilies := probeTarget(t, exp, east.sim.URL, "em_east")
	drUp, drServers, drFamilies := probeTarget(t, exp, dr.sim.URL, "em_dr")
	if eastUp != 1 || drUp != 1 {
		t.Fatalf("veeam_em_up: east %v, dr %v; want 1 for both", eastUp, drUp)
	}
	if len(eastServers) == 0 || len(drServers) == 0 {
		t.Fatalf("backup servers: east %v, dr %v; want some for both", eastServers, drServers)
	}
	for server := range eastServers {
		if drServers[server] {
			t.Errorf("backup server %q in both sites' metrics: a probe serves another target's series", server)
		}
	}
	for site, families := range map[string]map[string]*dto.MetricFamily{"east": eastFamilies, "dr": drFamilies} {
		for _, collector := range []string{"replica", "backup"} {
			if v := labelledValue(families, "veeam_em_collector_success", "collector", collector); v != 1 {
				t.Errorf("%s: veeam_em_collector_success{collector=%q} = %v, want 1", site, collector, v)
			}
			if len(families["veeam_em_"+collector+"_task_sessions_total"].GetMetric()) == 0 {
				t.Errorf("%s: no veeam_em_%s_task_sessions_total series through /probe", site, collector)
			}
		}
	}
	if _, ok := eastFamilies["process_cpu_seconds_total"]; ok {
		t.Error("a probe serves the exporter's process metrics")
	}
	if _, families := exp.scrape(); gaugeValue(families, "veeam_em_exporter_probe_targets") != 2 {
		t.Errorf("veeam_em_exporter_probe_targets = %v after probing two EMs, want 2", gaugeValue(families, "veeam_em_exporter_probe_targets"))
	}

	t.Run("refused probes", func(t *testing.T) {
		for _, tc := range []struct {
			name, target, module string
			want                 int
		}{
			{"unknown auth module", east.sim.URL, "em_west", http.StatusBadRequest},
			{"missing target", "", "em_east", http.StatusBadRequest},
			{"missing auth module", east.sim.URL, "", http.StatusBadRequest},
			{"target not a URL", "em-east.corp.local", "em_east", http.StatusBadRequest},
			{"target outside the module's list", dr.sim.URL, "em_east", http.StatusForbidden},
		} {
			if code, body := exp.get(probeQuery(tc.target, tc.module)); code != tc.want || body == "" {
				t.Errorf("%s: %d %q, want %d with a message", tc.name, code, body, tc.want)
			}
		}
		if got := dr.sim.Logons(); got != 1 {
			t.Errorf("dr logons = %d, want 1: the east module's password went to dr", got)
		}
	})

	t.Run("reload through POST /-/reload", func(t *testing.T) {
		if code, _ := exp.get("/-/reload"); code != http.StatusMethodNotAllowed {
			t.Errorf("GET /-/reload = %d, want 405", code)
		}
		probeWriteFile(t, configFile, probeBrokenConfig)
		code, body := probePost(t, exp, "/-/reload")
		if code != http.StatusInternalServerError || !strings.Contains(body, "pasword_file") {
			t.Errorf("reload of a broken file = %d %q, want 500 naming the unknown key", code, body)
		}
		if _, families := exp.scrape(); gaugeValue(families, probeReloadMetric) != 0 {
			t.Errorf("%s after a failed reload = %v, want 0", probeReloadMetric, gaugeValue(families, probeReloadMetric))
		}
		if up, _, _ := probeTarget(t, exp, east.sim.URL, "em_east"); up != 1 {
			t.Errorf("veeam_em_up after a failed reload = %v, want 1: the old configuration stays", up)
		}
		probeWriteFile(t, configFile, probeConfig(east, dr))
		if code, body := probePost(t, exp, "/-/reload"); code != http.StatusOK {
			t.Errorf("reload of a good file = %d %q, want 200", code, body)
		}
		if _, families := exp.scrape(); gaugeValue(families, probeReloadMetric) != 1 {
			t.Errorf("%s after a good reload = %v, want 1", probeReloadMetric, gaugeValue(families, probeReloadMetric))
		}
	})

	t.Run("reload on SIGHUP", func(t *testing.T) {
		probeWriteFile(t, configFile, probeBrokenConfig)
		if err := exp.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		probeWaitForReloadMetric(t, exp, 0)
		if up, _, _ := probeTarget(t, exp, dr.sim.URL, "em_dr"); up != 1 {
			t.Errorf("veeam_em_up after a failed reload = %v, want 1", up)
		}
		probeWriteFile(t, configFile, probeConfig(east, dr))
		if err := exp.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		probeWaitForReloadMetric(t, exp, 1)
	})

	t.Run("SIGTERM logs off from each EM once", func(t *testing.T) {
		exp.stop(syscall.SIGTERM)
		for name, site := range map[string]*probeSite{"east": east, "dr": dr} {
			if got := site.sim.Logons(); got != 1 {
				t.Errorf("%s: logons = %d, want 1: the session is kept across probes and reloads", name, got)
			}
			if got := site.sim.Logoffs(); got != 1 {
				t.Errorf("%s: logoffs after SIGTERM = %d, want 1", name, got)
			}
		}
	})

	for _, site := range []*probeSite{east, dr} {
		if strings.Contains(exp.stderr.String(), site.password) {
			t.Errorf("the password of %s appears in the exporter's log", site.username)
		}
	}
}

// TestProbeAndSingleTargetTogether serves /metrics for one EM and /probe for
// others from one process.
func TestProbeAndSingleTargetTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	east := probeStartSite(t, dir, 7, "east@corp.local", "east-Pa55word", emsim.TestTopology())
	dr := probeStartSite(t, dir, 8, "dr@corp.local", "dr-Pa55word", emsim.SecondSiteTopology())
	configFile := filepath.Join(dir, "config.yml")
	probeWriteFile(t, configFile, probeConfig(east, dr))
	exp := startExporter(t, buildBinary(t),
		"--config.file="+configFile,
		"--veeam.url="+east.sim.URL,
		"--veeam.username="+east.username,
		"--veeam.password-file="+east.passwordFile,
		"--veeam.ca-file="+east.caFile,
	)
	_, families := exp.scrape()
	if gaugeValue(families, "veeam_em_up") != 1 || gaugeValue(families, probeReloadMetric) != 1 {
		t.Errorf("/metrics: veeam_em_up %v, %s %v; want 1 and 1", gaugeValue(families, "veeam_em_up"), probeReloadMetric, gaugeValue(families, probeReloadMetric))
	}
	if up, _, _ := probeTarget(t, exp, dr.sim.URL, "em_dr"); up != 1 {
		t.Errorf("probe veeam_em_up = %v, want 1", up)
	}
	exp.stop(syscall.SIGTERM)
	if east.sim.Logoffs() != 1 || dr.sim.Logoffs() != 1 {
		t.Errorf("logoffs after SIGTERM: east %d, dr %d; want 1 each", east.sim.Logoffs(), dr.sim.Logoffs())
	}
}

func TestProbeConfigCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	probeWriteFile(t, good, "auth_modules:\n  em_east:\n    username: u\n    password_file: east.password\n")
	bad := filepath.Join(dir, "bad.yml")
	probeWriteFile(t, bad, probeBrokenConfig)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"good file", []string{"--config.file=" + good}, 0, "OK"},
		{"good file warns of a module without targets", []string{"--config.file=" + good}, 0, `auth module "em_east" has no targets list`},
		{"broken file", []string{"--config.file=" + bad}, 1, "field pasword_file not found"},
		{"missing file", []string{"--config.file=" + filepath.Join(dir, "absent.yml")}, 1, "read config file"},
		{"no file", nil, 1, "--config.check needs --config.file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(buildBinary(t), append([]string{"--config.check"}, tc.args...)...).CombinedOutput()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("exit %d with %q, want %d with %q", code, out, tc.wantCode, tc.wantOut)
			}
		})
	}
}

// TestProbeScrapeExampleIsValid checks the multi-target scrape example the
// README points to with Prometheus's own tool.
func TestProbeScrapeExampleIsValid(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	out, err := exec.Command(promtool, "check", "config", filepath.Join("deploy", "prometheus", "examples", "prometheus_probe.yaml")).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}
