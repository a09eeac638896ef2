package collector

import (
	"context"
	"slices"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// pointSelected reports whether EM's filter for sel selects p: the names
// exactly, the creation time against bounds rounded down to the second.
func pointSelected(sel veeam.PointSelection, p *veeam.VmReplicaPoint) bool {
	if sel.BackupServerName != "" && sel.BackupServerName != p.BackupServerName {
		return false
	}
	if sel.ReplicaName != "" && sel.ReplicaName != p.ReplicaName {
		return false
	}
	w := sel.Created
	return (w.Since.IsZero() || !p.CreationTime.Before(w.Since.Truncate(time.Second))) &&
		(w.Until.IsZero() || p.CreationTime.Before(w.Until.Truncate(time.Second)))
}

// selectPoints records sel and returns the points it selects, newest
// first, or the points error.
func (f *fakeSource) selectPoints(ctx context.Context, sel veeam.PointSelection) ([]veeam.VmReplicaPoint, error) {
	f.count(veeam.VmReplicaPointType)
	f.mu.Lock()
	f.pointSels = append(f.pointSels, sel)
	f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pointErr != nil {
		return nil, f.pointErr
	}
	var selected []veeam.VmReplicaPoint
	for i := range f.points {
		if pointSelected(sel, &f.points[i]) {
			selected = append(selected, f.points[i])
		}
	}
	slices.SortStableFunc(selected, func(a, b veeam.VmReplicaPoint) int { return b.CreationTime.Compare(a.CreationTime) })
	return selected, nil
}

func (f *fakeSource) VmReplicaPoints(ctx context.Context, sel veeam.PointSelection, each func(veeam.Page[veeam.VmReplicaPoint]) error) (veeam.QueryStats, error) {
	points, err := f.selectPoints(ctx, sel)
	if err != nil {
		return veeam.QueryStats{}, err
	}
	f.mu.Lock()
	f.returned += len(points)
	f.mu.Unlock()
	return veeam.QueryStats{Pages: 1, Entities: len(points)}, each(veeam.Page[veeam.VmReplicaPoint]{Items: points})
}

func (f *fakeSource) CountVmReplicaPoints(ctx context.Context, sel veeam.PointSelection) (veeam.Count, error) {
	f.mu.Lock()
	if f.counts == nil {
		f.counts = make(map[string]int)
	}
	f.counts[veeam.VmReplicaPointType]++
	f.mu.Unlock()
	points, err := f.selectPoints(ctx, sel)
	if err != nil {
		return veeam.Count{}, err
	}
	n := veeam.Count{N: len(points), Exact: true}
	if len(points) > 0 {
		n.First = points[0].UID
	}
	return n, nil
}

// setPoints replaces the points EM holds.
func (f *fakeSource) setPoints(points []veeam.VmReplicaPoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.points = slices.Clone(points)
}

// pointSelections are the selections of every points request so far.
func (f *fakeSource) pointSelections() []veeam.PointSelection {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pointSels)
}

func (f *fakeSource) CdpPolicies(_ context.Context, each func(veeam.Page[veeam.CdpPolicy]) error) (veeam.QueryStats, error) {
	return estate(f, veeam.CdpPolicyType, f.cdpPolicies, each)
}

func (f *fakeSource) CdpReplicaSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.CdpReplicaSession]) error) (veeam.QueryStats, error) {
	return fakeQuery(f, ctx, veeam.CdpReplicaSessionType, sel, each, func() ([]veeam.CdpReplicaSession, int, error) { return f.cdpJobs, 0, f.cdpErr },
		func(s *veeam.CdpReplicaSession) (time.Time, time.Time, bool) {
			return replicaJobInfo(&s.ReplicaJobSession)
		})
}

func (f *fakeSource) CdpReplicaTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.CdpReplicaTaskSession]) error) (veeam.QueryStats, error) {
	return fakeQuery(f, ctx, veeam.CdpReplicaTaskSessionType, sel, each, func() ([]veeam.CdpReplicaTaskSession, int, error) { return f.cdpTasks, 0, f.cdpErr },
		func(s *veeam.CdpReplicaTaskSession) (time.Time, time.Time, bool) {
			return replicaTaskInfo(&s.ReplicaTaskSession)
		})
}

// point builds a restore point of vm in replica on server.
func point(uid, server, replica, vm string, created time.Time) veeam.VmReplicaPoint {
	return veeam.VmReplicaPoint{
		UID: "urn:veeam:VmReplicaPoint:" + uid, Name: vm + "@" + created.Format(time.DateTime),
		VMDisplayName: vm, VMName: vm, BackupServerName: server, ReplicaName: replica,
		CreationTime: created, Algorithm: "Increment", PointType: "Increment",
	}
}

// setCDP replaces the CDP sessions EM holds.
func (f *fakeSource) setCDP(tasks []veeam.CdpReplicaTaskSession, jobs []veeam.CdpReplicaSession) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cdpTasks, f.cdpJobs = tasks, jobs
}
