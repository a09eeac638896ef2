package emsim

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRequestLog(t *testing.T) {
	logs := &syncBuffer{}
	h := newHarness(t, func(c *Config) { c.Logger = log.NewLogfmtLogger(logs) })
	token := h.logon()
	h.clock.Advance(time.Minute)
	raw := "type=ReplicaTaskSession&format=Entities&pageSize=7&page=2&filter=Result>=Success;State==Completed"
	page := h.mustDo(http.MethodGet, "/api/query?"+raw, token, nil)
	h.mustDo(http.MethodGet, "/api/query?type=ReplicaJobSession", "", nil)

	reqs := h.sim.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests logged, want 3: %+v", len(reqs), reqs)
	}
	logon, query, refused := reqs[0], reqs[1], reqs[2]
	if logon.Method != http.MethodPost || logon.Path != "/api/sessionMngr/" || logon.RawQuery != "v=latest" || logon.Status != 201 || logon.Type != "" || logon.Page != 0 || !logon.Time.Equal(testStart) {
		t.Errorf("logon entry %+v", logon)
	}
	want := Request{Time: testStart.Add(time.Minute), Method: http.MethodGet, Path: "/api/query", RawQuery: raw, Type: "ReplicaTaskSession",
		Page: 2, Status: 200, Entities: 7, Bytes: int64(len(page.body))}
	if query != want {
		t.Errorf("query entry\n%+v\nwant\n%+v", query, want)
	}
	if refused.Status != 401 || refused.Entities != 0 || refused.Type != "ReplicaJobSession" || refused.Page != 1 {
		t.Errorf("refused entry %+v", refused)
	}

	h.sim.ResetRequests()
	if n := len(h.sim.Requests()); n != 0 {
		t.Errorf("%d requests after ResetRequests", n)
	}
	out := logs.String()
	if !strings.Contains(out, "status=200") || !strings.Contains(out, "entities=7") || !strings.Contains(out, "Result>=Success;State==Completed") {
		t.Errorf("the logger did not get the requests:\n%s", out)
	}
	if strings.Contains(out, testPassword) || strings.Contains(out, token) {
		t.Error("the log holds the password or a session token")
	}
	// Literal semicolons in queries are EM's filter syntax, not a server
	// problem worth a log line.
	if strings.Contains(out, "semicolon") {
		t.Errorf("the HTTP server complained about semicolons:\n%s", out)
	}
}

func TestRequestLogOfAbandonedRequest(t *testing.T) {
	h := newHarness(t, nil)
	token := h.logon()
	h.sim.InjectFault(Fault{Path: "query", Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := h.do(ctx, http.MethodGet, tasksPage, token, nil); err == nil {
		t.Fatal("a hanging request was answered")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.sim.Requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	reqs := h.sim.Requests()
	if len(reqs) != 2 || reqs[1].Status != 0 || reqs[1].Bytes != 0 || reqs[1].Type != "ReplicaTaskSession" {
		t.Errorf("abandoned request logged as %+v", reqs)
	}
}
