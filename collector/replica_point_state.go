package collector

import (
	"cmp"
	"slices"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// replicaKey names a replica: its name is unique within its backup server.
type replicaKey struct{ server, replica string }

type knownPoint struct {
	uid, vm string
	replica replicaKey
	created time.Time
}

// replicaPoints are the points of one replica the collector knows of.
type replicaPoints struct {
	points map[string]knownPoint // by UID
	// checked are each VM's count and oldest point as of the last check,
	// which are what the collector serves: between checks new points are
	// known but deleted ones are not, so a live count would rise with each
	// new point and fall back at the check.
	checked  map[string]checkedVM
	checkDue time.Time // zero until the replica is first settled
}

type checkedVM struct {
	count  int
	oldest time.Time
}

// pointState is what the replica_point collector knows of EM's points.
type pointState struct {
	replicas map[replicaKey]*replicaPoints
	// readUntil is where the last read of new points ended.
	readUntil time.Time
	// lost are the VMs whose points all went, since when.
	lost map[lostVM]time.Time
}

type lostVM struct {
	replicaKey
	vm string
}

// vmPoints is what the collector serves of one VM in one replica; newest
// is zero for a VM without points.
type vmPoints struct {
	count          int
	oldest, newest time.Time
}

// tally is each VM's count, oldest and newest point among points.
func tally(points map[string]knownPoint) map[string]vmPoints {
	perVM := make(map[string]vmPoints)
	for _, p := range points {
		v := perVM[p.vm]
		v.count++
		if v.oldest.IsZero() || p.created.Before(v.oldest) {
			v.oldest = p.created
		}
		if p.created.After(v.newest) {
			v.newest = p.created
		}
		perVM[p.vm] = v
	}
	return perVM
}

func newPointState() pointState {
	return pointState{replicas: make(map[replicaKey]*replicaPoints), lost: make(map[lostVM]time.Time)}
}

// add records p and returns its replica; nil for a point without the names
// that place it.
func (s *pointState) add(p *veeam.VmReplicaPoint) *replicaPoints {
	vm := p.VM()
	if p.BackupServerName == "" || p.ReplicaName == "" || vm == "" {
		return nil
	}
	key := replicaKey{p.BackupServerName, p.ReplicaName}
	r := s.replicas[key]
	if r == nil {
		r = &replicaPoints{points: make(map[string]knownPoint), checked: make(map[string]checkedVM)}
		s.replicas[key] = r
	}
	r.points[p.UID] = knownPoint{uid: p.UID, vm: vm, replica: key, created: p.CreationTime}
	delete(s.lost, lostVM{key, vm})
	return r
}

// remove forgets p, which EM no longer holds.
func (s *pointState) remove(p knownPoint) {
	if r := s.replicas[p.replica]; r != nil {
		delete(r.points, p.uid)
	}
}

// settle takes the replica's points as checked and sets its next check.
// It returns the VMs that had points at the last check and have none now.
func (r *replicaPoints) settle(due time.Time) (gone []string) {
	checked := make(map[string]checkedVM, len(r.checked))
	for vm, v := range tally(r.points) {
		checked[vm] = checkedVM{count: v.count, oldest: v.oldest}
	}
	for vm := range r.checked {
		if _, ok := checked[vm]; !ok {
			gone = append(gone, vm)
		}
	}
	r.checked, r.checkDue = checked, due
	return gone
}

// spreadChecks settles every replica after the load, their first checks
// spread over the next interval.
func (s *pointState) spreadChecks(now time.Time, interval time.Duration) {
	keys := s.sortedKeys()
	for i, key := range keys {
		s.replicas[key].settle(now.Add(interval * time.Duration(i+1) / time.Duration(len(keys))))
	}
}

func (s *pointState) sortedKeys() []replicaKey {
	keys := make([]replicaKey, 0, len(s.replicas))
	for key := range s.replicas {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b replicaKey) int {
		return cmp.Or(cmp.Compare(a.server, b.server), cmp.Compare(a.replica, b.replica))
	})
	return keys
}

// replicasDue are the replicas whose check is due at now.
func (s *pointState) replicasDue(now time.Time) []replicaKey {
	var due []replicaKey
	for _, key := range s.sortedKeys() {
		if !s.replicas[key].checkDue.After(now) {
			due = append(due, key)
		}
	}
	return due
}

// forgetLost drops the VMs whose points went before cutoff, and the
// replicas left with neither points nor VMs to serve.
func (s *pointState) forgetLost(cutoff time.Time) {
	withLost := make(map[replicaKey]bool)
	for vm, since := range s.lost {
		if since.Before(cutoff) {
			delete(s.lost, vm)
		} else {
			withLost[vm.replicaKey] = true
		}
	}
	for key, r := range s.replicas {
		if len(r.points) == 0 && len(r.checked) == 0 && !withLost[key] {
			delete(s.replicas, key)
		}
	}
}

// each hands every VM to serve, with what is known of its points.
func (s *pointState) each(fn func(key replicaKey, vm string, p vmPoints)) {
	for key, r := range s.replicas {
		live := tally(r.points)
		for vm, v := range live {
			// A VM first seen since the last check has only points read
			// since: its live count is exact.
			if c, ok := r.checked[vm]; ok {
				v.count, v.oldest = c.count, c.oldest
			}
			fn(key, vm, v)
		}
		for vm := range r.checked {
			if _, ok := live[vm]; !ok {
				// Its points went since the last check, which will tell.
				c := r.checked[vm]
				fn(key, vm, vmPoints{count: c.count, oldest: c.oldest})
			}
		}
	}
	for l := range s.lost {
		if r := s.replicas[l.replicaKey]; r != nil {
			if _, ok := r.checked[l.vm]; ok {
				continue
			}
		}
		fn(l.replicaKey, l.vm, vmPoints{})
	}
}
