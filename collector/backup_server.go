package collector

import (
	"context"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// newBackupServerUnit is the backup_server collector: every backup server
// EM manages, with its version.
func newBackupServerUnit(every time.Duration) unit {
	info := newFamily("backup_server", "info", dto.MetricType_GAUGE,
		"Every Veeam Backup & Replication server Enterprise Manager manages, with its version as EM gives it (e.g. 12.3.2.4465); always 1.",
		"backup_server", "version")
	return &inventory{
		kind: BackupServer, every: every, types: []string{veeam.BackupServerType},
		descs: []*family{info},
		fetch: func(ctx context.Context, src Source, emit emitFunc) []*fetchError {
			_, err := src.BackupServers(ctx, func(p veeam.Page[veeam.BackupServer]) error {
				for _, s := range p.Items {
					emit(info, 1, s.Name, s.Version)
				}
				return nil
			})
			if err != nil {
				return []*fetchError{{what: "backup servers", err: err}}
			}
			return nil
		},
	}
}
