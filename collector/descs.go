package collector

import "github.com/prometheus/client_golang/prometheus"

const namespace = "veeam_em"

// descs are the descriptors of every metric the collector emits.
type descs struct {
	up                 *prometheus.Desc
	scrapeDuration     *prometheus.Desc
	lastSuccess        *prometheus.Desc
	refreshes          *prometheus.Desc
	refreshFailures    *prometheus.Desc
	logons             *prometheus.Desc
	sessionsFetched    *prometheus.Desc
	invalidSessions    *prometheus.Desc
	taskLastState      *prometheus.Desc
	taskLastResult     *prometheus.Desc
	taskLastStart      *prometheus.Desc
	taskLastEnd        *prometheus.Desc
	taskLastDuration   *prometheus.Desc
	taskLastTotalSize  *prometheus.Desc
	taskLastCompletion *prometheus.Desc
	taskSessions       *prometheus.Desc
	taskDuration       *prometheus.Desc
	jobLastState       *prometheus.Desc
	jobLastResult      *prometheus.Desc
	jobLastStart       *prometheus.Desc
	jobLastEnd         *prometheus.Desc
	jobLastDuration    *prometheus.Desc
	jobSessions        *prometheus.Desc
}

func newDescs() descs {
	name := func(subsystem, metric string) string { return prometheus.BuildFQName(namespace, subsystem, metric) }
	jobLabels := []string{"backup_server", "job_name"}
	taskLabels := []string{"backup_server", "job_name", "vm"}
	with := func(labels []string, extra ...string) []string {
		return append(append([]string(nil), labels...), extra...)
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
		sessionsFetched: prometheus.NewDesc(name("", "sessions_fetched_total"),
			"Sessions returned by Enterprise Manager queries in successful refreshes, by query type; shows the cost of each refresh.",
			[]string{"type"}, nil),
		invalidSessions: prometheus.NewDesc(name("", "invalid_sessions_total"),
			"Sessions returned by Enterprise Manager that were skipped because a field the exporter needs was missing or unparseable, by query type.",
			[]string{"type"}, nil),
		taskLastState: prometheus.NewDesc(name("replica_task", "last_state"),
			"State of the latest replica task session of a VM in a job: 1 for its state, 0 for the others.",
			with(taskLabels, "state"), nil),
		taskLastResult: prometheus.NewDesc(name("replica_task", "last_result"),
			"Result of the latest completed replica task session of a VM in a job: 1 for its result, 0 for the others. Absent if no session completed within the lookback.",
			with(taskLabels, "result"), nil),
		taskLastStart: prometheus.NewDesc(name("replica_task", "last_start_timestamp_seconds"),
			"Unix time the latest replica task session of a VM in a job started, running or not.",
			taskLabels, nil),
		taskLastEnd: prometheus.NewDesc(name("replica_task", "last_end_timestamp_seconds"),
			"Unix time the latest completed replica task session of a VM in a job ended.",
			taskLabels, nil),
		taskLastDuration: prometheus.NewDesc(name("replica_task", "last_duration_seconds"),
			"How long the latest completed replica task session of a VM in a job took.",
			taskLabels, nil),
		taskLastTotalSize: prometheus.NewDesc(name("replica_task", "last_total_size_bytes"),
			"TotalSize Enterprise Manager reports for the latest completed replica task session of a VM in a job; in practice the VM's provisioned size.",
			taskLabels, nil),
		taskLastCompletion: prometheus.NewDesc(name("replica_task", "last_completion_timestamp_seconds"),
			"Unix time the latest replica task session of a VM in a job with this result ended, for each result seen within the lookback. Alert on the age of result=\"Success\" to catch VMs that stopped replicating.",
			with(taskLabels, "result"), nil),
		taskSessions: prometheus.NewDesc(name("replica_task", "sessions_total"),
			"Completed replica task sessions of a VM in a job seen since the exporter started, by result; each session counted once. A VM retried after a failure counts both sessions.",
			with(taskLabels, "result"), nil),
		taskDuration: prometheus.NewDesc(name("replica_task", "duration_seconds"),
			"Durations of the completed replica task sessions of a job counted in veeam_em_replica_task_sessions_total.",
			jobLabels, nil),
		jobLastState: prometheus.NewDesc(name("replica_job", "last_state"),
			"State of the latest session of a replica job: 1 for its state, 0 for the others.",
			with(jobLabels, "state"), nil),
		jobLastResult: prometheus.NewDesc(name("replica_job", "last_result"),
			"Result of the latest completed session of a replica job: 1 for its result, 0 for the others. Absent if no session completed within the lookback.",
			with(jobLabels, "result"), nil),
		jobLastStart: prometheus.NewDesc(name("replica_job", "last_start_timestamp_seconds"),
			"Unix time the latest session of a replica job started, running or not.",
			jobLabels, nil),
		jobLastEnd: prometheus.NewDesc(name("replica_job", "last_end_timestamp_seconds"),
			"Unix time the latest completed session of a replica job ended.",
			jobLabels, nil),
		jobLastDuration: prometheus.NewDesc(name("replica_job", "last_duration_seconds"),
			"How long the latest completed session of a replica job took.",
			jobLabels, nil),
		jobSessions: prometheus.NewDesc(name("replica_job", "sessions_total"),
			"Completed sessions of a replica job seen since the exporter started, by result and by whether the session was a retry; each session counted once.",
			with(jobLabels, "result", "retry"), nil),
	}
}

func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.up, d.scrapeDuration, d.lastSuccess, d.refreshes, d.refreshFailures, d.logons,
		d.sessionsFetched, d.invalidSessions,
		d.taskLastState, d.taskLastResult, d.taskLastStart, d.taskLastEnd, d.taskLastDuration,
		d.taskLastTotalSize, d.taskLastCompletion, d.taskSessions, d.taskDuration,
		d.jobLastState, d.jobLastResult, d.jobLastStart, d.jobLastEnd, d.jobLastDuration, d.jobSessions,
	}
}
