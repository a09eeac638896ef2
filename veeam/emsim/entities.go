package emsim

import (
	"strconv"
	"time"
)

// The entity and reference representations of replica and backup
// sessions, in the element order of EM's schema. An entity shows its
// session as EM knows it at now, lagging for a late session.

// taskOutcome is what a task session of any kind, replica, backup or CDP,
// ends its entity with.
type taskOutcome struct {
	creation, end         time.Time // end zero while it runs
	state, result, reason string
	size                  int64
	padded                bool
}

// writeTaskOutcome writes o's elements, CreationTimeUTC to TotalSize, in
// the schema's order.
func writeTaskOutcome(x xmlWriter, bad corruptionKind, o taskOutcome) {
	if creation, ok := bad.creationTime(emTime(o.creation)); ok {
		x.element("CreationTimeUTC", creation, o.padded)
	}
	if !o.end.IsZero() {
		x.element("EndTimeUTC", emTime(o.end), o.padded)
	}
	x.element("State", bad.state(o.state), o.padded)
	x.element("Result", bad.result(o.result), o.padded)
	x.element("Reason", o.reason, o.padded)
	x.element("TotalSize", strconv.FormatInt(o.size, 10), o.padded)
}

func writeTaskEntity(x xmlWriter, base string, t *taskRun, now time.Time, bad corruptionKind) {
	now = t.shownAt(now)
	state, res := t.stateAt(now)
	name := t.name()
	kind := t.run.job.kind
	x.open(kind.taskType)
	x.attr("Type", kind.taskType)
	x.attr("Href", taskHref(base, t)+entityFormat)
	x.attr("Name", name)
	x.attr("UID", taskUID(t))
	x.attr("VmDisplayName", t.vm.name)
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, t.run.job.server), t.run.job.server.name)
	x.link("Up", kind.runRefType, runHref(base, t.run), t.run.name())
	x.link("Alternate", kind.taskRefType, taskHref(base, t), name)
	// Only a successful run leaves a replica restore point behind.
	if kind.replicaPoints && state == taskCompleted && res != resultFailed {
		x.link("Related", "VmReplicaPoint", replicaPointHref(base, t), t.vm.name+"@"+t.end.Format(nameTimeLayout))
	}
	x.raw("</Links>")
	x.element("JobSessionUid", runUID(t.run), t.padded)
	writeTaskOutcome(x, bad, taskOutcome{creation: t.creation, end: t.endAt(now), state: state.String(), result: res.String(),
		reason: t.reasonAt(now), size: t.vm.totalSize, padded: t.padded})
	if kind.withVMUIDs {
		x.element("VmUid", t.vm.uid, t.padded)
	}
	x.end(kind.taskType)
	x.raw("\n")
}

func writeTaskRef(x xmlWriter, base string, t *taskRun) {
	name := t.name()
	kind := t.run.job.kind
	x.open("Ref")
	x.attr("Type", kind.taskRefType)
	x.attr("Href", taskHref(base, t))
	x.attr("Name", name)
	x.attr("UID", taskUID(t))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Alternate", kind.taskType, taskHref(base, t)+entityFormat, name)
	x.raw("</Links>")
	x.end("Ref")
	x.raw("\n")
}

func writeJobEntity(x xmlWriter, base string, r *jobRun, now time.Time, bad corruptionKind) {
	now = r.shownAt(now)
	state, res, progress := r.stateAt(now)
	name := r.name()
	kind := r.job.kind
	x.open(kind.runType)
	x.attr("Type", kind.runType)
	x.attr("Href", runHref(base, r)+entityFormat)
	x.attr("Name", name)
	x.attr("UID", runUID(r))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, r.job.server), r.job.server.name)
	x.link("Up", "JobReference", jobHref(base, r.job), r.job.name)
	x.link("Down", kind.taskListType, runHref(base, r)+kind.taskListSuffix, "")
	x.link("Alternate", kind.runRefType, runHref(base, r), name)
	x.raw("</Links>")
	x.element("JobUid", jobUID(r.job), r.padded)
	x.element("JobName", r.job.name, r.padded)
	x.element("JobType", r.job.jobType, r.padded)
	if creation, ok := bad.creationTime(emTime(r.creation)); ok {
		x.element("CreationTimeUTC", creation, r.padded)
	}
	if end := r.endAt(now); !end.IsZero() {
		x.element("EndTimeUTC", emTime(end), r.padded)
	}
	x.element("State", bad.state(state.String()), r.padded)
	x.element("Result", bad.result(res.String()), r.padded)
	x.element("Progress", strconv.Itoa(progress), r.padded)
	x.element("IsRetry", strconv.FormatBool(r.isRetry()), r.padded)
	x.end(kind.runType)
	x.raw("\n")
}

func writeJobRef(x xmlWriter, base string, r *jobRun) {
	name := r.name()
	kind := r.job.kind
	x.open("Ref")
	x.attr("Type", kind.runRefType)
	x.attr("Href", runHref(base, r))
	x.attr("Name", name)
	x.attr("UID", runUID(r))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Alternate", kind.runType, runHref(base, r)+entityFormat, name)
	x.raw("</Links>")
	x.end("Ref")
	x.raw("\n")
}
