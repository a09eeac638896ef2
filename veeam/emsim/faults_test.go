package emsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const tasksPage = "/api/query?type=ReplicaTaskSession&format=Entities&pageSize=20"

func TestFaultStatus(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Path: "query", Status: http.StatusServiceUnavailable, Count: 2})
	for i := range 2 {
		resp := h.mustDo(http.MethodGet, tasksPage, token, nil)
		doc := decodeError(t, resp.body)
		if resp.status != http.StatusServiceUnavailable || doc.StatusCode != 503 || doc.Status != "ServiceUnavailable" || doc.Message == "" {
			t.Errorf("request %d: %d %+v, want 503 with an Error", i+1, resp.status, doc)
		}
	}
	if resp := h.mustDo(http.MethodGet, tasksPage, token, nil); resp.status != http.StatusOK {
		t.Errorf("after Count requests: %d, want 200", resp.status)
	}

	h.sim.InjectFault(Fault{Path: "query", Status: http.StatusInternalServerError, Message: "database is gone"})
	resp := h.mustDo(http.MethodGet, tasksPage, token, nil)
	if doc := decodeError(t, resp.body); resp.status != 500 || doc.Message != "database is gone" || doc.Status != "InternalServerError" {
		t.Errorf("custom message: %d %+v", resp.status, doc)
	}
}

func TestFaultMatching(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Path: "query", Type: "ReplicaJobSession", Status: http.StatusForbidden, Count: -1})
	h.sim.InjectFault(Fault{Path: "query", Type: "ReplicaTaskSession", Page: 2, Status: http.StatusBadGateway, Count: -1})
	cases := []struct {
		raw  string
		want int
	}{
		{tasksPage, http.StatusOK},
		{tasksPage + "&page=2", http.StatusBadGateway},
		{tasksPage + "&page=3", http.StatusOK},
		{"/api/query?type=ReplicaJobSession&page=2", http.StatusForbidden},
		{"/api/query?type=ReplicaJobSession", http.StatusForbidden},
		{"/api/", http.StatusOK},
	}
	for round := range 2 {
		for _, tc := range cases {
			if resp := h.mustDo(http.MethodGet, tc.raw, token, nil); resp.status != tc.want {
				t.Errorf("round %d, %s: %d, want %d", round+1, tc.raw, resp.status, tc.want)
			}
		}
	}
	h.sim.ClearFaults()
	if resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaJobSession", token, nil); resp.status != http.StatusOK {
		t.Errorf("after ClearFaults: %d, want 200", resp.status)
	}

	h.sim.InjectFault(Fault{Path: "logon", Status: http.StatusForbidden})
	resp := h.mustDo(http.MethodPost, "/api/sessionMngr/?v=latest", "", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) })
	if resp.status != http.StatusForbidden || decodeError(t, resp.body).Status != "Forbidden" {
		t.Errorf("logon fault: %d %s", resp.status, resp.body)
	}
	if h.sim.Logons() != 1 {
		t.Errorf("a refused logon was counted: %d logons", h.sim.Logons())
	}

	h.sim.InjectFault(Fault{Path: "root", Status: http.StatusNotImplemented})
	if resp := h.mustDo(http.MethodGet, "/api/", "", nil); resp.status != http.StatusNotImplemented {
		t.Errorf("root fault: %d", resp.status)
	}

	defer func() {
		if recover() == nil {
			t.Error("InjectFault accepted a Path no request has")
		}
	}()
	h.sim.InjectFault(Fault{Path: "/api/query"})
}

func TestFaultDelay(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Path: "query", Delay: 300 * time.Millisecond})
	began := time.Now()
	resp := h.mustDo(http.MethodGet, tasksPage, token, nil)
	if took := time.Since(began); resp.status != http.StatusOK || took < 300*time.Millisecond {
		t.Errorf("delayed request: %d after %v, want 200 after 300ms", resp.status, took)
	}

	// A client that gives up first is not held for the whole delay.
	h.sim.InjectFault(Fault{Path: "query", Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began = time.Now()
	if _, err := h.do(ctx, http.MethodGet, tasksPage, token, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("client timeout during a delay: %v, want a deadline error", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the client waited %v", took)
	}
}

func TestFaultHang(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Path: "query", Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := h.do(ctx, http.MethodGet, tasksPage, token, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging request: %v, want the client's deadline", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the client waited %v", took)
	}
	if resp := h.mustDo(http.MethodGet, tasksPage, token, nil); resp.status != http.StatusOK {
		t.Errorf("after the hang: %d, want 200", resp.status)
	}

	// Closing the simulator releases a request that hangs with no deadline.
	h.sim.InjectFault(Fault{Path: "query", Hang: true})
	done := make(chan error, 1)
	go func() {
		_, err := h.do(context.Background(), http.MethodGet, tasksPage, token, nil)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for queuedFaults(h.sim.Server) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	h.sim.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hanging request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a hanging request")
	}
}

// queuedFaults tells a test when a request has taken its fault.
func queuedFaults(s *Server) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return len(s.faults.queued)
}

func TestFaultTruncate(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Path: "query", Type: "ReplicaTaskSession", TruncateAt: 700})
	resp, err := h.do(context.Background(), http.MethodGet, tasksPage, token, nil)
	if err == nil {
		t.Fatal("a truncated body was read without error")
	}
	if resp.status != http.StatusOK || len(resp.body) != 700 || !strings.HasPrefix(resp.body, "<?xml") {
		t.Errorf("truncated answer: status %d, %d bytes; want 200 and the first 700 bytes", resp.status, len(resp.body))
	}
	last := h.sim.Requests()[len(h.sim.Requests())-1]
	if last.Bytes != 700 || last.Entities != 0 || last.Status != http.StatusOK {
		t.Errorf("request log of a truncated answer: %+v", last)
	}
	if resp := h.mustDo(http.MethodGet, tasksPage, token, nil); resp.status != http.StatusOK || len(resp.body) <= 700 {
		t.Errorf("after the truncation: %d with %d bytes", resp.status, len(resp.body))
	}
}

func TestFaultReplacedBody(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	page := "<html><body>Proxy login</body></html>"
	h.sim.InjectFault(Fault{Path: "query", Body: page, ContentType: "text/html"})
	resp := h.mustDo(http.MethodGet, tasksPage, token, nil)
	if resp.status != http.StatusOK || resp.body != page || resp.header.Get("Content-Type") != "text/html" {
		t.Errorf("replaced body: %d %q %q", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
	h.sim.InjectFault(Fault{Path: "query", Body: "<EntityRef/>", Status: http.StatusBadGateway})
	if resp := h.mustDo(http.MethodGet, tasksPage, token, nil); resp.status != http.StatusBadGateway || resp.body != "<EntityRef/>" {
		t.Errorf("replaced body with a status: %d %q", resp.status, resp.body)
	}
}

// TestFaultRetryAfter: the header goes out verbatim with the fault's
// status, whatever it holds, and only with the faulty answer.
func TestFaultRetryAfter(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	for _, tc := range []struct {
		name  string
		fault Fault
	}{
		{"seconds", Fault{Path: "query", Status: http.StatusServiceUnavailable, RetryAfter: "120"}},
		{"HTTP-date", Fault{Path: "query", Status: http.StatusTooManyRequests, RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"}},
		{"garbage", Fault{Path: "query", Status: http.StatusServiceUnavailable, RetryAfter: "after lunch, maybe"}},
		{"with a body", Fault{Path: "query", Status: http.StatusServiceUnavailable, Body: "<html>busy</html>", ContentType: "text/html", RetryAfter: "5"}},
		{"on logon", Fault{Path: "logon", Status: http.StatusServiceUnavailable, RetryAfter: "30"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.sim.InjectFault(tc.fault)
			var resp response
			if tc.fault.Path == "logon" {
				resp = h.mustDo(http.MethodPost, "/api/sessionMngr/?v=latest", "", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) })
			} else {
				resp = h.mustDo(http.MethodGet, tasksPage, token, nil)
			}
			if got := resp.header.Values("Retry-After"); resp.status != tc.fault.Status || len(got) != 1 || got[0] != tc.fault.RetryAfter {
				t.Errorf("%d with Retry-After %q, want %d with %q", resp.status, got, tc.fault.Status, tc.fault.RetryAfter)
			}
			if tc.fault.Body == "" {
				if doc := decodeError(t, resp.body); doc.StatusCode != tc.fault.Status {
					t.Errorf("Error document %+v, want status %d", doc, tc.fault.Status)
				}
			}
			if next := h.mustDo(http.MethodGet, tasksPage, token, nil); next.status != http.StatusOK || next.header.Get("Retry-After") != "" {
				t.Errorf("the next answer: %d with Retry-After %q, want 200 without", next.status, next.header.Get("Retry-After"))
			}
		})
	}
	h.sim.InjectFault(Fault{Path: "query", Status: http.StatusServiceUnavailable})
	if resp := h.mustDo(http.MethodGet, tasksPage, token, nil); resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") != "" {
		t.Errorf("a fault without RetryAfter: %d with Retry-After %q", resp.status, resp.header.Get("Retry-After"))
	}
}

func TestFaultExpireSession(t *testing.T) {
	h := newHarness(t, nil)
	token, bystander := h.logon(), h.logon()
	h.sim.InjectFault(Fault{Path: "query", Page: 2, ExpireSession: true})
	if resp := h.mustDo(http.MethodGet, tasksPage, token, nil); resp.status != http.StatusOK {
		t.Fatalf("page 1: %d", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, tasksPage+"&page=2", token, nil); resp.status != http.StatusUnauthorized {
		t.Errorf("page 2 with ExpireSession: %d, want 401", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, tasksPage+"&page=2", token, nil); resp.status != http.StatusUnauthorized {
		t.Errorf("the expired session still works: %d", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, tasksPage+"&page=2", bystander, nil); resp.status != http.StatusOK {
		t.Errorf("another session was expired too: %d", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, tasksPage+"&page=2", h.logon(), nil); resp.status != http.StatusOK {
		t.Errorf("a new logon does not work: %d", resp.status)
	}
}

func TestFaultReset(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("TLS=%v", useTLS), func(t *testing.T) {
			sim, err := Start(Config{Seed: 42, Username: testUser, Password: testPassword, Clock: NewManualClock(testStart), Topology: TestTopology()}, useTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			client := func(keepAlive bool) *http.Client {
				transport := &http.Transport{DisableKeepAlives: !keepAlive, TLSClientConfig: &tls.Config{RootCAs: sim.CertPool}}
				t.Cleanup(transport.CloseIdleConnections)
				return &http.Client{Timeout: 5 * time.Second, Transport: transport}
			}
			// get reports whether its first attempt reused a connection.
			var reused bool
			get := func(c *http.Client) (int, error) {
				first := true
				trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
					if first {
						reused, first = info.Reused, false
					}
				}}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, sim.URL+"/api/", nil)
				if err != nil {
					return 0, err
				}
				resp, err := c.Do(req)
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				// Read to the end, so that the connection can be reused.
				_, err = io.Copy(io.Discard, resp.Body)
				return resp.StatusCode, err
			}

			sim.InjectFault(Fault{Path: "root", Reset: true})
			if status, err := get(client(false)); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("reset request: status %d, err %v; want connection reset by peer", status, err)
			}
			if status, err := get(client(false)); err != nil || status != http.StatusOK {
				t.Errorf("after the reset: %d %v, want 200", status, err)
			}
			// The reset request is logged when its handler returns, which
			// may be after the next request.
			reqs := waitForRequests(t, sim.Server, 2)
			if reqs[0].Status == http.StatusOK {
				reqs[0], reqs[1] = reqs[1], reqs[0]
			}
			if reqs[0].Status != 0 || reqs[0].Bytes != 0 || reqs[1].Status != http.StatusOK {
				t.Errorf("request log %+v, want one unanswered request and one 200", reqs)
			}

			// A reused connection that is reset gets the request retried on
			// a new one by net/http, hence the advice to use Count 2.
			keepAlive := client(true)
			if _, err := get(keepAlive); err != nil {
				t.Fatal(err)
			}
			sim.InjectFault(Fault{Path: "root", Reset: true})
			status, err := get(keepAlive)
			switch {
			case !reused:
				// The idle connection came back to the pool too late.
				t.Log("the request did not reuse the connection")
			case err != nil || status != http.StatusOK:
				t.Errorf("Count 1 on a reused connection: %d %v, want the transport's retry to succeed", status, err)
			}
			sim.InjectFault(Fault{Path: "root", Reset: true, Count: 2})
			if _, err := get(keepAlive); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("Count 2 on a reused connection: %v, want connection reset by peer", err)
			}
		})
	}
}

func waitForRequests(t *testing.T, s *Server, n int) []Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		reqs := s.Requests()
		if len(reqs) >= n || time.Now().After(deadline) {
			if len(reqs) != n {
				t.Fatalf("%d requests logged, want %d: %+v", len(reqs), n, reqs)
			}
			return reqs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// taskPage is the raw query of one page of task sessions, newest first.
func taskPage(pageSize, page int, extra string) string {
	return fmt.Sprintf("type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=%d&page=%d%s", pageSize, page, extra)
}

func taskUIDs(doc queryDoc) []string {
	var uids []string
	for _, task := range doc.Tasks {
		uids = append(uids, task.UID)
	}
	return uids
}

func lastTampering(t *testing.T, s *Server) Tampering {
	t.Helper()
	all := s.Tamperings()
	if len(all) == 0 {
		t.Fatal("no tampering recorded")
	}
	return all[len(all)-1]
}

func TestFaultPagesCountDelta(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	truePages := h.query(token, taskPage(20, 2, "")).Paging.PagesCount
	if truePages < 4 {
		t.Fatalf("%d pages of 20, the test needs more", truePages)
	}
	cases := []struct {
		delta, page, want int
	}{
		{delta: 2, page: 2, want: truePages + 2},
		{delta: -1, page: 2, want: truePages - 1},
		{delta: -truePages - 5, page: 2, want: 1},
		{delta: 3, page: truePages, want: truePages + 3},
	}
	for _, tc := range cases {
		h.sim.InjectFault(Fault{Path: "query", Type: "ReplicaTaskSession", Page: tc.page, PagesCountDelta: tc.delta})
		doc := h.query(token, taskPage(20, tc.page, ""))
		if doc.Paging.PagesCount != tc.want || doc.Paging.PageNum != tc.page {
			t.Errorf("delta %d on page %d: PagingInfo %+v, want PagesCount %d", tc.delta, tc.page, doc.Paging, tc.want)
		}
		last, _ := findLink(doc.Paging.Links, "Last", "")
		if !strings.Contains(last.Href, fmt.Sprintf("page=%d", tc.want)) {
			t.Errorf("delta %d: Last link %q, want page=%d", tc.delta, last.Href, tc.want)
		}
		if _, hasNext := findLink(doc.Paging.Links, "Next", ""); hasNext != (tc.page < tc.want) {
			t.Errorf("delta %d on page %d of %d reported: Next link present = %v", tc.delta, tc.page, tc.want, hasNext)
		}
		if got, want := taskUIDs(doc), taskUIDs(h.query(token, taskPage(20, tc.page, ""))); !slices.Equal(got, want) {
			t.Errorf("delta %d changed the entities: %v, want %v", tc.delta, got, want)
		}
		if tm := lastTampering(t, h.sim.Server); tm.PagesCount != tc.want || tm.Page != tc.page || tm.Type != "ReplicaTaskSession" || tm.Dropped != nil || tm.Duplicated != nil {
			t.Errorf("delta %d: tampering %+v", tc.delta, tm)
		}
	}
}

func TestFaultEmptyPage(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	plain := h.query(token, taskPage(20, 2, ""))
	h.sim.InjectFault(Fault{EmptyPage: true, Page: 2})
	// Faults that shape answers wait for a query.
	h.mustDo(http.MethodGet, "/api/", "", nil)
	h.query(token, taskPage(20, 1, ""))
	h.logon()

	doc := h.query(token, taskPage(20, 2, ""))
	if len(doc.Tasks) != 0 || doc.Paging.PageNum != 2 || doc.Paging.PagesCount != plain.Paging.PagesCount {
		t.Errorf("empty page: %d entities, PagingInfo %+v; want none and %+v", len(doc.Tasks), doc.Paging, plain.Paging)
	}
	if reqs := h.sim.Requests(); reqs[len(reqs)-1].Entities != 0 {
		t.Errorf("request log: %+v", reqs[len(reqs)-1])
	}
	if tm := lastTampering(t, h.sim.Server); !slices.Equal(tm.Dropped, taskUIDs(plain)) || tm.Duplicated != nil || tm.Corrupted != nil {
		t.Errorf("tampering %+v, want the real page's %d UIDs dropped", tm, len(plain.Tasks))
	}
	if again := h.query(token, taskPage(20, 2, "")); !slices.Equal(taskUIDs(again), taskUIDs(plain)) {
		t.Error("the page stayed empty after the fault")
	}
}

func TestFaultDuplicateFromPrevious(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	const size = 20
	cases := []struct {
		name       string
		filter     string
		page, n    int
		shortLast  bool // the page is the last and short
		wantIntact bool
	}{
		{name: "middle page", page: 2, n: 3},
		{name: "filtered", filter: "&filter=State==Completed;Result!=Failed", page: 3, n: 5},
		{name: "more than a page", page: 2, n: size + 7},
		{name: "page 1 has no previous page", page: 1, n: 4, wantIntact: true},
		{name: "short last page grows", filter: "&filter=Result==Failed", page: -1, n: 2, shortLast: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page := tc.page
			if page < 0 {
				page = h.query(token, taskPage(size, 1, tc.filter)).Paging.PagesCount
			}
			previous := taskUIDs(h.query(token, taskPage(size, max(1, page-1), tc.filter)))
			plain := taskUIDs(h.query(token, taskPage(size, page, tc.filter)))
			if tc.shortLast && (page < 2 || len(plain) == 0 || len(plain) > size-tc.n) {
				t.Fatalf("page %d has %d entities; the case needs a short last page after page 1", page, len(plain))
			}
			n := min(tc.n, size)
			var want, dropped []string
			switch {
			case tc.wantIntact:
				want = plain
			case tc.shortLast:
				want = append(slices.Clone(previous[len(previous)-n:]), plain...)
			default:
				want = append(slices.Clone(previous[len(previous)-n:]), plain[:len(plain)-n]...)
				dropped = plain[len(plain)-n:]
			}

			h.sim.InjectFault(Fault{Path: "query", Page: page, DuplicateFromPrevious: tc.n})
			doc := h.query(token, taskPage(size, page, tc.filter))
			if got := taskUIDs(doc); !slices.Equal(got, want) {
				t.Errorf("page %d with %d duplicates:\n got %v\nwant %v", page, tc.n, got, want)
			}
			if again := h.query(token, taskPage(size, page, tc.filter)); doc.Paging.PagesCount != again.Paging.PagesCount {
				t.Errorf("PagesCount %d, want %d unchanged", doc.Paging.PagesCount, again.Paging.PagesCount)
			}
			tm := lastTampering(t, h.sim.Server)
			wantDuplicated := previous[len(previous)-n:]
			if tc.wantIntact {
				wantDuplicated = nil
			}
			if !slices.Equal(tm.Duplicated, wantDuplicated) || !slices.Equal(tm.Dropped, dropped) || tm.Page != page {
				t.Errorf("tampering %+v\nwant duplicated %v, dropped %v", tm, wantDuplicated, dropped)
			}
		})
	}
}

func TestFaultCorrupt(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	plain := h.query(token, taskPage(10, 1, ""))
	uids := taskUIDs(plain)
	h.sim.InjectFault(Fault{Type: "ReplicaTaskSession", Corrupt: Corruption{MissingCreationTime: 1, BadCreationTime: 1, UnknownState: 2, UnknownResult: 1}, Count: 2})
	resp := h.mustDo(http.MethodGet, "/api/query?"+taskPage(10, 1, ""), token, nil)
	doc := decodeQuery(t, resp.body)
	if !slices.Equal(taskUIDs(doc), uids) {
		t.Fatalf("corruption changed the page: %v, want %v", taskUIDs(doc), uids)
	}
	if n := strings.Count(resp.body, "<CreationTimeUTC>"); n != len(uids)-1 {
		t.Errorf("%d CreationTimeUTC elements, want %d", n, len(uids)-1)
	}
	type values struct{ creation, state, result string }
	valuesOf := func(task taskDoc) values {
		return values{trimmed(task.CreationTimeUTC), trimmed(task.State), trimmed(task.Result)}
	}
	for i, task := range doc.Tasks {
		want := valuesOf(plain.Tasks[i])
		switch i {
		case 0:
			want.creation = ""
		case 1:
			want.creation = BadCreationTimeValue
		case 2, 3:
			want.state = UnknownStateValue
		case 4:
			want.result = UnknownResultValue
		}
		if got := valuesOf(task); got != want {
			t.Errorf("entity %d: %+v, want %+v", i, got, want)
		}
	}
	if got := h.sim.CorruptedUIDs(); !slices.Equal(got, uids[:5]) {
		t.Errorf("CorruptedUIDs %v, want the first 5 of %v", got, uids)
	}

	// More corruptions than entities corrupt what there is; a second
	// answer lists its UIDs again.
	few := h.query(token, taskPage(3, 1, ""))
	if got, want := h.sim.CorruptedUIDs(), append(slices.Clone(uids[:5]), taskUIDs(few)...); !slices.Equal(got, want) {
		t.Errorf("CorruptedUIDs after a 3-entity page %v, want %v", got, want)
	}

	// Job sessions take the same corruptions; references have no values
	// to corrupt.
	h.sim.InjectFault(Fault{Type: "ReplicaJobSession", Corrupt: Corruption{UnknownResult: 1}})
	jobs := h.query(token, "type=ReplicaJobSession&format=Entities&pageSize=5")
	if trimmed(jobs.Jobs[0].Result) != UnknownResultValue || trimmed(jobs.Jobs[1].Result) == UnknownResultValue {
		t.Errorf("job results %q, %q; want only the first corrupted", jobs.Jobs[0].Result, jobs.Jobs[1].Result)
	}
	if tm := lastTampering(t, h.sim.Server); !slices.Equal(tm.Corrupted, []string{jobs.Jobs[0].UID}) || tm.Type != "ReplicaJobSession" {
		t.Errorf("job tampering %+v", tm)
	}
	h.sim.InjectFault(Fault{Corrupt: Corruption{BadCreationTime: 2}})
	before := len(h.sim.CorruptedUIDs())
	h.query(token, "type=ReplicaTaskSession&format=Refs&pageSize=5")
	if after := len(h.sim.CorruptedUIDs()); after != before {
		t.Errorf("a references answer recorded %d corrupted entities", after-before)
	}
}

func TestFaultRejectsImpossibleKnobs(t *testing.T) {
	h := newHarness(t, nil)
	for _, f := range []Fault{
		{Path: "logon", EmptyPage: true},
		{Path: "root", Corrupt: Corruption{UnknownState: 1}},
		{Path: "query", DuplicateFromPrevious: -1},
		{Corrupt: Corruption{UnknownResult: -2}},
		{Path: "query", RetryAfter: "120"}, // nothing to retry after
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("InjectFault accepted %+v", f)
				}
			}()
			h.sim.InjectFault(f)
		}()
	}
}
