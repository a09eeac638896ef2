package emsim

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"
)

// site is one running simulator and the credentials it accepts.
type site struct {
	sim                *Running
	client             *http.Client
	username, password string
}

func startSite(t *testing.T, username, password string, topo Topology, clock Clock) site {
	t.Helper()
	// The same seed for both sites: the topology alone must set them apart.
	sim, err := Start(Config{Seed: 42, Username: username, Password: password, Clock: clock, Topology: topo}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool}}
	t.Cleanup(transport.CloseIdleConnections)
	return site{sim: sim, client: &http.Client{Timeout: 10 * time.Second, Transport: transport}, username: username, password: password}
}

// logon returns the status and the session token.
func (s site) logon(t *testing.T, username, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.sim.URL+"/api/sessionMngr/?v=latest", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(username, password)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(sessionHeader)
}

func (s site) get(t *testing.T, token, rawQuery string) response {
	t.Helper()
	h := &harness{t: t, sim: s.sim, http: s.client}
	return h.mustDo(http.MethodGet, "/api/query?"+rawQuery, token, nil)
}

// TestTwoSites runs two Enterprise Managers side by side, as a multi-target
// test does: each accepts only its own credentials and tokens and serves
// only its own estate.
func TestTwoSites(t *testing.T) {
	clock := NewManualClock(testStart)
	east := startSite(t, "restuser@corp.local", "east-Pa55", TestTopology(), clock)
	dr := startSite(t, `DR\svc-veeam`, "dr-Pa55", SecondSiteTopology(), clock)

	tokens := map[string]string{}
	for name, s := range map[string]site{"east": east, "dr": dr} {
		status, token := s.logon(t, s.username, s.password)
		if status != http.StatusCreated || token == "" {
			t.Fatalf("%s: logon with its own credentials answered %d", name, status)
		}
		tokens[name] = token
	}
	for _, tc := range []struct {
		name               string
		s                  site
		username, password string
	}{
		{"dr's credentials on east", east, dr.username, dr.password},
		{"east's credentials on dr", dr, east.username, east.password},
		{"east's user with dr's password", east, east.username, dr.password},
	} {
		if status, _ := tc.s.logon(t, tc.username, tc.password); status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, status)
		}
	}
	if east.sim.FailedLogons() != 2 || dr.sim.FailedLogons() != 1 || east.sim.Logons() != 1 || dr.sim.Logons() != 1 {
		t.Errorf("logons east %d/%d failed, dr %d/%d failed", east.sim.Logons(), east.sim.FailedLogons(), dr.sim.Logons(), dr.sim.FailedLogons())
	}
	if resp := dr.get(t, tokens["east"], "type=ReplicaTaskSession&pageSize=1"); resp.status != http.StatusUnauthorized {
		t.Errorf("east's token on dr: %d, want 401", resp.status)
	}

	// Every name and UID one site serves is its own.
	owners := map[string]string{}
	for name, s := range map[string]site{"east": east, "dr": dr} {
		for _, typ := range []string{"ReplicaTaskSession", "BackupTaskSession"} {
			doc := decodeQuery(t, s.get(t, tokens[name], "type="+typ+"&format=Entities&pageSize=10000").body)
			tasks := doc.Tasks
			for _, b := range doc.BackupTasks {
				tasks = append(tasks, b.taskDoc)
			}
			want := len(s.sim.TaskSessions(testStart))
			if typ == "BackupTaskSession" {
				want = len(s.sim.BackupTaskSessions(testStart))
			}
			if len(tasks) != want || want == 0 {
				t.Errorf("%s %s: %d over HTTP, want %d", name, typ, len(tasks), want)
			}
			for _, task := range tasks {
				server, _ := findLink(task.Links, "Up", "BackupServerReference")
				for _, key := range []string{"vm:" + task.VmDisplayName, "server:" + server.Name, "uid:" + task.UID} {
					if owner, seen := owners[key]; seen && owner != name {
						t.Fatalf("%s is served by %s and %s", key, owner, name)
					}
					owners[key] = name
				}
				if dr := strings.HasSuffix(server.Name, ".dr.corp.local"); dr != (name == "dr") {
					t.Fatalf("%s serves backup server %s", name, server.Name)
				}
			}
		}
	}
}

func TestSecondSiteTopology(t *testing.T) {
	s := newTestServer(t, 42, SecondSiteTopology(), NewManualClock(testStart))
	servers, jobs, vms := HardNames()
	hard := map[string]bool{}
	for _, n := range append(append(servers, jobs...), vms...) {
		hard[n] = true
	}
	replicas, backups := s.TaskSessions(testStart), s.BackupTaskSessions(testStart)
	if len(replicas) == 0 || len(backups) == 0 || len(s.BackupJobSessions(testStart)) == 0 {
		t.Fatalf("%d replica and %d backup task sessions, want both", len(replicas), len(backups))
	}
	for _, ts := range append(replicas, backups...) {
		if hard[ts.VM] || hard[ts.JobName] || hard[ts.BackupServer] || !strings.HasPrefix(ts.VM, "dr-") || !strings.HasPrefix(ts.JobName, "DR ") {
			t.Fatalf("second site session with names %q %q %q", ts.BackupServer, ts.JobName, ts.VM)
		}
	}
}
