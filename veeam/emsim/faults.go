package emsim

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault makes matching requests misbehave. Faults are queued; a request
// takes the first matching fault in the queue.
type Fault struct {
	// Path matches the kind of request: "root", "logon", "logoff",
	// "query", "report" (the summary reports), or "" for any.
	Path string
	// Type matches the query type (ReplicaTaskSession, Repository, Job,
	// BackupServer...) or the report's frame (OverviewReportFrame,
	// VmsOverviewReportFrame, JobStatisticsReportFrame); "" is any.
	Type string
	// Page matches the requested page of a query; 0 is any.
	Page int
	// Count is how many matching requests the fault applies to: 0 means
	// 1, -1 means until ClearFaults.
	Count int

	// Delay holds the answer back, unless the client gives up first.
	Delay time.Duration
	// Hang never answers: the connection is cut once the client gives up
	// or the server closes.
	Hang bool
	// ExpireSession expires the caller's logon session before the request
	// is handled, so it is answered 401.
	ExpireSession bool
	// Status answers with this HTTP status and an EM Error document (or
	// Body) instead of the real answer.
	Status int
	// Message is the Error document's message; "" gives a default.
	Message string
	// RetryAfter, when set, is sent verbatim as the Retry-After header of
	// the Status answer (typically 503 or 429), so that tests can give
	// delay seconds, an HTTP-date or garbage. Without a Status there is no
	// such answer, so InjectFault panics.
	RetryAfter string
	// Body and ContentType replace the answer's body, with Status or 200:
	// an HTML page from a proxy, a wrong document.
	Body, ContentType string
	// TruncateAt sends the first TruncateAt bytes of the body, then cuts
	// the connection.
	TruncateAt int
	// Reset drops the connection with a TCP RST instead of answering, over
	// HTTPS too. When a reused keep-alive connection fails before any
	// answer, Go's http.Transport silently retries an idempotent request on
	// another connection, so such a client sees the reset only with a Count
	// of 2 or more (or -1).
	Reset bool

	// The knobs below shape a query answer, so a fault that sets any of
	// them matches query requests only; Status and Body take precedence.
	// Server.Tamperings records what they did to each answer.

	// PagesCountDelta changes the PagesCount the answer's PagingInfo reports
	// (never below 1) and its Next and Last links with it, as if sessions
	// arrived or aged out while the client paged; the entities are the
	// real page's.
	PagesCountDelta int
	// EmptyPage answers a well-formed QueryResult with PagingInfo and no
	// entities: the page's sessions vanished.
	EmptyPage bool
	// DuplicateFromPrevious shifts the page back by N rows, as a live table
	// does when N sessions are inserted before it while the client pages:
	// the answer starts with the last N entities of page-1 again and pushes
	// its own last N off its end (Tampering.Dropped; a short last page just
	// grows by N instead). N is capped at the page size; page 1 has nothing
	// before it and is left alone. PagesCount is unchanged.
	DuplicateFromPrevious int
	// Corrupt gives the answer's first entities a bad value each (format=
	// Entities only); Server.CorruptedUIDs tells which ones.
	Corrupt Corruption
}

// shapesAnswer reports whether f sets a knob that only a query answer has.
func (f Fault) shapesAnswer() bool {
	return f.PagesCountDelta != 0 || f.EmptyPage || f.DuplicateFromPrevious != 0 || f.Corrupt != (Corruption{})
}

type queuedFault struct {
	Fault
	remaining int // -1 for unlimited
}

type faultQueue struct {
	mu     sync.Mutex
	queued []*queuedFault
}

// InjectFault queues f. It panics on a Path no request can have, since a
// fault that never fires would make a test pass for the wrong reason.
func (s *Server) InjectFault(f Fault) {
	if !slices.Contains(faultRoutes, f.Path) {
		panic(fmt.Sprintf("emsim: fault Path %q is none of %q", f.Path, faultRoutes))
	}
	if f.shapesAnswer() && f.Path != "" && f.Path != routeQuery {
		panic(fmt.Sprintf("emsim: fault Path %q cannot take query answer knobs: %+v", f.Path, f))
	}
	if f.DuplicateFromPrevious < 0 || !f.Corrupt.valid() {
		panic(fmt.Sprintf("emsim: negative DuplicateFromPrevious or Corrupt count: %+v", f))
	}
	if f.RetryAfter != "" && f.Status == 0 {
		panic(fmt.Sprintf("emsim: fault RetryAfter needs a Status to go with: %+v", f))
	}
	remaining := f.Count
	if remaining == 0 {
		remaining = 1
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queued = append(s.faults.queued, &queuedFault{Fault: f, remaining: remaining})
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queued = nil
}

func (q *faultQueue) take(route, typeName string, page int) (Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range q.queued {
		if f.Path != "" && f.Path != route ||
			f.Type != "" && !strings.EqualFold(f.Type, typeName) ||
			f.Page != 0 && f.Page != page ||
			f.shapesAnswer() && route != routeQuery {
			continue
		}
		if f.remaining > 0 {
			f.remaining--
			if f.remaining == 0 {
				q.queued = slices.Delete(q.queued, i, i+1)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// applyFault plays f and reports whether the request should then be
// handled normally.
func (s *Server) applyFault(ex *exchange, f Fault) bool {
	ctx := ex.r.Context()
	if f.Hang {
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler)
	}
	if f.Delay > 0 && !s.sleep(ctx, f.Delay) {
		panic(http.ErrAbortHandler)
	}
	if f.Reset {
		s.resetConnection(ex)
		return false
	}
	if f.ExpireSession {
		s.sessions.expire(requestToken(ex.r))
	}
	ex.fault = f
	if f.TruncateAt > 0 {
		ex.body = &truncatingWriter{w: ex.w, remaining: f.TruncateAt}
	}
	// Status is set below, with the Body or the Error document; the header
	// must precede it.
	if f.RetryAfter != "" {
		ex.w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case f.Body != "":
		contentType := f.ContentType
		if contentType == "" {
			contentType = contentXML
		}
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		ex.w.Header().Set("Content-Type", contentType)
		ex.w.WriteHeader(status)
		x := newXMLWriter(ex.body)
		x.raw(f.Body)
		s.finish(ex, x)
		return false
	case f.Status != 0:
		message := f.Message
		if message == "" {
			message = defaultFaultMessage(f.Status)
		}
		if f.Status == http.StatusUnauthorized && ex.route == routeLogon {
			ex.w.Header().Set("WWW-Authenticate", basicChallenge)
		}
		s.writeError(ex, f.Status, message)
		return false
	}
	return true
}

func defaultFaultMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "Authentication failed."
	case http.StatusForbidden:
		return "Access denied: the account has no Enterprise Manager role that allows this operation."
	case http.StatusServiceUnavailable:
		return "The service is unavailable: Enterprise Manager is in maintenance mode."
	case http.StatusInternalServerError:
		return "Internal server error: the query service failed to read the Enterprise Manager database (simulated)."
	}
	return fmt.Sprintf("Simulated failure with HTTP status %d.", status)
}

// sleep waits for d and reports false if the client or the server gave up
// first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// truncatingWriter passes the first bytes of a body through, then flushes
// them to the client and cuts the connection.
type truncatingWriter struct {
	w         http.ResponseWriter
	remaining int
}

func (t *truncatingWriter) Write(p []byte) (int, error) {
	if len(p) < t.remaining {
		t.remaining -= len(p)
		return t.w.Write(p)
	}
	if _, err := t.w.Write(p[:t.remaining]); err == nil {
		// A failed flush means the client is gone; the abort follows anyway.
		_ = http.NewResponseController(t.w).Flush()
	}
	panic(http.ErrAbortHandler)
}
