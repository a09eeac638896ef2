package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	eastOnly = "auth_modules:\n  em_east:\n    username: east\n    password_file: east.password\n"
	westOnly = "auth_modules:\n  em_west:\n    username: west\n    password_file: west.password\n"
	broken   = "auth_modules:\n  em_west:\n    username: west\n    pasword_file: west.password\n"
)

// steppingClock tells a later second at every call, so each successful load
// has its own timestamp.
type steppingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func reloadMetrics(successful int, timestamp string) string {
	return `# HELP veeam_em_exporter_config_last_reload_success_timestamp_seconds Unix time of the last successful configuration load.
# TYPE veeam_em_exporter_config_last_reload_success_timestamp_seconds gauge
veeam_em_exporter_config_last_reload_success_timestamp_seconds ` + timestamp + `
# HELP veeam_em_exporter_config_last_reload_successful Whether the last configuration reload attempt was successful (1) or not (0).
# TYPE veeam_em_exporter_config_last_reload_successful gauge
veeam_em_exporter_config_last_reload_successful ` + strconv.Itoa(successful) + `
`
}

func TestReloadKeepsTheOldConfigOnError(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, eastOnly)
	clock := &steppingClock{now: time.Unix(1_700_000_000, 0)}
	r, err := NewReloader(path, clock.Now)
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	collector := NewReloadCollector(r)
	if err := testutil.CollectAndCompare(collector, strings.NewReader(reloadMetrics(1, "1.700000001e+09"))); err != nil {
		t.Errorf("after the first load: %v", err)
	}
	if problems, err := testutil.CollectAndLint(collector); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	writeConfig(t, dir, broken)
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), "pasword_file") {
		t.Fatalf("Reload of a broken file: err = %v, want the unknown field named", err)
	}
	if _, ok := r.Module("em_east"); !ok {
		t.Error("the old configuration was dropped by a failed reload")
	}
	if _, ok := r.Module("em_west"); ok {
		t.Error("a module of the broken file is in use")
	}
	if err := testutil.CollectAndCompare(collector, strings.NewReader(reloadMetrics(0, "1.700000001e+09"))); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}

	writeConfig(t, dir, westOnly)
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload of a good file: %v", err)
	}
	west, ok := r.Module("em_west")
	if !ok || west.Username != "west" || west.PasswordFile != filepath.Join(dir, "west.password") {
		t.Errorf("em_west = %+v, %v; want the new module", west, ok)
	}
	if _, ok := r.Module("em_east"); ok {
		t.Error("a module removed from the file is still in use")
	}
	if err := testutil.CollectAndCompare(collector, strings.NewReader(reloadMetrics(1, "1.700000002e+09"))); err != nil {
		t.Errorf("after a successful reload: %v", err)
	}
}

func TestNewReloaderNeedsAGoodFile(t *testing.T) {
	path := writeConfig(t, t.TempDir(), broken)
	if r, err := NewReloader(path, nil); err == nil {
		t.Fatalf("NewReloader succeeded with %+v, want an error", r.Config())
	}
}

// Concurrent reloads, alternating files and readers must be race-free and
// always see a complete configuration: one of the two files, never a mix.
func TestConcurrentReloads(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, eastOnly)
	r, err := NewReloader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if i == 0 {
					content := eastOnly
					if j%2 == 1 {
						content = westOnly
					}
					writeAtomically(t, path, content)
				}
				if err := r.Reload(); err != nil {
					t.Errorf("Reload: %v", err)
					return
				}
				cfg := r.Config()
				_, east := cfg.AuthModules["em_east"]
				_, west := cfg.AuthModules["em_west"]
				if len(cfg.AuthModules) != 1 || east == west {
					t.Errorf("configuration in use = %+v, want exactly one of the two files", cfg.AuthModules)
					return
				}
				r.Module("em_east")
				r.LastReload()
			}
		})
	}
	wg.Wait()
	if successful, _ := r.LastReload(); !successful {
		t.Error("last reload recorded as failed")
	}
}

// writeAtomically replaces the file by a rename, as configuration managers
// do, so that a concurrent reader never sees a half-written file.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}
