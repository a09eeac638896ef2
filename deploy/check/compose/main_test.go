package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// composeFile is the repository's Compose file, which the mutations below
// change in memory only: the loader reads the text given, and resolves
// paths against the real file's directory.
var composeFile = filepath.Join("..", "..", "docker-compose.yml")

func realCompose(t *testing.T) (string, string) {
	t.Helper()
	path, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(data)
}

func TestRepositoryComposeFilePasses(t *testing.T) {
	path, text := realCompose(t)
	r, problems := Check(path, []byte(text))
	if len(problems) > 0 {
		t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
	}
	if r.Images != len(r.Project.Services) || r.BindMounts == 0 || r.ContainerPaths == 0 ||
		r.Grafana.Datasources == 0 || r.Grafana.Dashboards == 0 {
		t.Errorf("checked too little: %s", r.Summary(path))
	}
}

// Each case replaces one string of the real file and expects a problem
// containing want.
func TestMutationsFail(t *testing.T) {
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown service key", "    restart: unless-stopped\n", "    restar: always\n",
			"services.exporter.restar"},
		{"unknown top-level key", "\nvolumes:\n", "\nvolume:\n  x: {}\nvolumes:\n",
			"additional properties 'volume' not allowed"},
		{"wrong type", "    read_only: true\n", "    read_only: [yes]\n", "read_only"},
		{"untagged image", "image: prom/prometheus:v3.5.0", "image: prom/prometheus",
			`image "prom/prometheus" has no tag`},
		{"latest image", "image: prom/alertmanager:v0.28.1", "image: prom/alertmanager:latest",
			"instead of latest"},
		{"moving tag", "image: grafana/grafana:12.2.1", "image: grafana/grafana:main",
			"which is not a version"},
		{"built image tagged latest", "image: veeam_em_exporter:local", "image: veeam_em_exporter:latest",
			"instead of latest"},
		{"built image untagged", "image: veeam_em_exporter:local", "image: veeam_em_exporter",
			"has no tag"},
		{"missing bind-mount source", "./compose/prometheus.yml:", "./compose/prometheus-missing.yml:",
			"prometheus-missing.yml does not exist"},
		{"missing build context", "context: ..\n", "context: ../no-such-dir\n",
			"build context"},
		{"container path missing in its mount", "--config.file=/etc/alertmanager/alertmanager.yml",
			"--config.file=/etc/alertmanager/alertmanager-typo.yml", "alertmanager-typo.yml does not exist"},
		{"configuration file outside the mounts", "--config.file=/etc/prometheus/prometheus.yml",
			"--config.file=/etc/prometheus/prometheus-typo.yml", "is not in a bind mount"},
		{"unset variable without default", "${GRAFANA_ADMIN_PASSWORD:-admin}", "${GRAFANA_ADMIN_PASSWORD}",
			"compose-go warning"},
		{"undefined named volume", "- prometheus-data:/prometheus", "- prometheus-dat:/prometheus",
			"prometheus-dat"},
	}
	path, text := realCompose(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.Count(text, c.old) < 1 {
				t.Fatalf("the compose file no longer contains %q; update the test", c.old)
			}
			mutated := strings.Replace(text, c.old, c.new, 1)
			_, problems := Check(path, []byte(mutated))
			joined := strings.Join(problems, "\n")
			if !strings.Contains(joined, c.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", c.want, joined)
			}
		})
	}
}

// The Grafana provisioning files are checked in a copy of a minimal stack.
func TestGrafanaProvisioning(t *testing.T) {
	const compose = `name: g
services:
  prometheus:
    image: prom/prometheus:v3.5.0
  grafana:
    image: grafana/grafana:12.2.1
    volumes:
      - ./prov:/etc/grafana/provisioning:ro
      - ./dash:/var/lib/dashboards:ro
`
	const datasources = `apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    access: proxy
    url: http://prometheus:9090
    isDefault: true
`
	const dashboards = `apiVersion: 1
providers:
  - name: d
    type: file
    options:
      path: /var/lib/dashboards
`
	cases := []struct {
		name, file, old, new, want string
	}{
		{"valid", "", "", "", ""},
		{"unknown datasource key", "datasources/ds.yml", "isDefault:", "isDefualt:", "field isDefualt not found"},
		{"datasource host is no service", "datasources/ds.yml", "prometheus:9090", "prometheus-server:9090", "names no service"},
		{"wrong apiVersion", "datasources/ds.yml", "apiVersion: 1", "apiVersion: 2", "want 1"},
		{"unknown provider key", "dashboards/d.yml", "type: file", "type: file\n    folderUID: x", "field folderUID not found"},
		{"provider path not mounted", "dashboards/d.yml", "/var/lib/dashboards", "/var/lib/grafana/dashboards", "not in a bind mount"},
		{"not YAML", "dashboards/d.yml", "providers:", "providers: [", "d.yml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"docker-compose.yml":      compose,
				"prov/datasources/ds.yml": datasources,
				"prov/dashboards/d.yml":   dashboards,
				"dash/overview.json":      "{}",
			}
			if c.file != "" {
				key := "prov/" + c.file
				if !strings.Contains(files[key], c.old) {
					t.Fatalf("%s has no %q", key, c.old)
				}
				files[key] = strings.Replace(files[key], c.old, c.new, 1)
			}
			for name, text := range files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "docker-compose.yml")
			r, problems := Check(path, []byte(compose))
			joined := strings.Join(problems, "\n")
			if c.want == "" {
				if joined != "" || r.Grafana.Files != 2 || r.Grafana.Dashboards != 1 {
					t.Fatalf("want no problem, got %+v:\n%s", r.Grafana, joined)
				}
				return
			}
			if !strings.Contains(joined, c.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", c.want, joined)
			}
		})
	}
}

func TestLayout(t *testing.T) {
	path, text := realCompose(t)
	r, problems := Check(path, []byte(text))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	dir := t.TempDir()
	if problems := WriteLayout(r.Project, dir); len(problems) > 0 {
		t.Fatal(problems)
	}
	for _, f := range []string{
		"prometheus/etc/prometheus/prometheus.yml",
		"prometheus/etc/prometheus/rules/veeam_em_alerts.yml",
		"alertmanager/etc/alertmanager/alertmanager.yml",
		"grafana/etc/grafana/provisioning/datasources/prometheus.yml",
	} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
