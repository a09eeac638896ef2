package emsim

import (
	"context"
	"errors"
	"net/http"
	"strings"
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
