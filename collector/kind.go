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
	readTasks    pageReader[veeam.ReplicaTaskSession]
	readJobs     pageReader[veeam.ReplicaJobSession]
}

// pageReader runs one query type's query, handing each page's sessions
// over as it arrives.
type pageReader[T any] func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[T]) error) (veeam.QueryStats, error)

func kindOf(k Kind) (sessionKind, error) {
	switch k {
	case Replica:
		return sessionKind{
			name: Replica, taskQuery: veeam.ReplicaTaskSessionType, jobQuery: veeam.ReplicaJobSessionType,
			noun: "replica", lapse: "stopped replicating",
			readTasks: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaTaskSession]) error) (veeam.QueryStats, error) {
				return src.ReplicaTaskSessions(ctx, sel, each)
			},
			readJobs: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaJobSession]) error) (veeam.QueryStats, error) {
				return src.ReplicaJobSessions(ctx, sel, each)
			},
		}, nil
	case Backup:
		return sessionKind{
			name: Backup, taskQuery: veeam.BackupTaskSessionType, jobQuery: veeam.BackupJobSessionType,
			noun: "backup", lapse: "are no longer backed up", jobTypeLabel: true,
			readTasks: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaTaskSession]) error) (veeam.QueryStats, error) {
				return src.BackupTaskSessions(ctx, sel, embedded(each, func(s *veeam.BackupTaskSession) veeam.ReplicaTaskSession { return s.ReplicaTaskSession }))
			},
			readJobs: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaJobSession]) error) (veeam.QueryStats, error) {
				return src.BackupJobSessions(ctx, sel, embedded(each, func(s *veeam.BackupJobSession) veeam.ReplicaJobSession { return s.ReplicaJobSession }))
			},
		}, nil
	default:
		return sessionKind{}, fmt.Errorf("unknown collector %q (known: %v)", k, Kinds())
	}
}

// embedded hands each the pages of another type, each item replaced by the
// replica session it embeds.
func embedded[T, E any](each func(veeam.Page[E]) error, inner func(*T) E) func(veeam.Page[T]) error {
	return func(p veeam.Page[T]) error {
		items := make([]E, len(p.Items))
		for i := range p.Items {
			items[i] = inner(&p.Items[i])
		}
		return each(veeam.Page[E]{Items: items, Invalid: p.Invalid})
	}
}
