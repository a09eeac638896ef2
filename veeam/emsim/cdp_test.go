package emsim

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type cdpPolicyDoc struct {
	Type               string    `xml:",attr"`
	Href               string    `xml:",attr"`
	Name               string    `xml:",attr"`
	UID                string    `xml:",attr"`
	Links              []linkDoc `xml:"Links>Link"`
	PolicyType         string
	Platform           string
	Description        string
	ScheduleConfigured string
	ScheduleEnabled    string
	NextRun            string
	RPOSeconds         *string  `xml:"PolicyScheduleOptions>RecoveryPointObjectiveSeconds"`
	RPOMinutes         *string  `xml:"PolicyScheduleOptions>RecoveryPointObjectiveMinutes"`
	ShortTermHours     *string  `xml:"PolicyScheduleOptions>ShortTermRetentionHours"`
	ShortTermMinutes   *string  `xml:"PolicyScheduleOptions>ShortTermRetentionMinutes"`
	VMs                []string `xml:"PolicyInfo>Includes>ObjectInPolicy>Name"`
}

type cdpSessionDoc struct {
	Type            string    `xml:",attr"`
	Href            string    `xml:",attr"`
	Name            string    `xml:",attr"`
	UID             string    `xml:",attr"`
	Links           []linkDoc `xml:"Links>Link"`
	PolicyUid       string
	PolicyName      string
	PolicyType      string
	CreationTimeUTC string
	EndTimeUTC      *string
	State           string
	Result          string
	Progress        string
	FailureMessage  string
	IsRetry         string
}

type cdpTaskDoc struct {
	Type             string    `xml:",attr"`
	Href             string    `xml:",attr"`
	Name             string    `xml:",attr"`
	UID              string    `xml:",attr"`
	VmDisplayName    string    `xml:",attr"`
	Links            []linkDoc `xml:"Links>Link"`
	PolicySessionUid string
	CreationTimeUTC  string
	EndTimeUTC       *string
	State            string
	Result           string
	Reason           string
	TotalSize        string
}

type cdpDoc struct {
	Policies []cdpPolicyDoc  `xml:"Entities>CdpPolicies>CdpPolicy"`
	Sessions []cdpSessionDoc `xml:"Entities>CdpReplicaSessions>CdpReplicaSession"`
	Tasks    []cdpTaskDoc    `xml:"Entities>CdpReplicaTaskSessions>CdpReplicaTaskSession"`
	Paging   pagingDoc       `xml:"PagingInfo"`
}

func (h *harness) cdpQuery(token, rawQuery string) cdpDoc {
	h.t.Helper()
	return queryAs[cdpDoc](h, token, rawQuery)
}

func quoted(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func TestCdpPolicies(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	now := h.clock.Now()
	truth := h.sim.CdpPolicies(now)
	l := h.sim.Landmarks()
	rpos, platforms := map[time.Duration]int{}, map[string]int{}
	for _, p := range truth {
		rpos[p.RPO]++
		platforms[p.Platform]++
		if !p.ScheduleEnabled {
			t.Errorf("policy %+v is not enabled", p)
		}
	}
	if len(truth) != 4 || rpos[15*time.Second] != 2 || rpos[time.Minute] != 2 || platforms[platformVMware] == 0 || platforms[platformVCloud] == 0 {
		t.Errorf("policies %+v, want two per server with RPOs of 15 s and 1 min on both platforms", truth)
	}
	if l.FailingCdpPolicy == "" || l.LaggingCdpVM == "" || l.LaggingCdpPolicy == l.FailingCdpPolicy || !l.LaggingCdpSince.Before(now.Add(-5*time.Hour)) {
		t.Errorf("landmarks %+v, want a failing policy and a VM lagging for hours in another", l)
	}

	doc := h.cdpQuery(token, "type=CdpPolicy&format=Entities&pageSize=100")
	if len(doc.Policies) != len(truth) {
		t.Fatalf("%d policies over HTTP, want %d", len(doc.Policies), len(truth))
	}
	forms := map[string]int{}
	lagging := false
	for i, p := range doc.Policies {
		want := truth[i]
		server, _ := findLink(p.Links, "Up", "BackupServerReference")
		next := parseEM(t, trimmed(p.NextRun))
		if p.Type != "CdpPolicy" || p.UID != want.UID || p.Name != want.Name || server.Name != want.BackupServer ||
			!strings.HasSuffix(p.Href, strings.TrimPrefix(p.UID, "urn:veeam:CdpPolicy:")+"?format=Entity") ||
			trimmed(p.PolicyType) != "CdpReplica" || trimmed(p.Platform) != want.Platform || trimmed(p.ScheduleEnabled) != "true" ||
			trimmed(p.ScheduleConfigured) != "true" || !next.After(now) || len(p.VMs) != 3 {
			t.Errorf("policy over HTTP %+v, want %+v", p, want)
		}
		switch {
		case p.RPOSeconds != nil && p.RPOMinutes == nil:
			forms["seconds"]++
			if *p.RPOSeconds != strconv.Itoa(int(want.RPO/time.Second)) {
				t.Errorf("%s: RPO %s seconds, want %v", p.Name, *p.RPOSeconds, want.RPO)
			}
		case p.RPOMinutes != nil && p.RPOSeconds == nil:
			forms["minutes"]++
			if *p.RPOMinutes != strconv.Itoa(int(want.RPO/time.Minute)) {
				t.Errorf("%s: RPO %s minutes, want %v", p.Name, *p.RPOMinutes, want.RPO)
			}
		default:
			t.Errorf("%s: RPO in seconds %v and minutes %v, want one", p.Name, p.RPOSeconds, p.RPOMinutes)
		}
		if p.ShortTermHours != nil {
			forms["short-term hours"]++
		}
		if p.ShortTermMinutes != nil {
			forms["short-term minutes"]++
		}
		for _, vm := range p.VMs {
			if !strings.HasPrefix(vm, "cdp-") {
				t.Errorf("%s protects %q, want a CDP VM", p.Name, vm)
			}
			lagging = lagging || p.Name == l.LaggingCdpPolicy && vm == l.LaggingCdpVM
		}
	}
	if len(forms) != 4 || !lagging {
		t.Errorf("forms %v, lagging VM among its policy's VMs %v; want both RPO and retention units and the VM", forms, lagging)
	}

	one := truth[0]
	for filter, want := range map[string]int{
		"UID==" + one.UID:                                    1,
		"Name==" + quoted(one.Name):                          1,
		"BackupServerName==" + quoted(one.BackupServer):      2,
		"ScheduleEnabled==true;ScheduleConfigured==true":     4,
		"NextRun>" + emTime(now):                             4,
		"Description!=x;BackupServerUid!=x":                  4,
		"NextRun<" + emTime(now) + ",ScheduleEnabled==false": 0,
	} {
		if got := len(h.cdpQuery(token, "type=CdpPolicy&format=Entities&filter="+url.QueryEscape(filter)).Policies); got != want {
			t.Errorf("filter %s: %d policies, want %d", filter, got, want)
		}
	}
	for _, field := range []string{"PolicyType", "Platform", "CreationTime", "RecoveryPointObjectiveSeconds"} {
		h.expectBadField(token, "type=CdpPolicy&filter="+field+"==x", field)
	}
	if refs := h.estateQuery(token, "type=CdpPolicy&pageSize=1").Refs; len(refs) != 1 || refs[0].Type != "CdpPolicyReference" {
		t.Errorf("references %+v", refs)
	}
}

// checkCdpSessions checks that each policy runs one session after
// another, each lasting its period, with one task per VM inside it.
func checkCdpSessions(t *testing.T, s *Server, at time.Time, period time.Duration, vmsPerPolicy int) {
	t.Helper()
	l := s.Landmarks()
	byPolicy := map[string][]JobSession{}
	for _, js := range s.CdpSessions(at) {
		byPolicy[js.JobName] = append(byPolicy[js.JobName], js)
		if js.JobType != "CdpReplica" || js.IsRetry || js.Name != js.JobName+"@"+js.Creation.Format("2006-01-02 15:04:05") {
			t.Errorf("session %+v", js)
		}
	}
	running := 0
	for policy, sessions := range byPolicy {
		want := period
		if policy == l.FailingCdpPolicy {
			want = min(period, 10*time.Minute)
		}
		live := 0
		for i, js := range sessions {
			if js.End.IsZero() {
				live++
				if js.State != "Working" || js.Result != "None" || js.Progress >= 100 {
					t.Errorf("running session %+v", js)
				}
				continue
			}
			if js.State != "Stopped" || js.Result == "None" || js.Progress != 100 {
				t.Errorf("ended session %+v", js)
			}
			if took := js.End.Sub(js.Creation); took > want || took < want-10*time.Second && i > 0 {
				t.Errorf("session %s lasted %v, want about %v", js.Name, took, want)
			}
			if i+1 < len(sessions) && !sessions[i+1].Creation.After(js.End) {
				t.Errorf("session %s starts before %s ended", sessions[i+1].Name, js.Name)
			}
		}
		if live > 1 {
			t.Errorf("policy %s has %d sessions running", policy, live)
		}
		running += live
	}
	if len(byPolicy) != 4 || running < 3 {
		t.Errorf("%d policies with sessions, %d running, want 4 and nearly all", len(byPolicy), running)
	}
	sessions := map[string]JobSession{}
	for _, js := range s.CdpSessions(at) {
		sessions[js.UID] = js
	}
	tasks := map[string]int{}
	for _, ts := range s.CdpTaskSessions(at) {
		js, ok := sessions[ts.JobSessionUID]
		tasks[ts.JobSessionUID]++
		if !ok || ts.JobName != js.JobName || ts.JobSessionName != js.Name || ts.Creation.Before(js.Creation) ||
			!js.End.IsZero() && (ts.End.IsZero() || ts.End.After(js.End)) || ts.End.IsZero() != (ts.State == "InProgress") ||
			ts.End.IsZero() != (ts.Result == "None") || ts.TotalSize <= 0 {
			t.Errorf("task %+v does not fit its session %+v", ts, js)
		}
	}
	for uid, n := range tasks {
		if n != vmsPerPolicy {
			t.Errorf("session %s has %d tasks, want %d", sessions[uid].Name, n, vmsPerPolicy)
		}
	}
}

func TestCdpSessionsShortAndLong(t *testing.T) {
	for _, period := range []time.Duration{5 * time.Minute, time.Hour, 72 * time.Hour} {
		t.Run(period.String(), func(t *testing.T) {
			clock := NewManualClock(testStart)
			h := newHarness(t, func(c *Config) { c.Topology.CDP.SessionPeriod = period; c.Clock = clock })
			s := h.sim
			for _, at := range []time.Time{testStart, testStart.Add(7*time.Hour + 13*time.Second)} {
				clock.Set(at)
				checkCdpSessions(t, s.Server, at, period, 3)
			}
			now := clock.Now()
			doc := h.cdpQuery(h.logon(), "type=CdpReplicaSession&format=Entities&pageSize=100000")
			truth := s.CdpSessions(now)
			if len(doc.Sessions) != len(truth) {
				t.Fatalf("%d sessions over HTTP, want %d", len(doc.Sessions), len(truth))
			}
			for i, cs := range doc.Sessions {
				js := truth[i]
				policy, _ := findLink(cs.Links, "Up", "CdpPolicyReference")
				if cs.Type != "CdpReplicaSession" || cs.UID != js.UID || cs.Name != js.Name || trimmed(cs.PolicyName) != js.JobName ||
					trimmed(cs.PolicyUid) != js.JobUID || policy.Name != js.JobName || trimmed(cs.PolicyType) != "CdpReplica" ||
					trimmed(cs.State) != js.State || trimmed(cs.Result) != js.Result || trimmed(cs.Progress) != strconv.Itoa(js.Progress) ||
					trimmed(cs.IsRetry) != "false" || !parseEM(t, trimmed(cs.CreationTimeUTC)).Equal(js.Creation) ||
					(cs.EndTimeUTC == nil) != js.End.IsZero() || (trimmed(cs.FailureMessage) == "") != (js.Result == "Success" || js.Result == "None") {
					t.Fatalf("session over HTTP %+v differs from the truth %+v", cs, js)
				}
			}
			tasks := h.cdpQuery(h.logon(), "type=CdpReplicaTaskSession&format=Entities&pageSize=100000&sortDesc=CreationTimeUTC").Tasks
			if len(tasks) != len(s.CdpTaskSessions(now)) {
				t.Fatalf("%d task sessions over HTTP, want %d", len(tasks), len(s.CdpTaskSessions(now)))
			}
			running := 0
			for _, task := range tasks {
				if task.EndTimeUTC == nil {
					running++
					if trimmed(task.State) != "InProgress" || trimmed(task.Result) != "None" || trimmed(task.Reason) != "" {
						t.Errorf("running task %+v", task)
					}
				} else if trimmed(task.State) != "Completed" || trimmed(task.Result) == "None" {
					t.Errorf("completed task %+v", task)
				}
			}
			if running < 9 {
				t.Errorf("%d CDP tasks running, want those of nearly every policy", running)
			}
		})
	}
}

func TestCdpFiltersAndSorting(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	now := h.clock.Now()
	l := h.sim.Landmarks()
	sessions, tasks := h.sim.CdpSessions(now), h.sim.CdpTaskSessions(now)
	countSessions := func(keep func(JobSession) bool) int { return countWhere(sessions, keep) }
	countTasks := func(keep func(TaskSession) bool) int { return countWhere(tasks, keep) }
	one, task := sessions[len(sessions)/2], tasks[len(tasks)/3]
	since := now.Add(-6 * time.Hour)
	ended := countSessions(func(js JobSession) bool { return !js.End.IsZero() })
	serverUID := ""
	for _, b := range h.sim.BackupServers() {
		if b.Name == one.BackupServer {
			serverUID = b.UID
		}
	}
	sessionFilters := map[string]int{
		"Id==" + one.UID:                            1,
		"Name==" + quoted(one.Name):                 1,
		"PolicyUid==" + one.JobUID:                  countSessions(func(js JobSession) bool { return js.JobUID == one.JobUID }),
		"PolicyName==" + quoted(l.FailingCdpPolicy): countSessions(func(js JobSession) bool { return js.JobName == l.FailingCdpPolicy }),
		"Result==Failed":                            countSessions(func(js JobSession) bool { return js.Result == "Failed" }),
		"Result>=Warning":                           countSessions(func(js JobSession) bool { return js.Result == "Failed" || js.Result == "Warning" }),
		"BackupServerName==" + quoted(one.BackupServer) + ";BackupServerUid==" + serverUID: countSessions(func(js JobSession) bool { return js.BackupServer == one.BackupServer }),
		"CreationTimeUTC>=" + emTime(since):                                                countSessions(func(js JobSession) bool { return !js.Creation.Before(since) }),
		"EndTimeUTC>=2000-01-01T00:00:00Z":                                                 ended,
		"EndTimeUTC<" + emTime(now.Add(time.Hour)):                                         ended,
		"State==Working":     len(sessions) - ended,
		`FailureMessage==""`: countSessions(func(js JobSession) bool { return js.Result == "Success" || js.Result == "None" }),
	}
	for filter, want := range sessionFilters {
		if want == 0 {
			t.Errorf("filter %s selects nothing; it would test nothing", filter)
		}
		if got := len(h.cdpQuery(token, "type=CdpReplicaSession&format=Entities&pageSize=5000&filter="+url.QueryEscape(filter)).Sessions); got != want {
			t.Errorf("session filter %s: %d, want %d", filter, got, want)
		}
	}
	taskFilters := map[string]int{
		"Id==" + task.UID:                                                        1,
		"Name==" + quoted(task.Name):                                             1,
		"PolicySessionUid==" + task.JobSessionUID:                                3,
		"PolicySessionName==" + quoted(task.JobSessionName):                      3,
		"VmDisplayName==" + quoted(l.LaggingCdpVM) + ";Reason!=\"\"":             countTasks(func(ts TaskSession) bool { return ts.VM == l.LaggingCdpVM && ts.Reason != "" }),
		"BackupServerName==" + quoted(task.BackupServer) + ";BackupServerUid!=x": countTasks(func(ts TaskSession) bool { return ts.BackupServer == task.BackupServer }),
		"CreationTimeUTC<" + emTime(since):                                       countTasks(func(ts TaskSession) bool { return ts.Creation.Before(since) }),
		"EndTimeUTC>=2000-01-01T00:00:00Z":                                       countTasks(func(ts TaskSession) bool { return !ts.End.IsZero() }),
		"State==InProgress":                                                      countTasks(func(ts TaskSession) bool { return ts.End.IsZero() }),
		"TotalSize==" + strconv.FormatInt(task.TotalSize, 10):                    countTasks(func(ts TaskSession) bool { return ts.TotalSize == task.TotalSize }),
	}
	for filter, want := range taskFilters {
		if want == 0 {
			t.Errorf("filter %s selects nothing; it would test nothing", filter)
		}
		if got := len(h.cdpQuery(token, "type=CdpReplicaTaskSession&format=Entities&pageSize=5000&filter="+url.QueryEscape(filter)).Tasks); got != want {
			t.Errorf("task filter %s: %d, want %d", filter, got, want)
		}
	}
	for _, field := range []string{"UID", "CreationTime", "EndTime", "JobName", "PolicyType", "IsRetry", "Progress"} {
		h.expectBadField(token, "type=CdpReplicaSession&filter="+field+"==x", field)
	}
	for _, field := range []string{"UID", "CreationTime", "EndTime", "Result", "JobSessionUid", "PolicyName"} {
		h.expectBadField(token, "type=CdpReplicaTaskSession&filter="+field+"==x", field)
	}
	h.expectBadField(token, "type=CdpReplicaSession&sortDesc=CreationTime", "CreationTime")

	desc := h.cdpQuery(token, "type=CdpReplicaSession&format=Entities&pageSize=3&sortDesc=CreationTimeUTC").Sessions
	asc := h.cdpQuery(token, "type=CdpReplicaSession&format=Entities&pageSize=3&sortAsc=CreationTimeUTC").Sessions
	if len(desc) != 3 || desc[0].UID != sessions[len(sessions)-1].UID || desc[2].UID != sessions[len(sessions)-3].UID || asc[0].UID != sessions[0].UID {
		t.Errorf("sorted by CreationTimeUTC: %v ... %v, want the newest first and the oldest first", desc, asc)
	}
	recent := countTasks(func(ts TaskSession) bool { return !ts.Creation.Before(since) })
	pages := h.cdpQuery(token, "type=CdpReplicaTaskSession&format=Entities&pageSize=10&page=2&filter=CreationTimeUTC>="+emTime(since))
	if len(pages.Tasks) != 10 || pages.Paging.PageNum != 2 || pages.Paging.PagesCount != (recent+9)/10 {
		t.Errorf("page 2: %d tasks, paging %+v", len(pages.Tasks), pages.Paging)
	}

	// The request log keeps the type and the raw filter, so tests can read
	// which names a client sent.
	names := map[string]map[string]bool{}
	for _, r := range h.sim.Requests() {
		values, err := url.ParseQuery(r.RawQuery)
		if err != nil || values.Get("filter") == "" {
			continue
		}
		if names[r.Type] == nil {
			names[r.Type] = map[string]bool{}
		}
		field, _, _ := strings.Cut(values.Get("filter"), "=")
		names[r.Type][strings.TrimRight(field, "<>!")] = true
	}
	if !names["CdpReplicaSession"]["EndTimeUTC"] || !names["CdpReplicaTaskSession"]["PolicySessionUid"] || !names["CdpReplicaSession"]["CreationTime"] {
		t.Errorf("filter names logged by type: %v", names)
	}
}

func TestCdpFailingPolicyAndLaggingVM(t *testing.T) {
	for name, topo := range map[string]Topology{"test": TestTopology(), "demo": DemoTopology()} {
		t.Run(name, func(t *testing.T) {
			clock := NewManualClock(testStart)
			s := newTestServer(t, 2, topo, clock)
			l := s.Landmarks()
			rpo := map[string]time.Duration{}
			for _, p := range s.CdpPolicies(testStart) {
				rpo[p.Name] = p.RPO
			}
			later := testStart.Add(3 * time.Hour)
			clock.Set(later)
			failedSessions := 0
			for _, js := range s.CdpSessions(later) {
				switch {
				case js.Result == "None":
				case js.JobName == l.FailingCdpPolicy:
					failedSessions++
					if js.Result != "Failed" || js.BackupServer != l.FailingCdpPolicyServer {
						t.Errorf("failing policy's session %+v", js)
					}
				case js.JobName == l.LaggingCdpPolicy && js.End.After(l.LaggingCdpSince):
					if js.Result != "Warning" {
						t.Errorf("the lagging VM's session %+v, want Warning", js)
					}
				case js.Result != "Success":
					t.Errorf("session %+v, want Success", js)
				}
			}
			var lastSuccess time.Time
			warnings, warningsBeforeStart := 0, 0
			for _, ts := range s.CdpTaskSessions(later) {
				switch {
				case ts.State != "Completed":
				case ts.JobName == l.FailingCdpPolicy:
					if ts.Result != "Failed" || !strings.HasPrefix(ts.Reason, "Error: ") {
						t.Errorf("failing policy's task %+v", ts)
					}
				case ts.VM == l.LaggingCdpVM && ts.End.After(l.LaggingCdpSince):
					warnings++
					if ts.End.Before(testStart) {
						warningsBeforeStart++
					}
					if ts.Result != "Warning" || !strings.Contains(ts.Reason, "RPO was not met") || ts.JobName != l.LaggingCdpPolicy || ts.BackupServer != l.LaggingCdpServer {
						t.Errorf("lagging VM's task %+v", ts)
					}
				case ts.Result != "Success" || ts.Reason != "":
					t.Errorf("task %+v, want Success", ts)
				case ts.VM == l.LaggingCdpVM:
					lastSuccess = ts.End
				}
			}
			if failedSessions == 0 || warnings == 0 || warningsBeforeStart == 0 {
				t.Errorf("%d failed sessions, %d warnings of the lagging VM (%d before the start): want some of each", failedSessions, warnings, warningsBeforeStart)
			}
			if lastSuccess.IsZero() || lastSuccess.After(l.LaggingCdpSince) || testStart.Sub(lastSuccess) < 100*rpo[l.LaggingCdpPolicy] {
				t.Errorf("the lagging VM's last success at %v, want it hours before the start", lastSuccess)
			}
		})
	}
}

func TestCdpIsDeterministic(t *testing.T) {
	at := testStart.Add(2 * time.Hour)
	a := newTestServer(t, 5, TestTopology(), NewManualClock(testStart))
	b := newTestServer(t, 5, TestTopology(), NewManualClock(testStart))
	other := newTestServer(t, 6, TestTopology(), NewManualClock(testStart))
	b.CdpSessions(at.Add(5 * time.Hour))
	if !slices.Equal(a.CdpSessions(at), b.CdpSessions(at)) || !slices.Equal(a.CdpTaskSessions(at), b.CdpTaskSessions(at)) ||
		!slices.Equal(a.CdpPolicies(at), b.CdpPolicies(at)) {
		t.Error("one seed, different CDP data")
	}
	if ta, to := a.CdpTaskSessions(at), other.CdpTaskSessions(at); ta[0].UID == to[0].UID || ta[0].VM == "" {
		t.Error("two seeds, the same CDP task sessions")
	}
	// A session is its slot's, whenever the simulator was built.
	early := newTestServer(t, 5, TestTopology(), NewManualClock(testStart.Add(-5*time.Hour)))
	uids := func(s *Server) []string {
		var out []string
		for _, js := range s.CdpSessions(at) {
			if !js.Creation.Before(testStart.Add(-24 * time.Hour)) {
				out = append(out, js.UID+js.Creation.String()+js.End.String())
			}
		}
		return out
	}
	if got := uids(early); len(got) == 0 || !slices.Equal(got, uids(a)) {
		t.Error("the CDP sessions depend on when the simulator was built")
	}
}

func TestInvalidCdpAndPointTopologies(t *testing.T) {
	cases := map[string]func(*Topology){
		"no CDP VMs":            func(tp *Topology) { tp.CDP.VMsPerPolicy = 0 },
		"no RPO":                func(tp *Topology) { tp.CDP.RPOs = [2]time.Duration{} },
		"RPO in milliseconds":   func(tp *Topology) { tp.CDP.RPOs[1] = 1500 * time.Millisecond },
		"short sessions":        func(tp *Topology) { tp.CDP.SessionPeriod = 30 * time.Second },
		"lagging backwards":     func(tp *Topology) { tp.CDP.LaggingVM = -time.Hour },
		"one failing policy":    func(tp *Topology) { tp.BackupServers, tp.WithHardNames, tp.CDP.PoliciesPerServer = 1, false, 1 },
		"points min above max":  func(tp *Topology) { tp.ReplicaPointsMin, tp.ReplicaPointsMax = 6, 5 },
		"no points":             func(tp *Topology) { tp.ReplicaPointsMin = 0 },
		"unprotected backwards": func(tp *Topology) { tp.UnprotectedVM = -time.Hour },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			topo := TestTopology()
			mutate(&topo)
			if _, err := New(Config{Username: testUser, Password: testPassword, Topology: topo}); err == nil {
				t.Error("New accepted an invalid topology")
			}
		})
	}
	topo := TestTopology()
	topo.CDP, topo.ReplicaPointsMin, topo.ReplicaPointsMax = CDPPolicies{}, 0, 0
	s := newTestServer(t, 1, topo, NewManualClock(testStart))
	if len(s.CdpPolicies(testStart)) != 0 || len(s.CdpSessions(testStart)) != 0 || s.Landmarks().FailingCdpPolicy != "" {
		t.Error("a topology without CDP has CDP")
	}
	for _, r := range s.Replicas(testStart) {
		if r.RetentionPoints != 7 {
			t.Errorf("replica %+v, want Veeam's default of 7 points", r)
		}
	}
}
