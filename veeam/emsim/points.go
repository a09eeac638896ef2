package emsim

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Replica restore points. Every replica task session that completes with
// Success or Warning leaves a restore point of its VM in its job's replica,
// created when the task ends; EM learns of it when it shows the task
// completed, a late task's lag after that. Each replica keeps the newest N
// points of each VM (by creation) and deletes older ones as newer ones
// arrive; SetReplicaRetention changes N from a moment on.
//
// A point's life is the interval [appear, deleted), derived from the
// planned points of its VM and the replica's retention, so what EM shows
// at any moment is a pure function of the plan, whatever order the
// moments are asked in.

type pointAlgorithm uint8

const (
	algorithmFull pointAlgorithm = iota
	algorithmIncrement
)

// Filters compare Algorithm and Type by their position in these lists.
var algorithmNames = []string{"Full", "Increment"}

func (a pointAlgorithm) String() string { return algorithmNames[a] }

type pointType uint8

const (
	pointFull pointType = iota
	pointReverseIncrement
	pointIncrement
	pointSnapshot
)

var pointTypeNames = []string{"Full", "ReverseIncrement", "Increment", "Snapshot"}

func (p pointType) String() string { return pointTypeNames[p] }

// defaultReplicaPoints is Veeam's default retention of a replica job.
const defaultReplicaPoints = 7

// never is the deletion time of a point that retention keeps.
var never = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// replica is the replica of one replica job, where its points live.
type replica struct {
	job *job
	id  guid
	// repository holds the replica's metadata: the server's default
	// repository.
	repository *repository
	// retention is how many points per VM the replica keeps from each
	// change on, in time order; the first holds from the beginning.
	retention []retentionChange
	chains    map[*virtualMachine]*pointChain
}

type retentionChange struct {
	from   time.Time // zero for the first
	points int
}

// retentionAt is the number of points per VM kept at t.
func (r *replica) retentionAt(t time.Time) int {
	n := r.retention[0].points
	for _, c := range r.retention[1:] {
		if t.Before(c.from) {
			break
		}
		n = c.points
	}
	return n
}

// pointChain is the points of one VM in one replica.
type pointChain struct {
	replica *replica
	vm      *virtualMachine
	points  []*replicaPoint // sorted by comparePoints
	// reach[i] is the latest deletion among points[:i+1]: the points alive
	// at t all come after the last reach at or before t.
	reach []time.Time
}

type replicaPoint struct {
	id       guid
	chain    *pointChain
	creation time.Time
	appear   time.Time // when EM learns of it
	deleted  time.Time // when retention deletes it; never while kept
	// sevenDigits: CreationTimeUTC is written with 7 fractional digits,
	// as .NET writes DateTime.
	sevenDigits bool
	algorithm   pointAlgorithm
	kind        pointType
}

// name is "vm@creation", as EM names points.
func (p *replicaPoint) name() string {
	return p.chain.vm.name + "@" + p.creation.Format(nameTimeLayout)
}

func comparePoints(a, b *replicaPoint) int {
	if c := a.creation.Compare(b.creation); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

func pointCreation(p *replicaPoint) time.Time { return p.creation }

// pointIndex holds every replica and the points that may still be asked
// about. It is changed under the dataset's write lock and read under its
// read lock.
type pointIndex struct {
	replicas []*replica // sorted by UID, as queries list them
	byJob    map[*job]*replica
	chains   []*pointChain // in the order of their first points, for a stable scan
	// keep is how long a deleted point is remembered, so that the past
	// within the history can still be asked about.
	keep time.Duration
	// gen changes whenever a point's life may have changed.
	gen  uint64
	view pointView
}

// pointView answers which points are alive at a moment. It keeps the
// answer for the last moment asked, valid until the next appearance or
// deletion, and moves it forward by those events alone: a client paging
// through the points as the clock moves does not have them all sorted
// again for every page.
type pointView struct {
	mu  sync.Mutex
	gen uint64 // of the index the events were taken from
	// byAppear holds the points ever seen, by appearance; byDeletion
	// those deleted, by deletion.
	byAppear, byDeletion []*replicaPoint
	at, until            time.Time
	alive                []*replicaPoint // at at, sorted; nil for none computed
}

func (t Topology) validateReplicaPoints() []error {
	if t.ReplicaPointsMin == 0 && t.ReplicaPointsMax == 0 {
		return nil
	}
	if t.ReplicaPointsMin < 1 || t.ReplicaPointsMax < t.ReplicaPointsMin {
		return []error{fmt.Errorf("need 1 <= ReplicaPointsMin <= ReplicaPointsMax, got %d and %d", t.ReplicaPointsMin, t.ReplicaPointsMax)}
	}
	return nil
}

// replicaPoints draws the retention of a replica job.
func (t Topology) replicaPoints(seed int64, j *job) int {
	if t.ReplicaPointsMin == 0 && t.ReplicaPointsMax == 0 {
		return defaultReplicaPoints
	}
	st := newStream(seed, kindReplicaRetention, int64(j.index))
	return t.ReplicaPointsMin + st.intn(t.ReplicaPointsMax-t.ReplicaPointsMin+1)
}

func newPointIndex(seed int64, topo Topology, jobs []*job, inv *inventory) *pointIndex {
	ix := &pointIndex{byJob: make(map[*job]*replica, len(jobs)), keep: max(topo.History, topo.Retention)}
	for _, j := range jobs {
		r := &replica{job: j, id: j.id.derived(kindReplica), chains: map[*virtualMachine]*pointChain{},
			retention: []retentionChange{{points: topo.replicaPoints(seed, j)}}}
		for _, repo := range inv.repositories {
			if repo.server == j.server && repo.name == defaultRepositoryName {
				r.repository = repo
			}
		}
		ix.replicas = append(ix.replicas, r)
		ix.byJob[j] = r
	}
	slices.SortFunc(ix.replicas, func(a, b *replica) int { return strings.Compare(replicaUID(a), replicaUID(b)) })
	return ix
}

// add records the points the freshly planned replica tasks leave, then
// settles the lives of the points of every VM that got one and forgets
// those deleted longer than keep before now.
func (ix *pointIndex) add(tasks []*taskRun, now time.Time) {
	touched := map[*pointChain]bool{}
	for _, t := range tasks {
		if t.result != resultSuccess && t.result != resultWarning {
			continue
		}
		r := ix.byJob[t.run.job]
		c := r.chains[t.vm]
		if c == nil {
			c = &pointChain{replica: r, vm: t.vm}
			r.chains[t.vm] = c
			ix.chains = append(ix.chains, c)
		}
		c.points = append(c.points, newReplicaPoint(t, c))
		touched[c] = true
	}
	cutoff := now.Add(-ix.keep)
	for _, c := range ix.chains {
		if touched[c] {
			slices.SortFunc(c.points, comparePoints)
			c.settle()
			c.forget(cutoff)
		}
	}
	ix.gen++
}

func newReplicaPoint(t *taskRun, c *pointChain) *replicaPoint {
	id := t.id.derived(kindReplicaPoint)
	p := &replicaPoint{id: id, chain: c, creation: t.end}
	switch id[2] % 4 {
	case 0:
		// A real seventh digit, where the end has six: still within the
		// end's microsecond, so the second in the name is the task's.
		if t.end.Nanosecond()%int(10*time.Microsecond) != 0 {
			p.creation = t.end.Add(time.Duration(1+id[3]%9) * 100 * time.Nanosecond)
		}
		p.sevenDigits = true
	case 1:
		p.sevenDigits = true
	}
	p.appear = p.creation.Add(t.lag)
	p.algorithm, p.kind = algorithmIncrement, pointSnapshot
	switch {
	case id[5]%10 == 0:
		p.algorithm, p.kind = algorithmFull, pointFull
	case id[6]%5 == 0:
		p.kind = pointIncrement
	}
	return p
}

// settle computes when each point of the chain is deleted: at the first
// moment, from its appearance on, when at least as many newer points have
// appeared as the retention then in force keeps. A point deleted as it
// appears is never seen.
func (c *pointChain) settle() {
	changes := c.replica.retention
	most := 0
	for _, r := range changes {
		most = max(most, r.points)
	}
	// newer holds the earliest appearances among the newer points,
	// ascending: the n-th is when n newer points exist.
	newer := make([]time.Time, 0, most+1)
	for i := len(c.points) - 1; i >= 0; i-- {
		p := c.points[i]
		p.deleted = never
		for k, r := range changes {
			at := p.appear
			if r.from.After(at) {
				at = r.from
			}
			if r.points > 0 {
				if len(newer) < r.points {
					continue
				}
				if nth := newer[r.points-1]; nth.After(at) {
					at = nth
				}
			}
			if k+1 < len(changes) && !at.Before(changes[k+1].from) {
				continue
			}
			p.deleted = at
			break
		}
		if most > 0 {
			j, _ := slices.BinarySearchFunc(newer, p.appear, time.Time.Compare)
			newer = slices.Insert(newer, j, p.appear)
			newer = newer[:min(len(newer), most)]
		}
	}
	c.reach = c.reach[:0]
	latest := time.Time{}
	for _, p := range c.points {
		if p.deleted.After(latest) {
			latest = p.deleted
		}
		c.reach = append(c.reach, latest)
	}
}

// forget drops the points deleted before cutoff.
func (c *pointChain) forget(cutoff time.Time) {
	i := sort.Search(len(c.reach), func(i int) bool { return !c.reach[i].Before(cutoff) })
	if i > 0 {
		c.points = slices.Clone(c.points[i:])
		c.reach = slices.Clone(c.reach[i:])
	}
}

// alive appends the chain's points alive at t to out.
func (c *pointChain) alive(t time.Time, out []*replicaPoint) []*replicaPoint {
	i := sort.Search(len(c.reach), func(i int) bool { return c.reach[i].After(t) })
	for _, p := range c.points[i:] {
		if !t.Before(p.appear) && t.Before(p.deleted) {
			out = append(out, p)
		}
	}
	return out
}

// aliveAt returns the points EM shows at t, sorted by creation; horizon is
// how far the plan reaches. The slice is shared: callers must not change
// it. Called under the dataset's read lock.
func (ix *pointIndex) aliveAt(t, horizon time.Time) []*replicaPoint {
	v := &ix.view
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != ix.gen || v.byAppear == nil {
		v.index(ix)
	}
	switch {
	case v.alive != nil && !t.Before(v.at) && t.Before(v.until):
		return v.alive
	case v.alive != nil && t.After(v.at):
		v.alive = v.advance(t)
	default:
		v.alive = []*replicaPoint{}
		for _, c := range ix.chains {
			v.alive = c.alive(t, v.alive)
		}
		sortPoints(v.alive, pointCreation)
	}
	v.at, v.until = t, earliest(horizon, v.nextEvent(t))
	return v.alive
}

// index takes the appearances and deletions of the index's points.
func (v *pointView) index(ix *pointIndex) {
	v.gen, v.alive = ix.gen, nil
	v.byAppear, v.byDeletion = v.byAppear[:0], v.byDeletion[:0]
	for _, c := range ix.chains {
		for _, p := range c.points {
			// A point deleted as it appears is never seen.
			if p.deleted.After(p.appear) {
				v.byAppear = append(v.byAppear, p)
				if p.deleted != never {
					v.byDeletion = append(v.byDeletion, p)
				}
			}
		}
	}
	sortPoints(v.byAppear, func(p *replicaPoint) time.Time { return p.appear })
	sortPoints(v.byDeletion, func(p *replicaPoint) time.Time { return p.deleted })
}

// advance returns the points alive at t, later than v.at: those alive at
// v.at and not deleted since, and those that appeared since and are still
// there. Only the points of those events are looked at; the others are
// copied as they are.
func (v *pointView) advance(t time.Time) []*replicaPoint {
	after := func(points []*replicaPoint, at func(*replicaPoint) time.Time, moment time.Time) int {
		return sort.Search(len(points), func(i int) bool { return at(points[i]).After(moment) })
	}
	appear := func(p *replicaPoint) time.Time { return p.appear }
	deletion := func(p *replicaPoint) time.Time { return p.deleted }
	var fresh []*replicaPoint
	for _, p := range v.byAppear[after(v.byAppear, appear, v.at):after(v.byAppear, appear, t)] {
		if p.deleted.After(t) {
			fresh = append(fresh, p)
		}
	}
	var gone []int // positions in v.alive
	for _, p := range v.byDeletion[after(v.byDeletion, deletion, v.at):after(v.byDeletion, deletion, t)] {
		if i, found := slices.BinarySearchFunc(v.alive, p, comparePoints); found {
			gone = append(gone, i)
		}
	}
	if len(fresh) == 0 && len(gone) == 0 {
		return v.alive
	}
	slices.SortFunc(fresh, comparePoints)
	slices.Sort(gone)
	// A new slice: readers may still hold the old one.
	out := make([]*replicaPoint, 0, len(v.alive)+len(fresh)-len(gone))
	next := 0 // the first point of v.alive not copied yet
	copyUpTo := func(end int) {
		for len(gone) > 0 && gone[0] < end {
			out = append(out, v.alive[next:gone[0]]...)
			next, gone = gone[0]+1, gone[1:]
		}
		out = append(out, v.alive[next:end]...)
		next = end
	}
	for _, p := range fresh {
		i, _ := slices.BinarySearchFunc(v.alive, p, comparePoints)
		copyUpTo(max(i, next))
		out = append(out, p)
	}
	copyUpTo(len(v.alive))
	return out
}

// nextEvent is the first appearance or deletion after t.
func (v *pointView) nextEvent(t time.Time) time.Time {
	next := never
	if i := sort.Search(len(v.byAppear), func(i int) bool { return v.byAppear[i].appear.After(t) }); i < len(v.byAppear) {
		next = v.byAppear[i].appear
	}
	if i := sort.Search(len(v.byDeletion), func(i int) bool { return v.byDeletion[i].deleted.After(t) }); i < len(v.byDeletion) {
		next = earliest(next, v.byDeletion[i].deleted)
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sortPoints sorts points by a time, ties by UID, on keys copied out of
// the scattered points, which is several times faster at scale. The times
// must fit UnixNano (years 1678 to 2262), which never does not.
func sortPoints(points []*replicaPoint, key func(*replicaPoint) time.Time) {
	type keyed struct {
		at int64
		p  *replicaPoint
	}
	keys := make([]keyed, len(points))
	for i, p := range points {
		keys[i] = keyed{key(p).UnixNano(), p}
	}
	slices.SortFunc(keys, func(a, b keyed) int {
		if a.at != b.at {
			return cmp.Compare(a.at, b.at)
		}
		return bytes.Compare(a.p.id[:], b.p.id[:])
	})
	for i, k := range keys {
		points[i] = k.p
	}
}

// find returns the replica of the job named replica on backupServer.
func (ix *pointIndex) find(backupServer, name string) *replica {
	for _, r := range ix.replicas {
		if r.job.server.name == backupServer && r.job.name == name {
			return r
		}
	}
	return nil
}

// setRetention makes r keep points per VM from at on, superseding any
// change planned after at, and deletes what exceeds it at once.
func (ix *pointIndex) setRetention(r *replica, at time.Time, points int) {
	later := func(c retentionChange) bool { return !c.from.Before(at) }
	kept := slices.DeleteFunc(slices.Clone(r.retention[1:]), later)
	r.retention = append(append(r.retention[:1:1], kept...), retentionChange{from: at, points: points})
	for _, c := range r.chains {
		c.settle()
	}
	ix.gen++
}
