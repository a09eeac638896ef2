package collector

import (
	"context"
	"fmt"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// Kind names one collector of the Collector: each has its own metric
// families, its own EM queries, its own refresh policy and its own success
// metric, and can be switched off on its own (--collector.<kind>).
type Kind string

// The collectors.
const (
	Replica      Kind = "replica"       // ReplicaTaskSession and ReplicaJobSession
	Backup       Kind = "backup"        // BackupTaskSession and BackupJobSession, of every backup job type
	Repository   Kind = "repository"    // Repository: capacity and free space
	Job          Kind = "job"           // Job: every job and its schedule
	BackupServer Kind = "backup_server" // BackupServer: the backup servers and their versions
	Summary      Kind = "summary"       // EM's summary reports
	ReplicaPoint Kind = "replica_point" // VmReplicaPoint: every replica's restore points per VM
	CDP          Kind = "cdp"           // CdpPolicy, CdpReplicaSession and CdpReplicaTaskSession
)

// registration is one collector as the exporter offers it: adding a
// collector is its own files and one line here.
type registration struct {
	kind Kind
	what string // what it collects, for its flag's help
	unit func(Options) (unit, error)
}

func registrations() []registration {
	return []registration{
		{Replica, "replica task and job sessions (veeam_em_replica_...)", sessionUnit(Replica)},
		{Backup, "backup task and job sessions of every backup job type (veeam_em_backup_...)", sessionUnit(Backup)},
		{Repository, "the capacity and free space of every backup repository (veeam_em_repository_...), once per --collector.inventory-interval",
			func(o Options) (unit, error) { return newRepositoryUnit(o.InventoryInterval), nil }},
		{Job, "every job and its schedule (veeam_em_job_...), once per --collector.inventory-interval",
			func(o Options) (unit, error) { return newJobUnit(o.InventoryInterval), nil }},
		{BackupServer, "every backup server and its version (veeam_em_backup_server_info), once per --collector.inventory-interval",
			func(o Options) (unit, error) { return newBackupServerUnit(o.InventoryInterval), nil }},
		{Summary, "Enterprise Manager's summary reports (veeam_em_summary_...), once per --collector.inventory-interval",
			func(o Options) (unit, error) { return newSummaryUnit(o.InventoryInterval), nil }},
		{ReplicaPoint, "the restore points of every replicated VM (veeam_em_replica_vm_...): the newest at every refresh, counts and the oldest once per --collector.replica-point.full-interval",
			func(o Options) (unit, error) { return newReplicaPointUnit(o), nil }},
		{CDP, "CDP policies, their sessions and their VMs' task sessions (veeam_em_cdp_...); the policies once per --collector.inventory-interval",
			newCDPUnit},
	}
}

// Kinds are every collector, the default of Options.Kinds.
func Kinds() []Kind {
	var kinds []Kind
	for _, r := range registrations() {
		kinds = append(kinds, r.kind)
	}
	return kinds
}

// FlagHelp is the help of the flag that switches collector k on or off.
func FlagHelp(k Kind) string {
	for _, r := range registrations() {
		if r.kind == k {
			return "Collect " + r.what + "; --no-collector." + string(k) + " stops its EM queries."
		}
	}
	return ""
}

// newUnit is the unit of collector k.
func newUnit(k Kind, opts Options) (unit, error) {
	for _, r := range registrations() {
		if r.kind == k {
			return r.unit(opts)
		}
	}
	return nil, fmt.Errorf("unknown collector %q (known: %v)", k, Kinds())
}

// sessionUnit makes the unit of a kind of sessions.
func sessionUnit(k Kind) func(Options) (unit, error) {
	return func(opts Options) (unit, error) {
		kind, err := kindOf(k)
		if err != nil {
			return nil, err
		}
		return newKindCollector(kind, opts), nil
	}
}

func newKindCollector(kind sessionKind, opts Options) *kindCollector {
	return &kindCollector{kind: kind, descs: newDescs(kind), state: newState(opts.Lookback, opts.Overlap),
		jobs: typeSync{loadTotal: -1}, tasks: typeSync{loadTotal: -1}}
}

// sessionKind is what differs between kinds. EM gives backup sessions the
// fields of replica sessions, so the state and the series cache handle both
// as replica sessions.
type sessionKind struct {
	name                Kind
	taskQuery, jobQuery string // EM query types, the type label of the fetch metrics
	// noun names the kind's sessions in help texts; lapse says what a VM
	// whose latest success grows old stopped doing. job is what runs the
	// sessions: "job", or "policy" for CDP, in the families' names too.
	noun, lapse, job string
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
			noun: "replica", lapse: "stopped replicating", job: "job",
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
			noun: "backup", lapse: "are no longer backed up", job: "job", jobTypeLabel: true,
			readTasks: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaTaskSession]) error) (veeam.QueryStats, error) {
				return src.BackupTaskSessions(ctx, sel, embedded(each, func(s *veeam.BackupTaskSession) veeam.ReplicaTaskSession { return s.ReplicaTaskSession }))
			},
			readJobs: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaJobSession]) error) (veeam.QueryStats, error) {
				return src.BackupJobSessions(ctx, sel, embedded(each, func(s *veeam.BackupJobSession) veeam.ReplicaJobSession { return s.ReplicaJobSession }))
			},
		}, nil
	case CDP:
		return sessionKind{
			name: CDP, taskQuery: veeam.CdpReplicaTaskSessionType, jobQuery: veeam.CdpReplicaSessionType,
			noun: "CDP", lapse: "stopped syncing within their RPO", job: "policy",
			readTasks: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaTaskSession]) error) (veeam.QueryStats, error) {
				return src.CdpReplicaTaskSessions(ctx, sel, embedded(each, func(s *veeam.CdpReplicaTaskSession) veeam.ReplicaTaskSession { return s.ReplicaTaskSession }))
			},
			readJobs: func(ctx context.Context, src Source, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaJobSession]) error) (veeam.QueryStats, error) {
				return src.CdpReplicaSessions(ctx, sel, embedded(each, func(s *veeam.CdpReplicaSession) veeam.ReplicaJobSession { return s.ReplicaJobSession }))
			},
		}, nil
	default:
		return sessionKind{}, fmt.Errorf("unknown collector %q (known: %v)", k, Kinds())
	}
}

// jobSessions and taskSessions name the kind's two query types in errors.
func (k sessionKind) jobSessions() string  { return k.noun + " " + k.job + " sessions" }
func (k sessionKind) taskSessions() string { return k.noun + " task sessions" }

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
