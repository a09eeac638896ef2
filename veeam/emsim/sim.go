// Package emsim simulates the REST API of Veeam Backup Enterprise Manager
// (EM) for replica and backup sessions: logon and logoff, the query service
// with paging, sorting and filters, and deterministic replica and backup job
// and task sessions, replica restore points and CDP policy sessions
// generated from a seed. It is an ordinary http.Handler; Start runs
// it on loopback, over TLS if asked. Tests inject faults, move a manual
// clock, read the request log and compare against the ground truth.
package emsim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
)

// Config configures a simulator.
type Config struct {
	Seed     int64
	Username string // the one accepted user, e.g. "restuser@corp.local"
	Password string
	// IdleTimeout is how long a logon session survives unused, measured
	// on Clock; 0 means EM's 15 minutes.
	IdleTimeout time.Duration
	Clock       Clock // nil means RealClock
	Topology    Topology
	// DefaultPageSize applies when a query sends no pageSize; 0 means 15,
	// what a real v13.1 answered.
	DefaultPageSize int
	// Latency delays the answer to every request under /api, to model an
	// EM far away; 0 answers at once. A request whose client gives up or
	// whose server stops meanwhile is cut unanswered. Server.SetLatency
	// changes it while the simulator runs.
	Latency time.Duration
	// Logger receives one debug line per request and the HTTP server's
	// errors; nil discards them.
	Logger log.Logger
}

// String never shows the password.
func (c Config) String() string {
	return fmt.Sprintf("emsim.Config{Seed: %d, Username: %q, Password: <secret>, IdleTimeout: %v, DefaultPageSize: %d, Latency: %v}",
		c.Seed, c.Username, c.IdleTimeout, c.DefaultPageSize, c.Latency)
}

const (
	defaultIdleTimeout = 15 * time.Minute
	defaultPageSize    = 15
)

// Server is the simulated Enterprise Manager. It is an http.Handler and
// safe for concurrent use.
type Server struct {
	username, password string
	defaultPageSize    int
	latency            atomic.Int64 // a time.Duration; SetLatency changes it while requests run
	clock              Clock
	logger             log.Logger
	data               *dataset
	sessions           *sessionStore
	faults             *faultQueue
	tampered           *tamperingLog
	requests           *requestLog

	// closing releases hanging and delayed requests when the server stops.
	closing   chan struct{}
	closeOnce sync.Once
}

// New builds a simulator and plans its history up to the clock's time.
func New(cfg Config) (*Server, error) {
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("new simulator: Username and Password must be set")
	}
	if cfg.IdleTimeout < 0 || cfg.DefaultPageSize < 0 || cfg.Latency < 0 {
		return nil, errors.New("new simulator: IdleTimeout, DefaultPageSize and Latency must not be negative")
	}
	if err := cfg.Topology.validate(); err != nil {
		return nil, fmt.Errorf("new simulator: %w", err)
	}
	s := &Server{
		username:        cfg.Username,
		password:        cfg.Password,
		defaultPageSize: cfg.DefaultPageSize,
		clock:           cfg.Clock,
		logger:          cfg.Logger,
		faults:          &faultQueue{},
		tampered:        &tamperingLog{},
		requests:        &requestLog{},
		closing:         make(chan struct{}),
	}
	s.latency.Store(int64(cfg.Latency))
	if s.defaultPageSize == 0 {
		s.defaultPageSize = defaultPageSize
	}
	if s.clock == nil {
		s.clock = RealClock()
	}
	if s.logger == nil {
		s.logger = log.NewNopLogger()
	}
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = defaultIdleTimeout
	}
	s.sessions = newSessionStore(idle)
	s.data = newDataset(cfg.Seed, cfg.Topology, s.clock.Now())
	return s, nil
}

// SetLatency changes Config.Latency while the simulator runs, so a test can
// make EM slow or fast again. A request already waiting keeps the latency
// it started with; a negative d counts as 0.
func (s *Server) SetLatency(d time.Duration) {
	s.latency.Store(int64(max(d, 0)))
}

// shutdown releases requests held by Hang and Delay faults.
func (s *Server) shutdown() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// route names, as Fault.Path matches them.
const (
	routeRoot   = "root"
	routeLogon  = "logon"
	routeLogoff = "logoff"
	routeQuery  = "query"
	routeReport = "report"
	routeOther  = "other"
)

var faultRoutes = []string{"", routeRoot, routeLogon, routeLogoff, routeQuery, routeReport}

func routeOf(path string) string {
	switch {
	case path == "/api" || path == "/api/":
		return routeRoot
	case strings.EqualFold(path, "/api/sessionMngr") || strings.EqualFold(path, "/api/sessionMngr/"):
		return routeLogon
	case strings.HasPrefix(strings.ToLower(path), "/api/logonsessions/"):
		return routeLogoff
	case strings.EqualFold(path, "/api/query") || strings.EqualFold(path, "/api/query/"):
		return routeQuery
	case strings.HasPrefix(strings.ToLower(path), "/api/reports/summary"):
		return routeReport
	}
	return routeOther
}

// exchange is one request being answered.
type exchange struct {
	w    *responseRecorder
	r    *http.Request
	now  time.Time
	base string // scheme://host, for Hrefs
	// body is where response bodies go: the recorder, or a writer that
	// cuts the connection for a TruncateAt fault.
	body     io.Writer
	route    string
	params   []queryParam // the parsed query string; nil if malformed
	typeName string       // query type or report frame, for faults and the request log
	page     int          // requested page of a query
	entities int          // entities in a completely written query answer
	fault    Fault        // the fault taken, whose answer-shaping knobs the query applies
	writeErr error        // why the body could not be written
}

// ServeHTTP answers one EM REST request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &responseRecorder{ResponseWriter: w}
	ex := &exchange{w: rec, r: r, now: s.clock.Now(), base: baseURL(r), body: rec, route: routeOf(r.URL.Path)}
	// The record is written even when a fault aborts the handler with a
	// panic, so tests see what the client saw.
	defer s.record(ex)
	if latency := time.Duration(s.latency.Load()); latency > 0 && strings.HasPrefix(r.URL.Path, "/api") {
		if !s.sleep(r.Context(), latency) {
			panic(http.ErrAbortHandler)
		}
		// EM answers when the request reaches it.
		ex.now = s.clock.Now()
	}

	params, err := parseQueryParams(r.URL.RawQuery)
	if err == nil {
		ex.params = params
	}
	switch ex.route {
	case routeQuery:
		ex.typeName, _ = lookupParam(params, "type")
		ex.page = requestedPage(params)
	case routeReport:
		ex.typeName = reportType(r.URL.Path)
	}
	if f, ok := s.faults.take(ex.route, ex.typeName, ex.page); ok && !s.applyFault(ex, f) {
		return
	}
	if err != nil {
		s.writeError(ex, http.StatusBadRequest, err.Error())
		return
	}

	switch ex.route {
	case routeRoot:
		s.serveRoot(ex)
	case routeLogon:
		s.serveLogon(ex)
	case routeLogoff:
		s.serveLogoff(ex)
	case routeQuery:
		s.serveQuery(ex)
	case routeReport:
		s.serveReport(ex)
	default:
		s.serveOther(ex)
	}
}

func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// serveOther answers paths the simulator does not implement as EM does:
// authentication first, then 404.
func (s *Server) serveOther(ex *exchange) {
	if !strings.HasPrefix(ex.r.URL.Path, "/api/") {
		s.writeError(ex, http.StatusNotFound, "Resource not found: "+ex.r.URL.Path)
		return
	}
	if !s.authenticate(ex) {
		return
	}
	s.writeError(ex, http.StatusNotFound, "Resource not found: "+ex.r.URL.Path)
}

func (s *Server) allowMethods(ex *exchange, methods ...string) bool {
	for _, m := range methods {
		if ex.r.Method == m {
			return true
		}
	}
	ex.w.Header().Set("Allow", strings.Join(methods, ", "))
	s.writeError(ex, http.StatusMethodNotAllowed, fmt.Sprintf("Method %s is not allowed on %s", ex.r.Method, ex.r.URL.Path))
	return false
}
