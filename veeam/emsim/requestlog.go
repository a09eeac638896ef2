package emsim

import (
	"net/http"
	"sync"
	"time"

	"github.com/go-kit/log/level"
)

// Request is what the simulator logged about one request.
type Request struct {
	Time         time.Time // on the simulator's clock
	Method, Path string
	RawQuery     string
	Type         string // query type, for /api/query; frame, for a summary report
	Page         int    // requested page, for /api/query (1 when absent, 0 when invalid)
	Status       int    // 0 when no answer was sent (hang, client gone)
	Entities     int    // entities in a completely sent query answer
	Bytes        int64  // response body bytes sent
}

// maxLoggedRequests bounds the log of a long-running demo; the oldest
// entries go first.
const maxLoggedRequests = 100_000

type requestLog struct {
	mu      sync.Mutex
	entries []Request
}

func (l *requestLog) add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) == maxLoggedRequests {
		l.entries = append(l.entries[:0], l.entries[maxLoggedRequests/2:]...)
	}
	l.entries = append(l.entries, r)
}

// Requests returns the requests logged since the start or the last
// ResetRequests, oldest first.
func (s *Server) Requests() []Request {
	s.requests.mu.Lock()
	defer s.requests.mu.Unlock()
	return append([]Request(nil), s.requests.entries...)
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.requests.mu.Lock()
	defer s.requests.mu.Unlock()
	s.requests.entries = nil
}

func (s *Server) record(ex *exchange) {
	entry := Request{
		Time:     ex.now,
		Method:   ex.r.Method,
		Path:     ex.r.URL.Path,
		RawQuery: ex.r.URL.RawQuery,
		Type:     ex.typeName,
		Page:     ex.page,
		Status:   ex.w.status,
		Entities: ex.entities,
		Bytes:    ex.w.bytes,
	}
	s.requests.add(entry)
	keyvals := []any{"msg", "request", "method", entry.Method, "path", entry.Path, "query", entry.RawQuery,
		"status", entry.Status, "entities", entry.Entities, "bytes", entry.Bytes}
	if ex.writeErr != nil {
		keyvals = append(keyvals, "err", ex.writeErr)
	}
	level.Debug(s.logger).Log(keyvals...)
}

// responseRecorder notes the status and the body bytes sent.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *responseRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *responseRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's Flush.
func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
