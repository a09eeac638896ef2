package emsim

import (
	"fmt"
	"time"
)

// The estate is what does not change from run to run: backup servers, their
// replica and backup jobs with schedules, and the VMs each job processes.

type backupServer struct {
	name string
	id   guid
	// index picks the server's version in serverVersions.
	index int
}

type job struct {
	// index is unique among the jobs of one kind and keys their streams.
	index   int
	name    string
	id      guid
	jobType string // Replica, Backup, BackupCopy
	kind    *sessionKind
	server  *backupServer
	// interval is the job's schedule and offset where in each interval it
	// starts.
	interval, offset time.Duration
	behaviour        *runBehaviour
	vms              []*virtualMachine
	// broken VMs fail every run and every retry of this job, like a VM
	// removed from the inventory that is still in the job; nil for none.
	broken map[*virtualMachine]bool
	// until, when set, is when the job's schedule was switched off: it has
	// no run from then on.
	until time.Time
	// nextRun, when set, is the one run planned for a job that never ran.
	nextRun time.Time
	// repository is where a backup job writes; nil for replica jobs.
	repository *repository
}

type virtualMachine struct {
	index     int
	name      string
	uid       string // VmUid, the vCenter object reference
	totalSize int64  // provisioned bytes, the same on every run
	// leftAt, when set, is when the VM left all its jobs (UnprotectedVM).
	leftAt time.Time
}

const gib = 1 << 30

// estate holds the servers and the jobs of each kind; the VMs are shared.
// idle jobs have no sessions at all; disabled (among replica or backup)
// and neverRun (among idle) are the special jobs, nil when the topology
// asks for none.
type estate struct {
	servers               []*backupServer
	replica, backup, idle []*job
	disabled, neverRun    *job
	// unprotected is the VM that leaves its jobs; nil for none.
	unprotected *unprotectedVM
}

// siteSeed keeps the seed of the unnamed site, so the presets' data does
// not change, and derives another one for a named site.
func siteSeed(seed int64, site string) int64 {
	if site == "" {
		return seed
	}
	parts := []int64{kindSite}
	for _, r := range site {
		parts = append(parts, int64(r))
	}
	st := newStream(seed, parts...)
	return int64(st.next())
}

func buildEstate(seed int64, topo Topology) estate {
	names := siteNames{site: topo.Site}
	servers := make([]*backupServer, topo.BackupServers)
	for i := range servers {
		st := newStream(seed, kindServer, int64(i))
		name := names.server(i)
		if topo.WithHardNames && i < len(hardServerNames) {
			name = hardServerNames[i]
		}
		servers[i] = &backupServer{name: name, id: st.guid(), index: i}
	}

	replicaBehaviour := topo.replicaBehaviour()
	total := topo.BackupServers * topo.JobsPerServer
	jobs := make([]*job, 0, total)
	// Jobs are numbered round-robin over the servers so that the hard job
	// names land on different servers.
	for i := range total {
		st := newStream(seed, kindJob, int64(i))
		name := names.replicaJob(i)
		if topo.WithHardNames && i < len(hardJobNames) {
			name = hardJobNames[i]
		}
		vmCount := topo.minVMs() + st.intn(topo.VMsPerJob-topo.minVMs()+1)
		jobs = append(jobs, &job{
			index:     i,
			name:      name,
			id:        st.guid(),
			jobType:   replicaJobType,
			kind:      replicaKind,
			server:    servers[i%topo.BackupServers],
			interval:  topo.JobInterval,
			offset:    spread(topo.JobInterval, i, total),
			behaviour: replicaBehaviour,
			vms:       make([]*virtualMachine, vmCount),
		})
	}

	// VMs are dealt round-robin over the jobs for the same reason; the
	// topology check guarantees room for every hard VM name.
	vcenterStream := newStream(seed, kindVCenter)
	vcenter := vcenterStream.guid()
	vmIndex := 0
	for slot := 0; slot < topo.VMsPerJob; slot++ {
		for _, j := range jobs {
			if slot >= len(j.vms) {
				continue
			}
			st := newStream(seed, kindVM, int64(vmIndex))
			name := names.vm(vmIndex)
			if topo.WithHardNames && vmIndex < len(hardVMNames) {
				name = hardVMNames[vmIndex]
			}
			j.vms[slot] = &virtualMachine{index: vmIndex, name: name, uid: vmUID(seed, vcenter, vmIndex), totalSize: int64(20+st.intn(481)) * gib}
			vmIndex++
		}
	}
	for _, j := range jobs {
		j.broken = lastVMs(j.vms, vmIndex, topo.BrokenVMs)
	}
	e := estate{servers: servers, replica: jobs, backup: buildBackupJobs(seed, topo, names, servers, jobs, vmIndex)}
	addSpecialJobs(seed, topo, names, vcenter, vmIndex, &e)
	addUnprotectedVM(seed, topo, names, vcenter, vmIndex, &e)
	return e
}

// addSpecialJobs adds, as the topology asks, a backup job of the first
// server whose schedule gets switched off (a replica job when there are no
// backup jobs) and one of the last server that was created but never ran.
// Each has a VM of its own, numbered after the others, and streams of its
// own, so the other jobs' sessions do not change.
func addSpecialJobs(seed int64, topo Topology, names siteNames, vcenter guid, vmCount int, e *estate) {
	special := func(n int, name string, servers int) *job {
		st := newStream(seed, kindSpecialJob, int64(n))
		vmStream := newStream(seed, kindVM, int64(vmCount+n))
		vm := &virtualMachine{index: vmCount + n, name: names.vm(vmCount + n), uid: vmUID(seed, vcenter, vmCount+n),
			totalSize: int64(20+vmStream.intn(481)) * gib}
		j := &job{name: names.special(name), id: st.guid(), server: e.servers[servers], vms: []*virtualMachine{vm}}
		if topo.Backup.JobsPerServer > 0 {
			j.index, j.jobType, j.kind, j.interval, j.behaviour = len(e.backup), backupJobType, backupKind, topo.Backup.Interval, topo.Backup.behaviour()
		} else {
			j.index, j.jobType, j.kind, j.interval, j.behaviour = len(e.replica), replicaJobType, replicaKind, topo.JobInterval, topo.replicaBehaviour()
		}
		j.offset = (j.interval / 3).Truncate(time.Second)
		return j
	}
	if topo.DisabledJob {
		e.disabled = special(0, "File Server Backup (retired)", 0)
		if e.disabled.kind == backupKind {
			e.backup = append(e.backup, e.disabled)
		} else {
			e.replica = append(e.replica, e.disabled)
		}
	}
	if topo.NeverRunJob {
		e.neverRun = special(1, "New Application Backup", len(e.servers)-1)
		e.neverRun.interval = 30 * 24 * time.Hour
		e.idle = append(e.idle, e.neverRun)
	}
}

// buildBackupJobs deals the VMs of each server's replica jobs round-robin
// over the server's backup jobs, and gives each backup copy job the VMs of
// one of them. Backup jobs are numbered round-robin over the servers
// starting at the second one, so that a hard job name never names a replica
// and a backup job of the same server.
func buildBackupJobs(seed int64, topo Topology, names siteNames, servers []*backupServer, replicas []*job, vmCount int) []*job {
	b := topo.Backup
	if b.JobsPerServer == 0 {
		return nil
	}
	serverVMs := make(map[*backupServer][]*virtualMachine, len(servers))
	for slot := 0; slot < topo.VMsPerJob; slot++ {
		for _, j := range replicas {
			if slot < len(j.vms) {
				serverVMs[j.server] = append(serverVMs[j.server], j.vms[slot])
			}
		}
	}

	behaviour := b.behaviour()
	backups := len(servers) * b.JobsPerServer
	copies := len(servers) * b.CopyJobsPerServer
	jobs := make([]*job, 0, backups+copies)
	// byServer[s][k] is the k-th backup job of server s.
	byServer := make([][]*job, len(servers))
	for i := range backups {
		st := newStream(seed, kindBackupJob, int64(i))
		name := names.backupJob(i)
		if topo.WithHardNames && i < len(hardJobNames) {
			name = hardJobNames[i]
		}
		s := (i + 1) % len(servers)
		j := &job{
			index: i, name: name, id: st.guid(), jobType: backupJobType, kind: backupKind, server: servers[s],
			interval: b.Interval, offset: spread(b.Interval, i, backups), behaviour: behaviour,
		}
		byServer[s] = append(byServer[s], j)
		jobs = append(jobs, j)
	}
	for s, server := range servers {
		for k, vm := range serverVMs[server] {
			j := byServer[s][k%len(byServer[s])]
			j.vms = append(j.vms, vm)
		}
		for _, j := range byServer[s] {
			j.broken = lastVMs(j.vms, vmCount, b.BrokenVMs)
		}
	}
	for i := range copies {
		st := newStream(seed, kindBackupJob, int64(backups+i))
		s := (i + 1) % len(servers)
		source := byServer[s][i/len(servers)]
		jobs = append(jobs, &job{
			index: backups + i, name: names.backupCopyJob(i), id: st.guid(), jobType: backupCopyJobType, kind: backupKind,
			server: servers[s], interval: b.copyInterval(), offset: spread(b.copyInterval(), i, copies), behaviour: behaviour,
			vms: source.vms,
		})
	}
	return jobs
}

// spread is the offset of the i-th of n jobs spread evenly over interval.
func spread(interval time.Duration, i, n int) time.Duration {
	return (interval * time.Duration(i) / time.Duration(n)).Truncate(time.Second)
}

// lastVMs is the set of vms among the last count of all vmCount VMs dealt.
func lastVMs(vms []*virtualMachine, vmCount, count int) map[*virtualMachine]bool {
	var broken map[*virtualMachine]bool
	for _, vm := range vms {
		if vm.index >= vmCount-count {
			if broken == nil {
				broken = map[*virtualMachine]bool{}
			}
			broken[vm] = true
		}
	}
	return broken
}

// vmUID is a vSphere VM reference as Veeam writes it:
// urn:VMware:Vm:<vCenter instance UUID>.vm-<managed object number>. The
// numbers grow with the VM index, with gaps, as vCenter hands them out.
func vmUID(seed int64, vcenter guid, index int) string {
	st := newStream(seed, kindVMRef, int64(index))
	return fmt.Sprintf("urn:VMware:Vm:%s.vm-%d", vcenter, 1000+13*index+st.intn(13))
}
