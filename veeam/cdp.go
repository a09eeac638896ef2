package veeam

import (
	"context"
	"time"
)

// The query types of continuous data protection (CDP) replication.
const (
	CdpPolicyType             = "CdpPolicy"
	CdpReplicaSessionType     = "CdpReplicaSession"
	CdpReplicaTaskSessionType = "CdpReplicaTaskSession"
)

// CdpPolicy is a CDP policy, as returned by the query type CdpPolicy with
// format=Entities.
type CdpPolicy struct {
	UID string // urn:veeam:CdpPolicy:{guid}
	// Name is the entity's Name attribute: the Name elements below the
	// entity belong to the VMs the policy includes.
	Name             string
	BackupServerName string
	// PolicyType (CdpReplica) and Platform (VMware, vCloud) are kept as
	// EM writes them, only trimmed.
	PolicyType, Platform string
	Description          string
	ScheduleConfigured   bool // false when EM leaves it out
	ScheduleEnabled      bool // false when EM leaves it out
	// NextRun is zero when EM gives no next run, as for Job.NextRun.
	NextRun time.Time
	// RPO is the recovery point objective of PolicyScheduleOptions, from
	// RecoveryPointObjectiveSeconds or else RecoveryPointObjectiveMinutes,
	// the first of each found at any depth below the entity, since EM does
	// not document what wraps them. It is unknown when neither holds a
	// positive whole number.
	RPO Optional[time.Duration]
}

// CdpReplicaSession is one session of a CDP policy, as returned by the
// query type CdpReplicaSession with format=Entities. The embedded job
// session carries the policy as the job: JobUID is PolicyUid, JobName
// PolicyName (empty when EM leaves it out) and JobType PolicyType; the
// other fields are those of a replica job session, State included. A
// policy runs continuously, so its sessions may run for long.
type CdpReplicaSession struct {
	ReplicaJobSession
	FailureMessage string
}

// CdpReplicaTaskSession is one VM's part of a CDP session, as returned by
// the query type CdpReplicaTaskSession with format=Entities. The embedded
// task session's JobSessionUID is PolicySessionUid; JobSessionName is
// empty, as the type of the link to the session is not documented.
type CdpReplicaTaskSession struct {
	ReplicaTaskSession
}

// EM names the filter fields of the CDP sessions after their elements,
// unlike those of the other sessions (CreationTime for CreationTimeUTC),
// and sorts them by those names.
var (
	cdpSessionFields = sessionFields{creation: "CreationTimeUTC", end: "EndTimeUTC", state: "State",
		longStates: []string{JobStateWorking.String(), JobStateStopped.String()}}
	cdpTaskSessionFields = sessionFields{creation: "CreationTimeUTC", end: "EndTimeUTC", state: "State",
		longStates: []string{TaskStateInProgress.String(), TaskStateCompleted.String()}}
)

// cdpNewestFirst is newestFirst for the CDP sessions.
const cdpNewestFirst = "sortDesc=CreationTimeUTC"

var (
	cdpPolicyQuery = entityQuery[CdpPolicy]{
		typ: CdpPolicyType, order: byUID, decode: decodeCdpPolicy,
		uid: func(p *CdpPolicy) string { return p.UID },
	}
	cdpSessionQuery = entityQuery[CdpReplicaSession]{
		typ: CdpReplicaSessionType, order: cdpNewestFirst, fields: cdpSessionFields, decode: decodeCdpReplicaSession,
		uid: func(s *CdpReplicaSession) string { return s.UID },
	}
	cdpTaskQuery = entityQuery[CdpReplicaTaskSession]{
		typ: CdpReplicaTaskSessionType, order: cdpNewestFirst, fields: cdpTaskSessionFields, decode: decodeCdpReplicaTaskSession,
		uid: func(s *CdpReplicaTaskSession) string { return s.UID },
	}
)

// CdpPolicies hands each page of every CDP policy EM knows to each, by
// UID; see runQuery.
func (c *Client) CdpPolicies(ctx context.Context, each func(Page[CdpPolicy]) error) (QueryStats, error) {
	return runQuery(ctx, c, cdpPolicyQuery, nil, each)
}

// CdpReplicaSessions hands each page of the CDP sessions sel selects to
// each, newest first; see runQuery.
func (c *Client) CdpReplicaSessions(ctx context.Context, sel Selection, each func(Page[CdpReplicaSession]) error) (QueryStats, error) {
	return runQuery(ctx, c, cdpSessionQuery, sel, each)
}

// CdpReplicaTaskSessions hands each page of the CDP task sessions sel
// selects to each, newest first; see runQuery.
func (c *Client) CdpReplicaTaskSessions(ctx context.Context, sel Selection, each func(Page[CdpReplicaTaskSession]) error) (QueryStats, error) {
	return runQuery(ctx, c, cdpTaskQuery, sel, each)
}
