package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/sirupsen/logrus"
)

type project = types.Project

// Report is what a successful check counted, for its summary line.
type Report struct {
	Project        project
	Images         int
	BindMounts     int
	ContainerPaths int
	Grafana        grafanaReport
}

// Summary is the one line printed when the file passes.
func (r Report) Summary(file string) string {
	s := fmt.Sprintf("compose OK: %s (project %s): %s, %s pinned, %s exist, %s resolve",
		file, r.Project.Name, plural(len(r.Project.Services), "service"), plural(r.Images, "image"),
		plural(r.BindMounts, "bind mount"), plural(r.ContainerPaths, "container path"))
	if r.Grafana.Files > 0 {
		s += fmt.Sprintf("; Grafana provisioning: %s, %s, %s, %s",
			plural(r.Grafana.Files, "file"), plural(r.Grafana.Datasources, "datasource"),
			plural(r.Grafana.Providers, "dashboard provider"), plural(r.Grafana.Dashboards, "dashboard"))
	}
	return s
}

// warnings collects what compose-go logs at warning level or above while it
// loads; the check treats each as a problem.
type warnings struct {
	mu       sync.Mutex
	messages []string
}

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, e.Message)
	return nil
}

var loadMu sync.Mutex

// load runs compose-go on content as if it were the file at path: schema
// validation, interpolation with an empty environment (so only the defaults
// written in the file apply, whatever the caller's environment holds),
// normalisation, paths resolved against the file's directory, and the
// consistency checks (undefined volumes, networks, secrets). Loader warnings
// are returned as problems.
func load(path string, content []byte) (*project, []string) {
	loadMu.Lock()
	defer loadMu.Unlock()
	hook := &warnings{}
	logger := logrus.StandardLogger()
	saved := logger.ReplaceHooks(logrus.LevelHooks{})
	defer logger.ReplaceHooks(saved)
	logger.AddHook(hook)
	out := logger.Out
	logger.SetOutput(io.Discard)
	defer logger.SetOutput(out)

	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: content}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SkipValidation = false
		o.SkipConsistencyCheck = false
		o.SkipInterpolation = false
		o.SkipNormalization = false
		o.ResolvePaths = true
	})
	var problems []string
	if err != nil {
		msg := "compose-go: " + err.Error()
		// jsonschema's wording for a key the schema forbids outright.
		if strings.HasSuffix(msg, " false schema") {
			msg += " (a key the Compose specification does not define)"
		}
		problems = append(problems, msg)
	}
	for _, m := range hook.messages {
		problems = append(problems, "compose-go warning: "+m)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return p, nil
}

// Check loads the Compose file at path (content is its text) and returns the
// problems found; with none, the report of what was checked.
func Check(path string, content []byte) (Report, []string) {
	p, problems := load(path, content)
	if p == nil {
		return Report{}, problems
	}
	r := Report{Project: *p}
	for _, name := range p.ServiceNames() {
		svc := p.Services[name]
		if err := checkImage(svc); err != nil {
			problems = append(problems, fmt.Sprintf("service %s: %v", name, err))
		} else {
			r.Images++
		}
		n, more := checkFiles(svc)
		r.BindMounts += n
		problems = append(problems, more...)
		n, more = checkContainerPaths(svc)
		r.ContainerPaths += n
		problems = append(problems, more...)
	}
	for name, s := range p.Secrets {
		problems = append(problems, mustExist(fmt.Sprintf("secret %s", name), s.File)...)
	}
	for name, c := range p.Configs {
		problems = append(problems, mustExist(fmt.Sprintf("config %s", name), c.File)...)
	}
	g, more := checkGrafana(*p)
	r.Grafana = g
	problems = append(problems, more...)
	sort.Strings(problems)
	return r, problems
}

// checkImage requires an explicit, non-moving tag or a digest.
func checkImage(svc types.ServiceConfig) error {
	if svc.Image == "" {
		if svc.Build != nil {
			return fmt.Errorf("build: without image: name the built image with an explicit tag")
		}
		return errors.New("the service names neither an image nor a build")
	}
	named, err := reference.ParseNormalizedNamed(svc.Image)
	if err != nil {
		return fmt.Errorf("image %q: %v", svc.Image, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil
	}
	tagged, ok := named.(reference.Tagged)
	if !ok {
		return fmt.Errorf("image %q has no tag, so it means :latest; pin a version", svc.Image)
	}
	tag := tagged.Tag()
	if tag == "latest" {
		return fmt.Errorf("image %q is not pinned: pin a version instead of latest", svc.Image)
	}
	if svc.Build == nil && !strings.ContainsAny(tag, "0123456789") {
		return fmt.Errorf("image %q is pulled with tag %q, which is not a version; pin a version or a digest", svc.Image, tag)
	}
	return nil
}

// checkFiles requires every host file the service refers to: bind-mount
// sources (Compose would otherwise create an empty directory in place of a
// missing one), the build context and its Dockerfile, and required env files.
// It returns the number of bind mounts.
func checkFiles(svc types.ServiceConfig) (int, []string) {
	var problems []string
	what := "service " + svc.Name
	binds := 0
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		binds++
		problems = append(problems, mustExist(fmt.Sprintf("%s: bind mount for %s", what, v.Target), v.Source)...)
	}
	if b := svc.Build; b != nil && !strings.Contains(b.Context, "://") {
		problems = append(problems, mustExist(what+": build context", b.Context)...)
		if b.DockerfileInline == "" {
			dockerfile := b.Dockerfile
			if dockerfile == "" {
				dockerfile = "Dockerfile"
			}
			if !filepath.IsAbs(dockerfile) {
				dockerfile = filepath.Join(b.Context, dockerfile)
			}
			problems = append(problems, mustExist(what+": Dockerfile", dockerfile)...)
		}
	}
	for _, e := range svc.EnvFiles {
		if e.Required {
			problems = append(problems, mustExist(what+": env_file", e.Path)...)
		}
	}
	return binds, problems
}

func mustExist(what, path string) []string {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return []string{fmt.Sprintf("%s: %s does not exist", what, path)}
	}
	return nil
}

// checkContainerPaths maps every absolute path the service is given in its
// command, entrypoint or environment through its bind mounts, and requires
// the host side to exist. Paths outside the bind mounts (named volumes, the
// image's own files) are not checked. It returns the number of paths
// resolved.
func checkContainerPaths(svc types.ServiceConfig) (int, []string) {
	var candidates []string
	var problems []string
	for _, arg := range append(append([]string{}, svc.Entrypoint...), svc.Command...) {
		if i := strings.Index(arg, "="); strings.HasPrefix(arg, "-") && i >= 0 {
			flag, value := arg[:i], arg[i+1:]
			// A configuration file outside the bind mounts would be the
			// image's own default one (prom/prometheus ships a
			// /etc/prometheus/prometheus.yml): the stack would start with
			// the wrong configuration rather than fail.
			if _, ok := hostPath(svc, value); strings.HasSuffix(flag, "config.file") && !ok {
				problems = append(problems, fmt.Sprintf("service %s: %s is not in a bind mount of the service", svc.Name, arg))
			}
			arg = value
		}
		candidates = append(candidates, arg)
	}
	for _, v := range svc.Environment {
		if v != nil {
			candidates = append(candidates, *v)
		}
	}
	sort.Strings(candidates)
	resolved := 0
	for _, c := range candidates {
		host, ok := hostPath(svc, c)
		if !ok {
			continue
		}
		resolved++
		if _, err := os.Stat(host); err != nil {
			problems = append(problems, fmt.Sprintf("service %s: %s is in a bind mount, but %s does not exist", svc.Name, c, host))
		}
	}
	return resolved, problems
}

// hostPath maps a container path through the service's bind mount with the
// longest matching target.
func hostPath(svc types.ServiceConfig, containerPath string) (string, bool) {
	if !strings.HasPrefix(containerPath, "/") {
		return "", false
	}
	best := -1
	for i, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if containerPath != v.Target && !strings.HasPrefix(containerPath, strings.TrimSuffix(v.Target, "/")+"/") {
			continue
		}
		if best < 0 || len(v.Target) > len(svc.Volumes[best].Target) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	v := svc.Volumes[best]
	rest := strings.TrimPrefix(containerPath, v.Target)
	return filepath.Join(v.Source, filepath.FromSlash(rest)), true
}
