package emsim

import "time"

// The estate is what does not change from run to run: backup servers, their
// replica jobs with schedules, and the VMs each job replicates.

type backupServer struct {
	name string
	id   guid
}

type replicaJob struct {
	index  int
	name   string
	id     guid
	server *backupServer
	// offset is where in each JobInterval the job is scheduled.
	offset time.Duration
	vms    []*virtualMachine
}

type virtualMachine struct {
	index     int
	name      string
	totalSize int64 // provisioned bytes, the same on every run
	// broken VMs fail every run and every retry, like a VM removed from
	// the inventory that is still in the job.
	broken bool
}

const gib = 1 << 30

func buildEstate(seed int64, topo Topology) []*replicaJob {
	servers := make([]*backupServer, topo.BackupServers)
	for i := range servers {
		st := newStream(seed, kindServer, int64(i))
		name := serverName(i)
		if topo.WithHardNames && i < len(hardServerNames) {
			name = hardServerNames[i]
		}
		servers[i] = &backupServer{name: name, id: st.guid()}
	}

	total := topo.BackupServers * topo.JobsPerServer
	jobs := make([]*replicaJob, 0, total)
	// Jobs are numbered round-robin over the servers so that the hard job
	// names land on different servers.
	for i := range total {
		st := newStream(seed, kindJob, int64(i))
		name := jobName(i)
		if topo.WithHardNames && i < len(hardJobNames) {
			name = hardJobNames[i]
		}
		vmCount := topo.minVMs() + st.intn(topo.VMsPerJob-topo.minVMs()+1)
		jobs = append(jobs, &replicaJob{
			index:  i,
			name:   name,
			id:     st.guid(),
			server: servers[i%topo.BackupServers],
			offset: (topo.JobInterval * time.Duration(i) / time.Duration(total)).Truncate(time.Second),
			vms:    make([]*virtualMachine, vmCount),
		})
	}

	// VMs are dealt round-robin over the jobs for the same reason; the
	// topology check guarantees room for every hard VM name.
	vmIndex := 0
	for slot := 0; slot < topo.VMsPerJob; slot++ {
		for _, j := range jobs {
			if slot >= len(j.vms) {
				continue
			}
			st := newStream(seed, kindVM, int64(vmIndex))
			name := vmName(vmIndex)
			if topo.WithHardNames && vmIndex < len(hardVMNames) {
				name = hardVMNames[vmIndex]
			}
			j.vms[slot] = &virtualMachine{index: vmIndex, name: name, totalSize: int64(20+st.intn(481)) * gib}
			vmIndex++
		}
	}
	for _, j := range jobs {
		for _, vm := range j.vms {
			vm.broken = vm.index >= vmIndex-topo.BrokenVMs
		}
	}
	return jobs
}
