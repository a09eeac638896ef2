package collector

import (
	"context"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// newRepositoryUnit is the repository collector: the capacity and free
// space of every backup repository, for "repository nearly full".
func newRepositoryUnit(every time.Duration) unit {
	labels := []string{"backup_server", "repository"}
	capacity := newFamily("repository", "capacity_bytes", dto.MetricType_GAUGE,
		"Capacity of the backup repository in bytes. Absent where Enterprise Manager does not know it, as for object storage.", labels...)
	free := newFamily("repository", "free_bytes", dto.MetricType_GAUGE,
		"Free space of the backup repository in bytes. Absent where Enterprise Manager does not know it, as for object storage.", labels...)
	info := newFamily("repository", "info", dto.MetricType_GAUGE,
		"Every backup repository Enterprise Manager lists, with its kind (WindowsLocal, CifsShare, AmazonS3Compatible...), including those of unknown size; always 1.",
		append(labels, "kind")...)
	return &inventory{
		kind: Repository, every: every, types: []string{veeam.RepositoryType},
		descs: []*family{capacity, free, info},
		fetch: func(ctx context.Context, src Source, emit emitFunc) []*fetchError {
			_, err := src.Repositories(ctx, func(p veeam.Page[veeam.Repository]) error {
				for _, r := range p.Items {
					emit(info, 1, r.BackupServerName, r.Name, r.Kind)
					if v, ok := r.Capacity.Get(); ok {
						emit(capacity, float64(v), r.BackupServerName, r.Name)
					}
					if v, ok := r.FreeSpace.Get(); ok {
						emit(free, float64(v), r.BackupServerName, r.Name)
					}
				}
				return nil
			})
			if err != nil {
				return []*fetchError{{what: "repositories", err: err}}
			}
			return nil
		},
	}
}
