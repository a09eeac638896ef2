package collector

import (
	"context"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// Source is what the collector needs from EM; *veeam.Client implements it.
// The session queries hand their pages over in page order, newest first, as
// they arrive, so that a large read is applied page by page.
type Source interface {
	ReplicaTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaTaskSession]) error) (veeam.QueryStats, error)
	ReplicaJobSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.ReplicaJobSession]) error) (veeam.QueryStats, error)
	BackupTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.BackupTaskSession]) error) (veeam.QueryStats, error)
	BackupJobSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.BackupJobSession]) error) (veeam.QueryStats, error)
	// CountSessions tells how many sessions of a query type sel selects.
	CountSessions(ctx context.Context, typ string, sel veeam.Selection) (veeam.Count, error)

	// The estate, read in full by the inventory collectors.
	Repositories(ctx context.Context, each func(veeam.Page[veeam.Repository]) error) (veeam.QueryStats, error)
	Jobs(ctx context.Context, each func(veeam.Page[veeam.Job]) error) (veeam.QueryStats, error)
	BackupServers(ctx context.Context, each func(veeam.Page[veeam.BackupServer]) error) (veeam.QueryStats, error)
	OverviewReport(ctx context.Context) (veeam.OverviewReport, error)
	VMsOverviewReport(ctx context.Context) (veeam.VMsOverviewReport, error)
	JobStatisticsReport(ctx context.Context) (veeam.JobStatisticsReport, error)

	// Replica restore points, newest first, and their count.
	VmReplicaPoints(ctx context.Context, sel veeam.PointSelection, each func(veeam.Page[veeam.VmReplicaPoint]) error) (veeam.QueryStats, error)
	CountVmReplicaPoints(ctx context.Context, sel veeam.PointSelection) (veeam.Count, error)

	// CDP: the policies, read in full, and their sessions, as the other
	// session queries.
	CdpPolicies(ctx context.Context, each func(veeam.Page[veeam.CdpPolicy]) error) (veeam.QueryStats, error)
	CdpReplicaSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.CdpReplicaSession]) error) (veeam.QueryStats, error)
	CdpReplicaTaskSessions(ctx context.Context, sel veeam.Selection, each func(veeam.Page[veeam.CdpReplicaTaskSession]) error) (veeam.QueryStats, error)

	Stats() veeam.Stats
}
