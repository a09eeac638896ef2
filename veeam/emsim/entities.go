package emsim

import (
	"strconv"
	"time"
)

// The entity and reference representations of replica sessions, in the
// element order of EM's schema.

func writeTaskEntity(x xmlWriter, base string, t *taskRun, now time.Time) {
	state, res := t.stateAt(now)
	name := t.name()
	x.open("ReplicaTaskSession")
	x.attr("Type", "ReplicaTaskSession")
	x.attr("Href", taskHref(base, t)+entityFormat)
	x.attr("Name", name)
	x.attr("UID", taskUID(t))
	x.attr("VmDisplayName", t.vm.name)
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, t.run.job.server), t.run.job.server.name)
	x.link("Up", "ReplicaJobSessionReference", runHref(base, t.run), t.run.name())
	x.link("Alternate", "ReplicaTaskSessionReference", taskHref(base, t), name)
	// Only a successful run leaves a replica restore point behind.
	if state == taskCompleted && res != resultFailed {
		x.link("Related", "VmReplicaPoint", replicaPointHref(base, t), t.vm.name+"@"+t.end.Format(nameTimeLayout))
	}
	x.raw("</Links>")
	x.element("JobSessionUid", runUID(t.run), t.padded)
	x.element("CreationTimeUTC", emTime(t.creation), t.padded)
	if end := t.endAt(now); !end.IsZero() {
		x.element("EndTimeUTC", emTime(end), t.padded)
	}
	x.element("State", state.String(), t.padded)
	x.element("Result", res.String(), t.padded)
	x.element("Reason", t.reasonAt(now), t.padded)
	x.element("TotalSize", strconv.FormatInt(t.vm.totalSize, 10), t.padded)
	x.end("ReplicaTaskSession")
	x.raw("\n")
}

func writeTaskRef(x xmlWriter, base string, t *taskRun) {
	name := t.name()
	x.open("Ref")
	x.attr("Type", "ReplicaTaskSessionReference")
	x.attr("Href", taskHref(base, t))
	x.attr("Name", name)
	x.attr("UID", taskUID(t))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Alternate", "ReplicaTaskSession", taskHref(base, t)+entityFormat, name)
	x.raw("</Links>")
	x.end("Ref")
	x.raw("\n")
}

func writeJobEntity(x xmlWriter, base string, r *jobRun, now time.Time) {
	state, res, progress := r.stateAt(now)
	name := r.name()
	x.open("ReplicaJobSession")
	x.attr("Type", "ReplicaJobSession")
	x.attr("Href", runHref(base, r)+entityFormat)
	x.attr("Name", name)
	x.attr("UID", runUID(r))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, r.job.server), r.job.server.name)
	x.link("Up", "JobReference", jobHref(base, r.job), r.job.name)
	x.link("Down", "ReplicaTaskSessionReferenceList", runHref(base, r)+"/replicaTaskSessions", "")
	x.link("Alternate", "ReplicaJobSessionReference", runHref(base, r), name)
	x.raw("</Links>")
	x.element("JobUid", jobUID(r.job), r.padded)
	x.element("JobName", r.job.name, r.padded)
	x.element("JobType", replicaJobType, r.padded)
	x.element("CreationTimeUTC", emTime(r.creation), r.padded)
	if end := r.endAt(now); !end.IsZero() {
		x.element("EndTimeUTC", emTime(end), r.padded)
	}
	x.element("State", state.String(), r.padded)
	x.element("Result", res.String(), r.padded)
	x.element("Progress", strconv.Itoa(progress), r.padded)
	x.element("IsRetry", strconv.FormatBool(r.isRetry()), r.padded)
	x.end("ReplicaJobSession")
	x.raw("\n")
}

func writeJobRef(x xmlWriter, base string, r *jobRun) {
	name := r.name()
	x.open("Ref")
	x.attr("Type", "ReplicaJobSessionReference")
	x.attr("Href", runHref(base, r))
	x.attr("Name", name)
	x.attr("UID", runUID(r))
	x.closeOpen()
	x.raw("<Links>")
	x.link("Alternate", "ReplicaJobSession", runHref(base, r)+entityFormat, name)
	x.raw("</Links>")
	x.end("Ref")
	x.raw("\n")
}
