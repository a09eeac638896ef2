package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// TestSeriesCacheRebuildsOnlyChangedSeries refreshes without change, then
// with one VM's new session, and checks which series the cache built again.
func TestSeriesCacheRebuildsOnlyChangedSeries(t *testing.T) {
	f := newFixture(t)
	tasks, jobs := statesAndResults()
	f.src.set(tasks, jobs)
	f.refresh(t)
	testutil.CollectAndCount(f.c)
	web01 := taskKey{backupServer: "vbr01.corp.local", job: "Replica Job 1", vm: "web01"}
	db01 := taskKey{backupServer: "vbr01.corp.local", job: "Replica Job 1", vm: "db01"}
	web01Before, db01Before := replicaOf(f.c).series.tasks[web01].metrics, replicaOf(f.c).series.tasks[db01].metrics

	f.clock.Advance(5 * time.Minute)
	f.refresh(t)
	if replicaOf(f.c).state.changed {
		t.Fatal("a refresh that re-read the same sessions marked the state changed")
	}
	testutil.CollectAndCount(f.c)
	if replicaOf(f.c).series.tasks[web01].metrics != web01Before || replicaOf(f.c).series.tasks[db01].metrics != db01Before {
		t.Fatal("a refresh that changed nothing rebuilt task series")
	}

	j := jobRun("j8", web01.backupServer, web01.job, f.clock.Now(), 30*time.Second, veeam.ResultSuccess, false)
	f.src.set(append(tasks, done("t12", j, "web01", j.CreationTime, 20*time.Second, veeam.ResultSuccess)), append(jobs, j))
	f.clock.Advance(time.Minute)
	f.refresh(t)
	sessionSeries := testutil.CollectAndCount(f.c, "veeam_em_replica_task_sessions_total")
	if replicaOf(f.c).series.tasks[web01].metrics == web01Before {
		t.Error("the series of the VM with a new session was not rebuilt")
	}
	if replicaOf(f.c).series.tasks[db01].metrics != db01Before {
		t.Error("the series of a VM without a new session was rebuilt")
	}
	if want := 3 * 6; sessionSeries != want { // six VMs, three results each
		t.Errorf("task sessions series: got %d, want %d", sessionSeries, want)
	}
}
