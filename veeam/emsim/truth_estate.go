package emsim

import (
	"slices"
	"strings"
	"time"
)

// Repository is the ground truth of one repository as EM reports it at a
// moment. Capacity and FreeSpace are -1 for object storage, as EM writes.
type Repository struct {
	UID, Name, BackupServer, Kind string
	Capacity, FreeSpace           int64
}

// Job is the ground truth of one job as EM lists it at a moment, with or
// without sessions. NextRun is zero when its schedule is off.
type Job struct {
	UID, Name, BackupServer, JobType, Platform, Description string
	ScheduleConfigured, ScheduleEnabled                     bool
	NextRun                                                 time.Time
}

// BackupServer is the ground truth of one backup server.
type BackupServer struct {
	UID, Name, Description, Version string
	Port                            int
}

// Landmarks names the parts of the estate tests look for; a name is ""
// when the topology has no such part.
type Landmarks struct {
	// DisabledJob's schedule was switched off at DisabledAt: it has
	// sessions before and none after. NeverRunJob has no session at all.
	DisabledJob, NeverRunJob string
	DisabledAt               time.Time
	// The repositories are named with their backup server, since names
	// repeat across servers ("Default Backup Repository" is on each).
	NearlyFullRepository, NearlyFullServer       string
	ObjectStorageRepository, ObjectStorageServer string
	// UnprotectedVM, on UnprotectedVMServer, left all its jobs at
	// UnprotectedAt: no task session of any kind from then on, and its
	// replica restore points age.
	UnprotectedVM, UnprotectedVMServer string
	UnprotectedAt                      time.Time
	// FailingCdpPolicy, on FailingCdpPolicyServer, fails every session and
	// task.
	FailingCdpPolicy, FailingCdpPolicyServer string
	// LaggingCdpVM, of LaggingCdpPolicy on LaggingCdpServer, has been
	// behind its RPO since LaggingCdpSince: its CDP task sessions ending
	// since then end Warning.
	LaggingCdpVM, LaggingCdpPolicy, LaggingCdpServer string
	LaggingCdpSince                                  time.Time
}

// Landmarks returns the names of the special jobs, repositories, VMs and
// CDP policies.
func (s *Server) Landmarks() Landmarks {
	inv := s.data.inventory
	var l Landmarks
	if inv.disabled != nil {
		l.DisabledJob, l.DisabledAt = inv.disabled.name, inv.disabled.until
	}
	if inv.neverRun != nil {
		l.NeverRunJob = inv.neverRun.name
	}
	l.NearlyFullRepository, l.NearlyFullServer = inv.nearlyFull.name, inv.nearlyFull.server.name
	l.ObjectStorageRepository, l.ObjectStorageServer = inv.objectStorage.name, inv.objectStorage.server.name
	if u := s.data.unprotected; u != nil {
		l.UnprotectedVM, l.UnprotectedVMServer, l.UnprotectedAt = u.vm.name, u.server.name, u.vm.leftAt
	}
	if p := s.data.cdp.failing; p != nil {
		l.FailingCdpPolicy, l.FailingCdpPolicyServer = p.name, p.server.name
	}
	if p := s.data.cdp.lagging; p != nil {
		l.LaggingCdpVM, l.LaggingCdpPolicy, l.LaggingCdpServer, l.LaggingCdpSince = p.lagging.name, p.name, p.server.name, p.lagSince
	}
	return l
}

// Repositories returns every repository as a query at asOf shows it,
// sorted by UID.
func (s *Server) Repositories(asOf time.Time) []Repository {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Repository
	for _, r := range repositoryViews(d, asOf) {
		out = append(out, Repository{UID: repositoryUID(r.repository), Name: r.name, BackupServer: r.server.name,
			Kind: r.kind, Capacity: r.capacity, FreeSpace: r.free})
	}
	return out
}

// Jobs returns every job EM lists at asOf, sorted by UID.
func (s *Server) Jobs(asOf time.Time) []Job {
	var out []Job
	for _, j := range jobViews(s.data, asOf) {
		out = append(out, Job{UID: jobUID(j.job), Name: j.name, BackupServer: j.server.name, JobType: j.jobType,
			Platform: platformVMware, Description: j.description(), ScheduleConfigured: true, ScheduleEnabled: j.enabled, NextRun: j.next})
	}
	return out
}

// BackupServers returns every backup server, sorted by UID.
func (s *Server) BackupServers() []BackupServer {
	servers := slices.Clone(s.data.inventory.servers)
	slices.SortFunc(servers, func(a, b *backupServer) int { return strings.Compare(serverUID(a), serverUID(b)) })
	out := make([]BackupServer, len(servers))
	for i, b := range servers {
		v := b.version()
		out[i] = BackupServer{UID: serverUID(b), Name: b.name, Description: v.description, Version: v.version, Port: v.port}
	}
	return out
}

// OverviewReport returns the overview frame EM serves at asOf.
func (s *Server) OverviewReport(asOf time.Time) OverviewReport { return s.summaryAt(asOf).overview }

// VMsOverviewReport returns the VMs overview frame EM serves at asOf.
func (s *Server) VMsOverviewReport(asOf time.Time) VMsOverviewReport { return s.summaryAt(asOf).vms }

// JobStatisticsReport returns the job statistics frame EM serves at asOf.
func (s *Server) JobStatisticsReport(asOf time.Time) JobStatisticsReport {
	return s.summaryAt(asOf).jobs
}
