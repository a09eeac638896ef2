package collector

import (
	"context"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// newSummaryUnit is the summary collector: EM's own summary reports
// (overview, VMs overview, job statistics). A value EM does not know has no
// series.
func newSummaryUnit(every time.Duration) unit {
	gauge := func(metric, help string, labels ...string) *family {
		return newFamily("summary", metric, dto.MetricType_GAUGE, help, labels...)
	}
	vms := gauge("vms", "VMs by protection status (protected, backed_up, replicated), from Enterprise Manager's VMs overview report.", "status")
	vmsLatest := gauge("vms_latest_result", "VMs by the result of their latest session (Success, Warning, Failed), from Enterprise Manager's overview report.", "result")
	servers := gauge("servers", "Servers by role (backup, proxy, repository), from Enterprise Manager's overview report.", "role")
	jobs := gauge("jobs", "Jobs running now and jobs scheduled, by status (running, scheduled), from Enterprise Manager's overview report.", "status")
	points := gauge("restore_points", "Restore points of all VMs, from Enterprise Manager's VMs overview report.")
	pointsSize := gauge("restore_points_size_bytes", "Size of the restore points in bytes by kind (full_backup, incremental_backup, replica), from Enterprise Manager's VMs overview report.", "kind")
	sourceSize := gauge("source_vms_size_bytes", "Size of the protected VMs in bytes, from Enterprise Manager's VMs overview report.")
	successRatio := gauge("backup_success_ratio", "Share of successful backups from 0 to 1 (EM's SuccessBackupPercents / 100), from Enterprise Manager's VMs overview report.")
	jobRuns := gauge("job_runs", "Job runs by result (Success, Warning, Failed) over the window of Enterprise Manager's job statistics report, which EM does not document; a gauge, as EM's window moves.", "result")

	emitKnown := func(emit emitFunc, f *family, v veeam.Optional[int64], labelValues ...string) {
		if n, ok := v.Get(); ok {
			emit(f, float64(n), labelValues...)
		}
	}
	return &inventory{
		kind: Summary, every: every,
		types: []string{veeam.OverviewReportType, veeam.VMsOverviewReportType, veeam.JobStatisticsReportType},
		descs: []*family{vms, vmsLatest, servers, jobs, points, pointsSize, sourceSize, successRatio, jobRuns},
		fetch: func(ctx context.Context, src Source, emit emitFunc) []*fetchError {
			overview, err := src.OverviewReport(ctx)
			if err != nil {
				return []*fetchError{{what: "the overview report", err: err}}
			}
			vmsOverview, err := src.VMsOverviewReport(ctx)
			if err != nil {
				return []*fetchError{{what: "the VMs overview report", err: err}}
			}
			jobStatistics, err := src.JobStatisticsReport(ctx)
			if err != nil {
				return []*fetchError{{what: "the job statistics report", err: err}}
			}
			emitKnown(emit, servers, overview.BackupServers, "backup")
			emitKnown(emit, servers, overview.ProxyServers, "proxy")
			emitKnown(emit, servers, overview.RepositoryServers, "repository")
			emitKnown(emit, jobs, overview.RunningJobs, "running")
			emitKnown(emit, jobs, overview.ScheduledJobs, "scheduled")
			emitKnown(emit, vmsLatest, overview.SuccessfulVMLatestStates, veeam.ResultSuccess.String())
			emitKnown(emit, vmsLatest, overview.WarningVMLatestStates, veeam.ResultWarning.String())
			emitKnown(emit, vmsLatest, overview.FailedVMLatestStates, veeam.ResultFailed.String())

			emitKnown(emit, vms, vmsOverview.ProtectedVMs, "protected")
			emitKnown(emit, vms, vmsOverview.BackedUpVMs, "backed_up")
			emitKnown(emit, vms, vmsOverview.ReplicatedVMs, "replicated")
			emitKnown(emit, points, vmsOverview.RestorePoints)
			emitKnown(emit, pointsSize, vmsOverview.FullBackupPointsSize, "full_backup")
			emitKnown(emit, pointsSize, vmsOverview.IncrementalBackupPointsSize, "incremental_backup")
			emitKnown(emit, pointsSize, vmsOverview.ReplicaRestorePointsSize, "replica")
			emitKnown(emit, sourceSize, vmsOverview.SourceVMsSize)
			if percent, ok := vmsOverview.SuccessBackupPercent.Get(); ok {
				emit(successRatio, percent/100)
			}

			emitKnown(emit, jobRuns, jobStatistics.SuccessfulJobRuns, veeam.ResultSuccess.String())
			emitKnown(emit, jobRuns, jobStatistics.WarningJobRuns, veeam.ResultWarning.String())
			emitKnown(emit, jobRuns, jobStatistics.FailedJobRuns, veeam.ResultFailed.String())
			return nil
		},
	}
}
