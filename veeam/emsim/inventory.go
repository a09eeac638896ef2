package emsim

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// The inventory is what EM lists besides sessions: backup servers with
// their versions, repositories, and every job with its schedule, including
// one whose schedule was switched off and one that never ran. Its state at
// a moment (free space, next runs) derives from the clock and the planned
// sessions, so it stays deterministic per seed.

// The backup server versions the simulator mixes, as EM 12 and 13 report
// them.
var serverVersions = [...]struct {
	version     string
	port, wcf   int
	description string
}{
	{"12.3.2.4465", 9392, 9393, ""},
	{"13.0.1.2067", 443, 0, "Veeam Software Appliance"},
}

// Repository kinds, as the Kind element writes them.
const (
	kindWindowsLocal  = "WindowsLocal"
	kindLinuxLocal    = "LinuxLocal"
	kindCifsShare     = "CifsShare"
	kindObjectStorage = "AmazonS3Compatible"
)

const (
	defaultRepositoryName = "Default Backup Repository"
	// restorePointsKept is how long a repository keeps the data a backup
	// task writes: the sum over that window is its used space besides a
	// fixed base, so free space falls as backups complete and comes back
	// as retention deletes their restore points.
	restorePointsKept = 24 * time.Hour
	// nearlyFullFree is the share of the nearly full repository left free
	// on average.
	nearlyFullFree = 0.03
	tib            = int64(1) << 40
)

type repository struct {
	name   string
	id     guid
	kind   string
	server *backupServer
	// capacity is -1 for object storage, which reports no size.
	capacity int64
	// base is the space used besides the restore points of the last
	// restorePointsKept.
	base int64
}

func (r *repository) objectStorage() bool { return r.capacity < 0 }

// inventory holds what the estate adds to the jobs with sessions.
type inventory struct {
	servers      []*backupServer
	repositories []*repository // sorted by UID, as queries list them
	// jobs is every job EM lists, sorted by UID: those with sessions, the
	// disabled one and the one that never ran.
	jobs []*job
	// disabled and neverRun are the special jobs; nil when the topology
	// has none.
	disabled, neverRun *job
	// nearlyFull and objectStorage are the special repositories.
	nearlyFull, objectStorage *repository
}

// buildInventory completes the estate built by buildEstate: it places the
// special jobs in time (start is the clock's time at construction), gives
// every server its repositories and every backup job one of them.
func buildInventory(seed int64, topo Topology, e estate, start time.Time) *inventory {
	inv := &inventory{servers: e.servers, disabled: e.disabled, neverRun: e.neverRun}
	if e.disabled != nil {
		// Early in the history: a lookback shorter than five sixths of it
		// no longer holds the job's sessions at the start, as when a job
		// was switched off long enough ago to drop out of session views.
		e.disabled.until = start.Add(-topo.History * 5 / 6).Truncate(time.Second)
	}
	if e.neverRun != nil {
		// A monthly job created after this month's run: its first run is
		// at the start of next month, and stays there, missed, should the
		// clock pass it.
		y, m, _ := start.UTC().Date()
		e.neverRun.nextRun = time.Date(y, m+1, 1, 22, 0, 0, 0, time.UTC)
	}
	names := siteNames{site: topo.Site}
	byServer := make(map[*backupServer][]*repository, len(e.servers))
	for i, server := range e.servers {
		st := newStream(seed, kindRepository, int64(i))
		add := func(name, kind string) *repository {
			r := &repository{name: name, id: st.guid(), kind: kind, server: server}
			byServer[server] = append(byServer[server], r)
			inv.repositories = append(inv.repositories, r)
			return r
		}
		share := add(names.share(i, topo.WithHardNames), kindCifsShare)
		add(names.special(fmt.Sprintf("Linux Hardened Repository %02d", i+1)), kindLinuxLocal)
		add(defaultRepositoryName, kindWindowsLocal)
		if i == 0 {
			inv.nearlyFull = share
		}
		if i == len(e.servers)-1 {
			inv.objectStorage = add(names.special("S3 Wasabi eu-central-1"), kindObjectStorage)
			inv.objectStorage.capacity = -1
		}
	}
	// Each server's backup jobs write round-robin to its block
	// repositories, the first to the share; backup copy jobs to its object
	// storage, if it has one.
	written := map[*repository]float64{}
	dealt := map[*backupServer]int{}
	for _, j := range e.backup {
		repos := byServer[j.server]
		switch {
		case j.jobType == backupCopyJobType && repos[len(repos)-1].objectStorage():
			j.repository = repos[len(repos)-1]
		case !j.until.IsZero():
			// The disabled job wrote to the default repository, which has
			// room to spare, so the nearly full one stays nearly full.
			j.repository = repos[2]
		default:
			blocks := slices.DeleteFunc(slices.Clone(repos), (*repository).objectStorage)
			j.repository = blocks[dealt[j.server]%len(blocks)]
			dealt[j.server]++
		}
		// The disabled job wrote only before the window of the restore
		// points kept at the start.
		if j.until.IsZero() {
			written[j.repository] += expectedWrites(j)
		}
	}
	for _, r := range inv.repositories {
		if r.objectStorage() {
			continue
		}
		st := newStream(seed, kindRepositorySize, int64(slices.Index(inv.repositories, r)))
		free := 0.3 + 0.4*st.float()
		minimum := 2 * tib
		if r.kind == kindWindowsLocal {
			minimum = tib / 2
		}
		if r == inv.nearlyFull {
			free = nearlyFullFree
		}
		used := written[r]
		// Room for the restore points several times over, in whole TiB
		// (half TiB for the default repository); many times over for the
		// nearly full one, so that one run's writes move it by about 1 %.
		times := 3.0
		if r == inv.nearlyFull {
			times = 16
		}
		unit := float64(minimum)
		r.capacity = int64(max(unit, unit*float64(int64(times*used/unit)+1)))
		r.base = max(0, int64(float64(r.capacity)*(1-free)-used))
	}
	inv.jobs = append(append(append(inv.jobs, e.replica...), e.backup...), e.idle...)
	slices.SortFunc(inv.jobs, func(a, b *job) int { return strings.Compare(jobUID(a), jobUID(b)) })
	slices.SortFunc(inv.repositories, func(a, b *repository) int { return strings.Compare(repositoryUID(a), repositoryUID(b)) })
	return inv
}

// expectedWrites is what a job's successful runs write, on average, over
// restorePointsKept: 4 % of its VMs at each run.
func expectedWrites(j *job) float64 {
	var size float64
	for _, vm := range j.vms {
		size += float64(vm.totalSize)
	}
	runs := float64(restorePointsKept) / float64(j.interval)
	return runs * size * 0.04 * (1 - j.behaviour.failureRate)
}

// written is what one completed task wrote to its repository: 1 to 7 % of
// the VM, drawn from the task's identity.
func written(t *taskRun) int64 {
	if t.result == resultFailed {
		return 0
	}
	return t.vm.totalSize * int64(1+t.id[0]%7) / 100
}

// repositoryUse sums, by repository, what the backup tasks EM shows as
// completed within restorePointsKept before now wrote. The caller holds
// d.mu.
func (d *dataset) repositoryUse(now time.Time) map[*repository]int64 {
	use := map[*repository]int64{}
	since := now.Add(-restorePointsKept)
	// A task ending in the window started at most its longest duration and
	// its lag earlier.
	from := since.Add(-d.topo.Backup.TaskDurationMax - d.topo.maxLag() - time.Minute)
	tasks := existing(d.backup.tasks, now, taskCreation)
	first := sort.Search(len(tasks), func(i int) bool { return !tasks[i].creation.Before(from) })
	for _, t := range tasks[first:] {
		repo := t.run.job.repository
		if repo == nil || !t.visibleAt(now) {
			continue
		}
		if shown := t.shownAt(now); !shown.Before(t.end) && t.end.After(since) {
			use[repo] += written(t)
		}
	}
	return use
}

// freeSpace is what EM reports of r at now, given use from repositoryUse:
// -1 for object storage.
func (r *repository) freeSpace(use map[*repository]int64) int64 {
	if r.objectStorage() {
		return -1
	}
	return max(0, r.capacity-r.base-use[r])
}

// scheduleAt is whether the job's schedule is enabled at now and, if so,
// when it runs next: the start of its first slot after now. A job that
// never ran keeps its one planned run.
func (j *job) scheduleAt(now time.Time) (enabled bool, next time.Time) {
	switch {
	case !j.nextRun.IsZero():
		return true, j.nextRun
	case !j.until.IsZero() && !now.Before(j.until):
		return false, time.Time{}
	}
	interval, offset := int64(j.interval), int64(j.offset)
	slot := ceilDiv(now.UnixNano()-offset+1, interval)
	return true, time.Unix(0, slot*interval+offset).UTC()
}
