package collector

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// pointReadLimit is the largest number of points a check reads rather than
// bisects further: a count costs EM about what one or two points do, so
// below this reading settles a range in fewer requests.
const pointReadLimit = 16

// pointCheck brings the known points of one replica, or of every replica,
// in line with EM's.
//
// EM's count of the points created in a range, and the newest of them,
// which the one-entity page of the count holds, are compared with the
// collector's. Where they agree, nothing changed there; where EM has none,
// every known point there went; a small range is read; a large one is split
// at the median of the known points' creation times, one count for its
// first half, the second half's count derived. Retention deletes the oldest
// points and late points are the newest, so the ranges that differ are few
// and a check costs EM a few one-entity pages, where reading every point
// would cost all of them. The newest is compared too because a count alone
// is blind to a point deleted while another arrived in the same range.
type pointCheck struct {
	ctx context.Context
	src Source
	st  *pointState
	// only is the replica checked; zero for every replica.
	only replicaKey
}

// check brings the points created since since (every point if zero) in
// line with EM.
func (k *pointCheck) check(since time.Time) error {
	n, err := k.count(since, time.Time{})
	if err != nil {
		return err
	}
	return k.reconcile(since, time.Time{}, k.st.known(k.only, since), n)
}

func (k *pointCheck) selection(lo, hi time.Time) veeam.PointSelection {
	return veeam.PointSelection{BackupServerName: k.only.server, ReplicaName: k.only.replica, Created: veeam.Window{Since: lo, Until: hi}}
}

// what names the checked points in errors.
func (k *pointCheck) what() string {
	if k.only == (replicaKey{}) {
		return "the restore points"
	}
	return fmt.Sprintf("the restore points of replica %q on %s", k.only.replica, k.only.server)
}

func (k *pointCheck) count(lo, hi time.Time) (veeam.Count, error) {
	n, err := k.src.CountVmReplicaPoints(k.ctx, k.selection(lo, hi))
	if err != nil {
		return n, fmt.Errorf("count %s: %w", k.what(), err)
	}
	return n, nil
}

// agrees reports whether EM's count n of a range matches ours, the known
// points there, oldest first: the same number, and EM's newest one of ours
// created last (EM orders points created at the same time as it likes).
func agrees(n veeam.Count, ours []knownPoint) bool {
	if !n.Exact || n.N != len(ours) {
		return false
	}
	if n.N == 0 || n.First == "" {
		return true
	}
	newest := ours[len(ours)-1].created
	for i := len(ours) - 1; i >= 0 && ours[i].created.Equal(newest); i-- {
		if ours[i].uid == n.First {
			return true
		}
	}
	return false
}

// reconcile settles the range [lo, hi) (hi zero: open), whose known points
// are ours, oldest first, and where EM counted n.
func (k *pointCheck) reconcile(lo, hi time.Time, ours []knownPoint, n veeam.Count) error {
	switch {
	case agrees(n, ours):
		return nil
	case n.Exact && n.N == 0:
		for _, p := range ours {
			k.st.remove(p)
		}
		return nil
	case !n.Exact || n.N <= pointReadLimit:
		return k.read(lo, hi, ours)
	}
	split, at := splitPoints(ours)
	if split.IsZero() {
		return k.read(lo, hi, ours)
	}
	first, err := k.count(lo, split)
	if err != nil {
		return err
	}
	if !first.Exact || first.N > n.N {
		// EM's table changed between the two counts.
		return k.read(lo, hi, ours)
	}
	if err := k.reconcile(lo, split, ours[:at], first); err != nil {
		return err
	}
	// The second half's count is derived, without its newest: its newest
	// is the whole range's.
	return k.reconcile(split, hi, ours[at:], veeam.Count{N: n.N - first.N, Exact: true, First: n.First})
}

// splitPoints is a whole second that splits ours into two non-empty
// halves, as near the median as their creation times allow, and the index
// of the first point at or after it; zero when they share one second.
func splitPoints(ours []knownPoint) (time.Time, int) {
	if len(ours) < 2 {
		return time.Time{}, 0
	}
	first := ours[0].created.Truncate(time.Second)
	for j := len(ours) / 2; j < len(ours); j++ {
		if s := ours[j].created.Truncate(time.Second); s.After(first) {
			at := j
			for !ours[at-1].created.Before(s) {
				at--
			}
			return s, at
		}
	}
	return time.Time{}, 0
}

// read replaces the known points of [lo, hi) with EM's.
func (k *pointCheck) read(lo, hi time.Time, ours []knownPoint) error {
	found := make(map[string]bool)
	_, err := k.src.VmReplicaPoints(k.ctx, k.selection(lo, hi), func(p veeam.Page[veeam.VmReplicaPoint]) error {
		for i := range p.Items {
			if k.st.add(&p.Items[i]) != nil {
				found[p.Items[i].UID] = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", k.what(), err)
	}
	for _, p := range ours {
		if !found[p.uid] {
			k.st.remove(p)
		}
	}
	return nil
}

// known are the known points of replica only (every replica if zero)
// created since since (every point if zero), oldest first.
func (s *pointState) known(only replicaKey, since time.Time) []knownPoint {
	var points []knownPoint
	for key, r := range s.replicas {
		if only != (replicaKey{}) && key != only {
			continue
		}
		for _, p := range r.points {
			if !p.created.Before(since.Truncate(time.Second)) {
				points = append(points, p)
			}
		}
	}
	slices.SortFunc(points, func(a, b knownPoint) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.uid, b.uid))
	})
	return points
}
