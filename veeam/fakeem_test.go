package veeam

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testUser     = "restuser@corp.local"
	testPassword = "Pa55 w0rd:\"x\"" // colon, quote and space: nothing in Basic auth may mangle it
)

// fakeEM is a minimal Enterprise Manager: logon, logoff and a query handler
// the test supplies. Tokens stay valid until expire is called.
type fakeEM struct {
	t      *testing.T
	server *httptest.Server

	// query answers an authorised GET /api/query, report an authorised GET
	// below /api/reports/. Set them before the first request.
	query, report func(w http.ResponseWriter, r *http.Request)
	// logonDelay slows every logon, to make concurrent callers overlap.
	logonDelay time.Duration
	// rejectStagger delays the n-th rejection of a token by n times itself,
	// so that some rejections reach the client after it has logged on again.
	rejectStagger time.Duration

	mu       sync.Mutex
	password string
	logonErr int               // status to answer logons with, 0 for normal
	tokens   map[string]string // valid token → session id
	queries  []string          // raw query strings of authorised queries
	headers  []http.Header     // headers of every query, authorised or not
	next     int

	logons, logoffs, rejected atomic.Int32
}

func newFakeEM(t *testing.T, tlsServer bool) *fakeEM {
	t.Helper()
	f := &fakeEM{t: t, password: testPassword, tokens: map[string]string{}}
	f.server = httptest.NewUnstartedServer(f)
	// Failed handshakes are what some tests are about; they need no log.
	f.server.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	if tlsServer {
		f.server.StartTLS()
	} else {
		f.server.Start()
	}
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeEM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/sessionMngr/":
		f.serveLogon(w, r)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/logonSessions/"):
		f.serveLogoff(w, r)
	case r.Method == http.MethodGet && (r.URL.Path == "/api/query" || f.report != nil && strings.HasPrefix(r.URL.Path, "/api/reports/")):
		f.mu.Lock()
		f.headers = append(f.headers, r.Header.Clone())
		f.mu.Unlock()
		if !f.authorised(r) {
			n := f.rejected.Add(1)
			time.Sleep(time.Duration(n) * f.rejectStagger)
			writeEMError(w, http.StatusUnauthorized, "The session is not valid or has expired")
			return
		}
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		f.mu.Unlock()
		if r.URL.Path != "/api/query" {
			f.report(w, r)
			return
		}
		f.query(w, r)
	default:
		writeEMError(w, http.StatusNotFound, "no such resource "+r.URL.Path)
	}
}

func (f *fakeEM) serveLogon(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "v=latest" {
		f.t.Errorf("logon query string %q, want v=latest", r.URL.RawQuery)
	}
	if f.logonDelay > 0 {
		time.Sleep(f.logonDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logonErr != 0 {
		writeEMError(w, f.logonErr, "logon refused for the test")
		return
	}
	user, password, ok := r.BasicAuth()
	if !ok || user != testUser || subtle.ConstantTimeCompare([]byte(password), []byte(f.password)) != 1 {
		w.Header().Set("WWW-Authenticate", "Basic Realm=RestSvc")
		writeEMError(w, http.StatusUnauthorized, "Login failed for user "+user)
		return
	}
	f.next++
	id := fmt.Sprintf("00000000-0000-0000-0000-%012d", f.next)
	token := fmt.Sprintf("token-%d", f.next)
	f.tokens[token] = id
	f.logons.Add(1)
	w.Header().Set(sessionHeader, token)
	// EM also sets the token as a cookie; the client must not use it.
	http.SetCookie(w, &http.Cookie{Name: sessionHeader, Value: token})
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>
<LogonSession xmlns="http://www.veeam.com/ent/v1.0" Type="LogonSession" Href="https://em.corp.local:9398/api/logonSessions/%[1]s">
 <Links><Link Href="https://em.corp.local:9398/api/logonSessions/%[1]s" Type="LogonSession" Rel="Delete"/></Links>
 <UserName>%[2]s</UserName><SessionId>%[1]s</SessionId>
</LogonSession>`, id, testUser)
}

func (f *fakeEM) serveLogoff(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	token := r.Header.Get(sessionHeader)
	id, ok := f.tokens[token]
	if !ok {
		writeEMError(w, http.StatusUnauthorized, "The session is not valid or has expired")
		return
	}
	if r.URL.Path != "/api/logonSessions/"+id {
		writeEMError(w, http.StatusNotFound, "no logon session "+r.URL.Path)
		return
	}
	delete(f.tokens, token)
	f.logoffs.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeEM) authorised(r *http.Request) bool {
	if r.Header.Get("Cookie") != "" {
		f.t.Errorf("request carries a cookie: %q", r.Header.Get("Cookie"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.tokens[r.Header.Get(sessionHeader)]
	return ok
}

// expire forgets every token, as EM does after 15 minutes idle.
func (f *fakeEM) expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

func (f *fakeEM) setPassword(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.password = p
}

func (f *fakeEM) setLogonStatus(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logonErr = status
}

func (f *fakeEM) rawQueries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

func (f *fakeEM) queryHeaders() []http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]http.Header(nil), f.headers...)
}

func writeEMError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<Error xmlns="http://www.veeam.com/ent/v1.0" Message="%s" StatusCode="%d" Status="%s"/>`,
		xmlAttr(message), status, strings.ReplaceAll(http.StatusText(status), " ", ""))
}

func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// newTestClient builds a client for f with the test credentials; adjust
// changes the configuration first.
func newTestClient(t *testing.T, f *fakeEM, adjust func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL:      f.server.URL,
		Username: testUser,
		Password: func() (string, error) { return testPassword, nil },
	}
	if f.server.TLS != nil {
		cfg.RootCAs = f.server.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}
	if adjust != nil {
		adjust(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// taskSession is a test entity; Render writes it as EM does.
type taskSession struct {
	uid, state, result, created, ended string
}

func (s taskSession) render() string {
	end := ""
	if s.ended != "" {
		end = "<EndTimeUTC>" + s.ended + "</EndTimeUTC>"
	}
	return fmt.Sprintf(`<ReplicaTaskSession Type="ReplicaTaskSession" Href="https://em:9398/api/replicaTaskSessions/%[1]s?format=Entity" Name="vm-%[1]s@2025-06-17 20:00:18" UID="urn:veeam:ReplicaTaskSession:%[1]s" VmDisplayName="vm-%[1]s">
<Links><Link Rel="Up" Type="BackupServerReference" Href="https://em:9398/api/backupServers/b1" Name="vbr01.corp.local"/>
<Link Rel="Up" Type="ReplicaJobSessionReference" Href="https://em:9398/api/replicaSessions/j1" Name="Job 1@2025-06-17 20:00:05"/></Links>
<JobSessionUid>urn:veeam:ReplicaJobSession:j1</JobSessionUid><CreationTimeUTC>%[2]s</CreationTimeUTC>%[3]s<State>%[4]s</State><Result>%[5]s</Result><Reason/><TotalSize>1024</TotalSize>
</ReplicaTaskSession>`, s.uid, s.created, end, s.state, s.result)
}

// queryResult renders a QueryResult page; pagesCount < 0 leaves PagingInfo out.
func queryResult(page, pageSize, pagesCount int, sessions ...taskSession) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><ReplicaTaskSessions>`)
	for _, s := range sessions {
		b.WriteString(s.render())
	}
	b.WriteString(`</ReplicaTaskSessions></Entities>`)
	if pagesCount >= 0 {
		fmt.Fprintf(&b, `<PagingInfo PageNum="%d" PageSize="%d" PagesCount="%d"><Links><Link Rel="First" Href="https://em:9398/api/query?type=ReplicaTaskSession&amp;page=1"/></Links></PagingInfo>`, page, pageSize, pagesCount)
	}
	b.WriteString(`</QueryResult>`)
	return b.String()
}

func completed(uid string) taskSession {
	return taskSession{uid: uid, state: "Completed", result: "Success", created: "2025-06-17T20:00:18.06Z", ended: "2025-06-17T20:02:36.993Z"}
}

// writeXML answers a query page.
func writeXML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write([]byte(body))
}

// pageParam is the request's 1-based page number.
func pageParam(t *testing.T, r *http.Request) int {
	t.Helper()
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil {
		t.Errorf("page parameter: %v", err)
	}
	return page
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeClock is a clock that moves only when told, for the logon back-off.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// collected is every page of a query at once.
type collected[T any] struct {
	Items []T // newest first, as EM sorted them
	QueryStats
}

// collect runs a query that hands over pages and returns all of them. On
// error the result holds the pages read before it.
func collect[T any](ctx context.Context, query func(context.Context, Selection, func(Page[T]) error) (QueryStats, error), sel Selection) (collected[T], error) {
	var res collected[T]
	var err error
	res.QueryStats, err = query(ctx, sel, func(p Page[T]) error {
		res.Items = append(res.Items, p.Items...)
		return nil
	})
	return res, err
}

// The helpers below read every page of a query created within w, oldest
// first, as the tests written for a collecting client expect.

func replicaTasks(ctx context.Context, c *Client, w Window) (collected[ReplicaTaskSession], error) {
	return oldestFirst(collect(ctx, c.ReplicaTaskSessions, Created(w)))
}

func replicaJobs(ctx context.Context, c *Client, w Window) (collected[ReplicaJobSession], error) {
	return oldestFirst(collect(ctx, c.ReplicaJobSessions, Created(w)))
}

func backupTasks(ctx context.Context, c *Client, w Window) (collected[BackupTaskSession], error) {
	return oldestFirst(collect(ctx, c.BackupTaskSessions, Created(w)))
}

func backupJobs(ctx context.Context, c *Client, w Window) (collected[BackupJobSession], error) {
	return oldestFirst(collect(ctx, c.BackupJobSessions, Created(w)))
}

func oldestFirst[T any](res collected[T], err error) (collected[T], error) {
	slices.Reverse(res.Items)
	return res, err
}
