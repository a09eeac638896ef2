package veeam

import (
	"context"
	"time"
)

// VmReplicaPointType is the query type of replica restore points.
const VmReplicaPointType = "VmReplicaPoint"

// VmReplicaPoint is one restore point of a VM's replica, as returned by the
// query type VmReplicaPoint with format=Entities. It names no job session,
// task session or VM UID: a VM is its backup server, replica and name.
type VmReplicaPoint struct {
	UID  string // urn:veeam:VmReplicaPoint:{guid}
	Name string // "<vm>@yyyy-MM-dd HH:mm:ss"
	// VMDisplayName is the VmDisplayName attribute, VMName the VmName
	// element; see VM.
	VMDisplayName string
	VMName        string
	// BackupServerName and ReplicaName are the Names of the Rel="Up"
	// BackupServerReference and ReplicaReference links; a replica is
	// named after its job.
	BackupServerName string
	ReplicaName      string
	CreationTime     time.Time // CreationTimeUTC
	// Algorithm and PointType (Full, ReverseIncrement, Increment,
	// Snapshot...) are kept as EM writes them, only trimmed.
	Algorithm, PointType string
}

// VM is the name of the point's VM: VmDisplayName, else VmName.
func (p *VmReplicaPoint) VM() string {
	if p.VMDisplayName != "" {
		return p.VMDisplayName
	}
	return p.VMName
}

// PointSelection selects restore points; a zero field does not filter.
type PointSelection struct {
	BackupServerName string
	ReplicaName      string
	// Created bounds the points' creation time as Window documents.
	Created Window
}

// pointCreation names the filter field of a point's CreationTimeUTC, which
// is CreationTime as for the sessions.
var pointCreation = sessionFields{creation: "CreationTime"}

// filter is sel in EM's filter grammar; "" selects every point.
func (sel PointSelection) filter() string {
	var conditions Filter
	if sel.BackupServerName != "" {
		conditions = append(conditions, Condition{Field: "BackupServerName", Op: OpEqual, Value: sel.BackupServerName})
	}
	if sel.ReplicaName != "" {
		conditions = append(conditions, Condition{Field: "ReplicaName", Op: OpEqual, Value: sel.ReplicaName})
	}
	conditions = append(conditions, pointCreation.conditions(Clause{Created: sel.Created})...)
	return conditions.Encode()
}

var (
	// Restore points come newest first for the reason sessions do (see
	// entityQuery): retention removes the oldest.
	vmReplicaPointQuery = entityQuery[VmReplicaPoint]{
		typ: VmReplicaPointType, order: newestFirst, decode: decodeVmReplicaPoint,
		uid: func(p *VmReplicaPoint) string { return p.UID },
	}
)

// VmReplicaPoints hands each page of the restore points sel selects to
// each, newest first; see runQuery. A point without a UID or a
// CreationTimeUTC that parses is counted in Page.Invalid.
func (c *Client) VmReplicaPoints(ctx context.Context, sel PointSelection, each func(Page[VmReplicaPoint]) error) (QueryStats, error) {
	return runFiltered(ctx, c, vmReplicaPointQuery, sel.filter(), each)
}

// CountVmReplicaPoints asks EM how many restore points sel selects, as
// CountSessions does for sessions.
func (c *Client) CountVmReplicaPoints(ctx context.Context, sel PointSelection) (Count, error) {
	return countFiltered(ctx, c, vmReplicaPointQuery, sel.filter())
}
