package collector_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// vmSeries is one family's series by (backup server, job, VM).
func vmSeries(t *testing.T, s *stack, family string) map[[3]string]float64 {
	t.Helper()
	mfs, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[[3]string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[[3]string{label(m, "backup_server"), label(m, "job_name"), label(m, "vm")}] = m.GetGauge().GetValue()
		}
	}
	return out
}

func scrapeUp(t *testing.T, s *stack, what string) {
	t.Helper()
	if code, body := s.scrape(t, 30*time.Second); code != http.StatusOK || up(body) != "1" {
		t.Fatalf("%s: %d, veeam_em_up %s\n%s", what, code, up(body), s.logs)
	}
}

func seconds(at time.Time) float64 { return float64(at.UnixNano()) / 1e9 }

// comparePoints compares the newest point of every VM with the simulator's
// at now and, with counts, the count and oldest point with the simulator's
// between checked and now: they may lag up to the full interval.
func comparePoints(t *testing.T, s *stack, now time.Time, counts bool, checked time.Time) (mismatches int) {
	t.Helper()
	truth := s.sim.ReplicaPoints(now)
	before := map[[3]string]emsim.ReplicaPoints{}
	for _, p := range s.sim.ReplicaPoints(checked) {
		before[[3]string{p.BackupServer, p.Replica, p.VM}] = p
	}
	if len(truth) == 0 {
		t.Fatal("the simulator holds no restore points: the comparison would prove nothing")
	}
	newest := vmSeries(t, s, "veeam_em_replica_vm_latest_point_timestamp_seconds")
	count := vmSeries(t, s, "veeam_em_replica_vm_restore_points")
	oldest := vmSeries(t, s, "veeam_em_replica_vm_oldest_point_timestamp_seconds")
	for _, p := range truth {
		key := [3]string{p.BackupServer, p.Replica, p.VM}
		if got, want := newest[key], seconds(p.Newest); got != want {
			t.Errorf("%v: newest point %v, want %v (%s)", key, got, want, p.Newest)
			mismatches++
		}
		if !counts {
			continue
		}
		then, ok := before[key]
		if !ok {
			then = p
		}
		if got := count[key]; got < float64(min(p.Count, then.Count)) || got > float64(max(p.Count, then.Count)) {
			t.Errorf("%v: %v restore points, want %d (or %d, a full interval ago)", key, got, p.Count, then.Count)
			mismatches++
		}
		if got := oldest[key]; got < seconds(then.Oldest) || got > seconds(p.Oldest) {
			t.Errorf("%v: oldest point %v, want between %v and %v", key, got, seconds(then.Oldest), seconds(p.Oldest))
			mismatches++
		}
	}
	if len(newest) != len(truth) {
		t.Errorf("%d VMs with a newest point, the simulator has %d", len(newest), len(truth))
	}
	return mismatches
}

// TestReplicaPointsFollowSimulator: through the real client, the counts,
// oldest and newest points equal the simulator's after the load; the newest
// point of every VM is right at every scrape, a minute apart; and when EM
// deletes points (retention lowered to 1), the counts fall to it within the
// full interval, with a few counts and no read of every point.
func TestReplicaPointsFollowSimulator(t *testing.T) {
	s := newStack(t, 100, 0)
	scrapeUp(t, s, "first scrape")
	comparePoints(t, s, s.clock.Now(), true, s.clock.Now())

	for i := range 10 {
		s.clock.Advance(time.Minute)
		scrapeUp(t, s, "scrape")
		if comparePoints(t, s, s.clock.Now(), false, time.Time{}) > 0 {
			t.Fatalf("newest points wrong at scrape %d", i+2)
		}
	}

	victim := s.sim.ReplicaPoints(s.clock.Now())[0]
	s.sim.SetReplicaRetention(victim.BackupServer, victim.Replica, 1)
	s.sim.ResetRequests()
	deleted := s.clock.Now()
	fell := time.Duration(0)
	key := [3]string{victim.BackupServer, victim.Replica, victim.VM}
	for s.clock.Now().Sub(deleted) < time.Hour {
		s.clock.Advance(5 * time.Minute)
		scrapeUp(t, s, "scrape after the deletion")
		if fell == 0 && vmSeries(t, s, "veeam_em_replica_vm_restore_points")[key] == 1 {
			fell = s.clock.Now().Sub(deleted)
		}
	}
	if fell == 0 {
		t.Fatalf("%v: restore points still %v an hour after retention fell to 1", key, vmSeries(t, s, "veeam_em_replica_vm_restore_points")[key])
	}
	t.Logf("the count fell to the retained 1 point %v after EM deleted the others", fell)
	comparePoints(t, s, s.clock.Now(), true, s.clock.Now().Add(-collector.DefaultReplicaPointFullInterval))
	var reads, counts int
	for _, r := range s.sim.Requests() {
		if r.Type != "VmReplicaPoint" {
			continue
		}
		if queryParam(t, r.RawQuery, "pageSize") == "1" {
			counts++
			continue
		}
		reads++
		if filter := queryParam(t, r.RawQuery, "filter"); !strings.Contains(filter, "CreationTime>=") && !strings.Contains(filter, "ReplicaName==") {
			t.Errorf("a read of every restore point after the load: %s", r.RawQuery)
		}
	}
	t.Logf("an hour of scrapes: %d point reads, %d counts", reads, counts)
}

// TestCDPFiltersUseCDPFieldNames reads the simulator's request log: the
// CDP session queries filter on CreationTimeUTC and EndTimeUTC, never on
// the other sessions' CreationTime, EndTime or UID, and the simulator
// accepts them (every scrape is up).
func TestCDPFiltersUseCDPFieldNames(t *testing.T) {
	s := newStack(t, 100, 0)
	scrapeUp(t, s, "first scrape")
	for range 5 {
		s.clock.Advance(time.Minute)
		scrapeUp(t, s, "scrape")
	}
	field := regexp.MustCompile(`(?:^|[;,(])\s*([A-Za-z]+)\s*(?:==|!=|>=|<=|<|>)`)
	seen := map[string]map[string]bool{}
	for _, r := range s.sim.Requests() {
		if r.Type != "CdpReplicaSession" && r.Type != "CdpReplicaTaskSession" {
			continue
		}
		if seen[r.Type] == nil {
			seen[r.Type] = map[string]bool{}
		}
		for _, m := range field.FindAllStringSubmatch(queryParam(t, r.RawQuery, "filter"), -1) {
			seen[r.Type][m[1]] = true
		}
		for _, p := range []string{"sortDesc", "sortAsc"} {
			if v := queryParam(t, r.RawQuery, p); v != "" && v != "CreationTimeUTC" {
				t.Errorf("%s sorted on %s=%s, want CreationTimeUTC", r.Type, p, v)
			}
		}
	}
	for _, typ := range []string{"CdpReplicaSession", "CdpReplicaTaskSession"} {
		fields := seen[typ]
		if !fields["CreationTimeUTC"] || !fields["EndTimeUTC"] {
			t.Errorf("%s filtered on %v, want CreationTimeUTC and EndTimeUTC among them", typ, fields)
		}
		for _, wrong := range []string{"CreationTime", "EndTime", "UID"} {
			if fields[wrong] {
				t.Errorf("%s filtered on %s, which is not a CDP filter field", typ, wrong)
			}
		}
	}
	if len(s.sim.CdpTaskSessions(s.clock.Now())) == 0 {
		t.Fatal("the simulator has no CDP task sessions: the test would prove nothing")
	}
}

// queryParam is a parameter of a raw query whose filter keeps EM's literal
// ';' separators, which url.ParseQuery refuses.
func queryParam(t *testing.T, raw, name string) string {
	t.Helper()
	for _, part := range strings.Split(raw, "&") {
		key, value, _ := strings.Cut(part, "=")
		if key != name {
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			t.Fatalf("%s in %s: %v", name, raw, err)
		}
		return v
	}
	return ""
}
