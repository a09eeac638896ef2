package veeam

import (
	"errors"
	"maps"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// A 503 or 429 with Retry-After keeps the client from calling EM at all
// until it expires: queries, logons and logoffs fail at once with
// *RetryAfterError, and nothing reaches EM.
func TestRetryAfterHoldsEveryRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header func(now time.Time) string
		wait   time.Duration
	}{
		{"503 with seconds", http.StatusServiceUnavailable, func(time.Time) string { return "120" }, 120 * time.Second},
		{"429 with an HTTP-date", http.StatusTooManyRequests, func(now time.Time) string { return now.Add(90 * time.Second).Format(http.TimeFormat) }, 90 * time.Second},
		{"a proxy's day is cut to an hour", http.StatusServiceUnavailable, func(time.Time) string { return "86400" }, maxRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			f := newFakeEM(t, false)
			var busy atomic.Bool
			busy.Store(true)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				if busy.Load() {
					w.Header().Set("Retry-After", tc.header(clock.Now()))
					writeEMError(w, tc.status, "Enterprise Manager is busy")
					return
				}
				onePage(w, r)
			}
			c := newTestClient(t, f, func(cfg *Config) { cfg.Now = clock.Now })
			if _, err := replicaTasks(testContext(t), c, Window{}); outcomeOf(err, "") != OutcomeUnavailable {
				t.Fatalf("err = %v, want EM's %d", err, tc.status)
			}
			busy.Store(false)
			if until := c.Stats().RetryAfterUntil; !until.Equal(clock.Now().Add(tc.wait)) {
				t.Errorf("RetryAfterUntil = %v, want %v from now", until, tc.wait)
			}
			sent := len(f.rawQueries())
			clock.advance(tc.wait - time.Second)
			var retry *RetryAfterError
			if _, err := replicaTasks(testContext(t), c, Window{}); !errors.As(err, &retry) || retry.Status != tc.status {
				t.Fatalf("err = %v during the wait, want a *RetryAfterError for %d", err, tc.status)
			}
			f.expire()
			if err := c.Logon(testContext(t)); err != nil {
				t.Fatal(err) // still logged on: nothing to send
			}
			if err := c.Logoff(testContext(t)); !errors.As(err, &retry) {
				t.Errorf("logoff err = %v during the wait, want a *RetryAfterError", err)
			}
			if err := c.Logon(testContext(t)); !errors.As(err, &retry) {
				t.Errorf("logon err = %v during the wait, want a *RetryAfterError", err)
			}
			if n := len(f.rawQueries()); n != sent || f.logons.Load() != 1 || f.logoffs.Load() != 0 {
				t.Errorf("%d queries, %d logons, %d logoffs reached EM during the wait, want none", n-sent, f.logons.Load()-1, f.logoffs.Load())
			}
			clock.advance(time.Second)
			if _, err := replicaTasks(testContext(t), c, Window{}); err != nil {
				t.Errorf("after the wait: %v", err)
			}
			if !c.Stats().RetryAfterUntil.IsZero() {
				t.Error("RetryAfterUntil is still set after the wait")
			}
		})
	}
}

// Only 503 and 429 carry a Retry-After worth honouring, and only a
// readable one.
func TestRetryAfterIgnored(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"on a 500", "120", http.StatusInternalServerError},
		{"unreadable", "soon", http.StatusServiceUnavailable},
		{"negative", "-5", http.StatusServiceUnavailable},
		{"in the past", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat), http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.header)
				writeEMError(w, tc.status, "no")
			}
			c := newTestClient(t, f, nil)
			for range 2 {
				var retry *RetryAfterError
				if _, err := replicaTasks(testContext(t), c, Window{}); err == nil || errors.As(err, &retry) {
					t.Fatalf("err = %v, want EM's answer each time", err)
				}
			}
			if n := len(f.rawQueries()); n != 2 {
				t.Errorf("%d queries reached EM, want 2", n)
			}
		})
	}
}

// Every request sent is counted once, by type and outcome; the answers'
// bytes by type. A rejected token counts as unauthorized before the retry.
func TestRequestsCountedByTypeAndOutcome(t *testing.T) {
	f := newFakeEM(t, false)
	var calls atomic.Int32
	f.query = func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			onePage(w, r)
		case 2:
			writeEMError(w, http.StatusInternalServerError, "database")
		case 3:
			writeXML(w, "<html>proxy</html>")
		default:
			onePage(w, r)
		}
	}
	c := newTestClient(t, f, nil)
	for range 3 {
		_, _ = replicaTasks(testContext(t), c, Window{})
	}
	f.expire()
	if _, err := replicaJobs(testContext(t), c, Window{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Logoff(testContext(t)); err != nil {
		t.Fatal(err)
	}
	want := map[RequestKey]uint64{
		{LogonRequest, OutcomeSuccess}:               2,
		{ReplicaTaskSessionType, OutcomeSuccess}:     1,
		{ReplicaTaskSessionType, OutcomeHTTPError}:   1,
		{ReplicaTaskSessionType, OutcomeInvalid}:     1,
		{ReplicaJobSessionType, OutcomeUnauthorized}: 1,
		{ReplicaJobSessionType, OutcomeSuccess}:      1,
		{LogoffRequest, OutcomeSuccess}:              1,
	}
	stats := c.Stats()
	if !maps.Equal(stats.RequestsByOutcome, want) {
		t.Errorf("requests %v\nwant     %v", stats.RequestsByOutcome, want)
	}
	if stats.AnswerBytes[ReplicaTaskSessionType] == 0 || stats.AnswerBytes[ReplicaJobSessionType] == 0 {
		t.Errorf("answer bytes %v, want both query types", stats.AnswerBytes)
	}
}

// A count reads one entity: EM's PagesCount then is the count, and the
// entity is the newest selected.
func TestCountSessions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   string
		want     Count
		wantSize string
	}{
		{"some", queryResult(1, 1, 42, completed("a")), Count{N: 42, Exact: true, First: "urn:veeam:ReplicaTaskSession:a"}, "1"},
		{"none", queryResult(1, 1, 1), Count{N: 0, Exact: true}, "1"},
		{"page size ignored", queryResult(1, 15, 3, completed("a")), Count{N: 45, First: "urn:veeam:ReplicaTaskSession:a"}, "1"},
		{"no paging info", queryResult(1, 1, -1, completed("a")), Count{N: -1}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEM(t, false)
			f.query = func(w http.ResponseWriter, r *http.Request) {
				if got := r.URL.Query().Get("pageSize"); got != tc.wantSize {
					t.Errorf("pageSize=%s, want %s", got, tc.wantSize)
				}
				writeXML(w, tc.answer)
			}
			c := newTestClient(t, f, nil)
			got, err := c.CountSessions(testContext(t), ReplicaTaskSessionType, Created(Window{Since: time.Date(2025, 6, 17, 0, 0, 0, 0, time.UTC)}))
			if err != nil || got != tc.want {
				t.Errorf("CountSessions = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	c := newTestClient(t, newFakeEM(t, false), nil)
	if _, err := c.CountSessions(testContext(t), "Repository", nil); err == nil {
		t.Error("a count of an unknown type must fail")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"0", 0, true},
		{" 30 ", 30 * time.Second, true},
		{strconv.Itoa(1 << 40), maxRetryAfter, true},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute, true},
		{"", 0, false},
		{"1.5", 0, false},
		{"-1", 0, false},
	} {
		got, ok := parseRetryAfter(tc.value, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.ok)
		}
	}
}
