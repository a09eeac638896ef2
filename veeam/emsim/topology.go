package emsim

import (
	"errors"
	"fmt"
	"time"
)

// Topology describes the Veeam estate behind the simulated Enterprise
// Manager and how its replica and backup jobs behave.
type Topology struct {
	// Site, when set, names the backup servers, jobs and VMs after it and
	// draws other GUIDs, so that two simulators stand for two distinct
	// Enterprise Managers even with the same seed.
	Site string

	BackupServers int
	JobsPerServer int
	// VMsPerJob is the largest number of VMs in a job; each job gets a
	// deterministic count between MinVMsPerJob and VMsPerJob.
	VMsPerJob    int
	MinVMsPerJob int // 0 means VMsPerJob

	// JobInterval is the schedule of every job; jobs start at evenly
	// spread offsets within the interval.
	JobInterval time.Duration
	// History is how far before the clock's time at construction the
	// first runs start.
	History time.Duration
	// Retention drops sessions created longer ago than this as the clock
	// moves, as EM's own history retention does; 0 keeps everything.
	Retention time.Duration

	// TaskStagger is the largest gap between the creation of one task
	// session of a run and the next.
	TaskStagger                      time.Duration
	TaskDurationMin, TaskDurationMax time.Duration

	// FailureRate and WarningRate are the chances that a task of a
	// scheduled run ends Failed or Warning.
	FailureRate, WarningRate float64
	// RetryFailureRate is the chance that a retried VM fails again.
	RetryFailureRate float64
	// BrokenVMs is how many VMs, the last ones dealt, fail every run and
	// every retry, so that a failing VM and a breached RPO always exist.
	BrokenVMs int
	// MaxRetries is how many retry job sessions follow a run with failed
	// tasks, each for the VMs that failed in the attempt before.
	MaxRetries int
	RetryDelay time.Duration

	// WithHardNames gives the first servers, jobs and VMs the names that
	// HardNames returns, in the replica and in the backup jobs.
	WithHardNames bool

	// LateFraction is the chance that a session reaches EM late, drawn
	// for each job and task session, replica and backup alike: EM collects
	// from the backup servers periodically, so it may learn of a session
	// minutes after its creation and keeps lagging as far behind it. A
	// late session is invisible until its creation plus its lag, drawn
	// uniformly in [LateDelayMin, LateDelayMax]; from then on EM shows it
	// as it was that lag earlier, so its end and result arrive late too.
	// 0 shows every session at once.
	LateFraction               float64
	LateDelayMin, LateDelayMax time.Duration

	// Backup describes the backup jobs that run next to the replica jobs;
	// the zero value has none.
	Backup BackupJobs

	// DisabledJob adds a backup job of the first server (a replica job
	// when there are no backup jobs) whose schedule was switched off a
	// sixth of the way through the history: it has sessions before, none
	// after, ScheduleEnabled false and no NextRun.
	DisabledJob bool
	// NeverRunJob adds a monthly backup job of the last server that was
	// created but never ran: no session at all, and a NextRun at 22:00 UTC
	// on the first day of the month after the simulator's start.
	NeverRunJob bool

	// ReplicaPointsMin and ReplicaPointsMax bound the restore points each
	// replica job keeps per VM, drawn per job; 0 means Veeam's default
	// of 7.
	ReplicaPointsMin, ReplicaPointsMax int

	// UnprotectedVM, when set, is how long before the simulator's start
	// one VM (of a replica job and, when there are any, of a backup job)
	// left all its jobs: no task session of any kind from then on, and its
	// restore points are kept, ageing. 0 means none.
	UnprotectedVM time.Duration

	// CDP describes the CDP policies; the zero value has none.
	CDP CDPPolicies
}

// BackupJobs describes the backup and backup copy jobs of every backup
// server. The backup jobs (JobType Backup) share out the VMs that the
// server's replica jobs hold, so every VM is backed up once; each backup
// copy job (JobType BackupCopy) copies what one of them backs up. Their
// sessions come from their own random streams: adding backup jobs leaves
// the replica sessions of a seed unchanged.
type BackupJobs struct {
	JobsPerServer int
	// CopyJobsPerServer is at most JobsPerServer.
	CopyJobsPerServer int

	// Interval is the schedule of every backup job, CopyInterval that of
	// every backup copy job (0 means Interval); jobs start at evenly
	// spread offsets within their interval.
	Interval, CopyInterval time.Duration

	TaskStagger                      time.Duration
	TaskDurationMin, TaskDurationMax time.Duration

	FailureRate, WarningRate, RetryFailureRate float64
	// BrokenVMs is how many VMs, the last ones dealt, fail every backup
	// run and retry. Backup copy jobs read backup files, not the
	// inventory, so they do not fail for them.
	BrokenVMs  int
	MaxRetries int
	RetryDelay time.Duration
}

// TestTopology is small and realistic: two backup servers with three hourly
// replica jobs each, two to four VMs per job, two days of history, and every
// hard name; each server also runs two hourly backup jobs and a backup copy
// job every four hours. Replica jobs keep 3 to 5 restore points per VM;
// each server has two CDP policies of three VMs with hourly sessions, one
// of them failing and one VM behind its RPO for the last six hours.
func TestTopology() Topology {
	return Topology{
		BackupServers:    2,
		JobsPerServer:    3,
		VMsPerJob:        4,
		MinVMsPerJob:     2,
		JobInterval:      time.Hour,
		History:          48 * time.Hour,
		TaskStagger:      20 * time.Second,
		TaskDurationMin:  time.Minute,
		TaskDurationMax:  15 * time.Minute,
		FailureRate:      0.1,
		WarningRate:      0.1,
		RetryFailureRate: 0.3,
		MaxRetries:       2,
		RetryDelay:       5 * time.Minute,
		WithHardNames:    true,
		DisabledJob:      true,
		NeverRunJob:      true,
		ReplicaPointsMin: 3,
		ReplicaPointsMax: 5,
		CDP: CDPPolicies{
			PoliciesPerServer: 2,
			VMsPerPolicy:      3,
			RPOs:              [2]time.Duration{15 * time.Second, time.Minute},
			SessionPeriod:     time.Hour,
			FailingPolicy:     true,
			LaggingVM:         6 * time.Hour,
		},
		Backup: BackupJobs{
			JobsPerServer:     2,
			CopyJobsPerServer: 1,
			Interval:          time.Hour,
			CopyInterval:      4 * time.Hour,
			TaskStagger:       30 * time.Second,
			TaskDurationMin:   5 * time.Minute,
			TaskDurationMax:   30 * time.Minute,
			FailureRate:       0.1,
			WarningRate:       0.1,
			RetryFailureRate:  0.3,
			MaxRetries:        1,
			RetryDelay:        10 * time.Minute,
		},
	}
}

// DemoTopology suits a real-time clock: eight replica jobs every four
// minutes start thirty seconds apart and their tasks last 10 to 90 seconds,
// so task sessions start and complete in every minute and counters rise
// between two scrapes a minute apart. Backup jobs run every six minutes and
// backup copy jobs every fifteen, with one VM whose backups always fail.
// Replica jobs keep 3 to 5 restore points per VM; one VM left all its jobs
// two hours before the start. Each server has two CDP policies of three
// VMs whose sessions last five minutes, one of them failing and one VM
// behind its RPO for the last six hours.
func DemoTopology() Topology {
	return Topology{
		BackupServers:    2,
		JobsPerServer:    4,
		VMsPerJob:        4,
		MinVMsPerJob:     2,
		JobInterval:      4 * time.Minute,
		History:          24 * time.Hour,
		Retention:        48 * time.Hour,
		TaskStagger:      10 * time.Second,
		TaskDurationMin:  10 * time.Second,
		TaskDurationMax:  90 * time.Second,
		FailureRate:      0.08,
		WarningRate:      0.1,
		RetryFailureRate: 0.3,
		BrokenVMs:        1,
		MaxRetries:       2,
		RetryDelay:       time.Minute,
		WithHardNames:    true,
		DisabledJob:      true,
		NeverRunJob:      true,
		ReplicaPointsMin: 3,
		ReplicaPointsMax: 5,
		UnprotectedVM:    2 * time.Hour,
		CDP: CDPPolicies{
			PoliciesPerServer: 2,
			VMsPerPolicy:      3,
			RPOs:              [2]time.Duration{15 * time.Second, time.Minute},
			SessionPeriod:     5 * time.Minute,
			FailingPolicy:     true,
			LaggingVM:         6 * time.Hour,
		},
		Backup: BackupJobs{
			JobsPerServer:     2,
			CopyJobsPerServer: 1,
			Interval:          6 * time.Minute,
			CopyInterval:      15 * time.Minute,
			TaskStagger:       10 * time.Second,
			TaskDurationMin:   15 * time.Second,
			TaskDurationMax:   2 * time.Minute,
			FailureRate:       0.05,
			WarningRate:       0.1,
			RetryFailureRate:  0.3,
			BrokenVMs:         1,
			MaxRetries:        1,
			RetryDelay:        time.Minute,
		},
	}
}

// ScaleTopology is a large site: 4 backup servers with 25 hourly replica
// jobs of 40 VMs each (4,000 VMs), 48 hours of history, about 200,000
// replica task sessions. Each server also backs its 1,000 VMs up in 10
// backup jobs every four hours and copies three of them every twelve (52
// backup jobs, about 55,000 backup task sessions). Replica jobs keep 7 to 14
// restore points per VM (28,000 to 56,000 in all); each server has two CDP
// policies of 20 VMs with hourly sessions.
func ScaleTopology() Topology {
	return Topology{
		BackupServers:    4,
		JobsPerServer:    25,
		VMsPerJob:        40,
		JobInterval:      time.Hour,
		History:          48 * time.Hour,
		TaskStagger:      15 * time.Second,
		TaskDurationMin:  2 * time.Minute,
		TaskDurationMax:  30 * time.Minute,
		FailureRate:      0.02,
		WarningRate:      0.05,
		RetryFailureRate: 0.3,
		MaxRetries:       2,
		RetryDelay:       10 * time.Minute,
		WithHardNames:    true,
		DisabledJob:      true,
		NeverRunJob:      true,
		ReplicaPointsMin: 7,
		ReplicaPointsMax: 14,
		CDP: CDPPolicies{
			PoliciesPerServer: 2,
			VMsPerPolicy:      20,
			RPOs:              [2]time.Duration{15 * time.Second, time.Minute},
			SessionPeriod:     time.Hour,
			FailingPolicy:     true,
			LaggingVM:         6 * time.Hour,
		},
		Backup: BackupJobs{
			JobsPerServer:     10,
			CopyJobsPerServer: 3,
			Interval:          4 * time.Hour,
			CopyInterval:      12 * time.Hour,
			TaskStagger:       15 * time.Second,
			TaskDurationMin:   3 * time.Minute,
			TaskDurationMax:   40 * time.Minute,
			FailureRate:       0.02,
			WarningRate:       0.05,
			RetryFailureRate:  0.3,
			MaxRetries:        2,
			RetryDelay:        15 * time.Minute,
		},
	}
}

// SecondSiteTopology is another Enterprise Manager for multi-target tests:
// site "dr", three backup servers with two replica jobs every two hours and
// two backup jobs and a backup copy job each, and one CDP policy of two
// VMs with two-hour sessions. No name is shared with the
// other presets.
func SecondSiteTopology() Topology {
	return Topology{
		Site:             "dr",
		BackupServers:    3,
		JobsPerServer:    2,
		VMsPerJob:        5,
		MinVMsPerJob:     3,
		JobInterval:      2 * time.Hour,
		History:          24 * time.Hour,
		TaskStagger:      15 * time.Second,
		TaskDurationMin:  time.Minute,
		TaskDurationMax:  10 * time.Minute,
		FailureRate:      0.1,
		WarningRate:      0.1,
		RetryFailureRate: 0.3,
		MaxRetries:       1,
		RetryDelay:       5 * time.Minute,
		DisabledJob:      true,
		NeverRunJob:      true,
		CDP: CDPPolicies{
			PoliciesPerServer: 1,
			VMsPerPolicy:      2,
			RPOs:              [2]time.Duration{30 * time.Second, 2 * time.Minute},
			SessionPeriod:     2 * time.Hour,
		},
		Backup: BackupJobs{
			JobsPerServer:     2,
			CopyJobsPerServer: 1,
			Interval:          3 * time.Hour,
			TaskStagger:       20 * time.Second,
			TaskDurationMin:   2 * time.Minute,
			TaskDurationMax:   15 * time.Minute,
			FailureRate:       0.1,
			WarningRate:       0.1,
			RetryFailureRate:  0.3,
			MaxRetries:        1,
			RetryDelay:        10 * time.Minute,
		},
	}
}

const minTaskDuration = 2 * time.Second

func (t Topology) minVMs() int {
	if t.MinVMsPerJob == 0 {
		return t.VMsPerJob
	}
	return t.MinVMsPerJob
}

func (t Topology) validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	positive("BackupServers", t.BackupServers)
	positive("JobsPerServer", t.JobsPerServer)
	positive("VMsPerJob", t.VMsPerJob)
	if t.MinVMsPerJob < 0 || t.MinVMsPerJob > t.VMsPerJob {
		errs = append(errs, fmt.Errorf("MinVMsPerJob must be between 0 and VMsPerJob (%d), got %d", t.VMsPerJob, t.MinVMsPerJob))
	}
	if t.JobInterval <= 0 {
		errs = append(errs, errors.New("the job interval (JobInterval) must be positive"))
	}
	if t.History < 0 || t.Retention < 0 || t.RetryDelay < 0 || t.TaskStagger < 0 {
		errs = append(errs, errors.New("the durations History, Retention, RetryDelay and TaskStagger must not be negative"))
	}
	if t.Retention > 0 && t.Retention < t.History {
		errs = append(errs, fmt.Errorf("the retention (%v) must not be shorter than the history (%v)", t.Retention, t.History))
	}
	// Below two seconds the Pending phase and the timestamp truncation
	// could reorder a task's creation, start and end.
	if t.TaskDurationMin < minTaskDuration || t.TaskDurationMax < t.TaskDurationMin {
		errs = append(errs, fmt.Errorf("need %v <= TaskDurationMin <= TaskDurationMax, got %v and %v", minTaskDuration, t.TaskDurationMin, t.TaskDurationMax))
	}
	rates := []struct {
		name  string
		value float64
	}{{"FailureRate", t.FailureRate}, {"WarningRate", t.WarningRate}, {"RetryFailureRate", t.RetryFailureRate}}
	for _, r := range rates {
		if r.value < 0 || r.value > 1 {
			errs = append(errs, fmt.Errorf("%s must be between 0 and 1, got %v", r.name, r.value))
		}
	}
	if t.FailureRate+t.WarningRate > 1 {
		errs = append(errs, fmt.Errorf("FailureRate + WarningRate must not exceed 1, got %v", t.FailureRate+t.WarningRate))
	}
	if t.BrokenVMs < 0 {
		errs = append(errs, fmt.Errorf("BrokenVMs must not be negative, got %d", t.BrokenVMs))
	}
	if t.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("MaxRetries must not be negative, got %d", t.MaxRetries))
	}
	errs = append(errs, t.validateLateArrivals()...)
	errs = append(errs, t.Backup.validate(t)...)
	errs = append(errs, t.validateReplicaPoints()...)
	errs = append(errs, t.validateUnprotectedVM()...)
	errs = append(errs, t.CDP.validate(t)...)
	if t.WithHardNames && len(errs) == 0 {
		jobs := t.BackupServers * t.JobsPerServer
		switch {
		case t.BackupServers < len(hardServerNames):
			errs = append(errs, fmt.Errorf("the hard names need at least %d backup servers", len(hardServerNames)))
		case jobs < len(hardJobNames):
			errs = append(errs, fmt.Errorf("the hard names need at least %d jobs", len(hardJobNames)))
		case jobs*t.minVMs() < len(hardVMNames):
			errs = append(errs, fmt.Errorf("the hard names need room for %d VMs in the smallest jobs", len(hardVMNames)))
		case t.Backup.JobsPerServer > 0 && t.BackupServers*t.Backup.JobsPerServer < len(hardJobNames):
			errs = append(errs, fmt.Errorf("the hard names need at least %d backup jobs", len(hardJobNames)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid topology: %w", errors.Join(errs...))
	}
	return nil
}

func (t Topology) validateLateArrivals() []error {
	var errs []error
	// Written so that NaN fails too.
	if !(t.LateFraction >= 0 && t.LateFraction <= 1) {
		errs = append(errs, fmt.Errorf("LateFraction must be between 0 and 1, got %v", t.LateFraction))
	}
	switch {
	case t.LateFraction > 0:
		// A late session with no lag would not be late.
		if t.LateDelayMin <= 0 || t.LateDelayMax < t.LateDelayMin {
			errs = append(errs, fmt.Errorf("with a LateFraction, need 0 < LateDelayMin <= LateDelayMax, got %v and %v", t.LateDelayMin, t.LateDelayMax))
		}
	case t.LateDelayMin < 0 || t.LateDelayMax < 0:
		errs = append(errs, fmt.Errorf("LateDelayMin and LateDelayMax must not be negative, got %v and %v", t.LateDelayMin, t.LateDelayMax))
	}
	return errs
}

// validate checks the backup jobs of topo; no backup jobs at all is valid.
func (b BackupJobs) validate(topo Topology) []error {
	if b == (BackupJobs{}) {
		return nil
	}
	var errs []error
	if b.JobsPerServer <= 0 {
		errs = append(errs, fmt.Errorf("Backup.JobsPerServer must be positive when backup jobs are described, got %d", b.JobsPerServer))
	}
	if b.CopyJobsPerServer < 0 || b.CopyJobsPerServer > b.JobsPerServer {
		errs = append(errs, fmt.Errorf("Backup.CopyJobsPerServer must be between 0 and Backup.JobsPerServer (%d), got %d", b.JobsPerServer, b.CopyJobsPerServer))
	}
	// Every backup job needs a VM of its server; a server holds at least
	// JobsPerServer replica jobs of the smallest size.
	if room := topo.JobsPerServer * topo.minVMs(); topo.JobsPerServer > 0 && b.JobsPerServer > room {
		errs = append(errs, fmt.Errorf("Backup.JobsPerServer (%d) exceeds the %d VMs the smallest server may hold", b.JobsPerServer, room))
	}
	if b.Interval <= 0 || b.CopyInterval < 0 {
		errs = append(errs, errors.New("Backup.Interval must be positive and Backup.CopyInterval not negative"))
	}
	if b.RetryDelay < 0 || b.TaskStagger < 0 {
		errs = append(errs, errors.New("Backup.RetryDelay and Backup.TaskStagger must not be negative"))
	}
	if b.TaskDurationMin < minTaskDuration || b.TaskDurationMax < b.TaskDurationMin {
		errs = append(errs, fmt.Errorf("need %v <= Backup.TaskDurationMin <= Backup.TaskDurationMax, got %v and %v", minTaskDuration, b.TaskDurationMin, b.TaskDurationMax))
	}
	for _, r := range []struct {
		name  string
		value float64
	}{{"Backup.FailureRate", b.FailureRate}, {"Backup.WarningRate", b.WarningRate}, {"Backup.RetryFailureRate", b.RetryFailureRate}} {
		if r.value < 0 || r.value > 1 {
			errs = append(errs, fmt.Errorf("%s must be between 0 and 1, got %v", r.name, r.value))
		}
	}
	if b.FailureRate+b.WarningRate > 1 {
		errs = append(errs, fmt.Errorf("Backup.FailureRate + Backup.WarningRate must not exceed 1, got %v", b.FailureRate+b.WarningRate))
	}
	if b.BrokenVMs < 0 || b.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("Backup.BrokenVMs and Backup.MaxRetries must not be negative, got %d and %d", b.BrokenVMs, b.MaxRetries))
	}
	return errs
}

func (b BackupJobs) copyInterval() time.Duration {
	if b.CopyInterval == 0 {
		return b.Interval
	}
	return b.CopyInterval
}
