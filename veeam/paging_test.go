package veeam

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// livePage describes one page of a table that changes while the client
// pages through it: the PagesCount it announces and its sessions.
type livePage struct {
	pagesCount int
	uids       []string
}

func serveLivePages(t *testing.T, f *fakeEM, pages map[int]livePage) {
	f.query = func(w http.ResponseWriter, r *http.Request) {
		n := pageParam(t, r)
		p, ok := pages[n]
		if !ok {
			// Past the end: EM answers an empty page.
			writeXML(w, queryResult(n, 2, len(pages)))
			return
		}
		var sessions []taskSession
		for _, uid := range p.uids {
			sessions = append(sessions, completed(uid))
		}
		writeXML(w, queryResult(n, 2, p.pagesCount, sessions...))
	}
}

func requestedPages(t *testing.T, f *fakeEM) []int {
	t.Helper()
	var pages []int
	for _, q := range f.rawQueries() {
		var page int
		for part := range strings.SplitSeq(q, "&") {
			if v, ok := strings.CutPrefix(part, "page="); ok {
				if _, err := fmt.Sscan(v, &page); err != nil {
					t.Fatalf("query %s: %v", q, err)
				}
			}
		}
		pages = append(pages, page)
	}
	slices.Sort(pages)
	return pages
}

func TestQueryFollowsChangingPagesCount(t *testing.T) {
	cases := []struct {
		name      string
		pages     map[int]livePage
		wantItems string // oldest first, EM's newest-first order turned round
		wantPages []int  // requested, in any order
		// optionalPages may be requested too: pages fetched concurrently
		// past the end of the query.
		optionalPages []int
	}{
		{
			name: "a middle page announces more",
			pages: map[int]livePage{
				1: {3, []string{"k", "j"}},
				2: {5, []string{"j", "i"}}, // two sessions arrived: j moved here
				3: {3, []string{"h", "g"}},
				4: {5, []string{"f", "e"}},
				5: {5, []string{"d"}},
			},
			wantItems: "d,e,f,g,h,i,j,k",
			wantPages: []int{1, 2, 3, 4, 5},
		},
		{
			name: "the count grows twice",
			pages: map[int]livePage{
				1: {2, []string{"f"}},
				2: {3, []string{"e"}},
				3: {4, []string{"d"}},
				4: {4, []string{"c"}},
			},
			wantItems: "c,d,e,f",
			wantPages: []int{1, 2, 3, 4},
		},
		{
			name: "a later page announces fewer",
			pages: map[int]livePage{
				1: {4, []string{"h", "g"}},
				2: {2, []string{"f", "e"}},
				3: {2, []string{"d", "c"}}, // still served: page 1's count stands
				4: {2, []string{"b"}},
			},
			wantItems: "b,c,d,e,f,g,h",
			wantPages: []int{1, 2, 3, 4},
		},
		{
			name: "the table shrank below the announced count",
			pages: map[int]livePage{
				1: {4, []string{"d", "c"}},
				2: {2, []string{"b", "a"}},
			},
			wantItems: "a,b,c,d",
			// Page 4 was asked for together with page 3 if a fetch slot was
			// free; merging the empty page 3 cancels it.
			wantPages:     []int{1, 2, 3},
			optionalPages: []int{4},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			serveLivePages(t, f, tc.pages)
			c := newTestClient(t, f, func(cfg *Config) { cfg.PageSize = 2 })
			t.Cleanup(c.Close)
			res, err := replicaTasks(testContext(t), c, Window{})
			if err != nil {
				t.Fatal(err)
			}
			var uids []string
			for _, s := range res.Items {
				uids = append(uids, strings.TrimPrefix(s.UID, "urn:veeam:ReplicaTaskSession:"))
			}
			if got := strings.Join(uids, ","); got != tc.wantItems {
				t.Errorf("items %s, want %s", got, tc.wantItems)
			}
			got := requestedPages(t, f)
			required := slices.DeleteFunc(slices.Clone(got), func(p int) bool { return slices.Contains(tc.optionalPages, p) })
			if !slices.Equal(required, tc.wantPages) {
				t.Errorf("requested pages %v, want %v, maybe followed by %v", got, tc.wantPages, tc.optionalPages)
			}
		})
	}
}

func TestQueryGrowingPastThePageLimitFails(t *testing.T) {
	f := newFakeEM(t, false)
	serveLivePages(t, f, map[int]livePage{
		1: {2, []string{"b"}},
		2: {50, []string{"a"}},
	})
	c := newTestClient(t, f, nil)
	t.Cleanup(c.Close)
	c.maxPages = 10
	_, err := replicaTasks(testContext(t), c, Window{})
	if err == nil || !strings.Contains(err.Error(), "50 pages, more than 10") {
		t.Fatalf("err = %v, want the page limit", err)
	}
	if got := requestedPages(t, f); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("requested pages %v, want only 1 and 2", got)
	}
}

func TestQueryAsksForTheNewestFirst(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	c := newTestClient(t, f, nil)
	t.Cleanup(c.Close)
	if _, err := replicaJobs(testContext(t), c, Window{}); err != nil {
		t.Fatal(err)
	}
	q := f.rawQueries()[0]
	if !strings.Contains(q, "&sortDesc=CreationTime&") || strings.Contains(q, "sortAsc") {
		t.Errorf("query %s, want it sorted by CreationTime, newest first", q)
	}
}

func TestQueryCountsInvalidEntitiesAndKeepsTheRest(t *testing.T) {
	cases := []struct {
		name   string
		entity string
	}{
		{"missing CreationTimeUTC", strings.Replace(completed("x").render(), "<CreationTimeUTC>2025-06-17T20:00:18.06Z</CreationTimeUTC>", "", 1)},
		{"unparseable CreationTimeUTC", taskSession{uid: "x", state: "Completed", result: "Success", created: "17/06/2025 20:00"}.render()},
		{"unknown State", taskSession{uid: "x", state: "Paused", result: "Success", created: "2025-06-17T20:00:18Z"}.render()},
		{"unknown Result", taskSession{uid: "x", state: "Completed", result: "Partial", created: "2025-06-17T20:00:18Z"}.render()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				page := pageParam(t, r)
				body := queryResult(page, 3, 2, completed(fmt.Sprintf("before%d", page)), completed(fmt.Sprintf("after%d", page)))
				if page == 1 {
					// The invalid entity between two valid ones.
					body = strings.Replace(body, "</ReplicaTaskSession>", "</ReplicaTaskSession>"+tc.entity, 1)
				}
				writeXML(w, body)
			}
			c := newTestClient(t, f, func(cfg *Config) { cfg.PageSize = 3 })
			t.Cleanup(c.Close)
			res, err := replicaTasks(testContext(t), c, Window{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Invalid != 1 || len(res.Items) != 4 || res.Pages != 2 {
				t.Errorf("%d items, %d invalid, %d pages; want 4, 1 and 2", len(res.Items), res.Invalid, res.Pages)
			}
		})
	}
}

// A page is merged, and let go, as soon as it and the pages before it have
// arrived, not when the whole query has: at a big site the pages of a whole
// history would otherwise all be held at once. With 4 pages in flight, page
// 6 is asked for only after one of pages 2 to 5 arrived, and it is answered
// only once page 2 has been merged.
func TestPagesAreMergedAsTheyArrive(t *testing.T) {
	const pagesCount = 6
	f := newFakeEM(t, false)
	secondMerged := make(chan struct{})
	f.query = func(w http.ResponseWriter, r *http.Request) {
		page := pageParam(t, r)
		if page == pagesCount {
			select {
			case <-secondMerged:
			case <-time.After(5 * time.Second):
				t.Errorf("page %d waited 5 s for page 2 to be merged", pagesCount)
			}
		}
		writeXML(w, queryResult(page, 1, pagesCount, completed(fmt.Sprintf("p%d", page))))
	}
	c := newTestClient(t, f, func(cfg *Config) { cfg.MaxConcurrentPages = 4 })
	t.Cleanup(c.Close)
	var merged []int
	more, err := fetchPages(testContext(t), c, replicaTaskQuery, "", 2, pagesCount, 0, func(p *pageFetch[ReplicaTaskSession]) (bool, error) {
		if p.err != nil {
			return false, p.err
		}
		merged = append(merged, p.page.paging.PageNum)
		if p.page.paging.PageNum == 2 {
			close(secondMerged)
		}
		return true, nil
	})
	if !more || err != nil {
		t.Fatalf("fetchPages = %v, %v; want true, nil", more, err)
	}
	if want := []int{2, 3, 4, 5, 6}; !slices.Equal(merged, want) {
		t.Errorf("merged pages %v, want %v", merged, want)
	}
}
