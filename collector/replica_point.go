package collector

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// DefaultReplicaPointFullInterval is how often the replica_point collector
// checks each replica's points against EM: how long counts and oldest
// points may lag.
const DefaultReplicaPointFullInterval = time.Hour

// pointSlack is how far each refresh's read of new points reaches back
// before the end of the last one: a point EM records within a second or two
// of its creation is not missed; one later than that is found by the
// replica's next check.
const pointSlack = 10 * time.Second

// replicaPointUnit is the replica_point collector. A restore point is what a
// failover uses, so the age of a VM's newest point is its replica's real
// RPO. Points carry no UID of their VM or session: a VM is (backup server,
// replica, VM name), and the replica's name is its job's.
//
// EM deletes points as retention ages them out, and says nothing about it:
// a read of the new points tells the newest, never how many are left.
// Reading every point to count them would cost EM tens of megabytes an hour
// at a large site, so the collector reads every point once, then at each
// refresh the points created since the last one, and once per full interval
// checks each replica against EM's count of its points (one-entity pages),
// bisecting by creation time only where the counts differ (see check).
type replicaPointUnit struct {
	fullInterval time.Duration
	// overlap is how late a point may reach EM and still be found at the
	// next refresh; a later one waits for its replica's check.
	overlap time.Duration
	// keepLost is how long a VM whose points all went keeps its series at 0.
	keepLost              time.Duration
	count, latest, oldest *family

	// The state is read's alone: one read runs at a time. pending holds the
	// families read built for publish, under the Collector's mu.
	st               pointState
	loadRead         int // points read by the load so far, under mu
	loadTotal        int // EM's count when the load began; -1 unknown
	isLoaded         bool
	pending, served  []cachedFamily
	pendingPublished bool
}

func newReplicaPointUnit(opts Options) *replicaPointUnit {
	labels := []string{"backup_server", "job_name", "vm"}
	return &replicaPointUnit{
		fullInterval: opts.ReplicaPointFullInterval,
		overlap:      opts.Overlap,
		keepLost:     opts.Lookback,
		count: newFamily("replica_vm", "restore_points", dto.MetricType_GAUGE,
			"Restore points Enterprise Manager holds for the VM in the replica (job_name is the replica's name, its job's). Checked against EM once per --collector.replica-point.full-interval; 0 for a VM whose points all went, for --sessions.lookback.",
			labels...),
		latest: newFamily("replica_vm", "latest_point_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the VM's newest restore point in the replica was created (CreationTimeUTC): its age is the replica's real RPO. Follows EM at every refresh.",
			labels...),
		oldest: newFamily("replica_vm", "oldest_point_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the VM's oldest restore point in the replica was created: the start of its restore window. Checked against EM once per --collector.replica-point.full-interval.",
			labels...),
		st:        newPointState(),
		loadTotal: -1,
	}
}

func (u *replicaPointUnit) name() Kind { return ReplicaPoint }

func (u *replicaPointUnit) seriesDescs() []*prometheus.Desc {
	return []*prometheus.Desc{u.count.desc, u.latest.desc, u.oldest.desc}
}

func (u *replicaPointUnit) requestTypes() []string { return []string{veeam.VmReplicaPointType} }

// interval is 0: the new points are read at every refresh; the checks
// follow fullInterval within read.
func (u *replicaPointUnit) interval() time.Duration { return 0 }

func (u *replicaPointUnit) loaded() bool { return u.isLoaded }

func (u *replicaPointUnit) loadProgress() float64 {
	switch {
	case u.isLoaded:
		return 1
	case u.loadTotal <= 0:
		return 0
	}
	return min(float64(u.loadRead)/float64(u.loadTotal), 0.99)
}

func (u *replicaPointUnit) publish() bool {
	if !u.pendingPublished {
		return false
	}
	u.served, u.pending, u.pendingPublished = u.pending, nil, false
	return true
}

func (u *replicaPointUnit) families() []cachedFamily { return u.served }

func (u *replicaPointUnit) queryMetrics(*ownDescs) []prometheus.Metric { return nil }

// read loads every point the first time, then reads the new ones, checks
// the overlap for points that reached EM late, and checks the replicas that
// are due.
func (u *replicaPointUnit) read(ctx context.Context, c *Collector) (bool, []*fetchError) {
	now := c.now()
	if !u.isLoaded {
		if err := u.load(ctx, c, now); err != nil {
			return u.loadRead > 0, []*fetchError{{what: "replica restore points", err: err}}
		}
		u.build(c, now)
		return true, nil
	}
	if err := u.readNew(ctx, c.src, now); err != nil {
		return false, []*fetchError{{what: "new replica restore points", err: err}}
	}
	// EM takes points from the backup servers now and then: one can reach
	// it after the reads of new points went past its creation time.
	recent := pointCheck{ctx: ctx, src: c.src, st: &u.st}
	if err := recent.check(now.Add(-u.overlap)); err != nil {
		return false, []*fetchError{{what: "replica restore points", err: err}}
	}
	if err := u.checkDue(ctx, c.src, now); err != nil {
		return false, []*fetchError{{what: "replica restore points", err: err}}
	}
	u.build(c, now)
	return false, nil
}

// load reads every point created before now. Until bounds the query so that
// new points do not shift its pages; readNew takes over from there. The
// replicas' first checks are spread over the full interval so that they do
// not all fall due in one refresh.
func (u *replicaPointUnit) load(ctx context.Context, c *Collector, now time.Time) error {
	whole := veeam.PointSelection{Created: veeam.Window{Until: now}}
	count, err := c.src.CountVmReplicaPoints(ctx, whole)
	if err != nil {
		return err
	}
	c.mu.Lock()
	u.loadTotal, u.loadRead = -1, 0
	if count.Exact {
		u.loadTotal = count.N
	}
	c.mu.Unlock()
	st := newPointState()
	_, err = c.src.VmReplicaPoints(ctx, whole, func(p veeam.Page[veeam.VmReplicaPoint]) error {
		for i := range p.Items {
			st.add(&p.Items[i])
		}
		c.mu.Lock()
		u.loadRead += len(p.Items)
		c.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	st.readUntil = now
	st.spreadChecks(now, u.fullInterval)
	u.st = st
	c.mu.Lock()
	u.isLoaded = true
	c.mu.Unlock()
	return nil
}

// readNew reads the points created since the last read, reaching back by
// pointSlack, up to the newest: the checks that follow in the same refresh
// then know every point EM shows.
func (u *replicaPointUnit) readNew(ctx context.Context, src Source, now time.Time) error {
	since := u.st.readUntil.Add(-pointSlack)
	_, err := src.VmReplicaPoints(ctx, veeam.PointSelection{Created: veeam.Window{Since: since}}, func(p veeam.Page[veeam.VmReplicaPoint]) error {
		for i := range p.Items {
			u.st.add(&p.Items[i])
		}
		return nil
	})
	if err != nil {
		return err
	}
	u.st.readUntil = now
	for _, r := range u.st.replicas {
		if r.checkDue.IsZero() {
			// A replica first seen now holds only points just read.
			r.settle(now.Add(u.fullInterval))
		}
	}
	return nil
}

// checkDue checks every replica whose check is due against EM.
func (u *replicaPointUnit) checkDue(ctx context.Context, src Source, now time.Time) error {
	for _, key := range u.st.replicasDue(now) {
		chk := pointCheck{ctx: ctx, src: src, st: &u.st, only: key}
		if err := chk.check(time.Time{}); err != nil {
			return err
		}
		for _, vm := range u.st.replicas[key].settle(now.Add(u.fullInterval)) {
			u.st.lost[lostVM{key, vm}] = now
		}
	}
	return nil
}

// build makes the families of the state for publish.
func (u *replicaPointUnit) build(c *Collector, now time.Time) {
	u.st.forgetLost(now.Add(-u.keepLost))
	b := newFamiliesBuilder([]*family{u.count, u.latest, u.oldest})
	u.st.each(func(key replicaKey, vm string, s vmPoints) {
		b.emit(u.count, float64(s.count), key.server, key.replica, vm)
		if s.count > 0 {
			b.emit(u.oldest, unixSeconds(s.oldest), key.server, key.replica, vm)
		}
		if !s.newest.IsZero() {
			b.emit(u.latest, unixSeconds(s.newest), key.server, key.replica, vm)
		}
	})
	families := b.families()
	c.mu.Lock()
	u.pending, u.pendingPublished = families, true
	c.mu.Unlock()
}
