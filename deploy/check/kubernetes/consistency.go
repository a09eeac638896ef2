package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

// The exporter's contract with its manifests, as read from its --help.
type exporterFlags struct {
	flags map[string]flagInfo // by name, without the leading "--"
	envs  map[string]bool     // environment variables the flags read
}

type flagInfo struct {
	boolean bool   // shown as --[no-]name
	def     string // default shown as --name=default, unquoted
}

const (
	envPrefix     = "VEEAM_EXPORTER_"
	passwordEnv   = envPrefix + "PASSWORD" // read directly, not through a flag
	listenFlag    = "web.listen-address"
	telemetryFlag = "web.telemetry-path"
	configFlag    = "config.file"
	urlFlag       = "veeam.url"
	exporterImage = "veeam_em_exporter"
)

var (
	helpFlagLine = regexp.MustCompile(`^\s+(?:-\w, )?--(\[no-\])?([a-z0-9][a-z0-9.\-]*)(?:=(\S*))?`)
	helpEnvar    = regexp.MustCompile(`\(\$([A-Z0-9_]+)\)`)
)

func parseHelp(help string) exporterFlags {
	ef := exporterFlags{flags: map[string]flagInfo{}, envs: map[string]bool{}}
	for _, line := range strings.Split(help, "\n") {
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			ef.flags[m[2]] = flagInfo{boolean: m[1] != "", def: strings.Trim(m[3], `"`)}
		}
	}
	for _, m := range helpEnvar.FindAllStringSubmatch(help, -1) {
		ef.envs[m[1]] = true
	}
	return ef
}

// report collects the outcome of every check.
type report struct{ failures int }

func (r *report) ok(format string, args ...any) { fmt.Printf("ok   "+format+"\n", args...) }
func (r *report) fail(format string, args ...any) {
	r.failures++
	fmt.Printf("FAIL: "+format+"\n", args...)
}

func cmdConsistency(args []string) error {
	fs := flag.NewFlagSet("consistency", flag.ContinueOnError)
	bin := fs.String("exporter", "", "the exporter binary built from the repository")
	timeout := fs.Duration("timeout", 30*time.Second, "how long the exporter may take to start and to turn ready")
	sharded := fs.String("prometheus-sharded", "", "Prometheus configuration whose hashmod relabelling must address exactly the StatefulSet's pods")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errors.New("-exporter is required")
	}
	objects, err := renderAll(fs.Args())
	if err != nil {
		return err
	}
	out, err := exec.Command(*bin, "--help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --help: %v\n%s", *bin, err, out)
	}
	ef := parseHelp(string(out))
	if _, ok := ef.flags[listenFlag]; !ok || len(ef.envs) == 0 {
		return fmt.Errorf("%s --help: cannot read the flags (no --%s, or no environment variables):\n%s", *bin, listenFlag, out)
	}
	r := &report{}
	containers := 0
	shardAddresses := map[string][]string{} // StatefulSet -> its pods' host:port
	for _, o := range objects {
		template := dict(o.data, "spec", "template")
		if template == nil {
			continue
		}
		for _, c := range list(template, "spec", "containers") {
			image := str(c, "image")
			if !strings.Contains(image, exporterImage) {
				continue
			}
			containers++
			w := workload{obj: o, template: template, container: c.(map[string]any), all: objects, ef: ef, r: r}
			w.check(*bin, *timeout)
			if w.addresses != nil {
				shardAddresses[o.String()] = w.addresses
			}
		}
	}
	if *sharded != "" {
		checkShardedPrometheus(r, *sharded, shardAddresses)
	}
	if containers == 0 {
		r.fail("no container runs the image %q in %s", exporterImage, strings.Join(fs.Args(), ", "))
	}
	if r.failures > 0 {
		return fmt.Errorf("%d consistency check(s) between the manifests and the exporter binary failed", r.failures)
	}
	fmt.Printf("manifests and binary agree (%d exporter container(s))\n", containers)
	return nil
}

// workload is one exporter container in its pod template.
type workload struct {
	obj       object
	template  map[string]any
	container map[string]any
	all       []object
	ef        exporterFlags
	r         *report

	flags     map[string][]string // flags given in args, in order
	addresses []string            // a StatefulSet's pods, host:port
	env       map[string]string   // environment the container gets, where known
}

func (w *workload) name() string {
	return fmt.Sprintf("%s %s/%s container %s", w.obj.kind(), w.obj.namespace(), w.obj.name(), str(w.container, "name"))
}

// find returns the object of the given kind and name in the workload's
// namespace and kustomization.
func (w *workload) find(kind, name string) map[string]any {
	for _, o := range w.all {
		if o.from == w.obj.from && o.kind() == kind && o.name() == name && o.namespace() == w.obj.namespace() {
			return o.data
		}
	}
	return nil
}

// keys of a ConfigMap or Secret, decoded.
func keys(obj map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range dict(obj, "data") {
		s, _ := v.(string)
		if str(obj, "kind") == "Secret" {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				s = string(b)
			}
		}
		out[k] = s
	}
	for k, v := range dict(obj, "binaryData") {
		s, _ := v.(string)
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			out[k] = string(b)
		}
	}
	for k, v := range dict(obj, "stringData") {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

func (w *workload) check(bin string, timeout time.Duration) {
	w.checkArgs()
	w.checkEnv()
	port := w.checkListenPort()
	paths := w.checkProbes(port)
	paths = append(paths, w.checkServices(port)...)
	w.checkStatefulSetService(port)
	w.run(bin, port, paths, timeout)
}

func (w *workload) checkArgs() {
	w.flags = map[string][]string{}
	before := w.r.failures
	if len(list(w.container, "command")) > 0 {
		w.r.fail("%s: sets command, replacing the image's entrypoint (the exporter binary); use args", w.name())
	}
	args := list(w.container, "args")
	for i := 0; i < len(args); i++ {
		arg, _ := args[i].(string)
		if !strings.HasPrefix(arg, "--") {
			w.r.fail("%s: argument %q is not a --flag; the exporter takes no positional arguments", w.name(), arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		info, ok := w.ef.flags[name]
		if !ok && strings.HasPrefix(name, "no-") {
			if neg, found := w.ef.flags[strings.TrimPrefix(name, "no-")]; found && neg.boolean && !hasValue {
				w.flags[strings.TrimPrefix(name, "no-")] = append(w.flags[strings.TrimPrefix(name, "no-")], "false")
				continue
			}
		}
		if !ok {
			w.r.fail("%s: --%s is not a flag of the exporter (its --help does not list it)", w.name(), name)
			continue
		}
		if !hasValue && !info.boolean {
			if i+1 >= len(args) {
				w.r.fail("%s: --%s needs a value", w.name(), name)
				continue
			}
			i++
			value, _ = args[i].(string)
		}
		if !hasValue && info.boolean {
			value = "true"
		}
		w.flags[name] = append(w.flags[name], value)
	}
	names := slices.Sorted(maps.Keys(w.flags))
	if w.r.failures > before {
		return
	}
	w.r.ok("%s: args use flags the exporter accepts: --%s", w.name(), strings.Join(names, ", --"))
}

func (w *workload) checkEnv() {
	w.env = map[string]string{}
	var names []string
	for _, e := range list(w.container, "env") {
		name := str(e, "name")
		names = append(names, name)
		if v, ok := get(e, "value").(string); ok {
			w.env[name] = v
		} else if ref := dict(e, "valueFrom", "configMapKeyRef"); ref != nil {
			if cm := w.find("ConfigMap", str(ref, "name")); cm != nil {
				w.env[name] = keys(cm)[str(ref, "key")]
			}
		} else if ref := dict(e, "valueFrom", "secretKeyRef"); ref != nil {
			if s := w.find("Secret", str(ref, "name")); s != nil {
				w.env[name] = keys(s)[str(ref, "key")]
			}
		}
	}
	for _, from := range list(w.container, "envFrom") {
		kind, ref := "ConfigMap", dict(from, "configMapRef")
		if ref == nil {
			kind, ref = "Secret", dict(from, "secretRef")
		}
		src := w.find(kind, str(ref, "name"))
		if src == nil {
			if optional, _ := get(ref, "optional").(bool); !optional {
				w.r.fail("%s: envFrom names %s %q, which the kustomization does not contain", w.name(), kind, str(ref, "name"))
			}
			continue
		}
		for k, v := range keys(src) {
			name := str(from, "prefix") + k
			names = append(names, name)
			w.env[name] = v
		}
	}
	var exporterEnvs []string
	before := w.r.failures
	for _, name := range names {
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		exporterEnvs = append(exporterEnvs, name)
		if name != passwordEnv && !w.ef.envs[name] {
			w.r.fail("%s: environment variable %s names no flag of the exporter (its --help lists no ($%s))", w.name(), name, name)
		}
	}
	slices.Sort(exporterEnvs)
	if len(exporterEnvs) > 0 && w.r.failures == before {
		w.r.ok("%s: environment variables name flags of the exporter: %s", w.name(), strings.Join(exporterEnvs, ", "))
	}
}

// value of a flag as the container sets it: args first, then the
// environment, then the default.
func (w *workload) value(flagName string) (string, bool) {
	if v := w.flags[flagName]; len(v) > 0 {
		return v[len(v)-1], true
	}
	if v, ok := w.env[envPrefix+envName(flagName)]; ok {
		return v, true
	}
	return w.ef.flags[flagName].def, false
}

func envName(flagName string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

func (w *workload) containerPorts() map[string]int {
	ports := map[string]int{}
	for _, p := range list(w.container, "ports") {
		n, _ := get(p, "containerPort").(float64)
		ports[str(p, "name")] = int(n)
	}
	return ports
}

// checkListenPort returns the port the exporter listens on in the container.
func (w *workload) checkListenPort() int {
	addrs := w.flags[listenFlag]
	if len(addrs) == 0 {
		v, _ := w.value(listenFlag)
		addrs = []string{v}
	}
	if len(addrs) != 1 {
		w.r.fail("%s: %d --%s given; these manifests expect one", w.name(), len(addrs), listenFlag)
		return 0
	}
	_, portText, err := net.SplitHostPort(addrs[0])
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil {
		w.r.fail("%s: --%s=%q has no numeric port", w.name(), listenFlag, addrs[0])
		return 0
	}
	declared := false
	for _, p := range list(w.container, "ports") {
		if n, ok := get(p, "containerPort").(float64); ok && int(n) == port {
			declared = true
		} else {
			w.r.fail("%s: containerPort %#v (%s) is not the port the exporter listens on (--%s=%s)", w.name(), get(p, "containerPort"), str(p, "name"), listenFlag, addrs[0])
		}
	}
	if !declared {
		w.r.fail("%s: no containerPort is %d, the port of --%s=%s", w.name(), port, listenFlag, addrs[0])
	} else {
		w.r.ok("%s: containerPort %d is the port of --%s=%s", w.name(), port, listenFlag, addrs[0])
	}
	return port
}

// resolvePort gives the container port a probe or Service port refers to,
// by number or by name.
func (w *workload) resolvePort(ref any) (int, bool) {
	switch v := ref.(type) {
	case float64:
		return int(v), true
	case string:
		p, ok := w.containerPorts()[v]
		return p, ok
	}
	return 0, false
}

// checkProbes returns the probe paths, to be fetched from the binary.
func (w *workload) checkProbes(port int) []string {
	var paths []string
	for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
		get := dict(w.container, probe, "httpGet")
		if get == nil {
			switch {
			case dict(w.container, probe) != nil:
				w.r.fail("%s: %s is not an httpGet probe", w.name(), probe)
			case probe != "startupProbe":
				w.r.fail("%s: no %s", w.name(), probe)
			}
			continue
		}
		if p, ok := w.resolvePort(get["port"]); !ok || p != port {
			w.r.fail("%s: %s port %v is not the exporter's port %d", w.name(), probe, get["port"], port)
		}
		if scheme := str(get, "scheme"); scheme != "" && scheme != "HTTP" {
			w.r.fail("%s: %s scheme %s; the exporter serves plain HTTP unless --web.config.file enables TLS", w.name(), probe, scheme)
		}
		paths = append(paths, str(get, "path"))
	}
	return paths
}

func selects(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkServices follows Services selecting the pods to the ServiceMonitors
// selecting those Services, and returns the paths they scrape.
func (w *workload) checkServices(port int) []string {
	podLabels := dict(w.template, "metadata", "labels")
	var paths []string
	for _, svc := range w.all {
		if svc.from != w.obj.from || svc.kind() != "Service" || svc.namespace() != w.obj.namespace() ||
			!selects(dict(svc.data, "spec", "selector"), podLabels) {
			continue
		}
		portNames := map[string]bool{}
		for _, sp := range list(svc.data, "spec", "ports") {
			target := get(sp, "targetPort")
			if target == nil {
				target = get(sp, "port")
			}
			if p, ok := w.resolvePort(target); !ok || p != port {
				w.r.fail("%s: Service %s port %s targets %v, not the exporter's port %d", w.name(), svc.name(), str(sp, "name"), target, port)
			} else {
				w.r.ok("%s: Service %s port %s reaches the exporter's port %d", w.name(), svc.name(), str(sp, "name"), port)
			}
			portNames[str(sp, "name")] = true
		}
		monitored := false
		for _, sm := range w.all {
			if sm.from != w.obj.from || sm.kind() != "ServiceMonitor" || sm.namespace() != w.obj.namespace() ||
				!selects(dict(sm.data, "spec", "selector", "matchLabels"), dict(svc.data, "metadata", "labels")) {
				continue
			}
			monitored = true
			for _, ep := range list(sm.data, "spec", "endpoints") {
				if !portNames[str(ep, "port")] {
					w.r.fail("%s: ServiceMonitor %s endpoint port %q is no port name of Service %s", w.name(), sm.name(), str(ep, "port"), svc.name())
				}
				path := str(ep, "path")
				if path == "" {
					path = "/metrics" // the operator's default
				}
				paths = append(paths, path)
			}
		}
		if !monitored && svc.name() != str(w.obj.data, "spec", "serviceName") {
			w.r.fail("%s: no ServiceMonitor selects Service %s", w.name(), svc.name())
		}
	}
	return paths
}

// checkStatefulSetService: a StatefulSet's pods get DNS names only through
// the headless Service named by spec.serviceName.
func (w *workload) checkStatefulSetService(port int) {
	if w.obj.kind() != "StatefulSet" {
		return
	}
	name := str(w.obj.data, "spec", "serviceName")
	svc := w.find("Service", name)
	switch {
	case svc == nil:
		w.r.fail("%s: spec.serviceName %q is no Service of the kustomization", w.name(), name)
		return
	case str(svc, "spec", "clusterIP") != "None":
		w.r.fail("%s: Service %s is not headless (clusterIP: None), so the pods get no DNS names of their own", w.name(), name)
		return
	case !selects(dict(svc, "spec", "selector"), dict(w.template, "metadata", "labels")):
		w.r.fail("%s: headless Service %s does not select the StatefulSet's pods", w.name(), name)
		return
	}
	replicas := 1
	if n, ok := get(w.obj.data, "spec", "replicas").(float64); ok {
		replicas = int(n)
	}
	var names []string
	for i := range replicas {
		names = append(names, fmt.Sprintf("%s-%d.%s.%s.svc:%d", w.obj.name(), i, name, w.obj.namespace(), port))
	}
	w.addresses = names
	w.r.ok("%s: pods are %s", w.name(), strings.Join(names, ", "))
}

// materialize writes the container's mounted ConfigMap, Secret and projected
// volumes under root, as the kubelet would under /.
func (w *workload) materialize(root string) error {
	volumes := map[string]map[string]any{}
	for _, v := range list(w.template, "spec", "volumes") {
		volumes[str(v, "name")] = v.(map[string]any)
	}
	for _, m := range list(w.container, "volumeMounts") {
		vol := volumes[str(m, "name")]
		if vol == nil {
			return fmt.Errorf("volumeMount %q names no volume", str(m, "name"))
		}
		if str(m, "subPath") != "" {
			return fmt.Errorf("volumeMount %q uses subPath, which this check does not model (and which keeps Secret updates from reaching the file)", str(m, "name"))
		}
		dir := filepath.Join(root, str(m, "mountPath"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		var sources []any
		if p := dict(vol, "projected"); p != nil {
			sources = list(p, "sources")
		} else {
			sources = []any{vol}
		}
		for _, src := range sources {
			var obj, ref map[string]any
			switch {
			case dict(src, "configMap") != nil:
				ref = dict(src, "configMap")
				obj = w.find("ConfigMap", str(ref, "name"))
			case dict(src, "secret") != nil:
				ref = dict(src, "secret")
				name := str(ref, "secretName")
				if name == "" {
					name = str(ref, "name") // projected sources say name
				}
				obj = w.find("Secret", name)
			default:
				continue // emptyDir and the like: an empty directory will do
			}
			if obj == nil {
				return fmt.Errorf("volume %q: its ConfigMap or Secret is not in the kustomization", str(vol, "name"))
			}
			data := keys(obj)
			files := map[string]string{}
			if items := list(ref, "items"); len(items) > 0 {
				for _, it := range items {
					v, ok := data[str(it, "key")]
					if !ok {
						return fmt.Errorf("volume %q: item key %q is not in %s %s", str(vol, "name"), str(it, "key"), str(obj, "kind"), str(obj, "metadata", "name"))
					}
					files[str(it, "path")] = v
				}
			} else {
				files = data
			}
			for path, content := range files {
				file := filepath.Join(dir, path)
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// mapPath moves a path inside one of the container's mounts under root.
func (w *workload) mapPath(root, value string) string {
	for _, m := range list(w.container, "volumeMounts") {
		mp := str(m, "mountPath")
		if value == mp || strings.HasPrefix(value, strings.TrimSuffix(mp, "/")+"/") {
			return filepath.Join(root, value)
		}
	}
	return value
}

// run starts the binary as the container would start it, with its mounted
// files in a temporary root, on a loopback port, and fetches every path the
// manifests rely on.
func (w *workload) run(bin string, port int, paths []string, timeout time.Duration) {
	root, err := os.MkdirTemp("", "k8scheck-root-")
	if err != nil {
		w.r.fail("%s: %v", w.name(), err)
		return
	}
	defer os.RemoveAll(root)
	if err := w.materialize(root); err != nil {
		w.r.fail("%s: %v", w.name(), err)
		return
	}
	freePort, err := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}()
	if err != nil {
		w.r.fail("%s: %v", w.name(), err)
		return
	}
	var args []string
	for _, a := range list(w.container, "args") {
		arg, _ := a.(string)
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		switch {
		case name == listenFlag:
			continue
		case hasValue:
			arg = "--" + name + "=" + w.mapPath(root, value)
		default:
			arg = w.mapPath(root, arg)
		}
		args = append(args, arg)
	}
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, envPrefix) {
			env = append(env, e)
		}
	}
	for k, v := range w.env {
		if k != envPrefix+envName(listenFlag) && k != "GOMEMLIMIT" {
			env = append(env, k+"="+w.mapPath(root, v))
		}
	}
	configFile, multi := w.value(configFlag)
	configFile = w.mapPath(root, configFile)
	_, single := w.value(urlFlag)
	mode := "probe-only (--config.file)"
	if single {
		// No EM to reach here: the built-in simulator stands in for it.
		args = append(args, "--demo")
		mode = "single-target, with --demo for EM"
	}

	if multi {
		w.checkConfigFile(bin, root, configFile, args, env)
	}

	args = append(args, "--"+listenFlag+"=127.0.0.1:"+strconv.Itoa(freePort))
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		w.r.fail("%s: start the exporter: %v", w.name(), err)
		return
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(freePort)
	fmt.Printf("     %s: started the exporter (%s) as %s %s\n", w.name(), mode, filepath.Base(bin), strings.Join(args, " "))
	httpClient := &http.Client{Timeout: 20 * time.Second}
	fetch := func(path string) (int, string, error) {
		resp, err := httpClient.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return resp.StatusCode, strings.TrimSpace(string(body)), nil
	}
	// Up at all?
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-exited:
			exited <- err
			w.r.fail("%s: the exporter exited (%v) with these args; its log:\n%s", w.name(), err, logs.String())
			return
		default:
		}
		if _, _, err := fetch("/-/healthy"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			w.r.fail("%s: the exporter did not answer within %s; its log:\n%s", w.name(), timeout, logs.String())
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Scrape paths first: in single-target mode, readiness follows the
	// first successful refresh, which a scrape starts.
	slices.SortStableFunc(paths, func(a, b string) int {
		return boolInt(strings.HasPrefix(a, "/-/")) - boolInt(strings.HasPrefix(b, "/-/"))
	})
	showLog := false
	defer func() {
		if showLog {
			fmt.Printf("     the exporter's log:\n%s", logs.String())
		}
	}()
	for _, path := range slices.Compact(paths) {
		var code int
		var body string
		var err error
		for {
			code, body, err = fetch(path)
			// Only "not yet" is worth waiting for.
			if (err == nil && code != http.StatusServiceUnavailable) || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if code != http.StatusOK {
			if err != nil {
				body = err.Error()
			}
			w.r.fail("%s: GET %s on the exporter answered %d, not 200, within %s: %s", w.name(), path, code, timeout, firstLine(body))
			showLog = true
			continue
		}
		w.r.ok("%s: GET %s -> 200 (%s)", w.name(), path, firstLine(body))
	}
	if multi {
		// No manifest here names /probe (Prometheus's scrape configuration
		// does), but it must exist: without a target it answers 400, not 404.
		if code, body, err := fetch("/probe"); err != nil || code != http.StatusBadRequest {
			w.r.fail("%s: GET /probe without a target answered %d (%v), not 400: %s", w.name(), code, err, firstLine(body))
		} else {
			w.r.ok("%s: GET /probe without a target -> 400 (the multi-target endpoint is served)", w.name())
		}
	}
}

// checkConfigFile runs --config.check on the mounted configuration file and
// checks that every password file it names is mounted too.
func (w *workload) checkConfigFile(bin, root, configFile string, args, env []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(slices.Clone(args), "--config.check")...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.r.fail("%s: --config.check refuses the mounted configuration file: %v\n%s", w.name(), err, out)
		return
	}
	w.r.ok("%s: --config.check accepts the mounted configuration file: %s", w.name(), strings.TrimSpace(string(out)))
	data, err := os.ReadFile(configFile)
	if err != nil {
		w.r.fail("%s: %v", w.name(), err)
		return
	}
	var cfg struct {
		AuthModules map[string]struct {
			PasswordFile string `json:"password_file"`
		} `json:"auth_modules"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		w.r.fail("%s: %v", w.name(), err)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.AuthModules)) {
		file := cfg.AuthModules[name].PasswordFile
		if filepath.IsAbs(file) {
			file = w.mapPath(root, file)
		} else {
			file = filepath.Join(filepath.Dir(configFile), file)
		}
		if _, err := os.Stat(file); err != nil {
			w.r.fail("%s: auth module %s: password_file %s is not mounted in the container", w.name(), name, cfg.AuthModules[name].PasswordFile)
		} else {
			w.r.ok("%s: auth module %s: password_file %s is mounted", w.name(), name, cfg.AuthModules[name].PasswordFile)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return line
}

// checkShardedPrometheus checks that the Prometheus configuration's hashmod
// relabelling sends scrapes to exactly the pods of a StatefulSet: its
// modulus is the replicas and its __address__ replacement names the pods.
func checkShardedPrometheus(r *report, file string, statefulSets map[string][]string) {
	data, err := os.ReadFile(file)
	if err != nil {
		r.fail("%v", err)
		return
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName        string `json:"job_name"`
			RelabelConfigs []struct {
				Action      string `json:"action"`
				Modulus     int    `json:"modulus"`
				TargetLabel string `json:"target_label"`
				Replacement string `json:"replacement"`
			} `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		r.fail("%s: %v", file, err)
		return
	}
	jobs := 0
	for _, job := range cfg.ScrapeConfigs {
		modulus, replacement := 0, ""
		for _, rc := range job.RelabelConfigs {
			if rc.Action == "hashmod" {
				modulus = rc.Modulus
			}
			if rc.TargetLabel == "__address__" {
				replacement = rc.Replacement
			}
		}
		if modulus == 0 {
			continue
		}
		jobs++
		var want []string
		for i := range modulus {
			want = append(want, strings.NewReplacer("${1}", strconv.Itoa(i), "$1", strconv.Itoa(i)).Replace(replacement))
		}
		matched := ""
		for sts, addresses := range statefulSets {
			if slices.Equal(addresses, want) {
				matched = sts
			}
		}
		if matched == "" {
			r.fail("%s: job %s: hashmod modulus %d and __address__ replacement %q address %s, which is not the pods of any StatefulSet checked here (%v)",
				file, job.JobName, modulus, replacement, strings.Join(want, ", "), statefulSets)
			continue
		}
		r.ok("%s: job %s sends each target to one of the %d pods of %s", file, job.JobName, modulus, matched)
	}
	if jobs == 0 {
		r.fail("%s: no scrape job with a hashmod relabelling", file)
	}
}
