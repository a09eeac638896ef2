package emsim

import (
	"strconv"
	"strings"
	"time"
)

// The CDP query types. Their filter names differ from the other sessions':
// Id, CreationTimeUTC and EndTimeUTC rather than UID, CreationTime and
// EndTime, and a CDP task session cannot be filtered on its Result. Which
// value Id compares with is not documented: the simulator takes the UID
// (urn:veeam:CdpReplicaSession:...), as UID does elsewhere.

var (
	cdpPolicyQuery = queryKind[*cdpPolicy]{
		typeName: "CdpPolicy",
		listName: "CdpPolicies",
		fields:   cdpPolicyFields,
		items:    func(d *dataset, _ time.Time) []*cdpPolicy { return d.cdp.policies },
		creation: noCreation[*cdpPolicy],
		visible:  alwaysVisible[*cdpPolicy],
		uid:      cdpPolicyUID,
		entity:   writeCdpPolicyEntity,
		ref:      writeCdpPolicyRef,
	}
	cdpSessionQuery = queryKind[*cdpSession]{
		typeName: "CdpReplicaSession",
		listName: "CdpReplicaSessions",
		fields:   cdpSessionFields,
		items:    func(d *dataset, _ time.Time) []*cdpSession { return d.cdp.sessions },
		creation: cdpSessionCreation,
		visible:  alwaysVisible[*cdpSession],
		uid:      cdpSessionUID,
		entity:   writeCdpSessionEntity,
		ref:      writeCdpSessionRef,
	}
	cdpTaskQuery = queryKind[*cdpTask]{
		typeName: "CdpReplicaTaskSession",
		listName: "CdpReplicaTaskSessions",
		fields:   cdpTaskFields,
		items:    func(d *dataset, _ time.Time) []*cdpTask { return d.cdp.tasks },
		creation: cdpTaskCreation,
		visible:  alwaysVisible[*cdpTask],
		uid:      cdpTaskUID,
		entity:   writeCdpTaskEntity,
		ref:      writeCdpTaskRef,
	}
)

var cdpPolicyFields = fieldSet[*cdpPolicy]{
	{name: "UID", value: func(p *cdpPolicy, _ time.Time) (fieldValue, bool) { return textValue(cdpPolicyUID(p)) }},
	{name: "Name", value: func(p *cdpPolicy, _ time.Time) (fieldValue, bool) { return textValue(p.name) }},
	{name: "Description", value: func(p *cdpPolicy, _ time.Time) (fieldValue, bool) { return textValue(p.description) }},
	{name: "NextRun", kind: fieldDateTime, value: func(p *cdpPolicy, now time.Time) (fieldValue, bool) { return timeValue(p.nextRunAt(now)) }},
	{name: "ScheduleConfigured", kind: fieldBool, value: func(*cdpPolicy, time.Time) (fieldValue, bool) { return boolValue(true) }},
	{name: "ScheduleEnabled", kind: fieldBool, value: func(*cdpPolicy, time.Time) (fieldValue, bool) { return boolValue(true) }},
	{name: "BackupServerUid", value: func(p *cdpPolicy, _ time.Time) (fieldValue, bool) { return textValue(serverUID(p.server)) }},
	{name: "BackupServerName", value: func(p *cdpPolicy, _ time.Time) (fieldValue, bool) { return textValue(p.server.name) }},
}

var cdpSessionFields = fieldSet[*cdpSession]{
	{name: "Id", value: func(s *cdpSession, _ time.Time) (fieldValue, bool) { return textValue(cdpSessionUID(s)) }},
	{name: "Name", value: func(s *cdpSession, _ time.Time) (fieldValue, bool) { return textValue(s.name()) }},
	{name: "PolicyUid", value: func(s *cdpSession, _ time.Time) (fieldValue, bool) { return textValue(cdpPolicyUID(s.policy)) }},
	{name: "PolicyName", value: func(s *cdpSession, _ time.Time) (fieldValue, bool) { return textValue(s.policy.name) }},
	{name: "BackupServerUid", value: func(s *cdpSession, _ time.Time) (fieldValue, bool) { return textValue(serverUID(s.policy.server)) }},
	{name: "BackupServerName", value: func(s *cdpSession, _ time.Time) (fieldValue, bool) { return textValue(s.policy.server.name) }},
	{name: "CreationTimeUTC", kind: fieldDateTime, value: func(s *cdpSession, _ time.Time) (fieldValue, bool) { return timeValue(s.creation) }},
	{name: "EndTimeUTC", kind: fieldDateTime, value: func(s *cdpSession, now time.Time) (fieldValue, bool) { return timeValue(s.endAt(now)) }},
	{name: "State", kind: fieldEnum, enum: jobStateNames, value: func(s *cdpSession, now time.Time) (fieldValue, bool) {
		state, _, _ := s.stateAt(now)
		return numberValue(int64(state))
	}},
	{name: "Result", kind: fieldEnum, enum: resultNames, value: func(s *cdpSession, now time.Time) (fieldValue, bool) {
		_, res, _ := s.stateAt(now)
		return numberValue(int64(res))
	}},
	{name: "FailureMessage", value: func(s *cdpSession, now time.Time) (fieldValue, bool) { return textValue(s.failureAt(now)) }},
}

var cdpTaskFields = fieldSet[*cdpTask]{
	{name: "Id", value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return textValue(cdpTaskUID(t)) }},
	{name: "Name", value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return textValue(t.name()) }},
	{name: "PolicySessionUid", value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return textValue(cdpSessionUID(t.session)) }},
	{name: "PolicySessionName", value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return textValue(t.session.name()) }},
	{name: "BackupServerUid", value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return textValue(serverUID(t.session.policy.server)) }},
	{name: "BackupServerName", value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return textValue(t.session.policy.server.name) }},
	{name: "CreationTimeUTC", kind: fieldDateTime, value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return timeValue(t.creation) }},
	{name: "EndTimeUTC", kind: fieldDateTime, value: func(t *cdpTask, now time.Time) (fieldValue, bool) { return timeValue(t.endAt(now)) }},
	{name: "State", kind: fieldEnum, enum: taskStateNames, value: func(t *cdpTask, now time.Time) (fieldValue, bool) {
		state, _ := t.stateAt(now)
		return numberValue(int64(state))
	}},
	{name: "Reason", value: func(t *cdpTask, now time.Time) (fieldValue, bool) { return textValue(t.reasonAt(now)) }},
	{name: "TotalSize", kind: fieldNumber, value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return numberValue(t.vm.totalSize) }},
	{name: "VmDisplayName", value: func(t *cdpTask, _ time.Time) (fieldValue, bool) { return textValue(t.vm.name) }},
}

func cdpPolicyUID(p *cdpPolicy) string   { return uidPrefix + "CdpPolicy:" + p.id.String() }
func cdpSessionUID(s *cdpSession) string { return uidPrefix + "CdpReplicaSession:" + s.id.String() }
func cdpTaskUID(t *cdpTask) string       { return uidPrefix + "CdpReplicaTaskSession:" + t.id.String() }

func cdpPolicyHref(base string, p *cdpPolicy) string {
	return base + "/api/cdpPolicies/" + p.id.String()
}

func cdpSessionHref(base string, s *cdpSession) string {
	return base + "/api/cdpReplicaSessions/" + s.id.String()
}

func cdpTaskHref(base string, t *cdpTask) string {
	return base + "/api/cdpReplicaTaskSessions/" + t.id.String()
}

// writeCdpPolicyEntity writes a CdpPolicy. Like a Job, its name is the
// entity's attribute and its VMs below have Name elements of their own. A
// corrupted one loses its UID, or has NextRun, ScheduleEnabled or
// ScheduleConfigured in words.
func writeCdpPolicyEntity(x xmlWriter, base string, p *cdpPolicy, now time.Time, bad corruptionKind) {
	pad := padded(p.id)
	href := cdpPolicyHref(base, p)
	x.open("CdpPolicy")
	x.attr("Type", "CdpPolicy")
	x.attr("Href", href+entityFormat)
	x.attr("Name", p.name)
	if bad != missingCreationTime {
		x.attr("UID", cdpPolicyUID(p))
	}
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, p.server), p.server.name)
	x.link("Alternate", "CdpPolicyReference", href, p.name)
	for _, action := range [...]string{"Start", "Stop", "ToggleScheduleEnabled"} {
		x.link(action, "Task", href+"?action="+strings.ToLower(action[:1])+action[1:], "")
	}
	x.link("Down", "CdpReplicaSessionReferenceList", href+"/cdpReplicaSessions", "")
	x.raw("</Links>")
	configured, enabled, next := "true", "true", p.nextRunAt(now).Format(netTimeLayout)
	switch bad {
	case badCreationTime:
		next = BadCreationTimeValue
	case unknownState:
		enabled = UnknownStateValue
	case unknownResult:
		configured = UnknownResultValue
	}
	x.element("PolicyType", cdpPolicyType, pad)
	x.element("Platform", p.platform, pad)
	x.element("Description", p.description, pad)
	x.element("ScheduleConfigured", configured, pad)
	x.element("ScheduleEnabled", enabled, pad)
	x.element("NextRun", next, pad)
	writeCdpScheduleOptions(x, p)
	x.raw("<PolicyInfo><Includes>")
	for i, vm := range p.vms {
		id := p.id.derived(int64(vm.index)).String()
		x.open("ObjectInPolicy")
		x.attr("Type", "ObjectInPolicy")
		x.attr("Href", href+"/includes/"+id)
		x.closeOpen()
		x.element("ObjectInPolicyId", id, false)
		x.element("HierarchyObjRef", vm.uid, false)
		x.element("Name", vm.name, false)
		x.element("DisplayName", vm.name, false)
		x.element("Order", strconv.Itoa(i), false)
		x.end("ObjectInPolicy")
	}
	x.raw("</Includes></PolicyInfo>")
	x.end("CdpPolicy")
	x.raw("\n")
}

// writeCdpScheduleOptions writes the documented options, each in one unit
// or the other: the RPO in minutes when whole, the short-term retention
// in hours when whole. The wrapping of RPOSchedule, RPOReporting and
// LongTermRetentionSchedule is not documented; clients find the values by
// name.
func writeCdpScheduleOptions(x xmlWriter, p *cdpPolicy) {
	value, unit := rpoValue(p.rpo)
	x.raw("<PolicyScheduleOptions>")
	x.element("RecoveryPointObjective"+unit, strconv.FormatInt(value, 10), false)
	x.raw(`<RPOSchedule Enabled="false"><Day>1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1</Day></RPOSchedule>`)
	x.raw("<RPOReporting>")
	x.element("WarningAfter"+unit, strconv.FormatInt(value, 10), false)
	x.element("ErrorAfter"+unit, strconv.FormatInt(2*value, 10), false)
	x.raw("</RPOReporting>")
	if p.shortTerm%time.Hour == 0 {
		x.element("ShortTermRetentionHours", strconv.Itoa(int(p.shortTerm/time.Hour)), false)
	} else {
		x.element("ShortTermRetentionMinutes", strconv.Itoa(int(p.shortTerm/time.Minute)), false)
	}
	x.element("LongTermRetentionHours", "8", false)
	x.element("LongTermRetentionKeepDays", "7", false)
	x.raw(`<LongTermRetentionSchedule Enabled="false"><Day>0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0</Day></LongTermRetentionSchedule>`)
	x.raw("</PolicyScheduleOptions>")
}

func writeCdpPolicyRef(x xmlWriter, base string, p *cdpPolicy) {
	writeInventoryRef(x, "CdpPolicyReference", "CdpPolicy", cdpPolicyHref(base, p), cdpPolicyUID(p), p.name)
}

func writeCdpSessionEntity(x xmlWriter, base string, s *cdpSession, now time.Time, bad corruptionKind) {
	state, res, progress := s.stateAt(now)
	name, href, p := s.name(), cdpSessionHref(base, s), s.policy
	x.open("CdpReplicaSession")
	x.attr("Type", "CdpReplicaSession")
	x.attr("Href", href+entityFormat)
	x.attr("Name", name)
	x.attr("UID", cdpSessionUID(s))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, p.server), p.server.name)
	x.link("Up", "CdpPolicyReference", cdpPolicyHref(base, p), p.name)
	x.link("Down", "CdpReplicaTaskSessionReferenceList", href+"/taskSessions", "")
	x.link("Alternate", "CdpReplicaSessionReference", href, name)
	x.raw("</Links>")
	x.element("PolicyUid", cdpPolicyUID(p), s.padded)
	x.element("PolicyName", p.name, s.padded)
	x.element("PolicyType", cdpPolicyType, s.padded)
	if creation, ok := bad.creationTime(emTime(s.creation)); ok {
		x.element("CreationTimeUTC", creation, s.padded)
	}
	if end := s.endAt(now); !end.IsZero() {
		x.element("EndTimeUTC", emTime(end), s.padded)
	}
	x.element("State", bad.state(state.String()), s.padded)
	x.element("Result", bad.result(res.String()), s.padded)
	x.element("Progress", strconv.Itoa(progress), s.padded)
	x.element("FailureMessage", s.failureAt(now), s.padded)
	x.element("IsRetry", "false", s.padded)
	x.end("CdpReplicaSession")
	x.raw("\n")
}

func writeCdpSessionRef(x xmlWriter, base string, s *cdpSession) {
	writeInventoryRef(x, "CdpReplicaSessionReference", "CdpReplicaSession", cdpSessionHref(base, s), cdpSessionUID(s), s.name())
}

func writeCdpTaskEntity(x xmlWriter, base string, t *cdpTask, now time.Time, bad corruptionKind) {
	state, res := t.stateAt(now)
	name, href, server := t.name(), cdpTaskHref(base, t), t.session.policy.server
	x.open("CdpReplicaTaskSession")
	x.attr("Type", "CdpReplicaTaskSession")
	x.attr("Href", href+entityFormat)
	x.attr("Name", name)
	x.attr("UID", cdpTaskUID(t))
	x.attr("VmDisplayName", t.vm.name)
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, server), server.name)
	x.link("Up", "CdpReplicaSessionReference", cdpSessionHref(base, t.session), t.session.name())
	x.link("Alternate", "CdpReplicaTaskSessionReference", href, name)
	x.raw("</Links>")
	x.element("PolicySessionUid", cdpSessionUID(t.session), t.padded)
	writeTaskOutcome(x, bad, taskOutcome{creation: t.creation, end: t.endAt(now), state: state.String(), result: res.String(),
		reason: t.reasonAt(now), size: t.vm.totalSize, padded: t.padded})
	x.end("CdpReplicaTaskSession")
	x.raw("\n")
}

func writeCdpTaskRef(x xmlWriter, base string, t *cdpTask) {
	writeInventoryRef(x, "CdpReplicaTaskSessionReference", "CdpReplicaTaskSession", cdpTaskHref(base, t), cdpTaskUID(t), t.name())
}
