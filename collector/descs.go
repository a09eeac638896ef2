package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "veeam_em"

// descs are the descriptors of every metric the collector emits.
type descs struct {
	up                 *prometheus.Desc
	scrapeDuration     *prometheus.Desc
	lastSuccess        *prometheus.Desc
	refreshes          *prometheus.Desc
	refreshFailures    *prometheus.Desc
	logons             *prometheus.Desc
	logonRejections    *prometheus.Desc
	logonBackoff       *prometheus.Desc
	sessionsFetched    *prometheus.Desc
	invalidSessions    *prometheus.Desc
	taskLastState      family
	taskLastResult     family
	taskLastStart      family
	taskLastEnd        family
	taskLastDuration   family
	taskLastTotalSize  family
	taskLastCompletion family
	taskSessions       family
	taskDuration       family
	jobLastState       family
	jobLastResult      family
	jobLastStart       family
	jobLastEnd         family
	jobLastDuration    family
	jobSessions        family
	labels             labelPairs
}

// family is the descriptor of a series metric together with what a protobuf
// family of it needs and a Desc does not expose.
type family struct {
	desc       *prometheus.Desc
	name, help *string
	kind       dto.MetricType
}

func newDescs() descs {
	name := func(subsystem, metric string) string { return prometheus.BuildFQName(namespace, subsystem, metric) }
	jobLabels := []string{"backup_server", "job_name"}
	taskLabels := []string{"backup_server", "job_name", "vm"}
	with := func(labels []string, extra ...string) []string {
		return append(append([]string(nil), labels...), extra...)
	}
	seriesFamily := func(subsystem, metric string, kind dto.MetricType, help string, labels []string) family {
		fqName := name(subsystem, metric)
		return family{desc: prometheus.NewDesc(fqName, help, labels, nil), name: &fqName, help: &help, kind: kind}
	}
	return descs{
		up: prometheus.NewDesc(name("", "up"),
			"1 if the last refresh from Enterprise Manager succeeded, 0 if it failed or none has run yet. While 0, the other metrics show the state of the last successful refresh.",
			nil, nil),
		scrapeDuration: prometheus.NewDesc(name("", "scrape_duration_seconds"),
			"Wall time the last refresh from Enterprise Manager took, successful or not; 0 before the first refresh.",
			nil, nil),
		lastSuccess: prometheus.NewDesc(name("", "last_successful_refresh_timestamp_seconds"),
			"Unix time of the last successful refresh from Enterprise Manager; 0 if no refresh has succeeded yet.",
			nil, nil),
		refreshes: prometheus.NewDesc(name("", "refreshes_total"),
			"Refreshes from Enterprise Manager attempted. Concurrent scrapes share one refresh.",
			nil, nil),
		refreshFailures: prometheus.NewDesc(name("", "refresh_failures_total"),
			"Refreshes from Enterprise Manager that failed; the exporter's log names the cause of each.",
			nil, nil),
		logons: prometheus.NewDesc(name("", "logons_total"),
			"Logons to the Enterprise Manager REST API. The exporter reuses its session, so this grows only when EM expires it or the exporter restarts.",
			nil, nil),
		logonRejections: prometheus.NewDesc(name("", "logon_rejections_total"),
			"Logons Enterprise Manager rejected with 401 (wrong password, locked account) or 403 (no EM role). Each starts or extends the logon back-off.",
			nil, nil),
		logonBackoff: prometheus.NewDesc(name("", "logon_backoff_seconds"),
			"Seconds until the exporter tries to log on again after Enterprise Manager rejected its credentials; 0 when it is not backing off. A change of the password file ends the back-off at once.",
			nil, nil),
		sessionsFetched: prometheus.NewDesc(name("", "sessions_fetched_total"),
			"Sessions returned by Enterprise Manager queries in successful refreshes, by query type; shows the cost of each refresh.",
			[]string{"type"}, nil),
		invalidSessions: prometheus.NewDesc(name("", "invalid_sessions_total"),
			"Sessions returned by Enterprise Manager that were skipped because a field the exporter needs was missing or unparseable, by query type.",
			[]string{"type"}, nil),
		taskLastState: seriesFamily("replica_task", "last_state", dto.MetricType_GAUGE,
			"State of the latest replica task session of a VM in a job: 1 for its state, 0 for the others.",
			with(taskLabels, "state")),
		taskLastResult: seriesFamily("replica_task", "last_result", dto.MetricType_GAUGE,
			"Result of the latest completed replica task session of a VM in a job: 1 for its result, 0 for the others. Absent if no session completed within the lookback.",
			with(taskLabels, "result")),
		taskLastStart: seriesFamily("replica_task", "last_start_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest replica task session of a VM in a job started, running or not.",
			taskLabels),
		taskLastEnd: seriesFamily("replica_task", "last_end_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest completed replica task session of a VM in a job ended.",
			taskLabels),
		taskLastDuration: seriesFamily("replica_task", "last_duration_seconds", dto.MetricType_GAUGE,
			"How long the latest completed replica task session of a VM in a job took.",
			taskLabels),
		taskLastTotalSize: seriesFamily("replica_task", "last_total_size_bytes", dto.MetricType_GAUGE,
			"TotalSize Enterprise Manager reports for the latest completed replica task session of a VM in a job; in practice the VM's provisioned size.",
			taskLabels),
		taskLastCompletion: seriesFamily("replica_task", "last_completion_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest replica task session of a VM in a job with this result ended, for each result seen within the lookback. Alert on the age of result=\"Success\" to catch VMs that stopped replicating.",
			with(taskLabels, "result")),
		taskSessions: seriesFamily("replica_task", "sessions_total", dto.MetricType_COUNTER,
			"Completed replica task sessions of a VM in a job seen since the exporter started, by result; each session counted once. A VM retried after a failure counts both sessions.",
			with(taskLabels, "result")),
		taskDuration: seriesFamily("replica_task", "duration_seconds", dto.MetricType_HISTOGRAM,
			"Durations of the completed replica task sessions of a job counted in veeam_em_replica_task_sessions_total.",
			jobLabels),
		jobLastState: seriesFamily("replica_job", "last_state", dto.MetricType_GAUGE,
			"State of the latest session of a replica job: 1 for its state, 0 for the others.",
			with(jobLabels, "state")),
		jobLastResult: seriesFamily("replica_job", "last_result", dto.MetricType_GAUGE,
			"Result of the latest completed session of a replica job: 1 for its result, 0 for the others. Absent if no session completed within the lookback.",
			with(jobLabels, "result")),
		jobLastStart: seriesFamily("replica_job", "last_start_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest session of a replica job started, running or not.",
			jobLabels),
		jobLastEnd: seriesFamily("replica_job", "last_end_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest completed session of a replica job ended.",
			jobLabels),
		jobLastDuration: seriesFamily("replica_job", "last_duration_seconds", dto.MetricType_GAUGE,
			"How long the latest completed session of a replica job took.",
			jobLabels),
		jobSessions: seriesFamily("replica_job", "sessions_total", dto.MetricType_COUNTER,
			"Completed sessions of a replica job seen since the exporter started, by result and by whether the session was a retry; each session counted once.",
			with(jobLabels, "result", "retry")),
		labels: newLabelPairs(),
	}
}

// own are the descriptors of the exporter's own metrics, built on every
// scrape.
func (d *descs) own() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.up, d.scrapeDuration, d.lastSuccess, d.refreshes, d.refreshFailures, d.logons,
		d.logonRejections, d.logonBackoff, d.sessionsFetched, d.invalidSessions,
	}
}

// series are the families of the task and job series, built by the series
// cache.
func (d *descs) series() []*family {
	return []*family{
		&d.taskLastState, &d.taskLastResult, &d.taskLastStart, &d.taskLastEnd, &d.taskLastDuration,
		&d.taskLastTotalSize, &d.taskLastCompletion, &d.taskSessions, &d.taskDuration,
		&d.jobLastState, &d.jobLastResult, &d.jobLastStart, &d.jobLastEnd, &d.jobLastDuration, &d.jobSessions,
	}
}
