package veeam

import (
	"context"
	"fmt"
	"time"
)

// Optional is a value EM may not know. Its zero value is unknown, so a
// value EM left out can never pass for 0: reading it takes Get, which says
// whether there is one.
type Optional[T any] struct {
	value T
	known bool
}

// Known returns an Optional holding v.
func Known[T any](v T) Optional[T] { return Optional[T]{value: v, known: true} }

// Get returns the value and whether EM gave one.
func (o Optional[T]) Get() (T, bool) { return o.value, o.known }

// IsKnown reports whether EM gave a value.
func (o Optional[T]) IsKnown() bool { return o.known }

func (o Optional[T]) String() string {
	if !o.known {
		return "unknown"
	}
	return fmt.Sprint(o.value)
}

// Repository is a backup repository, as returned by the query type
// Repository with format=Entities.
type Repository struct {
	UID  string // urn:veeam:Repository:{guid}
	Name string // unique within one backup server only
	// BackupServerName is the Name of the Rel="Up" BackupServerReference
	// link.
	BackupServerName string
	// Kind is kept as EM writes it, only trimmed: WindowsLocal,
	// LinuxLocal, CifsShare, AmazonS3Compatible, or any other kind.
	Kind string
	// Capacity and FreeSpace are in bytes. They are unknown when EM
	// writes a negative value (object storage reports -1) or none.
	Capacity, FreeSpace Optional[int64]
}

// SizeKnown reports whether EM knows both the capacity and the free space.
func (r *Repository) SizeKnown() bool { return r.Capacity.IsKnown() && r.FreeSpace.IsKnown() }

// Job is a backup, backup copy or replica job, as returned by the query
// type Job with format=Entities, whether it ever ran or not.
type Job struct {
	UID string // urn:veeam:Job:{guid}
	// Name is the entity's Name attribute: the Name elements below the
	// entity belong to the objects the job includes.
	Name             string
	BackupServerName string
	// JobType (Backup, BackupCopy, Replica...) and Platform (VMware,
	// HyperV or Hyperv, vCloud, CustomPlatform...) are kept as EM writes
	// them, only trimmed.
	JobType, Platform  string
	Description        string
	ScheduleConfigured bool // false when EM leaves it out
	ScheduleEnabled    bool // false when EM leaves it out
	// NextRun is zero when EM gives no next run: the element is absent or
	// empty, or holds .NET's DateTime.MinValue (year 1).
	NextRun time.Time
}

// BackupServer is a Veeam Backup & Replication server EM manages, as
// returned by the query type BackupServer with format=Entities.
type BackupServer struct {
	UID         string // urn:veeam:BackupServer:{guid}
	Name        string
	Description string
	Version     string // as EM writes it, e.g. 12.3.2.4465
	Port        int    // 0 when EM leaves it out
}

// The query types of the estate's inventory.
const (
	RepositoryType   = "Repository"
	JobType          = "Job"
	BackupServerType = "BackupServer"
)

// byUID is the order of the inventory queries: UID is a filter field of
// every inventory type and unique, so the pages of an unchanged inventory
// neither overlap nor leave a gap.
const byUID = "sortAsc=UID"

var (
	repositoryQuery = entityQuery[Repository]{
		typ: RepositoryType, order: byUID, decode: decodeRepository,
		uid: func(r *Repository) string { return r.UID },
	}
	jobQuery = entityQuery[Job]{
		typ: JobType, order: byUID, decode: decodeJob,
		uid: func(j *Job) string { return j.UID },
	}
	backupServerQuery = entityQuery[BackupServer]{
		typ: BackupServerType, order: byUID, decode: decodeBackupServer,
		uid: func(s *BackupServer) string { return s.UID },
	}
)

// Repositories hands each page of every repository EM knows to each, by
// UID; see runQuery.
func (c *Client) Repositories(ctx context.Context, each func(Page[Repository]) error) (QueryStats, error) {
	return runQuery(ctx, c, repositoryQuery, nil, each)
}

// Jobs hands each page of every job EM knows to each, by UID; see runQuery.
func (c *Client) Jobs(ctx context.Context, each func(Page[Job]) error) (QueryStats, error) {
	return runQuery(ctx, c, jobQuery, nil, each)
}

// BackupServers hands each page of every backup server EM manages to each,
// by UID; see runQuery.
func (c *Client) BackupServers(ctx context.Context, each func(Page[BackupServer]) error) (QueryStats, error) {
	return runQuery(ctx, c, backupServerQuery, nil, each)
}
