package collector

import (
	"context"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// Source is what the collector needs from EM; *veeam.Client implements it.
type Source interface {
	ReplicaTaskSessions(ctx context.Context, since time.Time) (veeam.QueryResult[veeam.ReplicaTaskSession], error)
	ReplicaJobSessions(ctx context.Context, since time.Time) (veeam.QueryResult[veeam.ReplicaJobSession], error)
	Stats() veeam.Stats
}
