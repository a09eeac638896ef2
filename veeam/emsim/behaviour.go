package emsim

import "time"

// runBehaviour is how the runs of a group of jobs go: task timing,
// outcomes and retries.
type runBehaviour struct {
	taskStagger, taskDurationMin, taskDurationMax time.Duration
	failureRate, warningRate, retryFailureRate    float64
	maxRetries                                    int
	retryDelay                                    time.Duration
}

func (t Topology) replicaBehaviour() *runBehaviour {
	return &runBehaviour{
		taskStagger: t.TaskStagger, taskDurationMin: t.TaskDurationMin, taskDurationMax: t.TaskDurationMax,
		failureRate: t.FailureRate, warningRate: t.WarningRate, retryFailureRate: t.RetryFailureRate,
		maxRetries: t.MaxRetries, retryDelay: t.RetryDelay,
	}
}

func (b BackupJobs) behaviour() *runBehaviour {
	return &runBehaviour{
		taskStagger: b.TaskStagger, taskDurationMin: b.TaskDurationMin, taskDurationMax: b.TaskDurationMax,
		failureRate: b.FailureRate, warningRate: b.WarningRate, retryFailureRate: b.RetryFailureRate,
		maxRetries: b.MaxRetries, retryDelay: b.RetryDelay,
	}
}
