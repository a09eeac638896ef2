package collector

import (
	"context"
	"fmt"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// Kind is a kind of Enterprise Manager sessions the Collector follows: each
// has its own metric families, its own EM queries and its own success
// metric, and can be switched off on its own.
type Kind string

// The kinds of sessions a Collector can follow.
const (
	Replica Kind = "replica" // ReplicaTaskSession and ReplicaJobSession
	Backup  Kind = "backup"  // BackupTaskSession and BackupJobSession, of every backup job type
)

// Kinds are every kind, the default of Options.Kinds.
func Kinds() []Kind { return []Kind{Replica, Backup} }

// sessionKind is what differs between kinds. EM gives backup sessions the
// fields of replica sessions, so the state and the series cache handle both
// as replica sessions.
type sessionKind struct {
	name                Kind
	taskQuery, jobQuery string // EM query types, the type label of the fetch metrics
	// noun names the kind's sessions in help texts; lapse says what a VM
	// whose latest success grows old stopped doing.
	noun, lapse string
	// jobTypeLabel adds EM's JobType as job_type to the job families: one
	// kind covers backup, backup copy and other job types.
	jobTypeLabel bool
	fetchTasks   func(Source, context.Context, veeam.Window) (veeam.QueryResult[veeam.ReplicaTaskSession], error)
	fetchJobs    func(Source, context.Context, veeam.Window) (veeam.QueryResult[veeam.ReplicaJobSession], error)
}

func kindOf(k Kind) (sessionKind, error) {
	switch k {
	case Replica:
		return sessionKind{
			name: Replica, taskQuery: "ReplicaTaskSession", jobQuery: "ReplicaJobSession",
			noun: "replica", lapse: "stopped replicating",
			fetchTasks: Source.ReplicaTaskSessions,
			fetchJobs:  Source.ReplicaJobSessions,
		}, nil
	case Backup:
		return sessionKind{
			name: Backup, taskQuery: "BackupTaskSession", jobQuery: "BackupJobSession",
			noun: "backup", lapse: "are no longer backed up", jobTypeLabel: true,
			fetchTasks: func(src Source, ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.ReplicaTaskSession], error) {
				r, err := src.BackupTaskSessions(ctx, w)
				return embedded(r, func(s *veeam.BackupTaskSession) veeam.ReplicaTaskSession { return s.ReplicaTaskSession }), err
			},
			fetchJobs: func(src Source, ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.ReplicaJobSession], error) {
				r, err := src.BackupJobSessions(ctx, w)
				return embedded(r, func(s *veeam.BackupJobSession) veeam.ReplicaJobSession { return s.ReplicaJobSession }), err
			},
		}, nil
	default:
		return sessionKind{}, fmt.Errorf("unknown collector %q (known: %v)", k, Kinds())
	}
}

// embedded is r with each item replaced by the replica session it embeds.
func embedded[T, E any](r veeam.QueryResult[T], inner func(*T) E) veeam.QueryResult[E] {
	out := veeam.QueryResult[E]{Invalid: r.Invalid, Pages: r.Pages, Bytes: r.Bytes}
	if len(r.Items) > 0 {
		out.Items = make([]E, len(r.Items))
		for i := range r.Items {
			out.Items[i] = inner(&r.Items[i])
		}
	}
	return out
}
