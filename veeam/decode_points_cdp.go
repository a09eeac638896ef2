package veeam

import (
	"math"
	"strconv"
	"time"
)

// The fields of the restore point, replica and CDP entities the exporter
// reads, in schema order.
const (
	pointUID = iota
	pointName
	pointVMDisplayName
	pointBackupServer
	pointReplica
	pointCreationTime
	pointVMName
	pointAlgorithm
	pointPointType
)

const (
	cdpPolicyUID = iota
	cdpPolicyName
	cdpPolicyBackupServer
	cdpPolicyType
	cdpPolicyPlatform
	cdpPolicyDescription
	cdpPolicyScheduleConfigured
	cdpPolicyScheduleEnabled
	cdpPolicyNextRun
	cdpPolicyRPOSeconds
	cdpPolicyRPOMinutes
)

// cdpFailureMessage follows the job session's fields in cdpSessionSchema.
const cdpFailureMessage = jobIsRetry + 1

// noUpLink is a link Type no link has, for the slot of a link the shared
// field numbering expects but EM does not document: readLink compares a
// Type trimmed of white space, which never starts with a space.
const noUpLink = " "

var (
	vmReplicaPointSchema = &entitySchema{
		attrs:    []string{"UID", "Name", "VmDisplayName"},
		upLinks:  []string{"BackupServerReference", "ReplicaReference"},
		children: []string{"CreationTimeUTC", "VmName", "Algorithm", "PointType"},
	}
	// The Name elements of the VMs a policy includes are deeper than its
	// children; the RPO is wherever PolicyScheduleOptions puts it.
	cdpPolicySchema = &entitySchema{
		attrs:       []string{"UID", "Name"},
		upLinks:     []string{"BackupServerReference"},
		children:    []string{"PolicyType", "Platform", "Description", "ScheduleConfigured", "ScheduleEnabled", "NextRun"},
		descendants: []string{"RecoveryPointObjectiveSeconds", "RecoveryPointObjectiveMinutes"},
	}
	// A CDP session has a job session's fields under the policy's names,
	// in jobSchema's order, so buildJobSession maps it; its link to the
	// policy has no documented type, and the policy's name comes from
	// PolicyName alone.
	cdpSessionSchema = &entitySchema{
		attrs:   []string{"UID", "Name"},
		upLinks: []string{"BackupServerReference", noUpLink},
		children: []string{"PolicyUid", "PolicyName", "PolicyType", "CreationTimeUTC", "EndTimeUTC", "State", "Result",
			"Progress", "IsRetry", "FailureMessage"},
	}
	// A CDP task session is a task session whose job session is its
	// PolicySessionUid; its link to the session has no documented type.
	cdpTaskSchema = &entitySchema{
		attrs:    []string{"UID", "Name", "VmDisplayName"},
		upLinks:  []string{"BackupServerReference", noUpLink},
		children: []string{"PolicySessionUid", "CreationTimeUTC", "EndTimeUTC", "State", "Result", "Reason", "TotalSize"},
	}
)

var (
	decodeVmReplicaPoint        = entityDecoder[VmReplicaPoint]{schema: vmReplicaPointSchema, build: buildVmReplicaPoint}
	decodeCdpPolicy             = entityDecoder[CdpPolicy]{schema: cdpPolicySchema, build: buildCdpPolicy}
	decodeCdpReplicaSession     = entityDecoder[CdpReplicaSession]{schema: cdpSessionSchema, build: buildCdpReplicaSession}
	decodeCdpReplicaTaskSession = entityDecoder[CdpReplicaTaskSession]{schema: cdpTaskSchema, build: buildCdpReplicaTaskSession}
)

// buildVmReplicaPoint maps a VmReplicaPoint entity; ok is false without a
// UID or a CreationTimeUTC that parses. The point's own names share one
// allocation; the VM's, the server's and the replica's, which its other
// points repeat, are interned.
func buildVmReplicaPoint(e *rawEntity, strs *interner) (p VmReplicaPoint, ok bool) {
	own := e.ownStrings(pointUID, pointName, -1)
	p = VmReplicaPoint{
		UID:              own[0],
		Name:             own[1],
		VMDisplayName:    strs.get(e.trimmed(pointVMDisplayName)),
		VMName:           strs.get(e.trimmed(pointVMName)),
		BackupServerName: strs.get(e.trimmed(pointBackupServer)),
		ReplicaName:      strs.get(e.trimmed(pointReplica)),
		Algorithm:        strs.get(e.trimmed(pointAlgorithm)),
		PointType:        strs.get(e.trimmed(pointPointType)),
	}
	var fields fieldParser
	p.CreationTime = fields.timestampBytes(e.trimmed(pointCreationTime), true)
	return p, p.UID != "" && fields.ok()
}

// buildCdpPolicy maps a CdpPolicy entity; ok is false without a UID or a
// Name, or with a schedule flag or a NextRun that cannot be parsed, as for
// a Job. An RPO that cannot be read only leaves the RPO unknown: the rest
// of the policy is still worth exporting.
func buildCdpPolicy(e *rawEntity, strs *interner) (p CdpPolicy, ok bool) {
	own := e.ownStrings(cdpPolicyUID, cdpPolicyName, cdpPolicyDescription)
	p = CdpPolicy{
		UID:              own[0],
		Name:             own[1],
		Description:      own[2],
		BackupServerName: strs.get(e.trimmed(cdpPolicyBackupServer)),
		PolicyType:       strs.get(e.trimmed(cdpPolicyType)),
		Platform:         strs.get(e.trimmed(cdpPolicyPlatform)),
	}
	var fields fieldParser
	p.ScheduleConfigured = fields.flag(string(e.trimmed(cdpPolicyScheduleConfigured)))
	p.ScheduleEnabled = fields.flag(string(e.trimmed(cdpPolicyScheduleEnabled)))
	p.NextRun = fields.timestampBytes(e.trimmed(cdpPolicyNextRun), false)
	// .NET writes an unset DateTime as year 1: no next run either.
	if p.NextRun.Year() <= 1 {
		p.NextRun = time.Time{}
	}
	p.RPO = rpo(e.trimmed(cdpPolicyRPOSeconds), time.Second)
	if !p.RPO.IsKnown() {
		p.RPO = rpo(e.trimmed(cdpPolicyRPOMinutes), time.Minute)
	}
	return p, p.UID != "" && p.Name != "" && fields.ok()
}

// rpo reads a count of units; anything but a positive whole number that
// fits a Duration is unknown, since a zero or negative RPO means none.
func rpo(b []byte, unit time.Duration) Optional[time.Duration] {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/int64(unit) {
		return Optional[time.Duration]{}
	}
	return Known(time.Duration(n) * unit)
}

// buildCdpReplicaSession is buildJobSession plus FailureMessage.
func buildCdpReplicaSession(e *rawEntity, strs *interner) (CdpReplicaSession, bool) {
	s, ok := buildJobSession(e, strs)
	return CdpReplicaSession{ReplicaJobSession: s, FailureMessage: strs.get(e.trimmed(cdpFailureMessage))}, ok
}

// buildCdpReplicaTaskSession is buildTaskSession under the CDP type.
func buildCdpReplicaTaskSession(e *rawEntity, strs *interner) (CdpReplicaTaskSession, bool) {
	s, ok := buildTaskSession(e, strs)
	return CdpReplicaTaskSession{ReplicaTaskSession: s}, ok
}
