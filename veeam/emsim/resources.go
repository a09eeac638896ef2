package emsim

// UIDs and Hrefs of the EM resources the simulator renders. Hrefs are built
// from the address the client used, as EM builds them from its own host name.

const uidPrefix = "urn:veeam:"

func taskUID(t *taskRun) string          { return uidPrefix + t.run.job.kind.taskType + ":" + t.id.String() }
func runUID(r *jobRun) string            { return uidPrefix + r.job.kind.runType + ":" + r.id.String() }
func jobUID(j *job) string               { return uidPrefix + "Job:" + j.id.String() }
func serverUID(b *backupServer) string   { return uidPrefix + "BackupServer:" + b.id.String() }
func repositoryUID(r *repository) string { return uidPrefix + "Repository:" + r.id.String() }

func repositoryHref(base string, r *repository) string {
	return base + "/api/repositories/" + r.id.String()
}

func taskHref(base string, t *taskRun) string {
	return base + "/api/" + t.run.job.kind.taskPath + "/" + t.id.String()
}

func runHref(base string, r *jobRun) string {
	return base + "/api/" + r.job.kind.runPath + "/" + r.id.String()
}

func jobHref(base string, j *job) string {
	return base + "/api/jobs/" + j.id.String()
}

func serverHref(base string, b *backupServer) string {
	return base + "/api/backupServers/" + b.id.String()
}

func replicaPointHref(base string, t *taskRun) string {
	return base + "/api/vmReplicaPoints/" + t.id.derived(kindReplicaPoint).String() + entityFormat
}

func logonSessionHref(base, id string) string {
	return base + "/api/logonSessions/" + id
}

const entityFormat = "?format=Entity"
