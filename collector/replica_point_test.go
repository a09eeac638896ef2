package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

var replicaPointFamilies = []string{"veeam_em_replica_vm_restore_points", "veeam_em_replica_vm_latest_point_timestamp_seconds", "veeam_em_replica_vm_oldest_point_timestamp_seconds"}

// goldenPoints has one replica name on two servers, hard names, a VM known
// by its VmName only, a point in the future's second fraction and a point
// without the names that place it.
func goldenPoints() []veeam.VmReplicaPoint {
	p := []veeam.VmReplicaPoint{
		point("1", vbr01, "Replica Job 1", "web01", t0.Add(-3*time.Hour)),
		point("2", vbr01, "Replica Job 1", "web01", t0.Add(-2*time.Hour)),
		point("3", vbr01, "Replica Job 1", "web01", t0.Add(-time.Hour+250*time.Millisecond)),
		point("4", vbr01, "Replica Job 1", "db01", t0.Add(-time.Hour)),
		point("5", vbr02, "Replica Job 1", "web01", t0.Add(-30*time.Minute)),
		point("6", hardVBR, `Réplica "nuit" \\nas01\veeam$`, `vm-备份 "1"`, t0.Add(-45*time.Minute+1234567*time.Nanosecond)),
		point("7", hardVBR, `Réplica "nuit" \\nas01\veeam$`, `vm-备份 "1"`, t0.Add(-25*time.Hour)),
	}
	byVMName := point("8", vbr02, "Replica Job 1", "", t0.Add(-10*time.Minute))
	byVMName.VMName = "app02"
	unplaced := point("9", vbr02, "", "lost01", t0.Add(-10*time.Minute))
	return append(p, byVMName, unplaced)
}

func TestGoldenReplicaPoint(t *testing.T) {
	f := newInventoryFixture(t, ReplicaPoint)
	f.src.setPoints(goldenPoints())
	f.refresh(t)
	assertInventoryGolden(t, f.c, "replica_point", replicaPointFamilies)
}

// pointSite is a fake EM's replica points: replicas of vms VMs each, a
// point per VM every hour, keeping the newest keep per VM.
type pointSite struct {
	replicas, vms, keep int
	runs                int // points created so far per VM
	points              []veeam.VmReplicaPoint
}

// run creates the next point of every VM at created and applies retention.
func (s *pointSite) run(created time.Time) {
	s.runs++
	for r := range s.replicas {
		for v := range s.vms {
			uid := fmt.Sprintf("%d-%d-%d", r, v, s.runs)
			// A minute apart, as task sessions end apart.
			s.points = append(s.points, point(uid, vbr01, fmt.Sprintf("Replica Job %d", r), fmt.Sprintf("vm%02d", v), created.Add(time.Duration(v)*time.Minute)))
		}
	}
	s.retain(s.keep)
}

// retain keeps the newest keep points of every VM.
func (s *pointSite) retain(keep int) {
	perVM := make(map[string]int)
	var kept []veeam.VmReplicaPoint
	for i := len(s.points) - 1; i >= 0; i-- {
		p := s.points[i]
		key := p.ReplicaName + "/" + p.VMDisplayName
		if perVM[key] < keep {
			perVM[key]++
			kept = append([]veeam.VmReplicaPoint{p}, kept...)
		}
	}
	s.points = kept
}

// pointValue is the value of a replica_point family's series for vm in
// replica "Replica Job 0", or -1 without one.
func pointValue(t *testing.T, f *fixture, family, vm string) float64 {
	t.Helper()
	out, err := testutil.CollectAndFormat(f.c, expfmt.TypeTextPlain, family)
	if err != nil {
		t.Fatal(err)
	}
	prefix := family + `{backup_server="` + vbr01 + `",job_name="Replica Job 0",vm="` + vm + `"} `
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return -1
}

// TestReplicaPointRetention: points EM deletes lower the count within the
// full interval, the newest point shows one refresh after it is created,
// and a check of a replica whose oldest run went costs a few counts, not a
// read of its points.
func TestReplicaPointRetention(t *testing.T) {
	const full = time.Hour
	f := newFixtureWith(t, func(o *Options) { o.Kinds = []Kind{ReplicaPoint}; o.ReplicaPointFullInterval = full })
	site := &pointSite{replicas: 4, vms: 10, keep: 6}
	start := t0.Add(-10 * time.Hour)
	for i := range 10 {
		site.run(start.Add(time.Duration(i) * time.Hour))
	}
	f.src.setPoints(site.points)
	f.refresh(t)
	if got := pointValue(t, f, "veeam_em_replica_vm_restore_points", "vm03"); got != 6 {
		t.Fatalf("restore points after the load = %v, want 6", got)
	}
	loadEntities := f.src.sessionsFetched()

	// Retention is lowered to 3: EM deletes the three oldest points of
	// every VM at once.
	site.retain(3)
	f.src.setPoints(site.points)
	var checkedAt time.Duration
	for step := time.Duration(0); step <= full; step += time.Minute {
		f.clock.Set(t0.Add(step))
		f.refresh(t)
		if checkedAt == 0 && pointValue(t, f, "veeam_em_replica_vm_restore_points", "vm03") == 3 {
			checkedAt = step
		}
	}
	if checkedAt == 0 {
		t.Fatalf("restore points still %v a full interval after EM deleted points, want 3", pointValue(t, f, "veeam_em_replica_vm_restore_points", "vm03"))
	}
	oldest := pointValue(t, f, "veeam_em_replica_vm_oldest_point_timestamp_seconds", "vm03")
	if want := unixSeconds(site.points[0].CreationTime.Add(0)); oldest < want-3600 || oldest > want+3600 {
		t.Errorf("oldest point %v, want about %v", oldest, want)
	}
	checkEntities := f.src.sessionsFetched() - loadEntities
	if checkEntities > len(site.points)/4 {
		t.Errorf("the checks read %d points, about a full read (%d): they should count, not read", checkEntities, len(site.points))
	}

	// A new point shows at the next refresh after it is created.
	now := t0.Add(full + time.Minute)
	created := now.Add(-30 * time.Second)
	site.points = append(site.points, point("new", vbr01, "Replica Job 0", "vm03", created))
	f.src.setPoints(site.points)
	f.clock.Set(now)
	f.refresh(t)
	if got := pointValue(t, f, "veeam_em_replica_vm_latest_point_timestamp_seconds", "vm03"); got != unixSeconds(created) {
		t.Errorf("newest point %v one refresh after its creation, want %v", got, unixSeconds(created))
	}
}

// pointsAsOf are the points EM holds at now of a site of replicas of vms
// VMs each, replicated every hour since start, VM v's point created v
// minutes into the run, as its task session ends; the newest keep per VM.
func pointsAsOf(start, now time.Time, replicas, vms, keep int) []veeam.VmReplicaPoint {
	var points []veeam.VmReplicaPoint
	for r := range replicas {
		for v := range vms {
			var created []time.Time
			for run := start.Add(time.Duration(v)*time.Minute + 30*time.Second); !run.After(now); run = run.Add(time.Hour) {
				created = append(created, run)
			}
			for _, c := range created[max(0, len(created)-keep):] {
				uid := fmt.Sprintf("%d-%d-%d", r, v, c.Unix())
				points = append(points, point(uid, vbr01, fmt.Sprintf("Replica Job %d", r), fmt.Sprintf("vm%02d", v), c))
			}
		}
	}
	return points
}

// TestReplicaPointCheckCost: at steady state, with EM deleting the oldest
// point of every VM as it creates a new one, the collector reads each new
// point about once and checks each replica with a few counts, and its counts
// stay right.
func TestReplicaPointCheckCost(t *testing.T) {
	const (
		full                = time.Hour
		replicas, vms, keep = 5, 20, 7
		hours               = 3
	)
	f := newFixtureWith(t, func(o *Options) { o.Kinds = []Kind{ReplicaPoint}; o.ReplicaPointFullInterval = full })
	start := t0.Add(-10 * time.Hour)
	f.src.setPoints(pointsAsOf(start, t0, replicas, vms, keep))
	f.refresh(t)
	before, countsBefore := f.src.sessionsFetched(), f.src.counted(veeam.VmReplicaPointType)
	requestsBefore := len(f.src.pointSelections())
	for m := 1; m <= hours*60; m++ {
		now := t0.Add(time.Duration(m) * time.Minute)
		f.src.setPoints(pointsAsOf(start, now, replicas, vms, keep))
		f.clock.Set(now)
		f.refresh(t)
		if m <= 60 || m%10 != 0 {
			// Counts may lag a full interval: the first checks settle them.
			continue
		}
		for v := range vms {
			vm := fmt.Sprintf("vm%02d", v)
			if got := pointValue(t, f, "veeam_em_replica_vm_restore_points", vm); got != keep {
				t.Fatalf("minute %d: %s has %v restore points, want %d", m, vm, got, keep)
			}
		}
	}
	for _, sel := range f.src.pointSelections()[requestsBefore:] {
		if sel.Created.Since.IsZero() && sel.ReplicaName == "" {
			t.Fatalf("a request for every point of every replica after the load: %+v", sel)
		}
	}
	newPoints := hours * replicas * vms
	read := f.src.sessionsFetched() - before
	counts := f.src.counted(veeam.VmReplicaPointType) - countsBefore
	t.Logf("%d new points: %d points read, %d counts", newPoints, read, counts)
	if read > 2*newPoints {
		t.Errorf("%d points read for %d new ones", read, newPoints)
	}
	// One count a refresh for late points, a few per replica check.
	if limit := hours*60 + hours*replicas*8; counts > limit {
		t.Errorf("%d counts in %d hours of %d replicas, want at most %d", counts, hours, replicas, limit)
	}
}

// TestReplicaPointAllLost: a VM whose points all went keeps its count at 0,
// without newest or oldest point, for the lookback.
func TestReplicaPointAllLost(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.Kinds = []Kind{ReplicaPoint}; o.ReplicaPointFullInterval = time.Hour })
	site := &pointSite{replicas: 1, vms: 3, keep: 5}
	for i := range 5 {
		site.run(t0.Add(time.Duration(i-5) * time.Hour))
	}
	f.src.setPoints(site.points)
	f.refresh(t)
	var kept []veeam.VmReplicaPoint
	for _, p := range site.points {
		if p.VMDisplayName != "vm01" {
			kept = append(kept, p)
		}
	}
	f.src.setPoints(kept)
	f.clock.Set(t0.Add(time.Hour))
	f.refresh(t)
	if got := pointValue(t, f, "veeam_em_replica_vm_restore_points", "vm01"); got != 0 {
		t.Errorf("restore points of a VM whose points all went = %v, want 0", got)
	}
	for _, family := range replicaPointFamilies[1:] {
		if got := pointValue(t, f, family, "vm01"); got != -1 {
			t.Errorf("%s = %v for a VM without points, want none", family, got)
		}
	}
	f.clock.Set(t0.Add(time.Hour + testLookback + time.Minute))
	f.refresh(t)
	if got := pointValue(t, f, "veeam_em_replica_vm_restore_points", "vm01"); got != -1 {
		t.Errorf("restore points of a VM gone for the lookback = %v, want no series", got)
	}
}

// TestReplicaPointLateArrival: a point that reaches EM later than the slack
// of the reads of new points is found by the replica's next check.
func TestReplicaPointLateArrival(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.Kinds = []Kind{ReplicaPoint}; o.ReplicaPointFullInterval = time.Hour })
	site := &pointSite{replicas: 1, vms: 2, keep: 5}
	site.run(t0.Add(-2 * time.Hour))
	f.src.setPoints(site.points)
	f.refresh(t)
	f.clock.Set(t0.Add(10 * time.Minute))
	f.refresh(t)
	late := point("late", vbr01, "Replica Job 0", "vm00", t0.Add(5*time.Minute))
	f.src.setPoints(append(site.points, late))
	for step := 11 * time.Minute; step <= 70*time.Minute; step += time.Minute {
		f.clock.Set(t0.Add(step))
		f.refresh(t)
	}
	if got := pointValue(t, f, "veeam_em_replica_vm_latest_point_timestamp_seconds", "vm00"); got != unixSeconds(late.CreationTime) {
		t.Errorf("newest point %v a full interval after a late point reached EM, want %v", got, unixSeconds(late.CreationTime))
	}
	if got := pointValue(t, f, "veeam_em_replica_vm_restore_points", "vm00"); got != 2 {
		t.Errorf("restore points %v, want 2", got)
	}
}

// TestSplitPoints: the split is a whole second that leaves points on both
// sides, or none when every point falls in one second.
func TestSplitPoints(t *testing.T) {
	at := func(offsets ...time.Duration) []knownPoint {
		var points []knownPoint
		for i, o := range offsets {
			points = append(points, knownPoint{uid: fmt.Sprint(i), created: t0.Add(o)})
		}
		return points
	}
	for _, tc := range []struct {
		name   string
		points []knownPoint
		split  time.Time
		index  int
	}{
		{"empty", nil, time.Time{}, 0},
		{"one", at(0), time.Time{}, 0},
		{"one second", at(0, 100*time.Millisecond, 900*time.Millisecond), time.Time{}, 0},
		{"median", at(0, time.Second, 2*time.Second, 3*time.Second), t0.Add(2 * time.Second), 2},
		{"median in a crowded second", at(0, 1500*time.Millisecond, 1600*time.Millisecond, 1700*time.Millisecond), t0.Add(time.Second), 1},
		{"all but the last in the first second", at(0, 100*time.Millisecond, 200*time.Millisecond, 5*time.Second), t0.Add(5 * time.Second), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			split, index := splitPoints(tc.points)
			if !split.Equal(tc.split) || index != tc.index {
				t.Errorf("splitPoints = %v, %d; want %v, %d", split, index, tc.split, tc.index)
			}
		})
	}
}
