package emsim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EM's summary reports (/api/reports/summary/...), computed from the
// estate and the sessions EM shows at the request's time.

// SummaryWindow is the window the job statistics count runs over: the
// last day. EM does not document its own.
const SummaryWindow = 24 * time.Hour

// The summary frames: path under /api/reports/summary/ and root element,
// which is also the request type the log and faults name.
var reportFrames = []struct{ path, root string }{
	{"overview", "OverviewReportFrame"},
	{"vms_overview", "VmsOverviewReportFrame"},
	{"job_statistics", "JobStatisticsReportFrame"},
}

// reportType is the frame a path asks for, "" for none.
func reportType(path string) string {
	name := strings.Trim(strings.TrimPrefix(strings.ToLower(path), "/api/reports/summary"), "/")
	for _, f := range reportFrames {
		if name == f.path {
			return f.root
		}
	}
	return ""
}

// OverviewReport is the ground truth of EM's overview frame.
type OverviewReport struct {
	BackupServers, ProxyServers, RepositoryServers int64
	RunningJobs, ScheduledJobs                     int64
	// VMs by the result of their latest completed task session, backup or
	// replica.
	SuccessfulVMs, WarningVMs, FailedVMs int64
}

// VMsOverviewReport is the ground truth of EM's VMs overview frame.
type VMsOverviewReport struct {
	// VMs with a restore point (a task session that did not fail) of any
	// kind, of a backup job, of a replica job.
	ProtectedVMs, BackedUpVMs, ReplicatedVMs int64
	// RestorePoints are the task sessions that did not fail and ended in
	// the last day, what the repositories keep.
	RestorePoints int64
	// FullBackupPointsSize is half the size of each backed up VM (one full,
	// compressed); the incremental and replica sizes are what the restore
	// points of the last day wrote; SourceVmsSize is the protected VMs'.
	FullBackupPointsSize, IncrementalBackupPointsSize, ReplicaRestorePointsSize, SourceVMsSize int64
	// SuccessBackupPercents is the share of the backup task sessions ended
	// in the last day that succeeded, rounded down; 0 when none ended.
	SuccessBackupPercents int64
}

// JobStatisticsReport is the ground truth of EM's job statistics frame.
// Runs are the job sessions, retries included, that ended within
// SummaryWindow before the report.
type JobStatisticsReport struct {
	RunningJobs, ScheduledJobs, ScheduledBackupJobs, ScheduledReplicaJobs int64
	TotalJobRuns, SuccessfulJobRuns, WarningsJobRuns, FailedJobRuns       int64
	// Durations in whole seconds; the names are "" when no run ended.
	MaxJobDuration, MaxBackupJobDuration, MaxReplicaJobDuration int64
	MaxDurationBackupJobName, MaxDurationReplicaJobName         string
}

type summary struct {
	overview OverviewReport
	vms      VMsOverviewReport
	jobs     JobStatisticsReport
}

// summary computes the three frames at now. The caller holds d.mu.
func (d *dataset) summary(now time.Time) summary {
	var s summary
	inv := d.inventory
	s.overview.BackupServers = int64(len(inv.servers))
	// Two VMware proxies a server; every repository is a repository server.
	s.overview.ProxyServers = 2 * int64(len(inv.servers))
	s.overview.RepositoryServers = int64(len(inv.repositories))
	for _, j := range inv.jobs {
		if enabled, _ := j.scheduleAt(now); enabled {
			s.jobs.ScheduledJobs++
			if j.kind == replicaKind {
				s.jobs.ScheduledReplicaJobs++
			} else {
				s.jobs.ScheduledBackupJobs++
			}
		}
	}
	s.overview.ScheduledJobs = s.jobs.ScheduledJobs

	since := now.Add(-SummaryWindow)
	running := map[*job]bool{}
	for _, f := range []*sessionFamily{&d.replica, &d.backup} {
		for _, r := range existing(f.runs, now, runCreation) {
			if !r.visibleAt(now) {
				continue
			}
			shown := r.shownAt(now)
			end := r.endAt(shown)
			if end.IsZero() {
				running[r.job] = true
				continue
			}
			if !end.After(since) {
				continue
			}
			s.jobs.TotalJobRuns++
			switch r.result {
			case resultSuccess:
				s.jobs.SuccessfulJobRuns++
			case resultWarning:
				s.jobs.WarningsJobRuns++
			case resultFailed:
				s.jobs.FailedJobRuns++
			}
			seconds := int64(end.Sub(r.creation) / time.Second)
			s.jobs.MaxJobDuration = max(s.jobs.MaxJobDuration, seconds)
			if f == &d.replica {
				if seconds > s.jobs.MaxReplicaJobDuration || s.jobs.MaxDurationReplicaJobName == "" {
					s.jobs.MaxReplicaJobDuration, s.jobs.MaxDurationReplicaJobName = seconds, r.job.name
				}
			} else if seconds > s.jobs.MaxBackupJobDuration || s.jobs.MaxDurationBackupJobName == "" {
				s.jobs.MaxBackupJobDuration, s.jobs.MaxDurationBackupJobName = seconds, r.job.name
			}
		}
	}
	s.jobs.RunningJobs = int64(len(running))
	s.overview.RunningJobs = s.jobs.RunningJobs

	type vmState struct {
		latest               result
		backedUp, replicated bool
	}
	vms := map[*virtualMachine]*vmState{}
	var backupsEnded, backupsSucceeded int64
	for _, f := range []*sessionFamily{&d.replica, &d.backup} {
		for _, t := range existing(f.tasks, now, taskCreation) {
			if !t.visibleAt(now) || t.shownAt(now).Before(t.end) {
				continue
			}
			st := vms[t.vm]
			if st == nil {
				st = &vmState{}
				vms[t.vm] = st
			}
			// Tasks come in creation order: the last one seen is the latest.
			st.latest = t.result
			inWindow := t.end.After(now.Add(-restorePointsKept))
			if f == &d.backup && inWindow {
				backupsEnded++
				if t.result == resultSuccess {
					backupsSucceeded++
				}
			}
			if t.result == resultFailed {
				continue
			}
			if f == &d.backup {
				st.backedUp = true
			} else {
				st.replicated = true
			}
			if inWindow {
				s.vms.RestorePoints++
				if f == &d.backup {
					s.vms.IncrementalBackupPointsSize += written(t)
				} else {
					s.vms.ReplicaRestorePointsSize += written(t)
				}
			}
		}
	}
	for vm, st := range vms {
		switch st.latest {
		case resultSuccess:
			s.overview.SuccessfulVMs++
		case resultWarning:
			s.overview.WarningVMs++
		case resultFailed:
			s.overview.FailedVMs++
		}
		if st.backedUp {
			s.vms.BackedUpVMs++
			s.vms.FullBackupPointsSize += vm.totalSize / 2
		}
		if st.replicated {
			s.vms.ReplicatedVMs++
		}
		if st.backedUp || st.replicated {
			s.vms.ProtectedVMs++
			s.vms.SourceVMsSize += vm.totalSize
		}
	}
	if backupsEnded > 0 {
		s.vms.SuccessBackupPercents = 100 * backupsSucceeded / backupsEnded
	}
	return s
}

func (s *Server) summaryAt(now time.Time) summary {
	s.data.ensure(now, s.clock.Now())
	s.data.mu.RLock()
	defer s.data.mu.RUnlock()
	return s.data.summary(now)
}

// serveReport answers GET /api/reports/summary and its frames.
func (s *Server) serveReport(ex *exchange) {
	if !s.allowMethods(ex, http.MethodGet) || !s.authenticate(ex) {
		return
	}
	if ex.typeName == "" {
		if strings.Trim(strings.ToLower(ex.r.URL.Path), "/") == "api/reports/summary" {
			s.serveReportList(ex)
			return
		}
		s.writeError(ex, http.StatusNotFound, "Resource not found: "+ex.r.URL.Path)
		return
	}
	sum := s.summaryAt(ex.now)
	var values [][2]string
	count := func(name string, v int64) { values = append(values, [2]string{name, strconv.FormatInt(v, 10)}) }
	switch ex.typeName {
	case "OverviewReportFrame":
		o := sum.overview
		count("BackupServers", o.BackupServers)
		count("ProxyServers", o.ProxyServers)
		count("RepositoryServers", o.RepositoryServers)
		count("RunningJobs", o.RunningJobs)
		count("ScheduledJobs", o.ScheduledJobs)
		count("SuccessfulVmLastestStates", o.SuccessfulVMs)
		count("WarningVmLastestStates", o.WarningVMs)
		count("FailedVmLastestStates", o.FailedVMs)
	case "VmsOverviewReportFrame":
		v := sum.vms
		count("ProtectedVms", v.ProtectedVMs)
		count("BackedUpVms", v.BackedUpVMs)
		count("ReplicatedVms", v.ReplicatedVMs)
		count("RestorePoints", v.RestorePoints)
		count("FullBackupPointsSize", v.FullBackupPointsSize)
		count("IncrementalBackupPointsSize", v.IncrementalBackupPointsSize)
		count("ReplicaRestorePointsSize", v.ReplicaRestorePointsSize)
		count("SourceVmsSize", v.SourceVMsSize)
		count("SuccessBackupPercents", v.SuccessBackupPercents)
		values = append(values, [2]string{"ProtectedVmsReportLink", ex.base + "/api/reports/summary/processed_vms?format=xml&period=week"})
	case "JobStatisticsReportFrame":
		j := sum.jobs
		count("RunningJobs", j.RunningJobs)
		count("ScheduledJobs", j.ScheduledJobs)
		count("ScheduledBackupJobs", j.ScheduledBackupJobs)
		count("ScheduledReplicaJobs", j.ScheduledReplicaJobs)
		count("TotalJobRuns", j.TotalJobRuns)
		count("SuccessfulJobRuns", j.SuccessfulJobRuns)
		count("WarningsJobRuns", j.WarningsJobRuns)
		count("FailedJobRuns", j.FailedJobRuns)
		count("MaxJobDuration", j.MaxJobDuration)
		count("MaxBackupJobDuration", j.MaxBackupJobDuration)
		count("MaxReplicaJobDuration", j.MaxReplicaJobDuration)
		values = append(values, [2]string{"MaxDurationBackupJobName", j.MaxDurationBackupJobName},
			[2]string{"MaxDurationReplicaJobName", j.MaxDurationReplicaJobName})
	}
	ex.w.Header().Set("Content-Type", contentXML)
	ex.w.WriteHeader(http.StatusOK)
	x := newXMLWriter(ex.body)
	x.raw(xmlHeader)
	x.open(ex.typeName)
	x.attr("xmlns:xsd", "http://www.w3.org/2001/XMLSchema")
	x.attr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	x.attr("xmlns", emNamespace)
	x.closeOpen()
	for _, v := range values {
		x.element(v[0], v[1], false)
	}
	x.end(ex.typeName)
	s.finish(ex, x)
}

// serveReportList links the frames; the shape of this document is a
// guess, and the exporter does not read it.
func (s *Server) serveReportList(ex *exchange) {
	ex.w.Header().Set("Content-Type", contentXML)
	ex.w.WriteHeader(http.StatusOK)
	x := newXMLWriter(ex.body)
	x.raw(xmlHeader)
	x.open("EntityReferences")
	x.attr("xmlns", emNamespace)
	x.closeOpen()
	x.raw("<Links>")
	for _, f := range reportFrames {
		x.link("Down", f.root, ex.base+"/api/reports/summary/"+f.path, f.path)
	}
	x.raw("</Links>")
	x.end("EntityReferences")
	s.finish(ex, x)
}
