package veeam

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
)

// onePage answers every query with one completed session on one page.
func onePage(w http.ResponseWriter, _ *http.Request) {
	writeXML(w, queryResult(1, 1000, 1, completed("a")))
}

func TestNewValidatesConfig(t *testing.T) {
	const urlSecret = "hunter2"
	password := func() (string, error) { return testPassword, nil }
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no scheme", Config{URL: "em.corp.local:9398", Username: testUser, Password: password}, "https://"},
		{"ftp", Config{URL: "ftp://em.corp.local", Username: testUser, Password: password}, "https://"},
		{"no host", Config{URL: "https:///api", Username: testUser, Password: password}, "no host"},
		{"credentials in URL", Config{URL: "https://u:" + urlSecret + "@em.corp.local:9398", Username: testUser, Password: password}, "credentials"},
		{"query in URL", Config{URL: "https://em.corp.local:9398/api?v=latest", Username: testUser, Password: password}, "query"},
		{"no username", Config{URL: "https://em.corp.local:9398", Password: password}, "username"},
		{"colon in username", Config{URL: "https://em.corp.local:9398", Username: "a:b", Password: password}, "':'"},
		{"no password source", Config{URL: "https://em.corp.local:9398", Username: testUser}, "password"},
		{"negative page size", Config{URL: "https://em.corp.local:9398", Username: testUser, Password: password, PageSize: -1}, "page size"},
		{"CA file missing", Config{URL: "https://em.corp.local:9398", Username: testUser, Password: password, CAFile: "/nonexistent/ca.pem"}, "read CA file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: err = %v, want one mentioning %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), urlSecret) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestNewNormalisesBaseURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://em.corp.local:9398", "https://em.corp.local:9398"},
		{"https://em.corp.local:9398/", "https://em.corp.local:9398"},
		{"https://em.corp.local:9398/api", "https://em.corp.local:9398"},
		{"HTTPS://em.corp.local:9398/api/", "https://em.corp.local:9398"},
		{" https://em.corp.local/veeam/API/ ", "https://em.corp.local/veeam"},
		{"http://127.0.0.1:9399/apis", "http://127.0.0.1:9399/apis"},
	} {
		c, err := New(Config{URL: tc.in, Username: testUser, Password: func() (string, error) { return "", nil }})
		if err != nil {
			t.Fatalf("New(%q): %v", tc.in, err)
		}
		if c.base != tc.want {
			t.Errorf("New(%q): base %q, want %q", tc.in, c.base, tc.want)
		}
	}
}

func TestLogonKeepsTokenAcrossCalls(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	c := newTestClient(t, f, func(cfg *Config) { cfg.URL += "/api/" })
	ctx := testContext(t)
	if err := c.Logon(ctx); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		res, err := replicaTasks(ctx, c, Window{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 1 {
			t.Fatalf("got %d items, want 1", len(res.Items))
		}
	}
	if got := f.logons.Load(); got != 1 {
		t.Errorf("%d logons for 5 queries, want 1", got)
	}
	for i, h := range f.queryHeaders() {
		if h.Get(sessionHeader) != "token-1" {
			t.Errorf("query %d sent token %q, want token-1", i, h.Get(sessionHeader))
		}
		if h.Get("Authorization") != "" {
			t.Errorf("query %d sent credentials", i)
		}
	}
	got := c.Stats()
	if got.Logons != 1 || got.Requests != 6 || got.LogonFailures != 0 || got.Logoffs != 0 || !got.LogonBackoffUntil.IsZero() {
		t.Errorf("Stats() = %+v, want 1 logon and 6 requests", got)
	}
	wantRequests := map[RequestKey]uint64{{LogonRequest, OutcomeSuccess}: 1, {ReplicaTaskSessionType, OutcomeSuccess}: 5}
	if !maps.Equal(got.RequestsByOutcome, wantRequests) {
		t.Errorf("requests by outcome %v, want %v", got.RequestsByOutcome, wantRequests)
	}
	if got.AnswerBytes[ReplicaTaskSessionType] == 0 {
		t.Errorf("no answer bytes counted for the queries: %v", got.AnswerBytes)
	}
	if c.session.id != "00000000-0000-0000-0000-000000000001" {
		t.Errorf("session id %q was not read from the LogonSession body", c.session.id)
	}
}

func TestExpiredTokenLogsOnOnceAndRetries(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	c := newTestClient(t, f, nil)
	ctx := testContext(t)
	if _, err := replicaTasks(ctx, c, Window{}); err != nil {
		t.Fatal(err)
	}
	f.expire()
	res, err := replicaTasks(ctx, c, Window{})
	if err != nil {
		t.Fatalf("query after expiry: %v", err)
	}
	if len(res.Items) != 1 {
		t.Errorf("got %d items, want 1", len(res.Items))
	}
	if got := f.logons.Load(); got != 2 {
		t.Errorf("%d logons, want 2: the first and one after the expiry", got)
	}
	if got := f.rejected.Load(); got != 1 {
		t.Errorf("%d rejected queries, want 1", got)
	}
	if got := f.queryHeaders()[2].Get(sessionHeader); got != "token-2" {
		t.Errorf("the retry sent token %q, want the new token-2", got)
	}
}

func TestRejectedTwiceIsAnErrorWithoutLoop(t *testing.T) {
	f := newFakeEM(t, false)
	// Every token is refused by the query service even right after logon.
	f.query = func(w http.ResponseWriter, _ *http.Request) {
		writeEMError(w, http.StatusUnauthorized, "The session is not valid")
	}
	c := newTestClient(t, f, nil)
	_, err := replicaTasks(testContext(t), c, Window{})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %v, want an *APIError with status 401", err)
	}
	if apiErr.Message != "The session is not valid" || apiErr.Op != "query ReplicaTaskSession page 1" {
		t.Errorf("APIError = %+v, want EM's message and the op", apiErr)
	}
	if got := f.logons.Load(); got != 2 {
		t.Errorf("%d logons, want 2 (the first and one retry)", got)
	}
	if got := len(f.rawQueries()); got != 2 {
		t.Errorf("%d query requests, want 2", got)
	}
}

func TestRelogonWithWrongPasswordIsAuthError(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	clock := newFakeClock()
	c := newTestClient(t, f, func(cfg *Config) { cfg.Now = clock.Now })
	ctx := testContext(t)
	if err := c.Logon(ctx); err != nil {
		t.Fatal(err)
	}
	f.expire()
	f.setPassword("rotated on the server")
	_, err := replicaJobs(ctx, c, Window{})
	var authErr *AuthError
	if !errors.As(err, &authErr) || !IsAuthError(err) {
		t.Fatalf("err = %v, want an *AuthError", err)
	}
	if !strings.Contains(authErr.Message, "Login failed") {
		t.Errorf("AuthError.Message = %q, want EM's message", authErr.Message)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error shows the password: %v", err)
	}
	if got := c.Stats(); got.Logons != 1 || got.LogonFailures != 1 {
		t.Errorf("Stats() = %+v, want 1 logon and 1 failure", got)
	}
	// The dead token is not sent again: the next call after the back-off
	// logs on straight away.
	f.setPassword(testPassword)
	clock.advance(initialLogonBackoff)
	rejectedBefore := f.rejected.Load()
	if _, err := replicaTasks(ctx, c, Window{}); err != nil {
		t.Fatal(err)
	}
	if got := f.rejected.Load() - rejectedBefore; got != 0 {
		t.Errorf("%d queries were sent with the dead token", got)
	}
}

func TestConcurrentCallsWithExpiredTokenLogOnOnce(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	f.logonDelay = 20 * time.Millisecond
	// The 20 rejections arrive over 100 ms: the early ones wait for the
	// logon in flight, the late ones find its session already in place.
	f.rejectStagger = 5 * time.Millisecond
	c := newTestClient(t, f, nil)
	ctx := testContext(t)
	if err := c.Logon(ctx); err != nil {
		t.Fatal(err)
	}
	f.expire()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := replicaTasks(ctx, c, Window{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.logons.Load(); got != 2 {
		t.Errorf("%d logons, want 2: the first and exactly one after the expiry", got)
	}
}

func TestConcurrentFirstCallsLogOnOnce(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	f.logonDelay = 20 * time.Millisecond
	c := newTestClient(t, f, nil)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := replicaTasks(ctx, c, Window{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := f.logons.Load(); got != 1 {
		t.Errorf("%d logons, want 1", got)
	}
}

func TestWaitersShareAFailedLogon(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	f.logonDelay = 50 * time.Millisecond
	f.setPassword("not what the client sends")
	c := newTestClient(t, f, nil)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := replicaTasks(ctx, c, Window{}); !IsAuthError(err) {
				t.Errorf("err = %v, want an *AuthError", err)
			}
		})
	}
	wg.Wait()
	// Only goroutines that arrive after a failed logon try again, never
	// while one is in flight; with a 50 ms logon most share the first one.
	if got := c.Stats().LogonFailures; got == 0 || got >= 10 {
		t.Errorf("%d failed logons for 10 concurrent callers, want them shared", got)
	}
}

func TestLogoff(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	c := newTestClient(t, f, nil)
	ctx := testContext(t)
	if err := c.Logoff(ctx); err != nil {
		t.Fatalf("logoff before logon: %v", err)
	}
	if got := c.Stats().Requests; got != 0 {
		t.Fatalf("logoff before logon sent %d requests", got)
	}
	if err := c.Logon(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Logoff(ctx); err != nil {
		t.Fatalf("logoff: %v", err)
	}
	if got := f.logoffs.Load(); got != 1 {
		t.Errorf("EM saw %d logoffs, want 1", got)
	}
	if c.session != nil {
		t.Error("the token is still held after logoff")
	}
	if err := c.Logoff(ctx); err != nil {
		t.Fatalf("second logoff: %v", err)
	}
	if got := c.Stats(); got.Logoffs != 1 || got.Requests != 2 {
		t.Errorf("Stats() = %+v, want 1 logoff and 2 requests", got)
	}
	// The next call logs on again rather than sending the ended token.
	if _, err := replicaTasks(ctx, c, Window{}); err != nil {
		t.Fatal(err)
	}
	if f.logons.Load() != 2 || f.rejected.Load() != 0 {
		t.Errorf("after logoff: %d logons and %d rejected queries, want 2 and 0", f.logons.Load(), f.rejected.Load())
	}
}

func TestLogoffOfExpiredSessionSucceeds(t *testing.T) {
	f := newFakeEM(t, false)
	c := newTestClient(t, f, nil)
	ctx := testContext(t)
	if err := c.Logon(ctx); err != nil {
		t.Fatal(err)
	}
	f.expire()
	if err := c.Logoff(ctx); err != nil {
		t.Fatalf("logoff of an expired session: %v", err)
	}
	if c.Stats().Logoffs != 0 {
		t.Error("an expired session was counted as logged off")
	}
}

func TestLogonErrors(t *testing.T) {
	cases := []struct {
		name     string
		password func() (string, error)
		status   int
		check    func(t *testing.T, err error)
		requests uint64
	}{
		{
			name:     "wrong password",
			password: func() (string, error) { return "wrong " + testPassword, nil },
			check: func(t *testing.T, err error) {
				var authErr *AuthError
				if !errors.As(err, &authErr) || authErr.Message == "" {
					t.Errorf("err = %v, want an *AuthError with EM's message", err)
				}
			},
			requests: 1,
		},
		{
			name:   "forbidden",
			status: http.StatusForbidden,
			check: func(t *testing.T, err error) {
				var permErr *PermissionError
				if !errors.As(err, &permErr) || permErr.Op != "logon" || permErr.Message != "logon refused for the test" {
					t.Errorf("err = %v, want a *PermissionError for logon with EM's message", err)
				}
			},
			requests: 1,
		},
		{
			name:   "server error",
			status: http.StatusServiceUnavailable,
			check: func(t *testing.T, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Status != "ServiceUnavailable" {
					t.Errorf("err = %v, want an *APIError 503", err)
				}
			},
			requests: 1,
		},
		{
			name:     "password source fails",
			password: func() (string, error) { return "", errors.New("open /run/secrets/em: permission denied") },
			check: func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), "read password: open /run/secrets/em") {
					t.Errorf("err = %v, want the password source's error", err)
				}
			},
			requests: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = onePage
			f.setLogonStatus(tc.status)
			var logs bytes.Buffer
			c := newTestClient(t, f, func(cfg *Config) {
				if tc.password != nil {
					cfg.Password = tc.password
				}
				cfg.Logger = log.NewLogfmtLogger(&logs)
			})
			_, err := replicaTasks(testContext(t), c, Window{})
			if err == nil {
				t.Fatal("no error")
			}
			tc.check(t, err)
			if strings.Contains(err.Error(), testPassword) || strings.Contains(logs.String(), testPassword) {
				t.Errorf("the password leaked: err %q, logs %q", err, logs.String())
			}
			if got := c.Stats(); got.LogonFailures != 1 || got.Logons != 0 || got.Requests != tc.requests {
				t.Errorf("Stats() = %+v, want 1 logon failure and %d requests", got, tc.requests)
			}
			if len(f.rawQueries()) != 0 {
				t.Error("a query was sent without a session")
			}
		})
	}
}

func TestLogonWithoutTokenHeaderFails(t *testing.T) {
	c := clientFor(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	err := c.Logon(testContext(t))
	if err == nil || !strings.Contains(err.Error(), sessionHeader) {
		t.Fatalf("err = %v, want one naming the missing %s header", err, sessionHeader)
	}
}

func TestDecodeLogonSession(t *testing.T) {
	cases := []struct {
		name, body, want, wantErr string
	}{
		{"SessionId", `<LogonSession xmlns="http://www.veeam.com/ent/v1.0"><SessionId> abc-1 </SessionId></LogonSession>`, "abc-1", ""},
		{"Delete link only", `<LogonSession xmlns="http://www.veeam.com/ent/v1.0"><Links><Link Rel="Up" Href="https://x/api/"/><Link Rel="Delete" Href="https://em.local:9398/api/logonSessions/def-2"/></Links></LogonSession>`, "def-2", ""},
		{"neither", `<LogonSession xmlns="http://www.veeam.com/ent/v1.0"><UserName>u</UserName></LogonSession>`, "", "neither"},
		{"not XML", `{"SessionId":"x"}`, "", "decode LogonSession"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeLogonSession(strings.NewReader(tc.body))
			if got != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %q, %v; want %q and an error containing %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// clientFor runs handler as the whole of EM and returns a client for it.
func clientFor(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := New(Config{URL: srv.URL, Username: testUser, Password: func() (string, error) { return testPassword, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestQueryErrorStatuses(t *testing.T) {
	cases := []struct {
		name  string
		reply func(w http.ResponseWriter)
		check func(t *testing.T, err error)
	}{
		{
			name:  "forbidden",
			reply: func(w http.ResponseWriter) { writeEMError(w, http.StatusForbidden, "Access denied") },
			check: func(t *testing.T, err error) {
				var permErr *PermissionError
				if !errors.As(err, &permErr) || permErr.Op != "query ReplicaTaskSession page 1" || permErr.Message != "Access denied" {
					t.Errorf("err = %v, want a *PermissionError naming the query and EM's message", err)
				}
			},
		},
		{
			name: "server error with EM message",
			reply: func(w http.ResponseWriter) {
				writeEMError(w, http.StatusInternalServerError, `Query "x" failed & stopped`)
			},
			check: func(t *testing.T, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || apiErr.Message != `Query "x" failed & stopped` || apiErr.Status != "InternalServerError" {
					t.Errorf("err = %v (%+v), want an *APIError with EM's message", err, apiErr)
				}
				if !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "failed & stopped") {
					t.Errorf("message %q does not name the status and EM's message", err)
				}
			},
		},
		{
			name: "unavailable without a body",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("<html><body>Service Unavailable</body></html>"))
			},
			check: func(t *testing.T, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Status != "Service Unavailable" || apiErr.Message != "" {
					t.Errorf("err = %v (%+v), want an *APIError 503 with the HTTP status text", err, apiErr)
				}
			},
		},
		{
			name: "redirect to a login page",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Location", "https://sso.corp.local/login")
				w.WriteHeader(http.StatusFound)
			},
			check: func(t *testing.T, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusFound {
					t.Errorf("err = %v, want an *APIError 302: redirects are not followed", err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, _ *http.Request) { tc.reply(w) }
			c := newTestClient(t, f, nil)
			_, err := replicaTasks(testContext(t), c, Window{})
			tc.check(t, err)
		})
	}
}

func TestDeadlineIsTimeoutError(t *testing.T) {
	cases := []struct {
		name  string
		query func(w http.ResponseWriter, r *http.Request)
	}{
		{"no answer", func(_ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
		{"body stalls", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, `<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities>`+completed("a").render())
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = tc.query
			c := newTestClient(t, f, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			began := time.Now()
			_, err := replicaTasks(ctx, c, Window{})
			if elapsed := time.Since(began); elapsed > time.Second {
				t.Errorf("the call took %v, want it cut at the 200ms deadline", elapsed)
			}
			var timeoutErr *TimeoutError
			if !errors.As(err, &timeoutErr) || timeoutErr.Op != "query ReplicaTaskSession page 1" {
				t.Fatalf("err = %v, want a *TimeoutError for the query", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(%v, context.DeadlineExceeded) is false", err)
			}
			if !strings.Contains(err.Error(), "timed out") {
				t.Errorf("message %q does not say it timed out", err)
			}
		})
	}
}

func TestCancelledContextIsNotATimeout(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	c := newTestClient(t, f, nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := replicaTasks(ctx, c, Window{})
	var timeoutErr *TimeoutError
	if !errors.Is(err, context.Canceled) || errors.As(err, &timeoutErr) {
		t.Fatalf("err = %v, want context.Canceled and no *TimeoutError", err)
	}
}

func TestBodyCap(t *testing.T) {
	f := newFakeEM(t, false)
	many := make([]taskSession, 50)
	for i := range many {
		many[i] = completed(strings.Repeat("x", i+1))
	}
	f.query = func(w http.ResponseWriter, _ *http.Request) { writeXML(w, queryResult(1, 50, 1, many...)) }
	c := newTestClient(t, f, func(cfg *Config) { cfg.MaxBodyBytes = 4096 })
	res, err := replicaTasks(testContext(t), c, Window{})
	var tooLarge *BodyTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != 4096 {
		t.Fatalf("err = %v, want a *BodyTooLargeError with the 4096 limit", err)
	}
	if !strings.Contains(err.Error(), "query ReplicaTaskSession page 1") {
		t.Errorf("message %q does not name the query", err)
	}
	if res.Bytes != 4096 || res.Pages != 1 {
		t.Errorf("cost = %d bytes, %d pages; want 4096 and 1", res.Bytes, res.Pages)
	}
}

func TestCappedReader(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr bool
	}{{0, false}, {99, false}, {100, false}, {101, true}, {10000, true}} {
		r := newCappedReader(bytes.NewReader(make([]byte, tc.size)), 100)
		n, err := io.Copy(io.Discard, r)
		var tooLarge *BodyTooLargeError
		if gotErr := errors.As(err, &tooLarge); gotErr != tc.wantErr {
			t.Errorf("size %d: err = %v, want a cap error: %v", tc.size, err, tc.wantErr)
		}
		if n > 100 || r.bytesRead() != min(int64(tc.size), 100) {
			t.Errorf("size %d: copied %d, bytesRead %d", tc.size, n, r.bytesRead())
		}
	}
}
