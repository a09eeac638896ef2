package collector

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

var cdpPolicyFamilies = []string{"veeam_em_cdp_policy_info", "veeam_em_cdp_policy_schedule_enabled", "veeam_em_cdp_policy_rpo_seconds"}

// cdpSessionFamilies are the CDP session families of the list.
var cdpSessionFamilies = []string{
	"veeam_em_cdp_policy_last_state", "veeam_em_cdp_policy_last_result", "veeam_em_cdp_policy_sessions_total",
	"veeam_em_cdp_task_last_state", "veeam_em_cdp_task_last_result", "veeam_em_cdp_task_last_end_timestamp_seconds",
	"veeam_em_cdp_task_last_completion_timestamp_seconds", "veeam_em_cdp_task_sessions_total",
}

// asCDP turns replica sessions into CDP sessions: a policy session per job
// session, its policy named as the job.
func asCDP(tasks []veeam.ReplicaTaskSession, jobs []veeam.ReplicaJobSession) ([]veeam.CdpReplicaTaskSession, []veeam.CdpReplicaSession) {
	cdpTasks := make([]veeam.CdpReplicaTaskSession, len(tasks))
	for i, t := range tasks {
		t.UID = strings.Replace(t.UID, "ReplicaTaskSession", "CdpReplicaTaskSession", 1)
		t.JobSessionUID = strings.Replace(t.JobSessionUID, "ReplicaJobSession", "CdpReplicaSession", 1)
		cdpTasks[i] = veeam.CdpReplicaTaskSession{ReplicaTaskSession: t}
	}
	cdpJobs := make([]veeam.CdpReplicaSession, len(jobs))
	for i, j := range jobs {
		j.UID = strings.Replace(j.UID, "ReplicaJobSession", "CdpReplicaSession", 1)
		j.JobUID = strings.Replace(j.JobUID, "Job", "CdpPolicy", 1)
		j.JobType = "CdpReplica"
		cdpJobs[i] = veeam.CdpReplicaSession{ReplicaJobSession: j}
	}
	return cdpTasks, cdpJobs
}

// goldenCDPPolicies: an RPO in seconds, one in minutes, one EM does not
// give, a disabled policy, an open Platform string and hard names.
func goldenCDPPolicies() []veeam.CdpPolicy {
	return []veeam.CdpPolicy{
		{UID: "urn:veeam:CdpPolicy:1", Name: "CDP Tier 0", BackupServerName: vbr01, PolicyType: "CdpReplica", Platform: "VMware",
			ScheduleConfigured: true, ScheduleEnabled: true, RPO: veeam.Known(15 * time.Second)},
		{UID: "urn:veeam:CdpPolicy:2", Name: "CDP Tier 1", BackupServerName: vbr01, PolicyType: "CdpReplica", Platform: "vCloud",
			ScheduleConfigured: true, ScheduleEnabled: false, RPO: veeam.Known(5 * time.Minute)},
		{UID: "urn:veeam:CdpPolicy:3", Name: `CDP "Genève" \\nas01\veeam$`, BackupServerName: hardVBR, PolicyType: "CdpReplica", Platform: "CustomPlatform",
			ScheduleConfigured: true, ScheduleEnabled: true},
	}
}

func TestGoldenCDP(t *testing.T) {
	f := newInventoryFixture(t, CDP)
	f.src.cdpPolicies = goldenCDPPolicies()
	f.src.setCDP(asCDP(statesAndResults()))
	f.refresh(t)
	assertInventoryGolden(t, f.c, "cdp", append(append([]string(nil), cdpPolicyFamilies...), cdpSessionFamilies...))
}

// TestCDPMirrorsReplica: the same sessions give the same series as CDP
// sessions as they do as replica sessions, but for the family names.
func TestCDPMirrorsReplica(t *testing.T) {
	replica := newInventoryFixture(t, Replica)
	replica.src.set(statesAndResults())
	replica.refresh(t)
	cdp := newInventoryFixture(t, CDP)
	cdp.src.setCDP(asCDP(statesAndResults()))
	cdp.refresh(t)
	want := seriesText(t, replica, "veeam_em_replica_task_", "veeam_em_replica_job_")
	got := seriesText(t, cdp, "veeam_em_cdp_task_", "veeam_em_cdp_policy_")
	if !strings.Contains(want, "task_sessions_total{") {
		t.Fatalf("no replica series to compare with:\n%s", want)
	}
	if got != want {
		t.Errorf("CDP series differ from the replica ones:\nreplica:\n%s\nCDP:\n%s", want, got)
	}
}

// seriesText is the collector's sample lines of the task and job families,
// their prefixes cut, without help and type lines.
func seriesText(t *testing.T, f *fixture, taskPrefix, jobPrefix string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, mf := range gathered {
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, taskPrefix); ok {
			lines = append(lines, "task_"+rest)
		} else if rest, ok := strings.CutPrefix(line, jobPrefix); ok && !strings.HasPrefix(rest, "info") &&
			!strings.HasPrefix(rest, "schedule_enabled") && !strings.HasPrefix(rest, "rpo_seconds") {
			lines = append(lines, "job_"+rest)
		}
	}
	return strings.Join(lines, "\n")
}

// TestCDPLongRunningSession: a CDP session that runs for three days is
// followed from its creation to its end and counted once, at its end.
func TestCDPLongRunningSession(t *testing.T) {
	f := newInventoryFixture(t, CDP)
	created := t0.Add(-2 * time.Hour)
	j := jobRun("long", vbr01, "CDP Tier 0", created, 0, veeam.ResultNone, false)
	tk := running("long-vm", j, "sql01", created.Add(time.Second), veeam.TaskStateInProgress)
	f.src.setCDP(asCDP([]veeam.ReplicaTaskSession{tk}, []veeam.ReplicaJobSession{j}))
	lines := func() string {
		out, err := testutil.CollectAndFormat(f.c, expfmt.TypeTextPlain, "veeam_em_cdp_task_last_state", "veeam_em_cdp_task_sessions_total", "veeam_em_cdp_policy_sessions_total", "veeam_em_cdp_policy_last_state")
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	const (
		inProgress = `veeam_em_cdp_task_last_state{backup_server="vbr01.corp.local",job_name="CDP Tier 0",state="InProgress",vm="sql01"} 1`
		working    = `veeam_em_cdp_policy_last_state{backup_server="vbr01.corp.local",job_name="CDP Tier 0",state="Working"} 1`
		success    = `veeam_em_cdp_task_sessions_total{backup_server="vbr01.corp.local",job_name="CDP Tier 0",result="Success",vm="sql01"} `
		policyOK   = `veeam_em_cdp_policy_sessions_total{backup_server="vbr01.corp.local",job_name="CDP Tier 0",result="Success",retry="false"} `
	)
	// Three days of refreshes, one every 10 minutes.
	for step := time.Duration(0); step < 72*time.Hour; step += 10 * time.Minute {
		f.clock.Set(t0.Add(step))
		f.refresh(t)
		got := lines()
		if !strings.Contains(got, inProgress) || !strings.Contains(got, working) {
			t.Fatalf("after %v: the running session is not shown running:\n%s", step, got)
		}
		if strings.Contains(got, success+"1") || strings.Contains(got, policyOK+"1") {
			t.Fatalf("after %v: a running session counted:\n%s", step, got)
		}
	}
	// It ends.
	end := t0.Add(72 * time.Hour)
	tk.EndTime, tk.State, tk.Result = end, veeam.TaskStateCompleted, veeam.ResultSuccess
	j.EndTime, j.State, j.Result, j.Progress = end, veeam.JobStateStopped, veeam.ResultSuccess, 100
	f.src.setCDP(asCDP([]veeam.ReplicaTaskSession{tk}, []veeam.ReplicaJobSession{j}))
	for i := range 3 {
		f.clock.Set(end.Add(time.Duration(i+1) * time.Minute))
		f.refresh(t)
	}
	got := lines()
	if !strings.Contains(got, success+"1") || !strings.Contains(got, policyOK+"1") {
		t.Errorf("the session that ended is not counted once:\n%s", got)
	}
}
