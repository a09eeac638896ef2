package emsim

import (
	"strconv"
	"strings"
	"time"
)

// The inventory's query types. Their entities are the state of the estate
// at the request's time, taken under the dataset's lock: views, not the
// estate itself, since free space and schedules move with the clock.

type repositoryView struct {
	*repository
	free int64 // -1 for object storage
}

type jobView struct {
	*job
	enabled bool
	next    time.Time // zero when the schedule is off
}

var (
	repositoryQuery = queryKind[*repositoryView]{
		typeName: "Repository",
		listName: "Repositories",
		fields:   repositoryFields,
		items:    repositoryViews,
		creation: noCreation[*repositoryView],
		visible:  alwaysVisible[*repositoryView],
		uid:      func(r *repositoryView) string { return repositoryUID(r.repository) },
		entity:   writeRepositoryEntity,
		ref:      writeRepositoryRef,
	}
	jobEntityQuery = queryKind[*jobView]{
		typeName: "Job",
		listName: "Jobs",
		fields:   jobEntityFields,
		items:    jobViews,
		creation: noCreation[*jobView],
		visible:  alwaysVisible[*jobView],
		uid:      func(j *jobView) string { return jobUID(j.job) },
		entity:   writeJobInventoryEntity,
		ref:      writeJobInventoryRef,
	}
	backupServerQuery = queryKind[*backupServer]{
		typeName: "BackupServer",
		listName: "BackupServers",
		fields:   backupServerFields,
		items:    func(d *dataset, _ time.Time) []*backupServer { return d.inventory.servers },
		creation: noCreation[*backupServer],
		visible:  alwaysVisible[*backupServer],
		uid:      serverUID,
		entity:   writeBackupServerEntity,
		ref:      writeBackupServerRef,
	}
)

// Inventory entities have no creation time: every one exists all along,
// and a query without a sort lists them by UID.
func noCreation[T any](T) time.Time          { return time.Time{} }
func alwaysVisible[T any](T, time.Time) bool { return true }

func repositoryViews(d *dataset, now time.Time) []*repositoryView {
	use := d.repositoryUse(now)
	views := make([]*repositoryView, len(d.inventory.repositories))
	for i, r := range d.inventory.repositories {
		views[i] = &repositoryView{repository: r, free: r.freeSpace(use)}
	}
	return views
}

func jobViews(d *dataset, now time.Time) []*jobView {
	views := make([]*jobView, len(d.inventory.jobs))
	for i, j := range d.inventory.jobs {
		enabled, next := j.scheduleAt(now)
		views[i] = &jobView{job: j, enabled: enabled, next: next}
	}
	return views
}

var repositoryFields = fieldSet[*repositoryView]{
	{name: "UID", value: func(r *repositoryView, _ time.Time) (fieldValue, bool) { return textValue(repositoryUID(r.repository)) }},
	{name: "Name", value: func(r *repositoryView, _ time.Time) (fieldValue, bool) { return textValue(r.name) }},
	{name: "Capacity", kind: fieldNumber, value: func(r *repositoryView, _ time.Time) (fieldValue, bool) { return numberValue(r.capacity) }},
	{name: "FreeSpace", kind: fieldNumber, value: func(r *repositoryView, _ time.Time) (fieldValue, bool) { return numberValue(r.free) }},
	{name: "BackupServerUid", value: func(r *repositoryView, _ time.Time) (fieldValue, bool) { return textValue(serverUID(r.server)) }},
	{name: "BackupServerName", value: func(r *repositoryView, _ time.Time) (fieldValue, bool) { return textValue(r.server.name) }},
}

var jobEntityFields = fieldSet[*jobView]{
	{name: "UID", value: func(j *jobView, _ time.Time) (fieldValue, bool) { return textValue(jobUID(j.job)) }},
	{name: "Name", value: func(j *jobView, _ time.Time) (fieldValue, bool) { return textValue(j.name) }},
	{name: "Description", value: func(j *jobView, _ time.Time) (fieldValue, bool) { return textValue(j.description()) }},
	{name: "NextRun", kind: fieldDateTime, value: func(j *jobView, _ time.Time) (fieldValue, bool) { return timeValue(j.next) }},
	{name: "JobType", value: func(j *jobView, _ time.Time) (fieldValue, bool) { return textValue(j.jobType) }},
	{name: "Platform", value: func(*jobView, time.Time) (fieldValue, bool) { return textValue(platformVMware) }},
	{name: "ScheduleConfigured", kind: fieldBool, value: func(*jobView, time.Time) (fieldValue, bool) { return boolValue(true) }},
	{name: "ScheduleEnabled", kind: fieldBool, value: func(j *jobView, _ time.Time) (fieldValue, bool) { return boolValue(j.enabled) }},
	{name: "BackupServerUid", value: func(j *jobView, _ time.Time) (fieldValue, bool) { return textValue(serverUID(j.server)) }},
	{name: "BackupServerName", value: func(j *jobView, _ time.Time) (fieldValue, bool) { return textValue(j.server.name) }},
}

var backupServerFields = fieldSet[*backupServer]{
	{name: "UID", value: func(b *backupServer, _ time.Time) (fieldValue, bool) { return textValue(serverUID(b)) }},
	{name: "Name", value: func(b *backupServer, _ time.Time) (fieldValue, bool) { return textValue(b.name) }},
	{name: "Description", value: func(b *backupServer, _ time.Time) (fieldValue, bool) { return textValue(b.version().description) }},
	// IpOrDnsName can be filtered on but is not returned.
	{name: "IpOrDnsName", value: func(b *backupServer, _ time.Time) (fieldValue, bool) { return textValue(b.name) }},
	{name: "Port", kind: fieldNumber, value: func(b *backupServer, _ time.Time) (fieldValue, bool) { return numberValue(int64(b.version().port)) }},
	// Version compares as a string, as EM's does.
	{name: "Version", value: func(b *backupServer, _ time.Time) (fieldValue, bool) { return textValue(b.version().version) }},
}

const platformVMware = "VMware"

func (b *backupServer) version() struct {
	version     string
	port, wcf   int
	description string
} {
	return serverVersions[b.index%len(serverVersions)]
}

// padded: some entities write their values with surrounding spaces, as
// some real answers do.
func padded(id guid) bool { return id[1]%5 == 0 }

func (j *job) description() string {
	switch {
	case !j.until.IsZero():
		return "Retired: the file server moved to the new cluster; kept for its restore points."
	case !j.nextRun.IsZero():
		return "Created for the ERP rollout; runs monthly."
	}
	return `Created by CORP\veeam-admin at 04.02.2024 10:12.`
}

// The bad values of a corrupted inventory entity (Fault.Corrupt): a
// missing UID, or a number, time or flag in words, each of which makes
// the entity one a client must skip.

func writeRepositoryEntity(x xmlWriter, base string, r *repositoryView, _ time.Time, bad corruptionKind) {
	pad := padded(r.id)
	x.open("Repository")
	x.attr("Type", "Repository")
	x.attr("Href", repositoryHref(base, r.repository)+entityFormat)
	x.attr("Name", r.name)
	if bad != missingCreationTime {
		x.attr("UID", repositoryUID(r.repository))
	}
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, r.server), r.server.name)
	x.link("Alternate", "RepositoryReference", repositoryHref(base, r.repository), r.name)
	x.link("Down", "BackupReferenceList", repositoryHref(base, r.repository)+"/backups", "")
	x.link("Down", "ReplicaReferenceList", repositoryHref(base, r.repository)+"/replicas", "")
	x.raw("</Links>")
	capacity, free := strconv.FormatInt(r.capacity, 10), strconv.FormatInt(r.free, 10)
	switch bad {
	case badCreationTime:
		capacity = BadCreationTimeValue
	case unknownState, unknownResult:
		free = UnknownResultValue
	}
	x.element("Capacity", capacity, pad)
	x.element("FreeSpace", free, pad)
	x.element("Kind", r.kind, pad)
	x.end("Repository")
	x.raw("\n")
}

func writeRepositoryRef(x xmlWriter, base string, r *repositoryView) {
	writeInventoryRef(x, "RepositoryReference", "Repository", repositoryHref(base, r.repository), repositoryUID(r.repository), r.name)
}

func writeInventoryRef(x xmlWriter, refType, entityType, href, uid, name string) {
	x.open("Ref")
	x.attr("Type", refType)
	x.attr("Href", href)
	x.attr("Name", name)
	x.attr("UID", uid)
	x.closeOpen()
	x.raw("<Links>")
	x.link("Alternate", entityType, href+entityFormat, name)
	x.raw("</Links>")
	x.end("Ref")
	x.raw("\n")
}

// writeJobInventoryEntity writes a Job as EM does: the job's name is the
// entity's attribute, and the included VMs below it have Name elements of
// their own.
func writeJobInventoryEntity(x xmlWriter, base string, j *jobView, now time.Time, bad corruptionKind) {
	pad := padded(j.id)
	href := jobHref(base, j.job)
	x.open("Job")
	x.attr("Type", "Job")
	x.attr("Href", href+entityFormat)
	x.attr("Name", j.name)
	if bad != missingCreationTime {
		x.attr("UID", jobUID(j.job))
	}
	x.closeOpen()
	x.raw("<Links>")
	x.link("Up", "BackupServerReference", serverHref(base, j.server), j.server.name)
	x.link("Alternate", "JobReference", href, j.name)
	x.link("Edit", "JobReference", href+"?action=edit", j.name)
	for _, action := range [...]string{"Start", "Stop", "Retry", "ToggleScheduleEnabled"} {
		x.link(action, "Task", href+"?action="+strings.ToLower(action[:1])+action[1:], "")
	}
	x.link("Down", "ObjectInJobReferenceList", href+"/includes", "")
	x.link("Down", j.kind.runType+"ReferenceList", href+"/"+j.kind.runPath, "")
	x.raw("</Links>")
	x.element("JobType", j.jobType, pad)
	x.element("Platform", platformVMware, pad)
	x.element("Description", j.description(), pad)
	configured, enabled := "true", strconv.FormatBool(j.enabled)
	switch bad {
	case unknownState:
		enabled = UnknownStateValue
	case unknownResult:
		configured = UnknownResultValue
	}
	x.element("ScheduleConfigured", configured, pad)
	x.element("ScheduleEnabled", enabled, pad)
	switch {
	case bad == badCreationTime:
		x.element("NextRun", BadCreationTimeValue, pad)
	case !j.next.IsZero():
		x.element("NextRun", j.next.Format("2006-01-02T15:04:05.0000000Z"), pad)
	case j.server.version().port == 443:
		// Whether EM leaves NextRun out or empty when there is none is
		// not known: a v13 server writes it empty, a v12 one leaves it out.
		x.element("NextRun", "", false)
	}
	writeScheduleOptions(x, j.job)
	writeJobInfo(x, base, j.job, now)
	x.end("Job")
	x.raw("\n")
}

// writeScheduleOptions writes the tree of schedule options EM gives every
// job; the simulator's jobs run periodically, or monthly for the one that
// never ran. Times are the backup server's local times.
func writeScheduleOptions(x xmlWriter, j *job) {
	monthly := !j.nextRun.IsZero()
	x.raw("<JobScheduleOptions><RetryOptions>")
	x.element("RetryTimes", strconv.Itoa(j.behaviour.maxRetries), false)
	x.element("RetryTimeout", strconv.Itoa(int(j.behaviour.retryDelay/time.Minute)), false)
	x.element("RetrySpecified", strconv.FormatBool(j.behaviour.maxRetries > 0), false)
	x.raw("</RetryOptions>")
	x.element("WaitForBackupCompletion", "true", false)
	x.element("BackupCompetitionWaitingPeriodMin", "180", false)
	x.raw(`<OptionsDaily Enabled="false"><Kind>Everyday</Kind><Days>Sunday</Days><Days>Monday</Days><Days>Tuesday</Days>` +
		`<Days>Wednesday</Days><Days>Thursday</Days><Days>Friday</Days><Days>Saturday</Days><Time>22:00:00.0000000+01:00</Time></OptionsDaily>`)
	x.raw(`<OptionsMonthly Enabled="` + strconv.FormatBool(monthly) + `"><Time>23:00:00.0000000+01:00</Time><DayNumberInMonth>First</DayNumberInMonth>` +
		`<DayOfWeek>Monday</DayOfWeek><Months>January</Months><Months>February</Months><Months>March</Months><Months>April</Months>` +
		`<Months>May</Months><Months>June</Months><Months>July</Months><Months>August</Months><Months>September</Months>` +
		`<Months>October</Months><Months>November</Months><Months>December</Months></OptionsMonthly>`)
	kind, period := "Minutes", int(j.interval/time.Minute)
	if j.interval%time.Hour == 0 {
		kind, period = "Hours", int(j.interval/time.Hour)
	}
	x.raw(`<OptionsPeriodically Enabled="` + strconv.FormatBool(!monthly) + `">`)
	x.element("Kind", kind, false)
	x.element("FullPeriod", strconv.Itoa(period), false)
	x.element("HourlyOffset", strconv.Itoa(int(j.offset/time.Minute)), false)
	x.raw(`<Schedule><Day>0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0</Day></Schedule></OptionsPeriodically>`)
	x.raw(`<OptionsContinuous Enabled="false"><Schedule><Day>1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1</Day></Schedule></OptionsContinuous>`)
	x.raw(`<OptionsBackupWindow Enabled="false"><BackupWindow><Day>1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1</Day></BackupWindow></OptionsBackupWindow>`)
	x.raw(`<OptionsDaisyChaining Enabled="false"/></JobScheduleOptions>`)
}

// writeJobInfo lists the job's VMs at now, each with its own Name.
func writeJobInfo(x xmlWriter, base string, j *job, now time.Time) {
	info := j.jobType + "JobInfo"
	x.raw("<JobInfo><" + info + "><Includes>")
	for i, vm := range protectedAt(j.vms, now) {
		id := j.id.derived(int64(vm.index)).String()
		x.open("ObjectInJob")
		x.attr("Type", "ObjectInJob")
		x.attr("Href", jobHref(base, j)+"/includes/"+id)
		x.closeOpen()
		x.element("ObjectInJobId", id, false)
		x.element("HierarchyObjRef", vm.uid, false)
		x.element("Name", vm.name, false)
		x.element("DisplayName", vm.name, false)
		x.element("Order", strconv.Itoa(i), false)
		x.end("ObjectInJob")
	}
	x.raw("</Includes></" + info + "></JobInfo>")
}

func writeJobInventoryRef(x xmlWriter, base string, j *jobView) {
	writeInventoryRef(x, "JobReference", "Job", jobHref(base, j.job), jobUID(j.job), j.name)
}

func writeBackupServerEntity(x xmlWriter, base string, b *backupServer, _ time.Time, bad corruptionKind) {
	v := b.version()
	href := serverHref(base, b)
	x.open("BackupServer")
	x.attr("Type", "BackupServer")
	x.attr("Href", href+entityFormat)
	x.attr("Name", b.name)
	if bad != missingCreationTime {
		x.attr("UID", serverUID(b))
	}
	x.closeOpen()
	x.raw("<Links>")
	x.link("Alternate", "BackupServerReference", href, b.name)
	x.link("Down", "JobReferenceList", href+"/jobs", "")
	x.link("Down", "RepositoryReferenceList", href+"/repositories", "")
	x.raw("</Links>")
	port := strconv.Itoa(v.port)
	if bad != intact && bad != missingCreationTime {
		port = BadCreationTimeValue
	}
	x.element("Description", v.description, false)
	x.element("Port", port, padded(b.id))
	x.element("Version", v.version, padded(b.id))
	x.element("WcfPort", strconv.Itoa(v.wcf), false)
	x.element("VbrCertificateThumbprint", strings.ToUpper(strings.ReplaceAll(b.id.derived(kindServer).String(), "-", ""))+"00000000", false)
	x.end("BackupServer")
	x.raw("\n")
}

func writeBackupServerRef(x xmlWriter, base string, b *backupServer) {
	writeInventoryRef(x, "BackupServerReference", "BackupServer", serverHref(base, b), serverUID(b), b.name)
}
