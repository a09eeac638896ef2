package veeam

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// pointCdpPage renders a QueryResult page of typ with a valid entity per
// UID, but for a UID starting with "bad", whose entity has no UID.
func pointCdpPage(typ string, page, pagesCount int, uids ...string) string {
	var b strings.Builder
	for _, uid := range uids {
		entity := pointCdpEntity(typ, uid, func(s string) string { return s })
		if strings.HasPrefix(uid, "bad") {
			entity = strings.Replace(entity, ` UID="urn:veeam:`+typ+`:`+uid+`"`, "", 1)
		}
		b.WriteString(entity)
	}
	return strings.Replace(wrapBackupQueryResult(typ+"s", b.String()),
		`<PagingInfo PageNum="1" PageSize="100" PagesCount="3"/>`,
		fmt.Sprintf(`<PagingInfo PageNum="%d" PageSize="2" PagesCount="%d"/>`, page, pagesCount), 1)
}

// The window of the tests below: Since is rounded down to its second.
var (
	testSince = time.Date(2026, 1, 1, 0, 0, 0, 700e6, time.UTC)
	testUntil = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
)

// pointCdpQuery runs one query of the new types to the end, with the raw
// order and filter it must send.
type pointCdpQuery struct {
	typ, order, filter string
	run                func(ctx context.Context, c *Client) ([]string, QueryStats, error)
}

func pointCdpQueries() []pointCdpQuery {
	const (
		createdUTC = "CreationTimeUTC%3E%3D%222026-01-01T00%3A00%3A00Z%22;CreationTimeUTC%3C%222026-01-02T00%3A00%3A00Z%22"
		created    = "CreationTime%3E%3D%222026-01-01T00%3A00%3A00Z%22;CreationTime%3C%222026-01-02T00%3A00%3A00Z%22"
	)
	window := Created(Window{Since: testSince, Until: testUntil})
	return []pointCdpQuery{
		{VmReplicaPointType, "sortDesc=CreationTime", `ReplicaName%3D%3D%22Replica%20Job%201%22;` + created,
			func(ctx context.Context, c *Client) ([]string, QueryStats, error) {
				sel := PointSelection{ReplicaName: "Replica Job 1", Created: Window{Since: testSince, Until: testUntil}}
				return collectUIDs(func(ctx context.Context, each func(Page[VmReplicaPoint]) error) (QueryStats, error) {
					return c.VmReplicaPoints(ctx, sel, each)
				}, func(p *VmReplicaPoint) string { return p.UID })(ctx, c)
			}},
		{CdpPolicyType, "sortAsc=UID", "", func(ctx context.Context, c *Client) ([]string, QueryStats, error) {
			return collectUIDs(c.CdpPolicies, func(p *CdpPolicy) string { return p.UID })(ctx, c)
		}},
		{CdpReplicaSessionType, "sortDesc=CreationTimeUTC", createdUTC,
			func(ctx context.Context, c *Client) ([]string, QueryStats, error) {
				return collectUIDs(func(ctx context.Context, each func(Page[CdpReplicaSession]) error) (QueryStats, error) {
					return c.CdpReplicaSessions(ctx, window, each)
				}, func(s *CdpReplicaSession) string { return s.UID })(ctx, c)
			}},
		{CdpReplicaTaskSessionType, "sortDesc=CreationTimeUTC", createdUTC,
			func(ctx context.Context, c *Client) ([]string, QueryStats, error) {
				return collectUIDs(func(ctx context.Context, each func(Page[CdpReplicaTaskSession]) error) (QueryStats, error) {
					return c.CdpReplicaTaskSessions(ctx, window, each)
				}, func(s *CdpReplicaTaskSession) string { return s.UID })(ctx, c)
			}},
	}
}

// Every new query asks for its type's entities in its order, with its
// filter, and pages as the session queries do: every announced page is
// read, an entity a page repeats from the one before is handed over once,
// an invalid one is counted and skipped.
func TestPointCdpQueriesFollowPaging(t *testing.T) {
	for _, q := range pointCdpQueries() {
		t.Run(q.typ, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				switch page := pageParam(t, r); page {
				case 1:
					writeXML(w, pointCdpPage(q.typ, 1, 3, "a", "b"))
				case 2:
					// c arrived while the client paged: b moved here.
					writeXML(w, pointCdpPage(q.typ, 2, 3, "b", "bad1"))
				case 3:
					writeXML(w, pointCdpPage(q.typ, 3, 3, "d"))
				default:
					writeXML(w, pointCdpPage(q.typ, page, 3))
				}
			}
			c := newTestClient(t, f, func(cfg *Config) { cfg.PageSize = 2 })
			t.Cleanup(c.Close)
			uids, stats, err := q.run(testContext(t), c)
			if err != nil {
				t.Fatal(err)
			}
			prefix := "urn:veeam:" + q.typ + ":"
			want := []string{prefix + "a", prefix + "b", prefix + "d"}
			if !slices.Equal(uids, want) || stats.Pages != 3 || stats.Invalid != 1 || stats.Entities != 3 || stats.Truncated {
				t.Errorf("UIDs %v, stats %+v; want %v over 3 pages with 1 invalid", uids, stats, want)
			}
			queries := f.rawQueries()
			slices.Sort(queries)
			for i, raw := range queries {
				wantRaw := fmt.Sprintf("type=%s&format=Entities&%s&pageSize=2&page=%d", q.typ, q.order, i+1)
				if q.filter != "" {
					wantRaw += "&filter=" + q.filter
				}
				if raw != wantRaw {
					t.Errorf("query\n%s\nwant\n%s", raw, wantRaw)
				}
			}
			if n := c.Stats().RequestsByOutcome[RequestKey{q.typ, OutcomeSuccess}]; n != 3 {
				t.Errorf("%d successful %s requests counted, want 3", n, q.typ)
			}
		})
	}
}

// A PointSelection filters on the fields it sets, with every value quoted
// and CreationTime as the name of CreationTimeUTC; a count sends the same
// filter.
func TestVmReplicaPointsFilter(t *testing.T) {
	cases := []struct {
		name  string
		sel   PointSelection
		want  string // raw query-string form
		means string // what EM reads after percent-decoding
	}{
		{name: "everything", sel: PointSelection{}},
		{
			name:  "server and replica",
			sel:   PointSelection{BackupServerName: "vbr01", ReplicaName: "Replica Job 1"},
			want:  "BackupServerName%3D%3D%22vbr01%22;ReplicaName%3D%3D%22Replica%20Job%201%22",
			means: `BackupServerName=="vbr01";ReplicaName=="Replica Job 1"`,
		},
		{
			name:  "quotes, separators and ampersands in a name",
			sel:   PointSelection{ReplicaName: `Replica "Gold", DR & test; 2`},
			want:  "ReplicaName%3D%3D%22Replica%20%22%22Gold%22%22%2C%20DR%20%26%20test%3B%202%22",
			means: `ReplicaName=="Replica ""Gold"", DR & test; 2"`,
		},
		{
			name:  "since",
			sel:   PointSelection{Created: Window{Since: testSince}},
			want:  "CreationTime%3E%3D%222026-01-01T00%3A00%3A00Z%22",
			means: `CreationTime>="2026-01-01T00:00:00Z"`,
		},
		{
			name: "all of them",
			sel:  PointSelection{BackupServerName: "vbr-zürich-02", ReplicaName: "r", Created: Window{Since: testSince, Until: testUntil}},
			want: "BackupServerName%3D%3D%22vbr-z%C3%BCrich-02%22;ReplicaName%3D%3D%22r%22;" +
				"CreationTime%3E%3D%222026-01-01T00%3A00%3A00Z%22;CreationTime%3C%222026-01-02T00%3A00%3A00Z%22",
			means: `BackupServerName=="vbr-zürich-02";ReplicaName=="r";CreationTime>="2026-01-01T00:00:00Z";CreationTime<"2026-01-02T00:00:00Z"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if decoded, err := url.PathUnescape(tc.want); err != nil || decoded != tc.means {
				t.Fatalf("the test's own want decodes to %s, %v; want %s", decoded, err, tc.means)
			}
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				page := readTestdata(t, "vm_replica_points.xml")
				if r.URL.Query().Get("pageSize") == "1" {
					page = strings.Replace(page, `PageSize="100" PagesCount="1"`, `PageSize="1" PagesCount="17"`, 1)
				}
				writeXML(w, page)
			}
			c := newTestClient(t, f, func(cfg *Config) { cfg.PageSize = 1000 })
			t.Cleanup(c.Close)
			var points []VmReplicaPoint
			stats, err := c.VmReplicaPoints(testContext(t), tc.sel, func(p Page[VmReplicaPoint]) error {
				points = append(points, p.Items...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			count, err := c.CountVmReplicaPoints(testContext(t), tc.sel)
			if err != nil || count.N != 17 || !count.Exact {
				t.Errorf("count %+v, %v; want exactly 17", count, err)
			}
			filter := ""
			if tc.want != "" {
				filter = "&filter=" + tc.want
			}
			want := []string{
				"type=VmReplicaPoint&format=Entities&sortDesc=CreationTime&pageSize=1000&page=1" + filter,
				"type=VmReplicaPoint&format=Entities&sortDesc=CreationTime&pageSize=1&page=1" + filter,
			}
			if got := f.rawQueries(); !slices.Equal(got, want) {
				t.Errorf("queries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(points) != 3 || stats.Entities != 3 || stats.Pages != 1 {
				t.Errorf("%d points, stats %+v; want the 3 of one page", len(points), stats)
			}
		})
	}
}

// The CDP sessions are filtered and sorted on CreationTimeUTC and
// EndTimeUTC, by their own long states; the counts send the same filters.
func TestCdpSessionSelectionFilter(t *testing.T) {
	at := func(hour int) time.Time { return time.Date(2026, 1, 1, hour, 0, 0, 500, time.UTC) }
	ts := func(hour int) string { return fmt.Sprintf("%%222026-01-01T%02d%%3A00%%3A00Z%%22", hour) }
	sel := Selection{
		{Created: Window{Since: at(6), Until: at(7)}},
		{Created: Window{Since: at(1), Until: at(6)}, Ended: Window{Since: at(5), Until: at(7)}},
		{Created: Window{Since: at(1), Until: at(6)}, Transitional: true},
	}
	clauses := func(longStates string) string {
		return "(CreationTimeUTC%3E%3D" + ts(6) + ";CreationTimeUTC%3C" + ts(7) + ")," +
			"(CreationTimeUTC%3E%3D" + ts(1) + ";CreationTimeUTC%3C" + ts(6) + ";EndTimeUTC%3E%3D" + ts(5) + ";EndTimeUTC%3C" + ts(7) + ")," +
			"(CreationTimeUTC%3E%3D" + ts(1) + ";CreationTimeUTC%3C" + ts(6) + ";" + longStates + ")"
	}
	jobFilter := clauses("State%21%3D%22Working%22;State%21%3D%22Stopped%22")
	taskFilter := clauses("State%21%3D%22InProgress%22;State%21%3D%22Completed%22")
	const means = `(CreationTimeUTC>="2026-01-01T06:00:00Z";CreationTimeUTC<"2026-01-01T07:00:00Z"),` +
		`(CreationTimeUTC>="2026-01-01T01:00:00Z";CreationTimeUTC<"2026-01-01T06:00:00Z";EndTimeUTC>="2026-01-01T05:00:00Z";EndTimeUTC<"2026-01-01T07:00:00Z"),` +
		`(CreationTimeUTC>="2026-01-01T01:00:00Z";CreationTimeUTC<"2026-01-01T06:00:00Z";State!="Working";State!="Stopped")`
	if decoded, err := url.PathUnescape(jobFilter); err != nil || decoded != means {
		t.Fatalf("the test's own filter decodes to %s, %v", decoded, err)
	}

	f := newFakeEM(t, false)
	f.query = func(w http.ResponseWriter, r *http.Request) {
		page := pointCdpPage(r.URL.Query().Get("type"), 1, 1, "a")
		if r.URL.Query().Get("pageSize") == "1" {
			page = strings.Replace(page, `PageSize="2" PagesCount="1"`, `PageSize="1" PagesCount="9"`, 1)
		}
		writeXML(w, page)
	}
	c := newTestClient(t, f, func(cfg *Config) { cfg.PageSize = 50 })
	t.Cleanup(c.Close)
	ctx := testContext(t)
	sessions, err := collect(ctx, c.CdpReplicaSessions, sel)
	if err != nil || len(sessions.Items) != 1 {
		t.Fatalf("sessions %+v, %v", sessions, err)
	}
	tasks, err := collect(ctx, c.CdpReplicaTaskSessions, sel)
	if err != nil || len(tasks.Items) != 1 {
		t.Fatalf("task sessions %+v, %v", tasks, err)
	}
	for _, typ := range []string{CdpReplicaSessionType, CdpReplicaTaskSessionType} {
		if n, err := c.CountSessions(ctx, typ, sel); err != nil || n.N != 9 || !n.Exact {
			t.Errorf("count of %s: %+v, %v; want exactly 9", typ, n, err)
		}
	}
	want := []string{
		"type=CdpReplicaSession&format=Entities&sortDesc=CreationTimeUTC&pageSize=50&page=1&filter=" + jobFilter,
		"type=CdpReplicaTaskSession&format=Entities&sortDesc=CreationTimeUTC&pageSize=50&page=1&filter=" + taskFilter,
		"type=CdpReplicaSession&format=Entities&sortDesc=CreationTimeUTC&pageSize=1&page=1&filter=" + jobFilter,
		"type=CdpReplicaTaskSession&format=Entities&sortDesc=CreationTimeUTC&pageSize=1&page=1&filter=" + taskFilter,
	}
	if got := f.rawQueries(); !slices.Equal(got, want) {
		t.Errorf("queries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
