package veeam

import (
	"bytes"
	"time"
)

// The fields of the inventory entities the exporter reads, in schema order.
const (
	repoUID = iota
	repoName
	repoBackupServer
	repoCapacity
	repoFreeSpace
	repoKind
)

const (
	jobEntityUID = iota
	jobEntityName
	jobEntityBackupServer
	jobEntityJobType
	jobEntityPlatform
	jobEntityDescription
	jobEntityScheduleConfigured
	jobEntityScheduleEnabled
	jobEntityNextRun
)

const (
	serverUID = iota
	serverName
	serverDescription
	serverPort
	serverVersion
)

// Only direct children are read (see rawEntity.read): the Name elements of
// the objects in a Job's JobInfo, and whatever JobScheduleOptions holds,
// are deeper and never mistaken for the job's own fields.
var (
	repositorySchema = &entitySchema{
		attrs:    []string{"UID", "Name"},
		upLinks:  []string{"BackupServerReference"},
		children: []string{"Capacity", "FreeSpace", "Kind"},
	}
	jobEntitySchema = &entitySchema{
		attrs:    []string{"UID", "Name"},
		upLinks:  []string{"BackupServerReference"},
		children: []string{"JobType", "Platform", "Description", "ScheduleConfigured", "ScheduleEnabled", "NextRun"},
	}
	backupServerSchema = &entitySchema{
		attrs:    []string{"UID", "Name"},
		children: []string{"Description", "Port", "Version"},
	}
)

var (
	decodeRepository   = entityDecoder[Repository]{schema: repositorySchema, build: buildRepository}
	decodeJob          = entityDecoder[Job]{schema: jobEntitySchema, build: buildJob}
	decodeBackupServer = entityDecoder[BackupServer]{schema: backupServerSchema, build: buildBackupServer}
)

// buildRepository maps a Repository entity; ok is false without a UID or a
// Name, or with a size that is not a number.
func buildRepository(e *rawEntity, strs *interner) (r Repository, ok bool) {
	own := e.ownStrings(repoUID, repoName, -1)
	r = Repository{
		UID:              own[0],
		Name:             own[1],
		BackupServerName: strs.get(e.trimmed(repoBackupServer)),
		Kind:             strs.get(e.trimmed(repoKind)),
	}
	var fields fieldParser
	r.Capacity = fields.size(e.trimmed(repoCapacity))
	r.FreeSpace = fields.size(e.trimmed(repoFreeSpace))
	return r, r.UID != "" && r.Name != "" && fields.ok()
}

// buildJob maps a Job entity; ok is false without a UID or a Name, or with
// a schedule flag or a NextRun that cannot be parsed.
func buildJob(e *rawEntity, strs *interner) (j Job, ok bool) {
	own := e.ownStrings(jobEntityUID, jobEntityName, jobEntityDescription)
	j = Job{
		UID:              own[0],
		Name:             own[1],
		Description:      own[2],
		BackupServerName: strs.get(e.trimmed(jobEntityBackupServer)),
		JobType:          strs.get(e.trimmed(jobEntityJobType)),
		Platform:         strs.get(e.trimmed(jobEntityPlatform)),
	}
	var fields fieldParser
	j.ScheduleConfigured = fields.flag(string(e.trimmed(jobEntityScheduleConfigured)))
	j.ScheduleEnabled = fields.flag(string(e.trimmed(jobEntityScheduleEnabled)))
	j.NextRun = fields.timestampBytes(e.trimmed(jobEntityNextRun), false)
	// .NET writes an unset DateTime as year 1: no next run either.
	if j.NextRun.Year() <= 1 {
		j.NextRun = time.Time{}
	}
	return j, j.UID != "" && j.Name != "" && fields.ok()
}

// buildBackupServer maps a BackupServer entity; ok is false without a UID
// or a Name, or with a Port that is not a number.
func buildBackupServer(e *rawEntity, strs *interner) (s BackupServer, ok bool) {
	own := e.ownStrings(serverUID, serverName, serverDescription)
	s = BackupServer{
		UID:         own[0],
		Name:        own[1],
		Description: own[2],
		Version:     strs.get(e.trimmed(serverVersion)),
	}
	var fields fieldParser
	port := fields.numberBytes(e.trimmed(serverPort))
	if port < 0 || port > 65535 {
		fields.bad = true
	}
	s.Port = int(port)
	return s, s.UID != "" && s.Name != "" && fields.ok()
}

// size parses an optional count of bytes: absent, empty or negative (EM
// writes -1) is unknown.
func (f *fieldParser) size(b []byte) Optional[int64] {
	if len(b) == 0 || b[0] == '-' && bytes.IndexFunc(b[1:], notDigit) < 0 {
		return Optional[int64]{}
	}
	n := f.numberBytes(b)
	if !f.ok() {
		return Optional[int64]{}
	}
	return Known(n)
}

func notDigit(r rune) bool { return r < '0' || r > '9' }
