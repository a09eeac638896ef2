package emsim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReplicaPoints is the ground truth of the restore points one VM has in
// one replica at a moment: a VM is (backup server, replica, VM name), since
// a point carries no VM UID.
type ReplicaPoints struct {
	BackupServer, Replica, VM string
	Count                     int
	// Oldest and Newest are the CreationTimeUTC of the oldest and newest
	// point.
	Oldest, Newest time.Time
}

// Replica is the ground truth of one replica: its name is its job's, its
// repository the one holding its metadata, and RetentionPoints how many
// points per VM it keeps at the moment asked.
type Replica struct {
	UID, Name, BackupServer, Repository string
	RetentionPoints                     int
}

// ReplicaPoints returns, for every VM with at least one restore point at
// asOf, how many points it has and their age, as a query at asOf shows
// them; sorted by backup server, replica and VM. A point exists from the
// moment EM shows its task session completed (a late session's lag after
// its end) until retention deletes it. asOf more than the history (or the
// retention, if longer) before the clock may miss points since forgotten.
func (s *Server) ReplicaPoints(asOf time.Time) []ReplicaPoints {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	byChain := map[*pointChain]*ReplicaPoints{}
	var out []*ReplicaPoints
	for _, p := range d.points.aliveAt(asOf, d.generatedUntil) {
		rp := byChain[p.chain]
		if rp == nil {
			c := p.chain
			rp = &ReplicaPoints{BackupServer: c.replica.job.server.name, Replica: c.replica.job.name, VM: c.vm.name, Oldest: p.creation}
			byChain[c] = rp
			out = append(out, rp)
		}
		// Points come sorted by creation.
		rp.Count++
		rp.Newest = p.creation
	}
	slices.SortFunc(out, func(a, b *ReplicaPoints) int {
		return cmp.Or(strings.Compare(a.BackupServer, b.BackupServer), strings.Compare(a.Replica, b.Replica), strings.Compare(a.VM, b.VM))
	})
	result := make([]ReplicaPoints, len(out))
	for i, rp := range out {
		result[i] = *rp
	}
	return result
}

// Replicas returns every replica as a query at asOf shows it, sorted by
// UID, with the retention in force at asOf.
func (s *Server) Replicas(asOf time.Time) []Replica {
	d := s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Replica, len(d.points.replicas))
	for i, r := range d.points.replicas {
		out[i] = Replica{UID: replicaUID(r), Name: r.job.name, BackupServer: r.job.server.name,
			Repository: r.repository.name, RetentionPoints: r.retentionAt(asOf)}
	}
	return out
}

// SetReplicaRetention makes the replica named replica on backupServer keep
// points restore points per VM from the clock's time on, and deletes the
// points beyond that at once, as when a user lowers the retention or
// deletes points by hand. Raising it keeps what was deleted deleted. It
// panics for an unknown replica or a negative count, which are test bugs.
func (s *Server) SetReplicaRetention(backupServer, replica string, points int) {
	if points < 0 {
		panic(fmt.Sprintf("emsim: SetReplicaRetention(%q, %q, %d): negative retention", backupServer, replica, points))
	}
	d := s.data
	now := s.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.points.find(backupServer, replica)
	if r == nil {
		panic(fmt.Sprintf("emsim: SetReplicaRetention: no replica %q on backup server %q", replica, backupServer))
	}
	d.points.setRetention(r, now, points)
}
