package veeam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFilterEncode(t *testing.T) {
	cases := []struct {
		name   string
		filter Filter
		want   string // raw query-string form
		means  string // what EM reads after percent-decoding
	}{
		{
			name:   "time",
			filter: Filter{{"CreationTime", OpGreaterOrEqual, "2025-08-15T06:00:00Z"}},
			want:   "CreationTime%3E%3D%222025-08-15T06%3A00%3A00Z%22",
			means:  `CreationTime>="2025-08-15T06:00:00Z"`,
		},
		{
			name:   "space is %20, never +",
			filter: Filter{{"JobName", OpEqual, "Replication Job 2"}},
			want:   "JobName%3D%3D%22Replication%20Job%202%22",
			means:  `JobName=="Replication Job 2"`,
		},
		{
			name:   "inner quotes are doubled",
			filter: Filter{{"JobName", OpNotEqual, `SQL "Tier-1"`}},
			want:   "JobName%21%3D%22SQL%20%22%22Tier-1%22%22%22",
			means:  `JobName!="SQL ""Tier-1"""`,
		},
		{
			name:   "separators and URL syntax inside a value",
			filter: Filter{{"VmDisplayName", OpEqual, "a;b,c&d+e#f%g=h?i/j"}},
			want:   "VmDisplayName%3D%3D%22a%3Bb%2Cc%26d%2Be%23f%25g%3Dh%3Fi%2Fj%22",
			means:  `VmDisplayName=="a;b,c&d+e#f%g=h?i/j"`,
		},
		{
			name:   "non-ASCII as UTF-8 bytes",
			filter: Filter{{"BackupServerName", OpEqual, "vbr-zürich 数据"}},
			want:   "BackupServerName%3D%3D%22vbr-z%C3%BCrich%20%E6%95%B0%E6%8D%AE%22",
			means:  `BackupServerName=="vbr-zürich 数据"`,
		},
		{
			name:   "unreserved characters stay",
			filter: Filter{{"Name", OpLess, "A-z_0.9~"}},
			want:   "Name%3C%22A-z_0.9~%22",
			means:  `Name<"A-z_0.9~"`,
		},
		{
			name:   "empty value",
			filter: Filter{{"Reason", OpEqual, ""}},
			want:   "Reason%3D%3D%22%22",
			means:  `Reason==""`,
		},
		{
			name: "conditions are joined by a literal ;",
			filter: Filter{
				{"Result", OpGreater, "Success"},
				{"VmDisplayName", OpLessOrEqual, "app;db"},
				{"State", OpEqual, "Completed"},
			},
			want:  "Result%3E%22Success%22;VmDisplayName%3C%3D%22app%3Bdb%22;State%3D%3D%22Completed%22",
			means: `Result>"Success";VmDisplayName<="app;db";State=="Completed"`,
		},
		{name: "no conditions", filter: nil, want: "", means: ""},
	}
	safe := regexp.MustCompile(`^([A-Za-z0-9._~;-]|%[0-9A-F]{2})*$`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.filter.Encode()
			if got != tc.want {
				t.Errorf("Encode() = %s\nwant       %s", got, tc.want)
			}
			if !safe.MatchString(got) {
				t.Errorf("Encode() = %s has a byte that is neither unreserved, escaped nor ';'", got)
			}
			decoded, err := url.PathUnescape(got)
			if err != nil || decoded != tc.means {
				t.Errorf("decoded = %s, %v; want %s", decoded, err, tc.means)
			}
		})
	}
}

func TestWindowFilterRoundsDownToUTCSeconds(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	since := time.Date(2025, 8, 15, 8, 0, 0, 999999999, cest)
	until := time.Date(2025, 8, 15, 9, 30, 5, 500e6, cest)
	for _, tc := range []struct {
		name   string
		window Window
		want   Filter
	}{
		{"open", Window{}, nil},
		{"since", Window{Since: since}, Filter{{"CreationTime", OpGreaterOrEqual, "2025-08-15T06:00:00Z"}}},
		{"until", Window{Until: until}, Filter{{"CreationTime", OpLess, "2025-08-15T07:30:05Z"}}},
		{"both", Window{Since: since, Until: until}, Filter{
			{"CreationTime", OpGreaterOrEqual, "2025-08-15T06:00:00Z"},
			{"CreationTime", OpLess, "2025-08-15T07:30:05Z"},
		}},
	} {
		if got := taskSessionFields.conditions(Clause{Created: tc.window}); !slices.Equal(got, tc.want) {
			t.Errorf("%s: filter = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestQueryFollowsPaging(t *testing.T) {
	f := newFakeEM(t, false)
	// Newest first, as asked.
	pages := [][]taskSession{
		{completed("e"), completed("d")},
		{completed("c"), completed("b")},
		{completed("a")},
	}
	f.query = func(w http.ResponseWriter, r *http.Request) {
		page := pageParam(t, r)
		writeXML(w, queryResult(page, 2, len(pages), pages[page-1]...))
	}
	c := newTestClient(t, f, func(cfg *Config) { cfg.PageSize = 2 })
	since := time.Date(2025, 8, 15, 6, 0, 0, 500e6, time.UTC)
	res, err := replicaTasks(testContext(t), c, Window{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, s := range res.Items {
		uids = append(uids, strings.TrimPrefix(s.UID, "urn:veeam:ReplicaTaskSession:"))
	}
	if got := strings.Join(uids, ","); got != "a,b,c,d,e" {
		t.Errorf("items %s, want a,b,c,d,e: EM's order turned round", got)
	}
	if res.Pages != 3 || res.Invalid != 0 || res.Bytes < 2000 {
		t.Errorf("Pages %d, Invalid %d, Bytes %d; want 3, 0 and the bodies' size", res.Pages, res.Invalid, res.Bytes)
	}
	queries := f.rawQueries()
	// Pages after the first are fetched concurrently, in any order.
	slices.Sort(queries)
	if len(queries) != 3 {
		t.Fatalf("%d requests, want 3", len(queries))
	}
	for i, q := range queries {
		want := "type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=2&page=" +
			string(rune('1'+i)) + "&filter=CreationTime%3E%3D%222025-08-15T06%3A00%3A00Z%22"
		if q != want {
			t.Errorf("request %d query\n%s\nwant\n%s", i+1, q, want)
		}
	}
}

func TestQueryKeepsFilterSeparatorsLiteral(t *testing.T) {
	// Values are quoted and escaped; the ';' between conditions stays
	// literal.
	filter := Filter{{"State", OpEqual, "Completed"}, {"VmDisplayName", OpEqual, "app;db, 2"}}
	const want = `State%3D%3D%22Completed%22;VmDisplayName%3D%3D%22app%3Bdb%2C%202%22`
	if got := filter.Encode(); got != want {
		t.Errorf("filter %s\nwant %s", got, want)
	}
}

// A selection of several clauses is an OR of parenthesized ANDs, with the
// filter names of the query type, and the separators literal.
func TestSelectionFilter(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	c := newTestClient(t, f, nil)
	at := func(hour int) time.Time { return time.Date(2025, 8, 15, hour, 0, 0, 500, time.UTC) }
	sel := Selection{
		{Created: Window{Since: at(6), Until: at(7)}},
		{Created: Window{Since: at(1), Until: at(6)}, Ended: Window{Since: at(5), Until: at(7)}},
		{Created: Window{Since: at(1), Until: at(6)}, Transitional: true},
	}
	if _, err := replicaTaskQueryFiltered(t, c, sel); err != nil {
		t.Fatal(err)
	}
	if _, err := collect(testContext(t), c.ReplicaJobSessions, sel[2:]); err != nil {
		t.Fatal(err)
	}
	q := f.rawQueries()
	time := func(hour int) string { return fmt.Sprintf("%%222025-08-15T%02d%%3A00%%3A00Z%%22", hour) }
	wantTask := "&filter=(CreationTime%3E%3D" + time(6) + ";CreationTime%3C" + time(7) + ")," +
		"(CreationTime%3E%3D" + time(1) + ";CreationTime%3C" + time(6) + ";EndTime%3E%3D" + time(5) + ";EndTime%3C" + time(7) + ")," +
		"(CreationTime%3E%3D" + time(1) + ";CreationTime%3C" + time(6) + ";State%21%3D%22InProgress%22;State%21%3D%22Completed%22)"
	if !strings.HasSuffix(q[0], wantTask) {
		t.Errorf("task query %s\ndoes not end with %s", q[0], wantTask)
	}
	wantJob := "&filter=CreationTime%3E%3D" + time(1) + ";CreationTime%3C" + time(6) + ";State%21%3D%22Working%22;State%21%3D%22Stopped%22"
	if !strings.HasSuffix(q[1], wantJob) {
		t.Errorf("job query %s\ndoes not end with %s", q[1], wantJob)
	}
}

func replicaTaskQueryFiltered(t *testing.T, c *Client, sel Selection) (collected[ReplicaTaskSession], error) {
	t.Helper()
	return collect(testContext(t), c.ReplicaTaskSessions, sel)
}

func TestSelectionMatchesAsTheFilter(t *testing.T) {
	at := func(minute, second int, nanos int) time.Time {
		return time.Date(2025, 8, 15, 6, minute, second, nanos, time.UTC)
	}
	c := Clause{Created: Window{Since: at(0, 10, 700), Until: at(5, 0, 900)}, Ended: Window{Since: at(3, 0, 0)}}
	cases := []struct {
		created, ended time.Time
		want           bool
	}{
		{at(0, 10, 0), at(4, 0, 0), true},          // Since rounds down to its second
		{at(0, 9, 999), at(4, 0, 0), false},        // before it
		{at(5, 0, 0), at(6, 0, 0), false},          // Until rounds down too
		{at(4, 59, 999999), at(6, 0, 0), true},     // just before it
		{at(1, 0, 0), time.Time{}, false},          // running: no end
		{at(1, 0, 0), at(2, 59, 999999999), false}, // ended before Ended.Since
	}
	for _, tc := range cases {
		if got := c.Matches(tc.created, tc.ended, false); got != tc.want {
			t.Errorf("created %s ended %s: Matches = %v, want %v", tc.created, tc.ended, got, tc.want)
		}
	}
	transitional := Clause{Transitional: true}
	if transitional.Matches(at(1, 0, 0), time.Time{}, false) || !transitional.Matches(at(1, 0, 0), time.Time{}, true) {
		t.Error("a Transitional clause must keep the sessions in a transitional state only")
	}
	if !(Selection{}).Matches(at(1, 0, 0), time.Time{}, false) {
		t.Error("an empty selection must select every session")
	}
	if !(Selection{{Created: Window{Until: at(1, 0, 0)}}, c}).Matches(at(4, 0, 0), at(4, 30, 0), false) {
		t.Error("a selection must keep what any clause keeps")
	}
}

func TestQueryStopsEarly(t *testing.T) {
	cases := []struct {
		name      string
		page      func(page int) string
		wantPages int
		wantItems int
		// maxRequests exceeds wantPages when pages announced by the first
		// may be requested concurrently past the empty one; merging the
		// empty one cancels them.
		maxRequests int
	}{
		{
			name: "empty page before PagesCount",
			page: func(page int) string {
				if page == 1 {
					return queryResult(1, 2, 5, completed("a"), completed("b"))
				}
				return queryResult(page, 2, 5)
			},
			wantPages: 2, wantItems: 2, maxRequests: 5,
		},
		{
			name:      "no PagingInfo",
			page:      func(int) string { return queryResult(1, 2, -1, completed("a"), completed("b")) },
			wantPages: 1, wantItems: 2, maxRequests: 1,
		},
		{
			name:      "PagesCount 0",
			page:      func(int) string { return queryResult(1, 2, 0, completed("a")) },
			wantPages: 1, wantItems: 1, maxRequests: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) { writeXML(w, tc.page(pageParam(t, r))) }
			c := newTestClient(t, f, nil)
			res, err := replicaTasks(testContext(t), c, Window{})
			if err != nil {
				t.Fatal(err)
			}
			requests := len(f.rawQueries())
			if res.Pages != tc.wantPages || requests < tc.wantPages || requests > tc.maxRequests || len(res.Items) != tc.wantItems {
				t.Errorf("%d pages (%d requests), %d items; want %d pages (%d to %d requests) and %d items",
					res.Pages, requests, len(res.Items), tc.wantPages, tc.wantPages, tc.maxRequests, tc.wantItems)
			}
		})
	}
}

func TestQueryPageLimit(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = func(w http.ResponseWriter, r *http.Request) {
		page := pageParam(t, r)
		writeXML(w, queryResult(page, 1, 1000000, completed(string(rune('a'+page)))))
	}
	c := newTestClient(t, f, nil)
	c.maxPages = 3
	res, err := replicaTasks(testContext(t), c, Window{})
	if err == nil || !strings.Contains(err.Error(), "1000000 pages, more than 3") {
		t.Fatalf("err = %v, want the page limit", err)
	}
	if res.Pages != 1 || len(f.rawQueries()) != 1 {
		t.Errorf("fetched %d pages in %d requests, want only the first, which announced the count", res.Pages, len(f.rawQueries()))
	}
}

func TestQueryDeduplicatesAcrossPages(t *testing.T) {
	f := newFakeEM(t, false)
	running := taskSession{uid: "b", state: "InProgress", result: "None", created: "2025-06-17T20:00:18Z"}
	bad := taskSession{uid: "x", state: "Exploded", result: "Success", created: "2025-06-17T20:00:18Z"}
	f.query = func(w http.ResponseWriter, r *http.Request) {
		switch pageParam(t, r) {
		case 1:
			writeXML(w, queryResult(1, 3, 2, completed("a"), running, bad))
		default:
			// The collection grew meanwhile: b moved to page 2 and finished.
			writeXML(w, queryResult(2, 3, 2, completed("b"), completed("c")))
		}
	}
	c := newTestClient(t, f, nil)
	res, err := replicaTasks(testContext(t), c, Window{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 3 || res.Invalid != 1 || res.Entities != 3 {
		t.Fatalf("%d items (%d counted), %d invalid; want 3 and 1", len(res.Items), res.Entities, res.Invalid)
	}
	// Oldest first: c, b, a. The copy handed over is the first one; the
	// collector re-reads a running session until it sees it complete.
	b := res.Items[1]
	if b.UID != "urn:veeam:ReplicaTaskSession:b" || b.State != TaskStateInProgress {
		t.Errorf("b = %+v, want the first copy, handed over once", b)
	}
}

func TestReplicaJobSessionsQuery(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("type"); got != "ReplicaJobSession" {
			t.Errorf("type = %q", got)
		}
		writeXML(w, `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><ReplicaJobSessions>`+jobSessionXML+`</ReplicaJobSessions></Entities>
<PagingInfo PageNum="1" PageSize="1000" PagesCount="1"/></QueryResult>`)
	}
	c := newTestClient(t, f, nil)
	res, err := replicaJobs(testContext(t), c, Window{Since: time.Date(2025, 6, 17, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 || res.Items[0].JobName != `SQL "Tier-1", prod; nightly` {
		t.Errorf("items = %+v", res.Items)
	}
}

// inFlight counts the requests a fake EM is answering at once.
type inFlight struct {
	now, peak atomic.Int32
}

func (c *inFlight) enter() {
	n := c.now.Add(1)
	for {
		peak := c.peak.Load()
		if n <= peak || c.peak.CompareAndSwap(peak, n) {
			return
		}
	}
}

func (c *inFlight) leave() { c.now.Add(-1) }

func TestQueryMergesConcurrentPagesInOrder(t *testing.T) {
	const pagesCount = 9
	f := newFakeEM(t, false)
	var counter inFlight
	f.query = func(w http.ResponseWriter, r *http.Request) {
		counter.enter()
		defer counter.leave()
		page := pageParam(t, r)
		// Later pages answer sooner, so completion order is not page order.
		time.Sleep(time.Duration(pagesCount-page) * 5 * time.Millisecond)
		sessions := []taskSession{completed(fmt.Sprintf("p%d", page))}
		switch page {
		case 7:
			sessions = append(sessions, taskSession{uid: "dup", state: "InProgress", result: "None", created: "2025-06-17T20:00:18Z"})
		case 8:
			sessions = append(sessions, completed("dup"))
		}
		writeXML(w, queryResult(page, 2, pagesCount, sessions...))
	}
	c := newTestClient(t, f, nil)
	res, err := replicaTasks(testContext(t), c, Window{})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, s := range res.Items {
		uids = append(uids, strings.TrimPrefix(s.UID, "urn:veeam:ReplicaTaskSession:"))
	}
	const want = "p9,p8,dup,p7,p6,p5,p4,p3,p2,p1"
	if got := strings.Join(uids, ","); got != want {
		t.Errorf("items %s, want %s", got, want)
	}
	if dup := res.Items[2]; dup.Completed() {
		t.Errorf("dup = %+v, want page 7's copy, handed over once", dup)
	}
	if res.Pages != pagesCount || len(f.rawQueries()) != pagesCount {
		t.Errorf("%d pages in %d requests, want %d", res.Pages, len(f.rawQueries()), pagesCount)
	}
	if peak := counter.peak.Load(); peak < 2 {
		t.Errorf("at most %d page in flight, want the pages after the first fetched concurrently", peak)
	}
}

func TestQueryBoundsPagesInFlight(t *testing.T) {
	cases := []struct {
		configured int
		want       int32
	}{
		{configured: 0, want: defaultPagesInFlight},
		{configured: 1, want: 1},
		{configured: 3, want: 3},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.configured), func(t *testing.T) {
			const pagesCount = 13
			f := newFakeEM(t, false)
			var counter inFlight
			f.query = slowPages(t, &counter, pagesCount)
			c := newTestClient(t, f, func(cfg *Config) { cfg.MaxConcurrentPages = tc.configured })
			res, err := replicaTasks(testContext(t), c, Window{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Items) != pagesCount {
				t.Errorf("%d items, want %d", len(res.Items), pagesCount)
			}
			if peak := counter.peak.Load(); peak != tc.want {
				t.Errorf("%d pages in flight at most, want %d", peak, tc.want)
			}
		})
	}
}

// slowPages answers every page of a query of pagesCount pages after 15 ms,
// one session each, and counts the pages in flight.
func slowPages(t *testing.T, counter *inFlight, pagesCount int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		counter.enter()
		defer counter.leave()
		page := pageParam(t, r)
		time.Sleep(15 * time.Millisecond)
		writeXML(w, queryResult(page, 1, pagesCount, completed(fmt.Sprintf("p%d", page))))
	}
}

// TestConcurrentQueriesShareThePageBound runs four queries at once, as the
// replica and backup collectors do: together they never have more pages in
// flight than the bound.
func TestConcurrentQueriesShareThePageBound(t *testing.T) {
	const pagesCount, bound = 6, 3
	f := newFakeEM(t, false)
	var counter inFlight
	f.query = slowPages(t, &counter, pagesCount)
	c := newTestClient(t, f, func(cfg *Config) { cfg.MaxConcurrentPages = bound })
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = replicaTasks(ctx, c, Window{}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if peak := counter.peak.Load(); peak != bound {
		t.Errorf("%d pages in flight at most over 4 queries, want %d", peak, bound)
	}
}

// TestPageWaitEndsWithTheContext: a query waiting for a page slot gives up
// when its context ends, naming the query.
func TestPageWaitEndsWithTheContext(t *testing.T) {
	f := newFakeEM(t, false)
	release := make(chan struct{})
	f.query = func(w http.ResponseWriter, r *http.Request) {
		<-release
		writeXML(w, queryResult(1, 1, 1, completed("p1")))
	}
	c := newTestClient(t, f, func(cfg *Config) { cfg.MaxConcurrentPages = 1 })
	// This query holds the only slot until the test releases it.
	holderDone := make(chan error, 1)
	go func() {
		_, err := replicaTasks(testContext(t), c, Window{})
		holderDone <- err
	}()
	defer func() {
		close(release)
		if err := <-holderDone; err != nil {
			t.Errorf("the query holding the slot: %v", err)
		}
	}()
	for len(f.rawQueries()) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	_, err := replicaJobs(ctx, c, Window{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "query ReplicaJobSession page 1") {
		t.Errorf("err = %v, want the deadline, naming the waiting query", err)
	}
}

func TestQueryPageErrorCancelsLaterPages(t *testing.T) {
	const pagesCount = 20
	f := newFakeEM(t, false)
	var cancelled atomic.Int32
	// Page 3 fails once a later page's request has reached EM, so that
	// there is a request in flight to cancel.
	laterPageAsked := make(chan struct{})
	var askedOnce sync.Once
	f.query = func(w http.ResponseWriter, r *http.Request) {
		page := pageParam(t, r)
		switch {
		case page <= 2:
			time.Sleep(time.Duration(page) * 10 * time.Millisecond)
			writeXML(w, queryResult(page, 1, pagesCount, completed(fmt.Sprintf("p%d", page))))
		case page == 3:
			select {
			case <-laterPageAsked:
			case <-time.After(2 * time.Second):
			}
			writeEMError(w, http.StatusInternalServerError, "page 3 broke")
		default:
			askedOnce.Do(func() { close(laterPageAsked) })
			select {
			case <-r.Context().Done():
				cancelled.Add(1)
			case <-time.After(5 * time.Second):
				writeXML(w, queryResult(page, 1, pagesCount, completed(fmt.Sprintf("p%d", page))))
			}
		}
	}
	c := newTestClient(t, f, nil)
	began := time.Now()
	res, err := replicaTasks(testContext(t), c, Window{})
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("took %v: the pages after the failing one were not cancelled", took)
	}
	if err == nil || !strings.Contains(err.Error(), "page 3") || !strings.Contains(err.Error(), "page 3 broke") {
		t.Fatalf("err = %v, want page 3's error", err)
	}
	if res.Pages != 3 || len(res.Items) != 2 {
		t.Errorf("Pages %d, %d items; want the 3 pages up to the failing one and 2 items", res.Pages, len(res.Items))
	}
	if requests := len(f.rawQueries()); requests >= pagesCount {
		t.Errorf("%d requests: pages after the failure were still asked for", requests)
	}
	deadline := time.Now().Add(2 * time.Second)
	for cancelled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if cancelled.Load() == 0 {
		t.Error("no request for a later page saw its cancellation")
	}
}

func TestQueryReportsTheFirstFailingPageInOrder(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = func(w http.ResponseWriter, r *http.Request) {
		switch page := pageParam(t, r); page {
		case 1:
			writeXML(w, queryResult(1, 1, 5, completed("p1")))
		case 2:
			// Fails after page 4 has: page 2's error is still the one.
			time.Sleep(40 * time.Millisecond)
			writeEMError(w, http.StatusServiceUnavailable, "page 2 broke")
		case 4:
			writeEMError(w, http.StatusInternalServerError, "page 4 broke")
		default:
			writeXML(w, queryResult(page, 1, 5, completed(fmt.Sprintf("p%d", page))))
		}
	}
	c := newTestClient(t, f, nil)
	res, err := replicaTasks(testContext(t), c, Window{})
	if err == nil || !strings.Contains(err.Error(), "page 2 broke") {
		t.Fatalf("err = %v, want page 2's error", err)
	}
	if res.Pages != 2 || len(res.Items) != 1 {
		t.Errorf("Pages %d, %d items; want 2 and 1", res.Pages, len(res.Items))
	}
}

func TestConcurrentPagesRejectedTogetherLogOnAgainOnce(t *testing.T) {
	const pagesCount = 5
	f := newFakeEM(t, false)
	// Rejections are held back so that all four pages are sent with the
	// expired token; the slow logon makes the later rejections meet it in
	// flight.
	f.rejectStagger = 10 * time.Millisecond
	f.logonDelay = 30 * time.Millisecond
	f.query = func(w http.ResponseWriter, r *http.Request) {
		page := pageParam(t, r)
		if page == 1 {
			// The token expires right after the first page: the four
			// pages fetched next are all rejected.
			f.expire()
		}
		writeXML(w, queryResult(page, 1, pagesCount, completed(fmt.Sprintf("p%d", page))))
	}
	c := newTestClient(t, f, nil)
	res, err := replicaTasks(testContext(t), c, Window{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != pagesCount {
		t.Errorf("%d items, want %d", len(res.Items), pagesCount)
	}
	if got := f.rejected.Load(); got != pagesCount-1 {
		t.Errorf("%d rejections, want %d: every concurrent page once", got, pagesCount-1)
	}
	if got := f.logons.Load(); got != 2 {
		t.Errorf("%d logons, want 2: the first and exactly one after the rejections", got)
	}
}
