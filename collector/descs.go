package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "veeam_em"

// ownDescs are the descriptors of the exporter's own metrics, built on
// every scrape.
type ownDescs struct {
	up                *prometheus.Desc
	scrapeDuration    *prometheus.Desc
	lastSuccess       *prometheus.Desc
	refreshes         *prometheus.Desc
	refreshFailures   *prometheus.Desc
	collectorSuccess  *prometheus.Desc
	collectorDuration *prometheus.Desc
	// collectorLastSuccess tells how old an inventory collector's values
	// are, as it reads EM only once per interval.
	collectorLastSuccess *prometheus.Desc
	logons               *prometheus.Desc
	logonRejections      *prometheus.Desc
	logonBackoff         *prometheus.Desc
	sessionsFetched      *prometheus.Desc
	invalidSessions      *prometheus.Desc
	loadProgress         *prometheus.Desc
	requests             *prometheus.Desc
	answerBytes          *prometheus.Desc
	retryAfter           *prometheus.Desc
}

// descs are the descriptors of one kind's series, built by the series
// cache, with the label pairs they share.
type descs struct {
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
	// jobTypeLabel: the job families have a job_type label.
	jobTypeLabel bool
}

// family is the descriptor of a series metric together with what a protobuf
// family of it needs and a Desc does not expose.
type family struct {
	desc       *prometheus.Desc
	name, help *string
	kind       dto.MetricType
}

func fqName(subsystem, metric string) string {
	return prometheus.BuildFQName(namespace, subsystem, metric)
}

func newOwnDescs() ownDescs {
	return ownDescs{
		up: prometheus.NewDesc(fqName("", "up"),
			"1 if the last refresh from Enterprise Manager succeeded for every enabled collector, 0 if one failed or none has run yet. While 0, the other metrics show the state of each collector's last successful refresh.",
			nil, nil),
		scrapeDuration: prometheus.NewDesc(fqName("", "scrape_duration_seconds"),
			"Wall time the last refresh from Enterprise Manager took, successful or not; 0 before the first refresh.",
			nil, nil),
		lastSuccess: prometheus.NewDesc(fqName("", "last_successful_refresh_timestamp_seconds"),
			"Unix time of the last refresh from Enterprise Manager in which every enabled collector succeeded; 0 if none has yet.",
			nil, nil),
		refreshes: prometheus.NewDesc(fqName("", "refreshes_total"),
			"Refreshes from Enterprise Manager attempted. Concurrent scrapes share one refresh.",
			nil, nil),
		refreshFailures: prometheus.NewDesc(fqName("", "refresh_failures_total"),
			"Refreshes from Enterprise Manager in which a collector failed; the exporter's log names the cause of each.",
			nil, nil),
		collectorSuccess: prometheus.NewDesc(fqName("", "collector_success"),
			"1 if the collector's queries succeeded in the last refresh from Enterprise Manager, 0 if one failed or none has run yet; its series show its last successful refresh.",
			[]string{"collector"}, nil),
		collectorDuration: prometheus.NewDesc(fqName("", "collector_duration_seconds"),
			"Wall time the collector's queries took in the last refresh from Enterprise Manager, successful or not; the collectors query EM at the same time.",
			[]string{"collector"}, nil),
		collectorLastSuccess: prometheus.NewDesc(fqName("collector", "last_success_timestamp_seconds"),
			"Unix time at which the collector's last successful read of Enterprise Manager began, by the exporter's clock; 0 if none has yet. The inventory collectors read EM once per --collector.inventory-interval and serve their last values in between.",
			[]string{"collector"}, nil),
		logons: prometheus.NewDesc(fqName("", "logons_total"),
			"Logons to the Enterprise Manager REST API. The exporter reuses its session, so this grows only when EM expires it or the exporter restarts.",
			nil, nil),
		logonRejections: prometheus.NewDesc(fqName("", "logon_rejections_total"),
			"Logons Enterprise Manager rejected with 401 (wrong password, locked account) or 403 (no EM role). Each starts or extends the logon back-off.",
			nil, nil),
		logonBackoff: prometheus.NewDesc(fqName("", "logon_backoff_seconds"),
			"Seconds until the exporter tries to log on again after Enterprise Manager rejected its credentials; 0 when it is not backing off. A change of the password file ends the back-off at once.",
			nil, nil),
		sessionsFetched: prometheus.NewDesc(fqName("", "sessions_fetched_total"),
			"Sessions returned by Enterprise Manager queries, by query type; shows the cost of the refreshes.",
			[]string{"type"}, nil),
		invalidSessions: prometheus.NewDesc(fqName("", "invalid_sessions_total"),
			"Sessions returned by Enterprise Manager that were skipped because a field the exporter needs was missing or unparseable, by query type.",
			[]string{"type"}, nil),
		loadProgress: prometheus.NewDesc(fqName("collector", "initial_load_progress_ratio"),
			"How far the collector's initial load of the lookback has come, from 0 to 1: the share of the sessions Enterprise Manager counted when it began that it has read. 1 once loaded; until then the collector's series are not served and veeam_em_up is 0.",
			[]string{"collector"}, nil),
		requests: prometheus.NewDesc(fqName("", "requests_total"),
			"Requests sent to Enterprise Manager, by type (a query type, logon or logoff) and outcome: the load the exporter puts on EM.",
			[]string{"type", "outcome"}, nil),
		answerBytes: prometheus.NewDesc(fqName("", "response_bytes_total"),
			"Bytes of Enterprise Manager's answers read, by request type.",
			[]string{"type"}, nil),
		retryAfter: prometheus.NewDesc(fqName("", "retry_after_seconds"),
			"Seconds until the exporter sends Enterprise Manager requests again, after EM answered 503 or 429 with Retry-After; 0 when it is not waiting. Meanwhile scrapes serve the last state.",
			nil, nil),
	}
}

// all are the descriptors in the order Describe sends them.
func (d *ownDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.up, d.scrapeDuration, d.lastSuccess, d.refreshes, d.refreshFailures, d.collectorSuccess,
		d.collectorDuration, d.collectorLastSuccess, d.logons, d.logonRejections, d.logonBackoff, d.sessionsFetched, d.invalidSessions,
		d.loadProgress, d.requests, d.answerBytes, d.retryAfter,
	}
}

// newDescs builds the series descriptors of kind k: the replica families are
// veeam_em_replica_task_... and veeam_em_replica_job_..., the backup ones
// veeam_em_backup_task_... and veeam_em_backup_job_....
func newDescs(k sessionKind) descs {
	taskSubsystem, jobSubsystem := string(k.name)+"_task", string(k.name)+"_"+k.job
	jobLabels := []string{"backup_server", "job_name"}
	taskLabels := []string{"backup_server", "job_name", "vm"}
	jobSeriesLabels := jobLabels
	if k.jobTypeLabel {
		jobSeriesLabels = []string{"backup_server", "job_name", "job_type"}
	}
	with := func(labels []string, extra ...string) []string {
		return append(append([]string(nil), labels...), extra...)
	}
	seriesFamily := func(subsystem, metric string, kind dto.MetricType, help string, labels []string) family {
		name := fqName(subsystem, metric)
		return family{desc: prometheus.NewDesc(name, help, labels, nil), name: &name, help: &help, kind: kind}
	}
	noun := k.noun
	return descs{
		taskLastState: seriesFamily(taskSubsystem, "last_state", dto.MetricType_GAUGE,
			"State of the latest "+noun+" task session of a VM in a "+k.job+": 1 for its state, 0 for the others.",
			with(taskLabels, "state")),
		taskLastResult: seriesFamily(taskSubsystem, "last_result", dto.MetricType_GAUGE,
			"Result of the latest completed "+noun+" task session of a VM in a "+k.job+": 1 for its result, 0 for the others. Absent if no session completed within the lookback.",
			with(taskLabels, "result")),
		taskLastStart: seriesFamily(taskSubsystem, "last_start_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest "+noun+" task session of a VM in a "+k.job+" started, running or not.",
			taskLabels),
		taskLastEnd: seriesFamily(taskSubsystem, "last_end_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest completed "+noun+" task session of a VM in a "+k.job+" ended.",
			taskLabels),
		taskLastDuration: seriesFamily(taskSubsystem, "last_duration_seconds", dto.MetricType_GAUGE,
			"How long the latest completed "+noun+" task session of a VM in a "+k.job+" took.",
			taskLabels),
		taskLastTotalSize: seriesFamily(taskSubsystem, "last_total_size_bytes", dto.MetricType_GAUGE,
			"TotalSize Enterprise Manager reports for the latest completed "+noun+" task session of a VM in a "+k.job+"; in practice the VM's provisioned size.",
			taskLabels),
		taskLastCompletion: seriesFamily(taskSubsystem, "last_completion_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest "+noun+" task session of a VM in a "+k.job+" with this result ended, for each result seen within the lookback. Alert on the age of result=\"Success\" to catch VMs that "+k.lapse+".",
			with(taskLabels, "result")),
		taskSessions: seriesFamily(taskSubsystem, "sessions_total", dto.MetricType_COUNTER,
			"Completed "+noun+" task sessions of a VM in a "+k.job+" seen since the exporter started, by result; each session counted once. A VM retried after a failure counts both sessions.",
			with(taskLabels, "result")),
		taskDuration: seriesFamily(taskSubsystem, "duration_seconds", dto.MetricType_HISTOGRAM,
			"Durations of the completed "+noun+" task sessions of a "+k.job+" counted in "+fqName(taskSubsystem, "sessions_total")+".",
			jobLabels),
		jobLastState: seriesFamily(jobSubsystem, "last_state", dto.MetricType_GAUGE,
			"State of the latest session of a "+noun+" "+k.job+": 1 for its state, 0 for the others.",
			with(jobSeriesLabels, "state")),
		jobLastResult: seriesFamily(jobSubsystem, "last_result", dto.MetricType_GAUGE,
			"Result of the latest completed session of a "+noun+" "+k.job+": 1 for its result, 0 for the others. Absent if no session completed within the lookback.",
			with(jobSeriesLabels, "result")),
		jobLastStart: seriesFamily(jobSubsystem, "last_start_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest session of a "+noun+" "+k.job+" started, running or not.",
			jobSeriesLabels),
		jobLastEnd: seriesFamily(jobSubsystem, "last_end_timestamp_seconds", dto.MetricType_GAUGE,
			"Unix time the latest completed session of a "+noun+" "+k.job+" ended.",
			jobSeriesLabels),
		jobLastDuration: seriesFamily(jobSubsystem, "last_duration_seconds", dto.MetricType_GAUGE,
			"How long the latest completed session of a "+noun+" "+k.job+" took.",
			jobSeriesLabels),
		jobSessions: seriesFamily(jobSubsystem, "sessions_total", dto.MetricType_COUNTER,
			"Completed sessions of a "+noun+" "+k.job+" seen since the exporter started, by result and by whether the session was a retry; each session counted once.",
			with(jobSeriesLabels, "result", "retry")),
		labels:       newLabelPairs(),
		jobTypeLabel: k.jobTypeLabel,
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

// jobType is the job_type label value of series, "" without the label.
func (d *descs) jobType(series *jobSeries) string {
	if !d.jobTypeLabel || series == nil {
		return ""
	}
	return series.jobType
}
