package emsim

import "time"

// CdpPolicy is the ground truth of one CDP policy.
type CdpPolicy struct {
	UID, BackupServer, Name, Platform string
	ScheduleEnabled                   bool
	RPO                               time.Duration
}

// CdpPolicies returns every CDP policy as a query at asOf shows it, sorted
// by UID.
func (s *Server) CdpPolicies(asOf time.Time) []CdpPolicy {
	policies := s.data.cdp.policies
	out := make([]CdpPolicy, len(policies))
	for i, p := range policies {
		out[i] = CdpPolicy{UID: cdpPolicyUID(p), BackupServer: p.server.name, Name: p.name, Platform: p.platform,
			ScheduleEnabled: true, RPO: p.rpo}
	}
	return out
}

// CdpSessions returns every CDP policy session that exists at asOf, with
// its state as of asOf, sorted by creation time. JobUID and JobName are
// the policy's, JobType its PolicyType (CdpReplica).
func (s *Server) CdpSessions(asOf time.Time) []JobSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	sessions := existing(d.cdp.sessions, asOf, cdpSessionCreation)
	out := make([]JobSession, len(sessions))
	for i, cs := range sessions {
		state, res, progress := cs.stateAt(asOf)
		out[i] = JobSession{
			UID: cdpSessionUID(cs), Name: cs.name(), JobUID: cdpPolicyUID(cs.policy), JobName: cs.policy.name,
			JobType: cdpPolicyType, BackupServer: cs.policy.server.name, Creation: cs.creation, End: cs.endAt(asOf),
			State: state.String(), Result: res.String(), Progress: progress,
		}
	}
	return out
}

// CdpTaskSessions returns every CDP task session that exists at asOf, with
// its state as of asOf, sorted by creation time. JobName is the policy's,
// JobSessionUID and JobSessionName its policy session's.
func (s *Server) CdpTaskSessions(asOf time.Time) []TaskSession {
	d := s.data
	d.ensure(asOf, s.clock.Now())
	d.mu.RLock()
	defer d.mu.RUnlock()
	tasks := existing(d.cdp.tasks, asOf, cdpTaskCreation)
	out := make([]TaskSession, len(tasks))
	for i, t := range tasks {
		state, res := t.stateAt(asOf)
		out[i] = TaskSession{
			UID: cdpTaskUID(t), Name: t.name(), VM: t.vm.name, BackupServer: t.session.policy.server.name,
			JobName: t.session.policy.name, JobSessionUID: cdpSessionUID(t.session), JobSessionName: t.session.name(),
			Creation: t.creation, End: t.endAt(asOf), State: state.String(), Result: res.String(),
			Reason: t.reasonAt(asOf), TotalSize: t.vm.totalSize,
		}
	}
	return out
}
