package collector

import (
	"context"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// newJobUnit is the job collector: every job EM knows, whether it ran
// within the lookback or not, and its schedule. A job whose schedule was
// switched off produces no sessions, so only this shows it.
func newJobUnit(every time.Duration) unit {
	labels := []string{"backup_server", "job_name"}
	info := newFamily("job", "info", dto.MetricType_GAUGE,
		"Every job Enterprise Manager knows, with or without sessions, with its type (Backup, BackupCopy, Replica...) and platform; always 1.",
		append(labels, "job_type", "platform")...)
	configured := newFamily("job", "schedule_configured", dto.MetricType_GAUGE,
		"1 if the job has a schedule configured, 0 if it runs only when started by hand or by another job.", labels...)
	enabled := newFamily("job", "schedule_enabled", dto.MetricType_GAUGE,
		"1 if the job's schedule is enabled, 0 if it was switched off: the job does not run on its own.", labels...)
	nextRun := newFamily("job", "next_run_timestamp_seconds", dto.MetricType_GAUGE,
		"Unix time of the job's next scheduled run. Absent when Enterprise Manager gives none, as when the schedule is off.", labels...)
	return &inventory{
		kind: Job, every: every, types: []string{veeam.JobType},
		descs: []*family{info, configured, enabled, nextRun},
		fetch: func(ctx context.Context, src Source, emit emitFunc) []*fetchError {
			_, err := src.Jobs(ctx, func(p veeam.Page[veeam.Job]) error {
				for _, j := range p.Items {
					emit(info, 1, j.BackupServerName, j.Name, j.JobType, j.Platform)
					emit(configured, boolValue(j.ScheduleConfigured), j.BackupServerName, j.Name)
					emit(enabled, boolValue(j.ScheduleEnabled), j.BackupServerName, j.Name)
					if !j.NextRun.IsZero() {
						emit(nextRun, unixSeconds(j.NextRun), j.BackupServerName, j.Name)
					}
				}
				return nil
			})
			if err != nil {
				return []*fetchError{{what: "jobs", err: err}}
			}
			return nil
		},
	}
}
