package emsim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type pagingDoc struct {
	PageNum    int       `xml:",attr"`
	PageSize   int       `xml:",attr"`
	PagesCount int       `xml:",attr"`
	Links      []linkDoc `xml:"Links>Link"`
}

type pointDoc struct {
	Type            string    `xml:",attr"`
	Href            string    `xml:",attr"`
	Name            string    `xml:",attr"`
	VmDisplayName   string    `xml:",attr"`
	UID             string    `xml:",attr"`
	Links           []linkDoc `xml:"Links>Link"`
	CreationTimeUTC *string
	VmName          string
	Algorithm       string
	PointType       string
}

type replicaDoc struct {
	Type     string    `xml:",attr"`
	Href     string    `xml:",attr"`
	Name     string    `xml:",attr"`
	UID      string    `xml:",attr"`
	Links    []linkDoc `xml:"Links>Link"`
	Platform string
}

type estateDoc struct {
	Points   []pointDoc   `xml:"Entities>VmReplicaPoints>VmReplicaPoint"`
	Replicas []replicaDoc `xml:"Entities>Replicas>Replica"`
	Refs     []refDoc     `xml:"Refs>Ref"`
	Paging   pagingDoc    `xml:"PagingInfo"`
}

func (h *harness) estateQuery(token, rawQuery string) estateDoc {
	h.t.Helper()
	return queryAs[estateDoc](h, token, rawQuery)
}

// expectBadFilter checks that a query is refused as EM refuses a filter
// on a field its type does not have.
func (h *harness) expectBadField(token, rawQuery, field string) {
	h.t.Helper()
	resp := h.mustDo(http.MethodGet, "/api/query?"+rawQuery, token, nil)
	if resp.status != http.StatusBadRequest {
		h.t.Errorf("%s: %d, want 400", rawQuery, resp.status)
		return
	}
	doc := decodeError(h.t, resp.body)
	if doc.Status != "BadRequest" || !strings.Contains(doc.Message, fmt.Sprintf("unknown field %q", field)) {
		h.t.Errorf("%s: %+v, want the unknown field %s named", rawQuery, doc, field)
	}
}

func pointKey(server, replica, vm string) string { return server + "/" + replica + "/" + vm }

// successEnds is, by backup server, replica job and VM, the ends of the
// replica task sessions completed by asOf that left a restore point,
// oldest first.
func successEnds(s *Server, asOf time.Time) map[string][]time.Time {
	ends := map[string][]time.Time{}
	for _, ts := range s.TaskSessions(asOf) {
		if ts.State == "Completed" && (ts.Result == "Success" || ts.Result == "Warning") {
			key := pointKey(ts.BackupServer, ts.JobName, ts.VM)
			ends[key] = append(ends[key], ts.End)
		}
	}
	for _, e := range ends {
		slices.SortFunc(e, time.Time.Compare)
	}
	return ends
}

// sameInstant: a point's creation is its task's end, or less than a
// microsecond after it for a point with a seventh digit.
func sameInstant(point, end time.Time) bool {
	return !point.Before(end) && point.Sub(end) < time.Microsecond
}

func retentions(s *Server, asOf time.Time) map[string]int {
	out := map[string]int{}
	for _, r := range s.Replicas(asOf) {
		out[r.BackupServer+"/"+r.Name] = r.RetentionPoints
	}
	return out
}

// checkPointsFollowSessions checks that every VM has the newest
// min(successes, N) points its task sessions left, and nothing else.
func checkPointsFollowSessions(t *testing.T, s *Server, asOf time.Time) {
	t.Helper()
	ends := successEnds(s, asOf)
	kept := retentions(s, asOf)
	got := map[string]ReplicaPoints{}
	for _, rp := range s.ReplicaPoints(asOf) {
		got[pointKey(rp.BackupServer, rp.Replica, rp.VM)] = rp
	}
	for key, e := range ends {
		n := kept[key[:strings.LastIndex(key, "/")]]
		rp, ok := got[key]
		want := min(len(e), n)
		if n == 0 {
			if ok {
				t.Errorf("%v: %s has %d points with a retention of 0", asOf, key, rp.Count)
			}
			continue
		}
		if !ok || rp.Count != want || !sameInstant(rp.Newest, e[len(e)-1]) || !sameInstant(rp.Oldest, e[len(e)-want]) {
			t.Errorf("%v: %s has %+v, want %d points from %v to %v", asOf, key, rp, want, e[len(e)-want], e[len(e)-1])
		}
	}
	for key, rp := range got {
		if len(ends[key]) == 0 {
			t.Errorf("%v: %+v without a successful task session", asOf, rp)
		}
	}
}

func TestReplicaPointsFollowRetention(t *testing.T) {
	s := newTestServer(t, 11, TestTopology(), NewManualClock(testStart))
	distinct := map[int]bool{}
	for _, n := range retentions(s, testStart) {
		if n < 3 || n > 5 {
			t.Errorf("retention %d outside TestTopology's 3 to 5", n)
		}
		distinct[n] = true
	}
	if len(distinct) < 2 {
		t.Errorf("retentions %v, want them to vary by job", distinct)
	}
	for _, asOf := range []time.Time{testStart, testStart.Add(37 * time.Minute), testStart.Add(5*time.Hour + 3*time.Second)} {
		checkPointsFollowSessions(t, s, asOf)
	}
	// A task's point appears the moment it completes.
	var task TaskSession
	for _, ts := range s.TaskSessions(testStart.Add(time.Hour)) {
		if ts.End.After(testStart) && ts.Result == "Success" {
			task = ts
			break
		}
	}
	newest := func(at time.Time) time.Time {
		for _, rp := range s.ReplicaPoints(at) {
			if rp.BackupServer == task.BackupServer && rp.Replica == task.JobName && rp.VM == task.VM {
				return rp.Newest
			}
		}
		return time.Time{}
	}
	if before, after := newest(task.End.Add(-time.Nanosecond)), newest(task.End.Add(time.Microsecond)); sameInstant(before, task.End) || !sameInstant(after, task.End) {
		t.Errorf("task %s ended %v: newest point %v just before, %v just after", task.Name, task.End, before, after)
	}
}

func TestReplicaPointsAreDeterministic(t *testing.T) {
	asOf := testStart.Add(90 * time.Minute)
	a := newTestServer(t, 5, TestTopology(), NewManualClock(testStart))
	b := newTestServer(t, 5, TestTopology(), NewManualClock(testStart))
	early := newTestServer(t, 5, TestTopology(), NewManualClock(testStart.Add(-6*time.Hour)))
	other := newTestServer(t, 6, TestTopology(), NewManualClock(testStart))
	// Asking for a later time first changes nothing.
	b.ReplicaPoints(asOf.Add(5 * time.Hour))
	pa := a.ReplicaPoints(asOf)
	if len(pa) == 0 || !slices.Equal(pa, b.ReplicaPoints(asOf)) || !slices.Equal(pa, early.ReplicaPoints(asOf)) {
		t.Error("one seed, different restore points")
	}
	if slices.Equal(pa, other.ReplicaPoints(asOf)) {
		t.Error("two seeds, the same restore points")
	}
}

// Lowering the retention deletes the excess at once; raising it lets the
// points grow back as runs complete; the past keeps its points.
func TestSetReplicaRetention(t *testing.T) {
	clock := NewManualClock(testStart)
	s := newTestServer(t, 11, TestTopology(), clock)
	before := s.ReplicaPoints(testStart)
	target := before[len(before)-1]
	count := func(at time.Time) (inReplica, elsewhere map[string]int) {
		inReplica, elsewhere = map[string]int{}, map[string]int{}
		for _, rp := range s.ReplicaPoints(at) {
			if rp.BackupServer == target.BackupServer && rp.Replica == target.Replica {
				inReplica[rp.VM] = rp.Count
			} else {
				elsewhere[pointKey(rp.BackupServer, rp.Replica, rp.VM)] = rp.Count
			}
		}
		return inReplica, elsewhere
	}
	was, othersWere := count(testStart)
	if len(was) == 0 || target.Count < 2 {
		t.Fatalf("replica %s has points %v, want more than one per VM", target.Replica, was)
	}

	clock.Advance(time.Minute)
	s.SetReplicaRetention(target.BackupServer, target.Replica, 1)
	now := clock.Now()
	cut, others := count(now)
	for vm, n := range cut {
		if n != 1 {
			t.Errorf("VM %s keeps %d points after the retention went down to 1", vm, n)
		}
	}
	if len(cut) != len(was) {
		t.Errorf("VMs with points %v, want every one of %v keeping one", cut, was)
	}
	if !maps(others, othersWere) {
		t.Error("lowering one replica's retention changed others")
	}
	if past, _ := count(testStart); !maps(past, was) {
		t.Errorf("points at the start %v changed to %v", was, past)
	}
	for _, r := range s.Replicas(now) {
		if r.Name == target.Replica && r.BackupServer == target.BackupServer && r.RetentionPoints != 1 {
			t.Errorf("replica %+v, want a retention of 1", r)
		}
	}
	checkPointsFollowSessionsWithin(t, s, now.Add(3*time.Hour), target, 1)

	clock.Set(now.Add(3 * time.Hour))
	s.SetReplicaRetention(target.BackupServer, target.Replica, 4)
	later := clock.Now().Add(6 * time.Hour)
	grown, _ := count(later)
	more := 0
	for vm, n := range grown {
		if n > 4 {
			t.Errorf("VM %s has %d points with a retention of 4", vm, n)
		}
		if n > 1 {
			more++
		}
	}
	if more == 0 {
		t.Errorf("points %v did not grow back after the retention went up", grown)
	}

	s.SetReplicaRetention(target.BackupServer, target.Replica, 0)
	if gone, _ := count(clock.Now()); len(gone) != 0 {
		t.Errorf("points %v left with a retention of 0", gone)
	}
	for _, bad := range []func(){
		func() { s.SetReplicaRetention(target.BackupServer, "no such replica", 3) },
		func() { s.SetReplicaRetention(target.BackupServer, target.Replica, -1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("SetReplicaRetention accepted a bad argument")
				}
			}()
			bad()
		}()
	}
}

// checkPointsFollowSessionsWithin checks that every VM of the target's
// replica has min(successes, n) points at asOf.
func checkPointsFollowSessionsWithin(t *testing.T, s *Server, asOf time.Time, target ReplicaPoints, n int) {
	t.Helper()
	ends := successEnds(s, asOf)
	for _, rp := range s.ReplicaPoints(asOf) {
		if rp.BackupServer != target.BackupServer || rp.Replica != target.Replica {
			continue
		}
		e := ends[pointKey(rp.BackupServer, rp.Replica, rp.VM)]
		if rp.Count != min(len(e), n) || !sameInstant(rp.Newest, e[len(e)-1]) {
			t.Errorf("%v: %+v, want %d points, the newest at %v", asOf, rp, min(len(e), n), e[len(e)-1])
		}
	}
}

func maps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The points query pages, sorts and filters on the documented names, and
// renders points as EM does.
func TestReplicaPointQueries(t *testing.T) {
	h := newHarness(t, nil)
	h.clock.Advance(11 * time.Minute)
	now := h.clock.Now()
	token := h.logon()
	truth := h.sim.ReplicaPoints(now)
	total := 0
	perVM := map[string]int{}
	for _, rp := range truth {
		total += rp.Count
		perVM[rp.VM] += rp.Count
	}

	var all []pointDoc
	for page := 1; ; page++ {
		doc := h.estateQuery(token, "type=VmReplicaPoint&format=Entities&pageSize=7&page="+itoa(page))
		all = append(all, doc.Points...)
		if _, next := findLink(doc.Paging.Links, "Next", ""); !next {
			if doc.Paging.PagesCount != page {
				t.Errorf("last page %d of %d", page, doc.Paging.PagesCount)
			}
			break
		}
	}
	if len(all) != total {
		t.Fatalf("%d points over the pages, want %d", len(all), total)
	}
	sevenDigits, types, algorithms := 0, map[string]int{}, map[string]int{}
	var last time.Time
	for _, p := range all {
		id := strings.TrimPrefix(p.UID, "urn:veeam:VmReplicaPoint:")
		server, okServer := findLink(p.Links, "Up", "BackupServerReference")
		replica, okReplica := findLink(p.Links, "Up", "ReplicaReference")
		_, okFailover := findLink(p.Links, "Failover", "")
		_, okAlternate := findLink(p.Links, "Alternate", "VmReplicaPointReference")
		if p.Type != "VmReplicaPoint" || id == p.UID || !strings.HasSuffix(p.Href, "/api/vmReplicaPoints/"+id+"?format=Entity") ||
			!okServer || !okReplica || !okFailover || !okAlternate || trimmed(p.VmName) != p.VmDisplayName || p.CreationTimeUTC == nil {
			t.Fatalf("point %+v is not shaped like EM's", p)
		}
		creation := parseEM(t, trimmed(*p.CreationTimeUTC))
		if p.Name != p.VmDisplayName+"@"+creation.Format("2006-01-02 15:04:05") || creation.Before(last) {
			t.Errorf("point %s created %v: name or order wrong", p.Name, creation)
		}
		last = creation
		if _, frac, _ := strings.Cut(trimmed(*p.CreationTimeUTC), "."); len(frac) == 8 {
			sevenDigits++
		}
		types[trimmed(p.PointType)]++
		algorithms[trimmed(p.Algorithm)]++
		if perVM[p.VmDisplayName] == 0 || server.Name == "" || replica.Name == "" {
			t.Errorf("point %s of an unknown VM or replica", p.Name)
		}
	}
	if sevenDigits == 0 || sevenDigits == len(all) {
		t.Errorf("%d of %d points with 7 fractional digits, want some", sevenDigits, len(all))
	}
	if types["Snapshot"] == 0 || types["Full"] == 0 || algorithms["Increment"] == 0 || algorithms["Full"] == 0 || len(types)+len(algorithms) > 5 {
		t.Errorf("point types %v, algorithms %v", types, algorithms)
	}

	desc := h.estateQuery(token, "type=VmReplicaPoint&format=Entities&pageSize=3&sortDesc=CreationTime")
	if len(desc.Points) != 3 || desc.Points[0].UID != all[len(all)-1].UID {
		t.Errorf("sortDesc=CreationTime starts with %+v, want the newest point", desc.Points)
	}

	// A successful replica task session's Related link names its point.
	tasks := h.query(token, "type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=200&filter=Result==Success;State==Completed")
	linked := 0
	hrefs := map[string]bool{}
	for _, p := range all {
		hrefs[p.Href] = true
	}
	for _, task := range tasks.Tasks {
		if related, ok := findLink(task.Links, "Related", "VmReplicaPoint"); ok && hrefs[related.Href] {
			linked++
		}
	}
	if linked == 0 {
		t.Error("no successful replica task links a point that exists")
	}

	sample := all[len(all)/2]
	server, _ := findLink(sample.Links, "Up", "BackupServerReference")
	replica, _ := findLink(sample.Links, "Up", "ReplicaReference")
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	sameName := h.estateQuery(token, "type=Replica&format=Entities&pageSize=100&filter="+url.QueryEscape("Name=="+quote(replica.Name))).Replicas
	serverUID := h.mustDo(http.MethodGet, "/api/query?type=BackupServer&format=Entities&filter=Name=="+url.QueryEscape(`"`+server.Name+`"`), token, nil).body
	count := func(filter string) int {
		return len(h.estateQuery(token, "type=VmReplicaPoint&format=Entities&pageSize=5000&filter="+url.QueryEscape(filter)).Points)
	}
	ofVM := perVM[sample.VmDisplayName]
	filters := map[string]int{
		"UID==" + quote(sample.UID):                                        1,
		"Name==" + quote(sample.Name):                                      1,
		"CreationTime==" + trimmed(*sample.CreationTimeUTC):                1,
		"CreationTime<=" + trimmed(*sample.CreationTimeUTC):                len(all)/2 + 1,
		"VmDisplayName==" + quote(sample.VmDisplayName):                    ofVM,
		"Type==Full,Type==ReverseIncrement,Type==Increment,Type==Snapshot": len(all),
		"Type>=Increment": types["Increment"] + types["Snapshot"],
		"Algorithm==Full": algorithms["Full"],
		"BackupServerName==" + quote(server.Name) + ";VmDisplayName==" + quote(sample.VmDisplayName): ofVM,
	}
	for _, r := range sameName {
		up, _ := findLink(r.Links, "Up", "BackupServerReference")
		if up.Name == server.Name {
			filters["ReplicaUid=="+quote(r.UID)+";ReplicaName=="+quote(replica.Name)+";VmDisplayName=="+quote(sample.VmDisplayName)] = ofVM
		}
	}
	if len(filters) != 10 {
		t.Fatalf("replica %q of %s not found by name: %+v", replica.Name, server.Name, sameName)
	}
	if i := strings.Index(serverUID, `UID="`); i >= 0 {
		uid := serverUID[i+5 : i+5+strings.Index(serverUID[i+5:], `"`)]
		filters["BackupServerUid=="+quote(uid)] = count("BackupServerName==" + quote(server.Name))
	}
	for filter, want := range filters {
		if got := count(filter); got != want {
			t.Errorf("filter %s: %d points, want %d", filter, got, want)
		}
	}
	for _, field := range []string{"CreationTimeUTC", "PointType", "EndTime", "VmName", "JobName"} {
		h.expectBadField(token, "type=VmReplicaPoint&format=Entities&filter="+field+"==x", field)
	}
	h.expectBadField(token, "type=VmReplicaPoint&sortDesc=CreationTimeUTC", "CreationTimeUTC")
	if refs := h.estateQuery(token, "type=VmReplicaPoint&pageSize=2").Refs; len(refs) != 2 || refs[0].Type != "VmReplicaPointReference" || refs[0].UID != all[0].UID {
		t.Errorf("references %+v", refs)
	}
	logged := slices.IndexFunc(h.sim.Requests(), func(r Request) bool {
		return r.Type == "VmReplicaPoint" && r.Status == http.StatusBadRequest && strings.Contains(r.RawQuery, "filter=JobName==x")
	})
	if logged < 0 {
		t.Error("the request log lacks the refused VmReplicaPoint query and its filter")
	}
}

func TestReplicaQuery(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	replicaJobs := map[string]string{}
	for _, j := range h.sim.Jobs(testStart) {
		if j.JobType == replicaJobType {
			replicaJobs[j.BackupServer+"/"+j.Name] = j.UID
		}
	}
	doc := h.estateQuery(token, "type=Replica&format=Entities&pageSize=100")
	truth := h.sim.Replicas(testStart)
	if len(doc.Replicas) != len(replicaJobs) || len(truth) != len(replicaJobs) {
		t.Fatalf("%d replicas over HTTP, %d true, want one per replica job (%d)", len(doc.Replicas), len(truth), len(replicaJobs))
	}
	for i, r := range doc.Replicas {
		server, _ := findLink(r.Links, "Up", "BackupServerReference")
		repo, okRepo := findLink(r.Links, "Up", "RepositoryReference")
		_, okDown := findLink(r.Links, "Down", "VmReplicaPointReferenceList")
		if r.Type != "Replica" || r.UID != truth[i].UID || !strings.HasPrefix(r.UID, "urn:veeam:Replica:") || r.Name != truth[i].Name ||
			replicaJobs[server.Name+"/"+r.Name] == "" || !okRepo || repo.Name != truth[i].Repository || !okDown || trimmed(r.Platform) != "VMware" ||
			!strings.HasSuffix(r.Href, strings.TrimPrefix(r.UID, "urn:veeam:Replica:")+"?format=Entity") {
			t.Errorf("replica %+v, want it shaped like EM's and as %+v", r, truth[i])
		}
	}
	one := truth[0]
	for filter, want := range map[string]int{
		"UID==" + one.UID: 1,
		"JobUid==" + replicaJobs[one.BackupServer+"/"+one.Name]: 1,
		"RepositoryName==\"" + defaultRepositoryName + "\"":     len(truth),
		"RepositoryUid!=x;JobName!=x;Name!=x":                   len(truth),
	} {
		if got := len(h.estateQuery(token, "type=Replica&format=Entities&filter="+url.QueryEscape(filter)).Replicas); got != want {
			t.Errorf("filter %s: %d replicas, want %d", filter, got, want)
		}
	}
	for _, field := range []string{"Platform", "BackupServerName", "CreationTime"} {
		h.expectBadField(token, "type=Replica&filter="+field+"==x", field)
	}
}

// The scale site keeps tens of thousands of points and pages through them
// quickly, and its CDP policies are modest.
func TestReplicaPointsAndCdpAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 200,000 sessions")
	}
	h := newHarness(t, func(c *Config) { c.Topology = ScaleTopology() })
	token := h.logon()
	points, vms := 0, 0
	for _, rp := range h.sim.ReplicaPoints(testStart) {
		points += rp.Count
		vms++
		if rp.Count < 1 || rp.Count > 14 {
			t.Fatalf("%+v, want 1 to 14 points", rp)
		}
	}
	if vms < 3900 || points < 28_000 || points > 56_000 {
		t.Errorf("%d points of %d VMs, want 28,000 to 56,000 of about 4,000", points, vms)
	}
	for _, raw := range []string{
		"type=VmReplicaPoint&format=Entities&pageSize=1000",
		"type=VmReplicaPoint&format=Entities&pageSize=1000&page=30",
		"type=VmReplicaPoint&format=Entities&pageSize=1000&sortDesc=CreationTime&filter=CreationTime>=" + emTime(testStart.Add(-time.Hour)),
	} {
		began := time.Now()
		resp := h.mustDo(http.MethodGet, "/api/query?"+raw, token, nil)
		took := time.Since(began)
		t.Logf("%s: %d bytes in %v", raw, len(resp.body), took)
		if resp.status != http.StatusOK || took > time.Second {
			t.Errorf("%s: %d in %v", raw, resp.status, took)
		}
	}
	// The clock moves on between pages, as a real one does.
	h.clock.Advance(time.Minute)
	began := time.Now()
	h.mustDo(http.MethodGet, "/api/query?type=VmReplicaPoint&format=Entities&pageSize=1000&page=2", token, nil)
	t.Logf("a minute later: %v", time.Since(began))

	now := h.clock.Now()
	if policies, tasks := h.sim.CdpPolicies(now), h.sim.CdpTaskSessions(now); len(policies) != 8 || len(tasks) < 5000 || len(tasks) > 20_000 {
		t.Errorf("%d CDP policies with %d task sessions, want 8 with thousands", len(policies), len(tasks))
	}
	began = time.Now()
	resp := h.mustDo(http.MethodGet, "/api/query?type=CdpReplicaTaskSession&format=Entities&pageSize=1000&sortDesc=CreationTimeUTC&filter=CreationTimeUTC>="+
		emTime(now.Add(-6*time.Hour)), token, nil)
	if took := time.Since(began); resp.status != http.StatusOK || took > time.Second {
		t.Errorf("CDP task sessions: %d in %v", resp.status, took)
	}
}

// bruteAlive is every point alive at t, found by looking at each.
func bruteAlive(ix *pointIndex, t time.Time) []*replicaPoint {
	var out []*replicaPoint
	for _, c := range ix.chains {
		for _, p := range c.points {
			if !t.Before(p.appear) && t.Before(p.deleted) {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, comparePoints)
	return out
}

// The view moved forward by events, kept between events, and rebuilt
// after a retention change or going back in time, equals a look at every
// point, late arrivals included.
func TestReplicaPointViewFollowsTime(t *testing.T) {
	clock := NewManualClock(testStart)
	s := newTestServer(t, 3, withLateArrivals(TestTopology()), clock)
	d := s.data
	st := newStream(1, 2)
	at := testStart
	for step := range 300 {
		switch {
		case step == 100:
			clock.Set(at)
			s.SetReplicaRetention(s.ReplicaPoints(at)[0].BackupServer, s.ReplicaPoints(at)[0].Replica, 2)
		case step == 200:
			at = at.Add(-3 * time.Hour)
		case step%7 == 0:
			at = at.Add(st.between(0, time.Second))
		default:
			at = at.Add(st.between(0, 3*time.Minute))
		}
		d.ensure(at, clock.Now())
		d.mu.RLock()
		got, want := d.points.aliveAt(at, d.generatedUntil), bruteAlive(d.points, at)
		d.mu.RUnlock()
		if !slices.Equal(got, want) {
			t.Fatalf("step %d at %v: %d points alive, want %d", step, at, len(got), len(want))
		}
	}
}

// A late task's point appears when EM shows the task completed, not
// before.
func TestReplicaPointsOfLateTasks(t *testing.T) {
	s := newTestServer(t, 3, withLateArrivals(TestTopology()), NewManualClock(testStart))
	var late TaskSession
	for _, ts := range s.TaskSessions(testStart.Add(2 * time.Hour)) {
		if ts.Lag > 0 && ts.Result == "Success" && ts.End.After(testStart) {
			late = ts
			break
		}
	}
	if late.UID == "" {
		t.Fatal("no late successful task after the start")
	}
	newest := func(at time.Time) time.Time {
		for _, rp := range s.ReplicaPoints(at) {
			if rp.BackupServer == late.BackupServer && rp.Replica == late.JobName && rp.VM == late.VM {
				return rp.Newest
			}
		}
		return time.Time{}
	}
	shown := late.End.Add(late.Lag + time.Microsecond)
	if sameInstant(newest(shown.Add(-2*time.Microsecond)), late.End) || !sameInstant(newest(shown), late.End) {
		t.Errorf("the point of %s (ended %v, %v late) is not there exactly from %v", late.Name, late.End, late.Lag, shown)
	}
}

// Point and CDP queries, retention changes and a moving clock must not
// race (run with -race).
func TestConcurrentPointAndCdpQueries(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Topology = DemoTopology(); c.IdleTimeout = 48 * time.Hour })
	token := h.logon()
	target := h.sim.ReplicaPoints(testStart)[0]
	var wg sync.WaitGroup
	for _, raw := range []string{
		"type=VmReplicaPoint&format=Entities&sortDesc=CreationTime&pageSize=50",
		"type=VmReplicaPoint&format=Entities&pageSize=50&page=3",
		"type=CdpReplicaTaskSession&format=Entities&sortDesc=CreationTimeUTC&pageSize=50",
	} {
		wg.Go(func() {
			for range 15 {
				resp, err := h.do(t.Context(), http.MethodGet, "/api/query?"+raw, token, nil)
				if err != nil || resp.status != http.StatusOK {
					t.Errorf("%s during clock moves: %d %v", raw, resp.status, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 30 {
			h.clock.Advance(7 * time.Minute)
			if i == 10 {
				h.sim.SetReplicaRetention(target.BackupServer, target.Replica, 2)
			}
			if len(h.sim.ReplicaPoints(h.clock.Now())) == 0 {
				t.Error("no restore points")
			}
		}
	})
	wg.Wait()
	checkPointsFollowSessionsWithin(t, h.sim.Server, h.clock.Now(), target, 2)
}
