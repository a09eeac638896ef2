package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// There is no Grafana to load the provisioning files here (its server is not
// available), so they are decoded against the keys of Grafana's provisioning
// format that are documented for apiVersion 1; an unknown key is an error,
// as a typo would otherwise be ignored silently by Grafana.

const grafanaProvisioning = "/etc/grafana/provisioning"

type datasourcesFile struct {
	APIVersion        int          `yaml:"apiVersion"`
	Datasources       []datasource `yaml:"datasources"`
	DeleteDatasources []struct {
		Name  string `yaml:"name"`
		OrgID int    `yaml:"orgId"`
	} `yaml:"deleteDatasources"`
	Prune bool `yaml:"prune"`
}

type datasource struct {
	Name            string            `yaml:"name"`
	Type            string            `yaml:"type"`
	UID             string            `yaml:"uid"`
	OrgID           int               `yaml:"orgId"`
	Access          string            `yaml:"access"`
	URL             string            `yaml:"url"`
	User            string            `yaml:"user"`
	Database        string            `yaml:"database"`
	BasicAuth       bool              `yaml:"basicAuth"`
	BasicAuthUser   string            `yaml:"basicAuthUser"`
	WithCredentials bool              `yaml:"withCredentials"`
	IsDefault       bool              `yaml:"isDefault"`
	Version         int               `yaml:"version"`
	Editable        bool              `yaml:"editable"`
	JSONData        map[string]any    `yaml:"jsonData"`
	SecureJSONData  map[string]string `yaml:"secureJsonData"`
}

type dashboardsFile struct {
	APIVersion int        `yaml:"apiVersion"`
	Providers  []provider `yaml:"providers"`
}

type provider struct {
	Name                  string `yaml:"name"`
	OrgID                 int    `yaml:"orgId"`
	Folder                string `yaml:"folder"`
	FolderUID             string `yaml:"folderUid"`
	Type                  string `yaml:"type"`
	DisableDeletion       bool   `yaml:"disableDeletion"`
	UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
	AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
	Options               struct {
		Path                      string `yaml:"path"`
		FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
	} `yaml:"options"`
}

type grafanaReport struct {
	Files, Datasources, Providers, Dashboards int
}

// checkGrafana checks the provisioning files of every service that mounts
// some at /etc/grafana/provisioning; a grafana/grafana image without them is
// a problem too, since the stack's dashboards would then be missing.
func checkGrafana(p project) (grafanaReport, []string) {
	var r grafanaReport
	var problems []string
	for _, name := range p.ServiceNames() {
		svc := p.Services[name]
		dir, ok := hostPath(svc, grafanaProvisioning)
		if !ok {
			if strings.HasPrefix(svc.Image, "grafana/grafana") {
				problems = append(problems, fmt.Sprintf("service %s: nothing mounted at %s", name, grafanaProvisioning))
			}
			continue
		}
		files, err := yamlFiles(dir)
		if err != nil {
			problems = append(problems, fmt.Sprintf("service %s: %v", name, err))
			continue
		}
		if len(files) == 0 {
			problems = append(problems, fmt.Sprintf("service %s: no provisioning files in %s", name, dir))
		}
		for _, f := range files {
			r.Files++
			rel, _ := filepath.Rel(dir, f)
			what := fmt.Sprintf("service %s: %s", name, f)
			switch filepath.Dir(filepath.ToSlash(rel)) {
			case "datasources":
				n, more := checkDatasources(p, what, f)
				r.Datasources += n
				problems = append(problems, more...)
			case "dashboards":
				n, d, more := checkProviders(svc, what, f)
				r.Providers += n
				r.Dashboards += d
				problems = append(problems, more...)
			default:
				var v any
				if err := decodeFile(f, &v, false); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", what, err))
				}
			}
		}
	}
	return r, problems
}

func yamlFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// decodeFile decodes the single YAML document of a file into v, rejecting
// keys v has no field for when strict.
func decodeFile(path string, v any, strict bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(strict)
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("more than one YAML document")
	}
	return nil
}

func checkDatasources(p project, what, path string) (int, []string) {
	var f datasourcesFile
	if err := decodeFile(path, &f, true); err != nil {
		return 0, []string{fmt.Sprintf("%s: %v", what, err)}
	}
	var problems []string
	if f.APIVersion != 1 {
		problems = append(problems, fmt.Sprintf("%s: apiVersion is %d, want 1", what, f.APIVersion))
	}
	if len(f.Datasources) == 0 {
		problems = append(problems, fmt.Sprintf("%s: no datasources", what))
	}
	defaults := 0
	for i, d := range f.Datasources {
		at := fmt.Sprintf("%s: datasources[%d]", what, i)
		if d.Name == "" || d.Type == "" || d.URL == "" {
			problems = append(problems, fmt.Sprintf("%s: needs name, type and url", at))
		}
		if d.Access != "" && d.Access != "proxy" && d.Access != "direct" {
			problems = append(problems, fmt.Sprintf("%s: access %q is neither proxy nor direct", at, d.Access))
		}
		if d.IsDefault {
			defaults++
		}
		u, err := url.Parse(d.URL)
		if err != nil || u.Host == "" {
			problems = append(problems, fmt.Sprintf("%s: url %q is not an absolute URL", at, d.URL))
			continue
		}
		// A host name without a dot resolves only on the Compose network:
		// it has to be one of the file's services.
		host := u.Hostname()
		if !strings.Contains(host, ".") && host != "localhost" {
			if _, ok := p.Services[host]; !ok {
				problems = append(problems, fmt.Sprintf("%s: url %q names no service of the Compose file", at, d.URL))
			}
		}
	}
	if defaults > 1 {
		problems = append(problems, fmt.Sprintf("%s: %d datasources are isDefault", what, defaults))
	}
	return len(f.Datasources), problems
}

func checkProviders(svc types.ServiceConfig, what, path string) (int, int, []string) {
	var f dashboardsFile
	if err := decodeFile(path, &f, true); err != nil {
		return 0, 0, []string{fmt.Sprintf("%s: %v", what, err)}
	}
	var problems []string
	if f.APIVersion != 1 {
		problems = append(problems, fmt.Sprintf("%s: apiVersion is %d, want 1", what, f.APIVersion))
	}
	if len(f.Providers) == 0 {
		problems = append(problems, fmt.Sprintf("%s: no providers", what))
	}
	dashboards := 0
	for i, pr := range f.Providers {
		at := fmt.Sprintf("%s: providers[%d]", what, i)
		if pr.Name == "" {
			problems = append(problems, fmt.Sprintf("%s: needs a name", at))
		}
		if pr.Type != "file" {
			problems = append(problems, fmt.Sprintf("%s: type %q, want file", at, pr.Type))
			continue
		}
		dir, ok := hostPath(svc, pr.Options.Path)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: options.path %q is not in a bind mount of the service", at, pr.Options.Path))
			continue
		}
		found, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(found) == 0 {
			problems = append(problems, fmt.Sprintf("%s: options.path %q (%s) holds no *.json dashboard", at, pr.Options.Path, dir))
		}
		dashboards += len(found)
	}
	return len(f.Providers), dashboards, problems
}
