package veeam

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// startBackupSimulator serves the test topology as of now, with a client
// paging it 20 entities at a time.
func startBackupSimulator(t *testing.T, now time.Time) (*emsim.Running, *Client) {
	t.Helper()
	const password = "backup-query-test"
	sim, err := emsim.Start(emsim.Config{
		Seed:     11,
		Username: testUser,
		Password: password,
		Clock:    emsim.NewManualClock(now),
		Topology: emsim.TestTopology(),
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c, err := New(Config{
		URL:      sim.URL,
		Username: testUser,
		Password: func() (string, error) { return password, nil },
		PageSize: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return sim, c
}

// inWindow is what the client's filter selects of a creation time.
func inWindow(w Window, created time.Time) bool {
	return !created.Before(w.Since) && created.Before(w.Until)
}

// backupTaskFromTruth is the session the client should decode from the
// simulator's ground truth.
func backupTaskFromTruth(t *testing.T, ts emsim.TaskSession) BackupTaskSession {
	t.Helper()
	state, okState := ParseTaskState(ts.State)
	result, okResult := ParseResult(ts.Result)
	if !okState || !okResult {
		t.Fatalf("ground truth %s has state %q and result %q", ts.UID, ts.State, ts.Result)
	}
	return BackupTaskSession{
		ReplicaTaskSession: ReplicaTaskSession{
			UID:              ts.UID,
			Name:             ts.Name,
			VMDisplayName:    ts.VM,
			BackupServerName: ts.BackupServer,
			JobSessionUID:    ts.JobSessionUID,
			JobSessionName:   ts.JobSessionName,
			CreationTime:     ts.Creation.UTC(),
			EndTime:          ts.End.UTC(),
			State:            state,
			Result:           result,
			Reason:           ts.Reason,
			TotalSize:        ts.TotalSize,
		},
		VMUID: ts.VMUID,
	}
}

func backupJobFromTruth(t *testing.T, js emsim.JobSession) BackupJobSession {
	t.Helper()
	state, okState := ParseJobState(js.State)
	result, okResult := ParseResult(js.Result)
	if !okState || !okResult {
		t.Fatalf("ground truth %s has state %q and result %q", js.UID, js.State, js.Result)
	}
	return BackupJobSession{ReplicaJobSession: ReplicaJobSession{
		UID:              js.UID,
		Name:             js.Name,
		JobUID:           js.JobUID,
		JobName:          js.JobName,
		JobType:          js.JobType,
		BackupServerName: js.BackupServer,
		CreationTime:     js.Creation.UTC(),
		EndTime:          js.End.UTC(),
		State:            state,
		Result:           result,
		Progress:         js.Progress,
		IsRetry:          js.IsRetry,
	}}
}

// checkAgainstTruth compares what a query returned with the ground truth
// of its window: the same sessions, field for field, oldest first.
func checkAgainstTruth[T any](t *testing.T, got collected[T], want map[string]T, uid func(*T) string, created func(*T) time.Time) {
	t.Helper()
	if got.Invalid != 0 || got.Pages < 2 {
		t.Errorf("%d invalid entities over %d pages, want none over several", got.Invalid, got.Pages)
	}
	if len(got.Items) != len(want) {
		t.Errorf("%d sessions, want %d", len(got.Items), len(want))
	}
	for i := range got.Items {
		item := &got.Items[i]
		w, ok := want[uid(item)]
		switch {
		case !ok:
			t.Errorf("session %s is not in the window's ground truth", uid(item))
		case any(*item) != any(w):
			t.Errorf("session %s:\ngot  %+v\nwant %+v", uid(item), *item, w)
		}
		if i > 0 && created(item).Before(created(&got.Items[i-1])) {
			t.Errorf("session %s comes after a newer one: want the oldest first", uid(item))
		}
	}
}

func TestBackupQueriesMatchTheSimulatorsGroundTruth(t *testing.T) {
	now := time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)
	sim, c := startBackupSimulator(t, now)
	w := Window{Since: now.Add(-9 * time.Hour), Until: now}

	wantTasks := map[string]BackupTaskSession{}
	running, withVMUID := 0, 0
	for _, ts := range sim.BackupTaskSessions(now) {
		if !inWindow(w, ts.Creation) {
			continue
		}
		wantTasks[ts.UID] = backupTaskFromTruth(t, ts)
		if ts.End.IsZero() {
			running++
		}
		if ts.VMUID != "" {
			withVMUID++
		}
	}
	wantJobs := map[string]BackupJobSession{}
	jobTypes := map[string]bool{}
	for _, js := range sim.BackupJobSessions(now) {
		if inWindow(w, js.Creation) {
			wantJobs[js.UID] = backupJobFromTruth(t, js)
			jobTypes[js.JobType] = true
		}
	}
	// Without these the comparison proves less than it claims.
	if running == 0 || withVMUID != len(wantTasks) || !jobTypes["Backup"] || !jobTypes["BackupCopy"] {
		t.Fatalf("window holds %d running tasks, %d of %d with VmUid, job types %v: pick another", running, withVMUID, len(wantTasks), jobTypes)
	}

	tasks, err := backupTasks(testContext(t), c, w)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstTruth(t, tasks, wantTasks,
		func(s *BackupTaskSession) string { return s.UID },
		func(s *BackupTaskSession) time.Time { return s.CreationTime })

	jobs, err := backupJobs(testContext(t), c, w)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstTruth(t, jobs, wantJobs,
		func(s *BackupJobSession) string { return s.UID },
		func(s *BackupJobSession) time.Time { return s.CreationTime })

	queried := map[string]int{}
	for _, r := range sim.Requests() {
		if r.Path == "/api/query" {
			queried[r.Type]++
		}
	}
	if queried["BackupTaskSession"] != tasks.Pages || queried["BackupJobSession"] != jobs.Pages || len(queried) != 2 {
		t.Errorf("query requests by type %v, want %d BackupTaskSession and %d BackupJobSession", queried, tasks.Pages, jobs.Pages)
	}
}

// Failures of backup queries name their query type, as replica ones do.
func TestBackupQueryErrorsNameTheirType(t *testing.T) {
	queries := map[string]func(c *Client) error{
		"BackupTaskSession": func(c *Client) error {
			_, err := backupTasks(testContext(t), c, Window{})
			return err
		},
		"BackupJobSession": func(c *Client) error {
			_, err := backupJobs(testContext(t), c, Window{})
			return err
		},
	}
	failures := []struct {
		name  string
		reply func(w http.ResponseWriter)
		check func(t *testing.T, typ string, err error)
	}{
		{
			name:  "server error",
			reply: func(w http.ResponseWriter) { writeEMError(w, http.StatusInternalServerError, "Query failed") },
			check: func(t *testing.T, typ string, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "query "+typ+" page 1") {
					t.Errorf("err = %v, want an *APIError naming query %s page 1", err, typ)
				}
			},
		},
		{
			name: "truncated page",
			reply: func(w http.ResponseWriter) {
				writeXML(w, `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities>`)
			},
			check: func(t *testing.T, typ string, err error) {
				var decErr *DecodeError
				if !errors.As(err, &decErr) || decErr.Type != typ || decErr.Page != 1 || !strings.Contains(err.Error(), "decode "+typ+" page 1") {
					t.Errorf("err = %v, want a *DecodeError for %s page 1", err, typ)
				}
			},
		},
	}
	for typ, query := range queries {
		for _, failure := range failures {
			t.Run(typ+" "+failure.name, func(t *testing.T) {
				f := newFakeEM(t, false)
				f.query = func(w http.ResponseWriter, r *http.Request) {
					if got := r.URL.Query().Get("type"); got != typ {
						t.Errorf("query type %q, want %q", got, typ)
					}
					failure.reply(w)
				}
				c := newTestClient(t, f, nil)
				t.Cleanup(c.Close)
				failure.check(t, typ, query(c))
			})
		}
	}
}
