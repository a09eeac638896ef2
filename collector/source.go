package collector

import (
	"context"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// Source is what the collector needs from EM; *veeam.Client implements it.
type Source interface {
	ReplicaTaskSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.ReplicaTaskSession], error)
	ReplicaJobSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.ReplicaJobSession], error)
	BackupTaskSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.BackupTaskSession], error)
	BackupJobSessions(ctx context.Context, w veeam.Window) (veeam.QueryResult[veeam.BackupJobSession], error)
	Stats() veeam.Stats
}
