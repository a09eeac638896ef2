package emsim

import (
	"fmt"
	"time"
)

// The unprotected VM (Topology.UnprotectedVM) left every job it was in some
// time before the simulator's start, as when an administrator excludes a
// VM or moves it out of the jobs' folder: no run after that processes it,
// and its replica restore points stay behind and age.
//
// It is a VM of its own, added last to a replica job and to a backup job of
// the same server, so that the other VMs stay as they were: the broken VMs,
// the hard names, and the timing of the other tasks, which the demo's
// promise of tasks starting and ending every minute rests on. Only the
// retries of its two jobs before it left may move, with the runs its tasks
// lengthened.

// unprotectedVM is the VM that left its jobs and where it was.
type unprotectedVM struct {
	vm     *virtualMachine
	server *backupServer
}

func (t Topology) validateUnprotectedVM() []error {
	if t.UnprotectedVM < 0 {
		return []error{fmt.Errorf("UnprotectedVM must not be negative, got %v", t.UnprotectedVM)}
	}
	return nil
}

// addUnprotectedVM adds the VM, numbered after the special jobs' VMs
// (vmCount is the number of VMs dealt to the replica jobs), to the last
// replica job dealt and to the first backup job of its server.
func addUnprotectedVM(seed int64, topo Topology, names siteNames, vcenter guid, vmCount int, e *estate) {
	if topo.UnprotectedVM == 0 {
		return
	}
	index := vmCount + 2
	st := newStream(seed, kindVM, int64(index))
	vm := &virtualMachine{index: index, name: names.vm(index), uid: vmUID(seed, vcenter, index), totalSize: int64(20+st.intn(481)) * gib}
	replicaJob := e.replica[topo.BackupServers*topo.JobsPerServer-1]
	replicaJob.vms = append(replicaJob.vms, vm)
	for _, j := range e.backup {
		// A backup copy job shares its source's VMs up to their count
		// then, so appending leaves it alone.
		if j.jobType == backupJobType && j.server == replicaJob.server && j != e.disabled {
			j.vms = append(j.vms, vm)
			break
		}
	}
	e.unprotected = &unprotectedVM{vm: vm, server: replicaJob.server}
}

// markUnprotected makes the VM leave its jobs UnprotectedVM before start.
func markUnprotected(topo Topology, e estate, start time.Time) *unprotectedVM {
	if e.unprotected != nil {
		e.unprotected.vm.leftAt = start.Add(-topo.UnprotectedVM).Truncate(time.Second)
	}
	return e.unprotected
}

// protectedAt returns the VMs still in their jobs at t: vms itself when
// none left.
func protectedAt(vms []*virtualMachine, t time.Time) []*virtualMachine {
	for i, vm := range vms {
		if vm.protectedAt(t) {
			continue
		}
		kept := append(make([]*virtualMachine, 0, len(vms)-1), vms[:i]...)
		for _, vm := range vms[i+1:] {
			if vm.protectedAt(t) {
				kept = append(kept, vm)
			}
		}
		return kept
	}
	return vms
}

func (vm *virtualMachine) protectedAt(t time.Time) bool {
	return vm.leftAt.IsZero() || t.Before(vm.leftAt)
}
