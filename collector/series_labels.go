package collector

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// labelPairs are the label names and the label pairs of fixed values that
// every cached metric shares. The encoders only read label pairs, so one
// copy serves every metric and every concurrent scrape.
type labelPairs struct {
	backupServer, job, vm, jobType *string
	taskStates                     [len(veeam.TaskStates)]*dto.LabelPair
	jobStates                      [len(veeam.JobStates)]*dto.LabelPair
	results                        [resultCount]*dto.LabelPair
	// retries[0] is retry="false", retries[1] retry="true".
	retries [2]*dto.LabelPair
}

func newLabelPairs() labelPairs {
	state, result, retry := "state", "result", "retry"
	l := labelPairs{backupServer: stringRef("backup_server"), job: stringRef("job_name"), vm: stringRef("vm"), jobType: stringRef("job_type")}
	for i, st := range veeam.TaskStates {
		l.taskStates[i] = &dto.LabelPair{Name: &state, Value: stringRef(st.String())}
	}
	for i, st := range veeam.JobStates {
		l.jobStates[i] = &dto.LabelPair{Name: &state, Value: stringRef(st.String())}
	}
	for i, r := range veeam.Results {
		l.results[i] = &dto.LabelPair{Name: &result, Value: stringRef(r.String())}
	}
	l.retries = [2]*dto.LabelPair{{Name: &retry, Value: stringRef("false")}, {Name: &retry, Value: stringRef("true")}}
	return l
}

func stringRef(s string) *string { return &s }

// taskLabels are the label pair lists of one task series' metrics, sorted by
// label name as the registry would sort them. They depend only on the
// series' key, so a series keeps them when its metrics are rebuilt.
type taskLabels struct {
	plain    []*dto.LabelPair // backup_server, job_name, vm
	byState  [len(veeam.TaskStates)][]*dto.LabelPair
	byResult [resultCount][]*dto.LabelPair
}

func newTaskLabels(l *labelPairs, key taskKey) *taskLabels {
	server := &dto.LabelPair{Name: l.backupServer, Value: &key.backupServer}
	job := &dto.LabelPair{Name: l.job, Value: &key.job}
	vm := &dto.LabelPair{Name: l.vm, Value: &key.vm}
	// One backing array for every list; each list is capped so that an
	// append by a reader could never write into its neighbour.
	const listLen = 4
	backing := make([]*dto.LabelPair, 0, 3+listLen*(len(veeam.TaskStates)+resultCount))
	backing = append(backing, server, job, vm)
	t := &taskLabels{plain: backing[0:3:3]}
	// "result" and "state" sort between job_name and vm.
	withValue := func(value *dto.LabelPair) []*dto.LabelPair {
		start := len(backing)
		backing = append(backing, server, job, value, vm)
		return backing[start : start+listLen : start+listLen]
	}
	for i := range t.byState {
		t.byState[i] = withValue(l.taskStates[i])
	}
	for i := range t.byResult {
		t.byResult[i] = withValue(l.results[i])
	}
	return t
}

// jobLabels are the label pair lists of one job series' metrics, as
// taskLabels are for a task series. They depend on the series' key and, for
// a kind with the job_type label, on its job type.
type jobLabels struct {
	jobType string           // the job_type value of the lists; "" without the label
	plain   []*dto.LabelPair // backup_server, job_name[, job_type]
	// keyOnly is backup_server, job_name: the task duration histogram is a
	// task family and has no job_type.
	keyOnly  []*dto.LabelPair
	byState  [len(veeam.JobStates)][]*dto.LabelPair
	byResult [resultCount][]*dto.LabelPair
	// byResultRetry[result][retry]: plain, result, retry.
	byResultRetry [resultCount][2][]*dto.LabelPair
}

// newJobLabels builds the lists of key, with job_type="jobType" after
// job_name if withJobType: it sorts between job_name and the result, retry
// and state labels.
func newJobLabels(l *labelPairs, key jobKey, withJobType bool, jobType string) *jobLabels {
	server := &dto.LabelPair{Name: l.backupServer, Value: &key.backupServer}
	job := &dto.LabelPair{Name: l.job, Value: &key.job}
	keyOnly := []*dto.LabelPair{server, job}
	j := &jobLabels{plain: keyOnly, keyOnly: keyOnly}
	if withJobType {
		j.jobType = jobType
		j.plain = []*dto.LabelPair{server, job, {Name: l.jobType, Value: &j.jobType}}
	}
	with := func(extra ...*dto.LabelPair) []*dto.LabelPair {
		return append(append(make([]*dto.LabelPair, 0, len(j.plain)+len(extra)), j.plain...), extra...)
	}
	for i := range j.byState {
		j.byState[i] = with(l.jobStates[i])
	}
	for i := range j.byResult {
		j.byResult[i] = with(l.results[i])
		for retry := range j.byResultRetry[i] {
			j.byResultRetry[i][retry] = with(l.results[i], l.retries[retry])
		}
	}
	return j
}
