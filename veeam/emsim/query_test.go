package emsim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestQueryPaging(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	want := h.sim.TaskSessions(testStart)
	const size = 100
	pages := (len(want) + size - 1) / size

	var got []string
	for page := 1; page <= pages; page++ {
		doc := h.query(token, fmt.Sprintf("type=ReplicaTaskSession&format=Entities&pageSize=%d&page=%d", size, page))
		if doc.Paging.PageNum != page || doc.Paging.PageSize != size || doc.Paging.PagesCount != pages {
			t.Fatalf("page %d: PagingInfo %+v, want %d pages", page, doc.Paging, pages)
		}
		next, hasNext := findLink(doc.Paging.Links, "Next", "")
		if hasNext != (page < pages) {
			t.Errorf("page %d of %d: Next link present = %v", page, pages, hasNext)
		}
		if hasNext && !strings.Contains(next.Href, fmt.Sprintf("page=%d", page+1)) {
			t.Errorf("Next link %q does not point at page %d", next.Href, page+1)
		}
		if _, ok := findLink(doc.Paging.Links, "Previous", ""); ok != (page > 1) {
			t.Errorf("page %d: Previous link present = %v", page, ok)
		}
		for _, rel := range []string{"First", "Last"} {
			if _, ok := findLink(doc.Paging.Links, rel, ""); !ok {
				t.Errorf("page %d: no %s link", page, rel)
			}
		}
		for _, task := range doc.Tasks {
			got = append(got, task.UID)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("paged through %d task sessions, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i].UID {
			t.Fatalf("entity %d is %s, want %s (ascending creation order)", i, got[i], want[i].UID)
		}
	}

	beyond := h.query(token, fmt.Sprintf("type=ReplicaTaskSession&format=Entities&pageSize=%d&page=%d", size, pages+3))
	if len(beyond.Tasks) != 0 || beyond.Paging.PagesCount != pages {
		t.Errorf("page beyond the end: %d entities, PagesCount %d; want none and %d", len(beyond.Tasks), beyond.Paging.PagesCount, pages)
	}
}

func TestQueryDefaultPageSize(t *testing.T) {
	for _, tc := range []struct {
		configured, want int
	}{{0, 15}, {40, 40}} {
		h := newHarness(t, func(c *Config) { c.DefaultPageSize = tc.configured })
		doc := h.query(h.logon(), "type=ReplicaTaskSession&format=Entities")
		if doc.Paging.PageSize != tc.want || len(doc.Tasks) != tc.want {
			t.Errorf("DefaultPageSize %d: PageSize %d with %d entities, want %d", tc.configured, doc.Paging.PageSize, len(doc.Tasks), tc.want)
		}
	}
}

func TestQuerySorting(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	all := h.sim.TaskSessions(testStart)
	creation := func(doc queryDoc) []string {
		var out []string
		for _, task := range doc.Tasks {
			out = append(out, trimmed(task.CreationTimeUTC))
		}
		return out
	}

	desc := h.query(token, "type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=50")
	if desc.Tasks[0].UID != all[len(all)-1].UID {
		t.Errorf("sortDesc starts with %s, want the newest %s", desc.Tasks[0].UID, all[len(all)-1].UID)
	}
	if !slices.IsSortedFunc(creation(desc), func(a, b string) int { return parseEM(t, b).Compare(parseEM(t, a)) }) {
		t.Error("sortDesc=CreationTime is not descending")
	}
	asc := h.query(token, "type=ReplicaTaskSession&format=Entities&sortAsc=creationtime&pageSize=50")
	if asc.Tasks[0].UID != all[0].UID {
		t.Errorf("sortAsc starts with %s, want the oldest %s", asc.Tasks[0].UID, all[0].UID)
	}

	bySize := h.query(token, "type=ReplicaTaskSession&format=Entities&sortDesc=TotalSize&pageSize=1000")
	if !slices.IsSortedFunc(bySize.Tasks, func(a, b taskDoc) int {
		return strings.Compare(fmt.Sprintf("%020s", trimmed(b.TotalSize)), fmt.Sprintf("%020s", trimmed(a.TotalSize)))
	}) {
		t.Error("sortDesc=TotalSize is not descending")
	}

	// A filtered, descending query pages from the newest match.
	second := h.query(token, "type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=5&page=2&filter=Result==Failed")
	var failed []TaskSession
	for _, ts := range all {
		if ts.Result == "Failed" {
			failed = append(failed, ts)
		}
	}
	slices.Reverse(failed)
	for i, task := range second.Tasks {
		if task.UID != failed[5+i].UID {
			t.Fatalf("filtered descending page 2 item %d is %s, want %s", i, task.UID, failed[5+i].UID)
		}
	}
}

func parseEM(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestQueryFilterOverHTTP sends filters the ways clients do: literal
// separators, percent-encoded ones, '+' for a space, quotes.
func TestQueryFilterOverHTTP(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	all := h.sim.TaskSessions(testStart)
	since := testStart.Add(-6 * time.Hour)
	count := func(keep func(TaskSession) bool) int {
		n := 0
		for _, ts := range all {
			if keep(ts) {
				n++
			}
		}
		return n
	}
	recentFailed := count(func(ts TaskSession) bool { return ts.Result == "Failed" && !ts.Creation.Before(since) })
	cases := []struct {
		name, rawFilter string
		want            int
	}{
		{"literal ;", "Result==Failed;CreationTime>=" + emTime(since), recentFailed},
		{"percent-encoded ;", "Result%3D%3DFailed%3BCreationTime%3E%3D" + url.QueryEscape(emTime(since)), recentFailed},
		{"quoted date", `CreationTime>="` + emTime(since) + `";Result==Failed`, recentFailed},
		{"quoted value with , and quotes", url.QueryEscape(`VmDisplayName=="fs01, ""legacy"""`), count(func(ts TaskSession) bool { return ts.VM == `fs01, "legacy"` })},
		{"quoted value with ;", url.QueryEscape(`VmDisplayName=="app;db"`), count(func(ts TaskSession) bool { return ts.VM == "app;db" })},
		{"+ as a space", `JobName=="Replica@DR+site"`, count(func(ts TaskSession) bool { return ts.JobName == "Replica@DR site" })},
		{"non-ASCII", url.QueryEscape(`VmDisplayName==数据库-01`), count(func(ts TaskSession) bool { return ts.VM == "数据库-01" })},
		{"backslash", url.QueryEscape(`VmDisplayName=="C:\share\vm"`), count(func(ts TaskSession) bool { return ts.VM == `C:\share\vm` })},
		{"or", "Result==Failed,Result==Warning", count(func(ts TaskSession) bool { return ts.Result == "Failed" || ts.Result == "Warning" })},
		{"enum order", "Result>=Warning", count(func(ts TaskSession) bool { return ts.Result == "Failed" || ts.Result == "Warning" })},
		{"parentheses", "(Result==Failed,Result==Warning);CreationTime>=" + emTime(since), count(func(ts TaskSession) bool {
			return (ts.Result == "Failed" || ts.Result == "Warning") && !ts.Creation.Before(since)
		})},
		{"running", "State!=Completed", count(func(ts TaskSession) bool { return ts.State != "Completed" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == 0 {
				t.Fatal("the case selects nothing; it would not test anything")
			}
			doc := h.query(token, "type=ReplicaTaskSession&format=Entities&pageSize=5000&filter="+tc.rawFilter)
			if len(doc.Tasks) != tc.want {
				t.Errorf("%d task sessions, want %d", len(doc.Tasks), tc.want)
			}
		})
	}
}

func TestQueryJobSessions(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	all := h.sim.JobSessions(testStart)
	doc := h.query(token, "type=ReplicaJobSession&format=Entities&pageSize=5000&filter=IsRetry==true")
	retries := 0
	for _, js := range all {
		if js.IsRetry {
			retries++
		}
	}
	if len(doc.Jobs) != retries || retries == 0 {
		t.Fatalf("%d retry job sessions over HTTP, want %d", len(doc.Jobs), retries)
	}
	doc = h.query(token, "type=ReplicaJobSession&format=Entities&pageSize=5000")
	byUID := map[string]JobSession{}
	for _, js := range all {
		byUID[js.UID] = js
	}
	for _, j := range doc.Jobs {
		js := byUID[j.UID]
		if j.Type != "ReplicaJobSession" || j.Name != js.Name || trimmed(j.JobName) != js.JobName || trimmed(j.JobUid) != js.JobUID ||
			trimmed(j.JobType) != "Replica" || trimmed(j.State) != js.State || trimmed(j.Result) != js.Result ||
			trimmed(j.IsRetry) != fmt.Sprint(js.IsRetry) || trimmed(j.Progress) != fmt.Sprint(js.Progress) {
			t.Fatalf("job session over HTTP %+v differs from the truth %+v", j, js)
		}
		if (j.EndTimeUTC == nil) != js.End.IsZero() {
			t.Errorf("%s: EndTimeUTC present = %v while state is %s", j.Name, j.EndTimeUTC != nil, js.State)
		}
		server, okServer := findLink(j.Links, "Up", "BackupServerReference")
		job, okJob := findLink(j.Links, "Up", "JobReference")
		_, okDown := findLink(j.Links, "Down", "ReplicaTaskSessionReferenceList")
		if !okServer || server.Name != js.BackupServer || !okJob || job.Name != js.JobName || !okDown {
			t.Errorf("%s: links %+v", j.Name, j.Links)
		}
	}
}

// TestTaskEntitiesMatchTheTruth checks every rendered field of every task
// session, including the hard names through XML escaping.
func TestTaskEntitiesMatchTheTruth(t *testing.T) {
	h := newHarness(t, nil)
	h.clock.Advance(17 * time.Minute)
	now := h.clock.Now()
	token := h.logon()
	resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaTaskSession&format=Entities&pageSize=5000", token, nil)
	if ct := resp.header.Get("Content-Type"); ct != "application/xml; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	doc := decodeQuery(t, resp.body)
	truth := h.sim.TaskSessions(now)
	if len(doc.Tasks) != len(truth) {
		t.Fatalf("%d task sessions over HTTP, want %d", len(doc.Tasks), len(truth))
	}
	names := map[string]bool{}
	padded := 0
	for i, task := range doc.Tasks {
		ts := truth[i]
		names[task.VmDisplayName] = true
		server, _ := findLink(task.Links, "Up", "BackupServerReference")
		names[server.Name] = true
		parent, _ := findLink(task.Links, "Up", "ReplicaJobSessionReference")
		if cut := len(parent.Name) - len("@2006-01-02 15:04:05"); cut > 0 {
			names[parent.Name[:cut]] = true
		}
		if task.Type != "ReplicaTaskSession" || task.UID != ts.UID || task.Name != ts.Name || task.VmDisplayName != ts.VM ||
			server.Name != ts.BackupServer || parent.Name != ts.JobSessionName || trimmed(task.JobSessionUid) != ts.JobSessionUID ||
			trimmed(task.State) != ts.State || trimmed(task.Result) != ts.Result || trimmed(task.Reason) != ts.Reason ||
			trimmed(task.TotalSize) != fmt.Sprint(ts.TotalSize) {
			t.Fatalf("task session over HTTP\n%+v\ndiffers from the truth\n%+v", task, ts)
		}
		if !parseEM(t, trimmed(task.CreationTimeUTC)).Equal(ts.Creation) {
			t.Errorf("%s: CreationTimeUTC %q, want %v exactly", ts.Name, task.CreationTimeUTC, ts.Creation)
		}
		if (task.EndTimeUTC == nil) != ts.End.IsZero() || task.EndTimeUTC != nil && !parseEM(t, trimmed(*task.EndTimeUTC)).Equal(ts.End) {
			t.Errorf("%s: EndTimeUTC %v, want %v", ts.Name, task.EndTimeUTC, ts.End)
		}
		if !strings.HasSuffix(trimmed(task.CreationTimeUTC), "Z") {
			t.Errorf("%s: CreationTimeUTC %q is not UTC with Z", ts.Name, task.CreationTimeUTC)
		}
		if task.State != trimmed(task.State) {
			padded++
		}
		if _, ok := findLink(task.Links, "Alternate", "ReplicaTaskSessionReference"); !ok {
			t.Errorf("%s: no Alternate link", ts.Name)
		}
	}
	servers, jobs, vms := HardNames()
	for _, n := range slices.Concat(servers, jobs, vms) {
		if !names[n] {
			t.Errorf("hard name %q did not come through XML intact", n)
		}
	}
	if padded == 0 || padded > len(doc.Tasks)/4 {
		t.Errorf("%d of %d task sessions padded with whitespace, want a minority", padded, len(doc.Tasks))
	}
}

func TestQueryReferences(t *testing.T) {
	h := newHarness(t, nil)
	doc := h.query(h.logon(), "type=ReplicaTaskSession&pageSize=3")
	if len(doc.Refs) != 3 || len(doc.Tasks) != 0 {
		t.Fatalf("%d refs and %d entities, want 3 refs", len(doc.Refs), len(doc.Tasks))
	}
	first := h.sim.TaskSessions(testStart)[0]
	ref := doc.Refs[0]
	if ref.UID != first.UID || ref.Name != first.Name || ref.Type != "ReplicaTaskSessionReference" || !strings.Contains(ref.Href, "/api/replicaTaskSessions/") {
		t.Errorf("reference %+v, want the oldest task session %s", ref, first.UID)
	}
}

func TestQueryBadRequests(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	cases := map[string]string{
		"format=Entities":                                        "type is required",
		"type=BackupCopyJob":                                     "Unknown query type",
		"type=ReplicaTaskSession&pageSize=0":                     "pageSize",
		"type=ReplicaTaskSession&pageSize=ten":                   "pageSize",
		"type=ReplicaTaskSession&page=-1":                        "page",
		"type=ReplicaTaskSession&format=Json":                    "format",
		"type=ReplicaTaskSession&sortAsc=Colour":                 "unknown field",
		"type=ReplicaTaskSession&sortAsc=Name&sortDesc=Name":     "either sortAsc or sortDesc",
		"type=ReplicaTaskSession&filter=":                        "empty",
		"type=ReplicaTaskSession&filter=Colour==red":             "unknown field",
		"type=ReplicaTaskSession&filter=CreationTime>=yesterday": "UTC",
		"type=ReplicaTaskSession&filter=%zz":                     "malformed",
	}
	for raw, want := range cases {
		resp := h.mustDo(http.MethodGet, "/api/query?"+raw, token, nil)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", raw, resp.status)
			continue
		}
		doc := decodeError(t, resp.body)
		if doc.StatusCode != 400 || doc.Status != "BadRequest" || !strings.Contains(doc.Message, want) {
			t.Errorf("%s: Error %+v, want a message with %q", raw, doc, want)
		}
	}
	if resp := h.mustDo(http.MethodPost, "/api/query?type=ReplicaTaskSession", token, nil); resp.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/query: %d, want 405", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, "/api/jobs", token, nil); resp.status != http.StatusNotFound {
		t.Errorf("GET /api/jobs: %d, want 404", resp.status)
	}
}

// The Hrefs of paging links are XML-escaped and usable as they are.
func TestPagingLinksAreFollowable(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	raw := "type=ReplicaTaskSession&format=Entities&pageSize=4&filter=" + url.QueryEscape(`VmDisplayName=="app;db",Result==Failed`)
	resp := h.mustDo(http.MethodGet, "/api/query?"+raw, token, nil)
	if !strings.Contains(resp.body, "&amp;pageSize=4") {
		t.Error("paging Hrefs are not XML-escaped")
	}
	doc := decodeQuery(t, resp.body)
	next, ok := findLink(doc.Paging.Links, "Next", "")
	if !ok {
		t.Fatal("no Next link")
	}
	u, err := url.Parse(next.Href)
	if err != nil {
		t.Fatal(err)
	}
	second := h.query(token, u.RawQuery)
	if second.Paging.PageNum != 2 || second.Paging.PagesCount != doc.Paging.PagesCount || second.Tasks[0].UID == doc.Tasks[0].UID {
		t.Errorf("following Next gave %+v", second.Paging)
	}
}

func TestRootNeedsNoLogon(t *testing.T) {
	h := newHarness(t, nil)
	resp := h.mustDo(http.MethodGet, "/api/", "", nil)
	var doc struct {
		XMLName  xml.Name  `xml:"http://www.veeam.com/ent/v1.0 EnterpriseManager"`
		Links    []linkDoc `xml:"Links>Link"`
		Versions []struct {
			Name string `xml:",attr"`
		} `xml:"SupportedVersions>SupportedVersion"`
	}
	if err := xml.Unmarshal([]byte(resp.body), &doc); err != nil || resp.status != http.StatusOK {
		t.Fatalf("GET /api/: %d %v\n%s", resp.status, err, resp.body)
	}
	var versions []string
	for _, v := range doc.Versions {
		versions = append(versions, v.Name)
	}
	if !slices.Equal(versions, []string{"v1_5", "v1_6", "v1_7"}) {
		t.Errorf("supported versions %v", versions)
	}
	if l, ok := findLink(doc.Links, "Create", "LogonSession"); !ok || !strings.HasSuffix(l.Href, "/api/sessionMngr/?v=latest") {
		t.Errorf("logon link %+v", doc.Links)
	}
}
