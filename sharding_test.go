package main

import (
	"bytes"
	"crypto/md5"
	"debug/buildinfo"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"go/build"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// The sharding example, run as it is but for the addresses.
const shardExample = "deploy/prometheus/examples/prometheus_sharded.yaml"

const (
	shardEMs = 4
	// shardScrapeInterval replaces the example's 1m; shardMinRefresh is
	// the exporters' --veeam.min-refresh-interval, a little below it, as
	// the example says.
	shardScrapeInterval = 2 * time.Second
	shardScrapeTimeout  = 1500 * time.Millisecond
	shardMinRefresh     = 1800 * time.Millisecond
	// shardWindow is how long the HA pair is watched.
	shardWindow   = 12 * time.Second
	shardUser     = "shard@corp.local"
	shardPassword = "shard-Pa55word-never-printed"
)

// TestShardingAcrossExporters runs the Prometheus configuration of
// shardExample in a real Prometheus 3 against exporters started as shards
// and simulated EMs, all on loopback. Only what cannot be the same on a test
// machine is rewritten: the EM URLs, the shards' addresses, the intervals
// and the replica label. The hashmod rule, and so N, are the example's.
func TestShardingAcrossExporters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and Prometheus")
	}
	prometheusBin := findPrometheus3(t)
	example := loadShardExample(t)
	n := example.modulus
	if n < 2 || n > shardEMs {
		t.Fatalf("%s: hashmod modulus %d; the test needs 2 to %d shards to show %d EMs shared among them", shardExample, n, shardEMs, shardEMs)
	}
	bin := buildBinary(t)
	if out, _ := exec.Command(bin, "--help").CombinedOutput(); !strings.Contains(string(out), "--veeam.min-refresh-interval") {
		t.Fatal("the exporter has no --veeam.min-refresh-interval flag, which the HA arrangement of the example relies on")
	}
	dir := t.TempDir()

	ems := startShardEMs(t, n)
	var urls, pems []string
	for _, em := range ems {
		urls = append(urls, em.URL)
		pems = append(pems, string(em.CertPEM))
	}
	caFile := filepath.Join(dir, "ems-ca.pem")
	passwordFile := filepath.Join(dir, "password")
	configFile := filepath.Join(dir, "veeam_em_exporter.yml")
	writeTestFile(t, caFile, strings.Join(pems, ""))
	writeTestFile(t, passwordFile, shardPassword+"\n")
	// One auth module for every EM, as in the example: one job, one module.
	writeTestFile(t, configFile, "auth_modules:\n"+
		"  "+example.authModule+":\n"+
		"    username: "+shardUser+"\n"+
		"    password_file: "+passwordFile+"\n"+
		"    tls:\n"+
		"      ca_file: "+caFile+"\n"+
		"    targets: ['"+strings.Join(urls, "', '")+"']\n")

	// Shard i listens on base+i, so that one replacement, the prefix of
	// base followed by the shard number, addresses them all, as the
	// example's pod name does.
	base := freePortRun(t, n)
	shards := make([]*exporterProcess, n)
	for i := range shards {
		shards[i] = startExporterAt(t, bin, "127.0.0.1:"+strconv.Itoa(base+i),
			"--config.file="+configFile, "--veeam.min-refresh-interval="+shardMinRefresh.String())
	}
	var shardAddrs []string
	for _, s := range shards {
		shardAddrs = append(shardAddrs, s.addr)
	}
	replacement := "127.0.0.1:" + strconv.Itoa(base/10) + "${1}"

	// Which EMs each shard must hold: Prometheus's hashmod, computed here.
	want := make([][]string, n)
	for _, u := range urls {
		want[shardOf(u, n)] = append(want[shardOf(u, n)], u)
	}

	promA := startPrometheus(t, prometheusBin, dir, "a", example.rewrite(t, urls, replacement, shardAddrs, "a"))
	promA.waitAllUp(t, urls, n)

	t.Run("each EM is scraped through its own shard", func(t *testing.T) {
		for _, target := range promA.targets(t) {
			if target.ScrapePool != example.probeJob {
				continue
			}
			em := target.Labels["instance"]
			scrape, err := url.Parse(target.ScrapeURL)
			if err != nil {
				t.Fatalf("scrape URL %q: %v", target.ScrapeURL, err)
			}
			shard := shardOf(em, n)
			if scrape.Host != shards[shard].addr || scrape.Query().Get("target") != em {
				t.Errorf("Prometheus scrapes EM %s at %s, want shard %d at %s (MD5 of the URL modulo %d)", em, target.ScrapeURL, shard, shards[shard].addr, n)
			}
		}
	})

	t.Run("each EM is probed by exactly one exporter", func(t *testing.T) {
		for i, s := range shards {
			got := probedTargets(s)
			if !slices.Equal(got, sortedCopy(want[i])) {
				t.Errorf("shard %d (%s) probed %v, want %v: the EMs whose URL hashes to %d", i, s.addr, got, sortedCopy(want[i]), i)
			}
			if _, families := s.scrape(); gaugeValue(families, "veeam_em_exporter_probe_targets") != float64(len(want[i])) {
				t.Errorf("shard %d: veeam_em_exporter_probe_targets = %v, want %d", i, gaugeValue(families, "veeam_em_exporter_probe_targets"), len(want[i]))
			}
		}
		for _, em := range ems {
			if got := em.Logons(); got != 1 {
				t.Errorf("EM %s saw %d logons, want 1: one exporter, one EM session", em.URL, got)
			}
		}
	})
	if t.Failed() {
		return
	}

	// HA: a second Prometheus, identical but for its replica label.
	promB := startPrometheus(t, prometheusBin, dir, "b", example.rewrite(t, urls, replacement, shardAddrs, "b"))
	promB.waitAllUp(t, urls, n)
	from := time.Now().UTC()
	time.Sleep(shardWindow) // the measurement window itself, not a wait for a condition
	to := time.Now().UTC()

	t.Run("an HA pair costs EM one refresh per interval", func(t *testing.T) {
		// A refresh starts only shardMinRefresh after the previous one
		// ended, so the refreshes of a window are at least that far apart:
		// at most floor(window/min) + 1 of them, however the two servers'
		// scrapes fall, 7 here, where two servers without the flag would
		// cost about 2 * window/interval = 12. Each server scrapes every
		// interval, so once min has passed since the last refresh ended the
		// next scrape, within an interval, refreshes: the refreshes are at
		// most interval + min (+ the refresh's own time) apart, and a window
		// holds at least floor(window/(interval+min+1s)), 2 here. Neither
		// bound depends on how the two servers' scrapes interleave.
		window := to.Sub(from)
		most := int(window/shardMinRefresh) + 1
		least := int(window / (shardScrapeInterval + shardMinRefresh + time.Second))
		for i, em := range ems {
			shard := shards[shardOf(em.URL, n)]
			refreshed := exporterRefreshes(t, shard, em.URL, from, to)
			queries, answered := emRefreshes(em, from, to)
			t.Logf("EM %d: %d refreshes by its shard, %d query requests over %d refreshes seen by EM, in %s of scrapes every %s by 2 Prometheus servers",
				i, refreshed, queries, answered, window.Round(time.Millisecond), shardScrapeInterval)
			if refreshed < least || refreshed > most {
				t.Errorf("EM %s: its shard refreshed %d times in %s, want %d to %d: one refresh per scrape interval of %s, not one per Prometheus server",
					em.URL, refreshed, window.Round(time.Millisecond), least, most, shardScrapeInterval)
			}
			if answered > most {
				t.Errorf("EM %s answered the queries of %d refreshes (%d query requests) in %s, want at most %d: one refresh per scrape interval of %s, not one per Prometheus server",
					em.URL, answered, queries, window.Round(time.Millisecond), most, shardScrapeInterval)
			}
			if got := em.Logons(); got != 1 {
				t.Errorf("EM %s saw %d logons with two Prometheus servers, want 1", em.URL, got)
			}
		}
		for _, p := range []*prometheusProcess{promA, promB} {
			if up := p.emUp(t); len(up) != shardEMs {
				t.Errorf("Prometheus %s: veeam_em_up of %d EMs at the end, want %d: %v", p.replica, len(up), shardEMs, up)
			}
		}
	})
}

// findPrometheus3 returns a Prometheus 3 server binary: $PROMETHEUS, else
// prometheus in GOPATH/bin, else on PATH. Without one the test is skipped,
// unless VEEAM_EM_REQUIRE_TOOLS=1 (CI) makes that a failure.
func findPrometheus3(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) string {
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("VEEAM_EM_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg + " (VEEAM_EM_REQUIRE_TOOLS=1)")
		}
		t.Skip(msg)
		return ""
	}
	if bin := os.Getenv("PROMETHEUS"); bin != "" {
		if version, ok := prometheusMajor3(bin); !ok {
			return missing("PROMETHEUS=%s is not a Prometheus 3 server: --version says %q", bin, version)
		}
		return bin
	}
	var candidates []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		candidates = append(candidates, filepath.Join(gobin, "prometheus"))
	}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		candidates = append(candidates, filepath.Join(gopath, "bin", "prometheus"))
	}
	if bin, err := exec.LookPath("prometheus"); err == nil {
		candidates = append(candidates, bin)
	}
	for _, bin := range candidates {
		if _, ok := prometheusMajor3(bin); ok {
			return bin
		}
	}
	return missing("no Prometheus 3 server in $PROMETHEUS, GOPATH/bin or PATH (looked at %v); install one with deploy/prometheus/install-prometheus3.sh or "+
		"go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0", candidates)
}

var (
	prometheusVersion = regexp.MustCompile(`^prometheus, version (\d+)\.`)
	// Prometheus 3.x.y is released as module version v0.3xx.y.
	prometheusModuleVersion = regexp.MustCompile(`^v0\.(\d)\d\d\.`)
)

// prometheusMajor3 says whether bin is a Prometheus 3.x server, and what
// it reported. A `go install`ed one prints no version: its module version
// tells it instead.
func prometheusMajor3(bin string) (string, bool) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if err != nil {
		return first, false
	}
	if m := prometheusVersion.FindStringSubmatch(first); m != nil {
		return first, m[1] == "3"
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil || info.Main.Path != "github.com/prometheus/prometheus" {
		return first, false
	}
	m := prometheusModuleVersion.FindStringSubmatch(info.Main.Version)
	return first + " (module " + info.Main.Version + ")", m != nil && m[1] == "3"
}

// shardOf is the shard Prometheus's hashmod relabelling gives an EM URL:
// the last 8 bytes of its MD5, big-endian, modulo n.
func shardOf(target string, n int) int {
	sum := md5.Sum([]byte(target))
	return int(binary.BigEndian.Uint64(sum[8:]) % uint64(n))
}

// startShardEMs starts shardEMs simulators spread evenly over n shards. Their
// ports, and so their URLs and shards, are random: a simulator whose shard
// has its share already is closed and another started, so that no shard
// idles and the test shows the EMs shared out.
func startShardEMs(t *testing.T, n int) []*emsim.Running {
	t.Helper()
	share := make([]int, n)
	for i := range shardEMs {
		share[i%n]++
	}
	var ems []*emsim.Running
	for seed := int64(1); len(ems) < shardEMs; seed++ {
		if seed > 200 {
			t.Fatalf("no simulator URL hashed to the shards still short of EMs after 200 tries: %v", share)
		}
		sim, err := emsim.Start(emsim.Config{
			Seed:     seed,
			Username: shardUser,
			Password: shardPassword,
			// The wall clock, so that the request log's times can be
			// compared with the test's.
			Clock:    emsim.RealClock(),
			Topology: emsim.TestTopology(),
		}, true)
		if err != nil {
			t.Fatal(err)
		}
		if shard := shardOf(sim.URL, n); share[shard] > 0 {
			share[shard]--
			t.Cleanup(sim.Close)
			ems = append(ems, sim)
			continue
		}
		sim.Close()
	}
	return ems
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePortRun returns a port p, a multiple of 10, such that p to p+n-1 are
// free on 127.0.0.1, below the usual ephemeral range.
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + 10*rand.IntN(1200)
		var listeners []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				break
			}
			listeners = append(listeners, l)
		}
		for _, l := range listeners {
			l.Close()
		}
		if len(listeners) == n {
			return base
		}
	}
	t.Fatalf("no %d free consecutive ports on 127.0.0.1", n)
	return 0
}

// startExporterAt is startExporter listening on addr.
func startExporterAt(t *testing.T, bin, addr string, args ...string) *exporterProcess {
	t.Helper()
	p := &exporterProcess{t: t, addr: addr, stderr: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"--web.listen-address=" + addr, "--log.level=debug"}, args...)...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("exporter %s log:\n%s", addr, p.stderr.String())
		}
	})
	waitFor(t, 15*time.Second, "exporter at "+addr+" to answer /-/healthy", func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/-/healthy")
		if err != nil {
			return false, err.Error() + "\n" + p.stderr.String()
		}
		resp.Body.Close()
		return true, ""
	})
	return p
}

// waitFor polls cond until it holds or timeout passes, then fails with the
// last reason cond gave.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", timeout, what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var probedTarget = regexp.MustCompile(`target=(\S+).*msg="Probing a new target"`)

// probedTargets are the EM URLs an exporter's log says it probed, sorted.
func probedTargets(p *exporterProcess) []string {
	var got []string
	for _, m := range probedTarget.FindAllStringSubmatch(p.stderr.String(), -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	return got
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// emRefreshes counts the query-service requests em received between from
// and to, and the refreshes among them: a steady refresh asks for each
// session type at most once (and not at all when nothing of that type was
// created or runs), so the most first pages of one type is the number of
// refreshes EM answered. Restore points are left out of the second count:
// a refresh reads the new ones and counts the recent ones, two first pages.
func emRefreshes(em *emsim.Running, from, to time.Time) (queries, refreshes int) {
	firstPages := map[string]int{}
	for _, r := range em.Requests() {
		if r.Path != "/api/query" || r.Time.Before(from) || r.Time.After(to) {
			continue
		}
		queries++
		if r.Page == 1 && r.Type != veeam.VmReplicaPointType {
			firstPages[r.Type]++
			refreshes = max(refreshes, firstPages[r.Type])
		}
	}
	return queries, refreshes
}

var refreshedLine = regexp.MustCompile(`(?m)^.*\bts=(\S+).*\btarget=(\S+).*msg="refreshed from Enterprise Manager".*$`)

// exporterRefreshes counts the successful refreshes of target that p's log
// says ended between from and to.
func exporterRefreshes(t *testing.T, p *exporterProcess, target string, from, to time.Time) int {
	t.Helper()
	n := 0
	for _, m := range refreshedLine.FindAllStringSubmatch(p.stderr.String(), -1) {
		if m[2] != target {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("exporter log line %q: %v", m[0], err)
		}
		if !ts.Before(from) && !ts.After(to) {
			n++
		}
	}
	return n
}

// shardExampleConfig is shardExample, decoded, and what the test reads in it.
type shardExampleConfig struct {
	file       map[string]any
	modulus    int
	probeJob   string // the job of /probe
	authModule string
}

func loadShardExample(t *testing.T) *shardExampleConfig {
	t.Helper()
	data, err := os.ReadFile(shardExample)
	if err != nil {
		t.Fatal(err)
	}
	var file any
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", shardExample, err)
	}
	c := &shardExampleConfig{file: asMap(normalize(file))}
	probe, _ := c.jobs(t)
	c.probeJob = fmt.Sprint(probe["job_name"])
	modules := asSlice(asMap(probe["params"])["auth_module"])
	if len(modules) != 1 {
		t.Fatalf("%s: job %s must name one auth_module in params, has %v", shardExample, c.probeJob, modules)
	}
	c.authModule = fmt.Sprint(modules[0])
	hashmod, _ := c.shardRules(t, probe)
	c.modulus, _ = hashmod["modulus"].(int)
	return c
}

// jobs returns the example's two jobs: the one of /probe, sharded, and the
// one of the shards' own metrics.
func (c *shardExampleConfig) jobs(t *testing.T) (probe, own map[string]any) {
	t.Helper()
	for _, job := range asSlice(c.file["scrape_configs"]) {
		job := asMap(job)
		if job["metrics_path"] == "/probe" {
			if probe != nil {
				t.Fatalf("%s: more than one job of /probe", shardExample)
			}
			probe = job
		} else {
			if own != nil {
				t.Fatalf("%s: more than one job besides that of /probe", shardExample)
			}
			own = job
		}
	}
	if probe == nil || own == nil {
		t.Fatalf("%s: want a job of /probe and one of the shards' own metrics", shardExample)
	}
	return probe, own
}

// shardRules returns the relabel rule that computes the shard and the one
// that makes the address of it; the example must have one of each.
func (c *shardExampleConfig) shardRules(t *testing.T, probe map[string]any) (hashmod, address map[string]any) {
	t.Helper()
	rules := asSlice(probe["relabel_configs"])
	for _, rule := range rules {
		if rule := asMap(rule); rule["action"] == "hashmod" {
			if hashmod != nil {
				t.Fatalf("%s: more than one hashmod rule", shardExample)
			}
			hashmod = rule
		}
	}
	if hashmod == nil {
		t.Fatalf("%s: no hashmod rule in job %v", shardExample, probe["job_name"])
	}
	for _, rule := range rules {
		rule := asMap(rule)
		sources := asSlice(rule["source_labels"])
		if rule["target_label"] == "__address__" && len(sources) == 1 && sources[0] == hashmod["target_label"] {
			if address != nil {
				t.Fatalf("%s: more than one rule makes __address__ from the shard", shardExample)
			}
			address = rule
		}
	}
	if address == nil || !strings.Contains(fmt.Sprint(address["replacement"]), "${1}") {
		t.Fatalf("%s: want one rule making __address__ from %v with a replacement holding ${1}", shardExample, hashmod["target_label"])
	}
	return hashmod, address
}

// rewrite returns the example with the test's EMs as targets, shards
// reached through replacement and listed for their own metrics, the test's
// intervals and the replica label. A fresh decoding each time, so that the
// two servers' files differ only where they are made to.
func (c *shardExampleConfig) rewrite(t *testing.T, ems []string, replacement string, shards []string, replica string) []byte {
	t.Helper()
	fresh := loadShardExample(t)
	global := asMap(fresh.file["global"])
	labels := asMap(global["external_labels"])
	if _, ok := labels["replica"]; !ok {
		t.Fatalf("%s: global.external_labels has no replica label, which tells the servers of an HA pair apart", shardExample)
	}
	labels["replica"] = replica
	global["scrape_interval"] = model.Duration(shardScrapeInterval).String()
	global["scrape_timeout"] = model.Duration(shardScrapeTimeout).String()
	probe, own := fresh.jobs(t)
	for _, job := range []map[string]any{probe, own} {
		delete(job, "scrape_interval")
		delete(job, "scrape_timeout")
	}
	probe["static_configs"] = []any{map[string]any{"targets": ems}}
	_, address := fresh.shardRules(t, probe)
	address["replacement"] = replacement
	// Kubernetes discovery cannot run here: the shards are listed.
	for key := range own {
		if strings.HasSuffix(key, "_sd_configs") || key == "relabel_configs" {
			delete(own, key)
		}
	}
	own["static_configs"] = []any{map[string]any{"targets": shards}}
	out, err := yaml.Marshal(fresh.file)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// normalize turns the maps yaml.v2 decodes, keyed by any, into maps keyed
// by string, so that the configuration can be changed in place.
func normalize(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, item := range v {
			m[fmt.Sprint(k)] = normalize(item)
		}
		return m
	case []any:
		for i, item := range v {
			v[i] = normalize(item)
		}
	}
	return v
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// prometheusProcess is a Prometheus server run by the test.
type prometheusProcess struct {
	replica, addr string
	cmd           *exec.Cmd
	log           *syncBuffer
	exited        chan struct{} // closed when the process has ended, with err set
	err           error
}

func startPrometheus(t *testing.T, bin, dir, replica string, config []byte) *prometheusProcess {
	t.Helper()
	configFile := filepath.Join(dir, "prometheus-"+replica+".yml")
	writeTestFile(t, configFile, string(config))
	p := &prometheusProcess{replica: replica, addr: freeAddr(t), log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin,
		"--config.file="+configFile,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-"+replica),
		"--web.listen-address="+p.addr,
	)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("Prometheus %s configuration:\n%s\nlog:\n%s", replica, config, p.log.String())
		}
	})
	return p
}

// promTarget is an active target in /api/v1/targets.
type promTarget struct {
	Labels     map[string]string `json:"labels"`
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Health     string            `json:"health"`
	LastError  string            `json:"lastError"`
}

// api decodes the data of a Prometheus API answer into data.
func (p *prometheusProcess) api(path string, data any) error {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return err
	}
	var answer struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body.Bytes(), &answer); err != nil {
		return fmt.Errorf("GET %s: %d %q: %w", path, resp.StatusCode, body.String(), err)
	}
	if answer.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, answer.Error)
	}
	return json.Unmarshal(answer.Data, data)
}

func (p *prometheusProcess) targets(t *testing.T) []promTarget {
	t.Helper()
	var data struct {
		ActiveTargets []promTarget `json:"activeTargets"`
	}
	if err := p.api("/api/v1/targets?state=active", &data); err != nil {
		t.Fatal(err)
	}
	return data.ActiveTargets
}

// emUp returns the EMs whose latest veeam_em_up is 1.
func (p *prometheusProcess) emUp(t *testing.T) []string {
	t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		} `json:"result"`
	}
	if err := p.api("/api/v1/query?query="+url.QueryEscape("veeam_em_up == 1"), &data); err != nil {
		t.Fatal(err)
	}
	var up []string
	for _, r := range data.Result {
		up = append(up, r.Metric["instance"])
	}
	slices.Sort(up)
	return up
}

// waitAllUp waits until p scrapes every EM and every one of n shards
// successfully, and has veeam_em_up 1 for every EM.
func (p *prometheusProcess) waitAllUp(t *testing.T, ems []string, n int) {
	t.Helper()
	waitFor(t, 25*time.Second, "Prometheus "+p.replica+" to scrape every EM and shard", func() (bool, string) {
		select {
		case <-p.exited:
			t.Fatalf("Prometheus %s exited: %v", p.replica, p.err)
		default:
		}
		var data struct {
			ActiveTargets []promTarget `json:"activeTargets"`
		}
		if err := p.api("/api/v1/targets?state=active", &data); err != nil {
			return false, err.Error()
		}
		var state []string
		up := 0
		for _, target := range data.ActiveTargets {
			state = append(state, fmt.Sprintf("%s %s %s %s", target.ScrapePool, target.Labels["instance"], target.Health, target.LastError))
			if target.Health == "up" {
				up++
			}
		}
		if len(data.ActiveTargets) != len(ems)+n || up != len(ems)+n {
			return false, fmt.Sprintf("%d targets up of %d, want %d EMs and %d shards:\n%s", up, len(data.ActiveTargets), len(ems), n, strings.Join(state, "\n"))
		}
		if got, want := p.emUp(t), sortedCopy(ems); !slices.Equal(got, want) {
			return false, fmt.Sprintf("veeam_em_up == 1 for %v, want %v", got, want)
		}
		return true, ""
	})
}

// TestShardedExampleMatchesKubernetes checks that the sharding example and
// the StatefulSet of deploy/kubernetes/sharded agree: N, the shards' DNS
// names and port, and the auth module with its targets.
func TestShardedExampleMatchesKubernetes(t *testing.T) {
	example := loadShardExample(t)
	probe, _ := example.jobs(t)
	_, address := example.shardRules(t, probe)
	read := func(name string) map[string]any {
		t.Helper()
		path := filepath.Join("deploy/kubernetes/sharded", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return asMap(normalize(v))
	}
	statefulSet, service, kustomization, exporterConfig := read("statefulset.yaml"), read("service.yaml"), read("kustomization.yaml"), read("veeam_em_exporter.yml")

	spec := asMap(statefulSet["spec"])
	if replicas, _ := spec["replicas"].(int); replicas != example.modulus {
		t.Errorf("%s shards over %d (hashmod modulus), the StatefulSet runs %v replicas: they must be equal", shardExample, example.modulus, spec["replicas"])
	}
	ports := asSlice(asMap(service["spec"])["ports"])
	if len(ports) != 1 {
		t.Fatalf("service.yaml: want one port, have %v", ports)
	}
	want := fmt.Sprintf("%v-${1}.%v.%v.svc:%v", asMap(statefulSet["metadata"])["name"], spec["serviceName"], kustomization["namespace"], asMap(ports[0])["port"])
	if spec["serviceName"] != asMap(service["metadata"])["name"] {
		t.Errorf("the StatefulSet's serviceName %v is not the Service's name %v", spec["serviceName"], asMap(service["metadata"])["name"])
	}
	if address["replacement"] != want {
		t.Errorf("%s sends scrapes to %v, want %s: the pods of the StatefulSet", shardExample, address["replacement"], want)
	}

	module, ok := asMap(exporterConfig["auth_modules"])[example.authModule]
	if !ok {
		t.Fatalf("%s names auth module %q, which the shards' veeam_em_exporter.yml lacks", shardExample, example.authModule)
	}
	allowed := map[string]bool{}
	for _, target := range asSlice(asMap(module)["targets"]) {
		allowed[fmt.Sprint(target)] = true
	}
	for _, sc := range asSlice(probe["static_configs"]) {
		for _, target := range asSlice(asMap(sc)["targets"]) {
			if len(allowed) > 0 && !allowed[fmt.Sprint(target)] {
				t.Errorf("%s scrapes %v, which auth module %q of the shards refuses (not in its targets)", shardExample, target, example.authModule)
			}
		}
	}
}
