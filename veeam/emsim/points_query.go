package emsim

import (
	"time"
)

// The query types of replicas and their restore points. Points are those
// alive at the request's time; replicas exist all along, one per replica
// job.

var (
	replicaPointQuery = queryKind[*replicaPoint]{
		typeName: "VmReplicaPoint",
		listName: "VmReplicaPoints",
		fields:   replicaPointFields,
		items:    func(d *dataset, now time.Time) []*replicaPoint { return d.points.aliveAt(now, d.generatedUntil) },
		creation: pointCreation,
		visible:  alwaysVisible[*replicaPoint],
		uid:      pointUID,
		entity:   writePointEntity,
		ref:      writePointRef,
	}
	replicaQuery = queryKind[*replica]{
		typeName: "Replica",
		listName: "Replicas",
		fields:   replicaFields,
		items:    func(d *dataset, _ time.Time) []*replica { return d.points.replicas },
		creation: noCreation[*replica],
		visible:  alwaysVisible[*replica],
		uid:      replicaUID,
		entity:   writeReplicaEntity,
		ref:      writeReplicaRef,
	}
)

// The filter names are not the element names: CreationTime filters
// CreationTimeUTC and Type filters PointType.
var replicaPointFields = fieldSet[*replicaPoint]{
	{name: "UID", value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return textValue(pointUID(p)) }},
	{name: "Name", value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return textValue(p.name()) }},
	{name: creationTimeField, kind: fieldDateTime, value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return timeValue(p.creation) }},
	{name: "Type", kind: fieldEnum, enum: pointTypeNames, value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return numberValue(int64(p.kind)) }},
	{name: "Algorithm", kind: fieldEnum, enum: algorithmNames, value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return numberValue(int64(p.algorithm)) }},
	{name: "ReplicaUid", value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return textValue(replicaUID(p.chain.replica)) }},
	{name: "ReplicaName", value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return textValue(p.chain.replica.job.name) }},
	{name: "VmDisplayName", value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) { return textValue(p.chain.vm.name) }},
	{name: "BackupServerUid", value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) {
		return textValue(serverUID(p.chain.replica.job.server))
	}},
	{name: "BackupServerName", value: func(p *replicaPoint, _ time.Time) (fieldValue, bool) {
		return textValue(p.chain.replica.job.server.name)
	}},
}

var replicaFields = fieldSet[*replica]{
	{name: "UID", value: func(r *replica, _ time.Time) (fieldValue, bool) { return textValue(replicaUID(r)) }},
	{name: "Name", value: func(r *replica, _ time.Time) (fieldValue, bool) { return textValue(r.job.name) }},
	{name: "JobUid", value: func(r *replica, _ time.Time) (fieldValue, bool) { return textValue(jobUID(r.job)) }},
	{name: "JobName", value: func(r *replica, _ time.Time) (fieldValue, bool) { return textValue(r.job.name) }},
	{name: "RepositoryUid", value: func(r *replica, _ time.Time) (fieldValue, bool) { return textValue(repositoryUID(r.repository)) }},
	{name: "RepositoryName", value: func(r *replica, _ time.Time) (fieldValue, bool) { return textValue(r.repository.name) }},
}

func replicaUID(r *replica) string    { return uidPrefix + "Replica:" + r.id.String() }
func pointUID(p *replicaPoint) string { return uidPrefix + "VmReplicaPoint:" + p.id.String() }
func replicaHref(base string, r *replica) string {
	return base + "/api/replicas/" + r.id.String()
}

// pointHref is the point's resource, the one a replica task session's
// Related link names (replicaPointHref).
func pointHref(base string, p *replicaPoint) string {
	return base + "/api/vmReplicaPoints/" + p.id.String()
}

// netTimeLayout is how .NET writes a DateTime: always seven fractional
// digits.
const netTimeLayout = "2006-01-02T15:04:05.0000000Z"

// writePointEntity writes a VmReplicaPoint. A corrupted one lacks its
// CreationTimeUTC or has it in words, or an unknown PointType or
// Algorithm.
func writePointEntity(x xmlWriter, base string, p *replicaPoint, _ time.Time, bad corruptionKind) {
	r, vm := p.chain.replica, p.chain.vm
	pad := padded(p.id)
	href, name := pointHref(base, p), p.name()
	x.open("VmReplicaPoint")
	x.attr("Type", "VmReplicaPoint")
	x.attr("Href", href+entityFormat)
	x.attr("Name", name)
	x.attr("VmDisplayName", vm.name)
	x.attr("UID", pointUID(p))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Failover", "", href+"?action=failover", "")
	x.link("Up", "BackupServerReference", serverHref(base, r.job.server), r.job.server.name)
	x.link("Up", "ReplicaReference", replicaHref(base, r), r.job.name)
	x.link("Alternate", "VmReplicaPointReference", href, name)
	x.raw("</Links>")
	creation := emTime(p.creation)
	if p.sevenDigits {
		creation = p.creation.UTC().Format(netTimeLayout)
	}
	if creation, ok := bad.creationTime(creation); ok {
		x.element("CreationTimeUTC", creation, pad)
	}
	x.element("VmName", vm.name, pad)
	x.element("Algorithm", bad.result(p.algorithm.String()), pad)
	x.element("PointType", bad.state(p.kind.String()), pad)
	x.end("VmReplicaPoint")
	x.raw("\n")
}

func writePointRef(x xmlWriter, base string, p *replicaPoint) {
	writeInventoryRef(x, "VmReplicaPointReference", "VmReplicaPoint", pointHref(base, p), pointUID(p), p.name())
}

// writeReplicaEntity writes a Replica. Its only element, Platform, is an
// open string, so every corruption takes its UID away.
func writeReplicaEntity(x xmlWriter, base string, r *replica, _ time.Time, bad corruptionKind) {
	href := replicaHref(base, r)
	x.open("Replica")
	x.attr("Type", "Replica")
	x.attr("Href", href+entityFormat)
	x.attr("Name", r.job.name)
	if bad == intact {
		x.attr("UID", replicaUID(r))
	}
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, r.job.server), r.job.server.name)
	x.link("Up", "RepositoryReference", repositoryHref(base, r.repository), r.repository.name)
	x.link("Alternate", "ReplicaReference", href, r.job.name)
	x.link("Down", "VmReplicaPointReferenceList", href+"/vmReplicaPoints", "")
	x.raw("</Links>")
	x.element("Platform", platformVMware, padded(r.id))
	x.end("Replica")
	x.raw("\n")
}

func writeReplicaRef(x xmlWriter, base string, r *replica) {
	writeInventoryRef(x, "ReplicaReference", "Replica", replicaHref(base, r), replicaUID(r), r.job.name)
}
