package collector

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRefreshTimeout(t *testing.T) {
	opts := HandlerOptions{Timeout: 30 * time.Second, TimeoutOffset: 500 * time.Millisecond}
	cases := []struct {
		header string
		want   time.Duration
	}{
		{"", 30 * time.Second},
		{"10", 9500 * time.Millisecond},
		{"2.5", 2 * time.Second},
		{"120", 119500 * time.Millisecond},
		{"0.5", 30 * time.Second},
		{"0.2", 30 * time.Second},
		{"-3", 30 * time.Second},
		{"ten", 30 * time.Second},
		{"NaN", 30 * time.Second},
		{"+Inf", 30 * time.Second},
		{"1e300", 30 * time.Second},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.header != "" {
			h.Set(scrapeTimeoutHeader, tc.header)
		}
		if got := refreshTimeout(h, opts); got != tc.want {
			t.Errorf("header %q: timeout %v, want %v", tc.header, got, tc.want)
		}
	}
}

func scrape(t *testing.T, h http.Handler, header string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if header != "" {
		req.Header.Set(scrapeTimeoutHeader, header)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func newHandlerFixture(t *testing.T) (*fixture, http.Handler) {
	t.Helper()
	f := newFixture(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	return f, NewHandler(f.c, reg, HandlerOptions{Timeout: 30 * time.Second, TimeoutOffset: 500 * time.Millisecond})
}

// TestHandlerWaitsUntilTheScrapeDeadline: a scrape waits for the refresh
// until Prometheus's timeout less the offset, or the handler's own timeout
// without the header, and no longer.
func TestHandlerWaitsUntilTheScrapeDeadline(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewPedanticRegistry()
	h := NewHandler(f.c, reg, HandlerOptions{Timeout: 300 * time.Millisecond, TimeoutOffset: 500 * time.Millisecond})
	f.src.release = make(chan struct{}) // EM hangs
	defer close(f.src.release)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"1.2", 700 * time.Millisecond},
		{"", 300 * time.Millisecond},
	} {
		began := time.Now()
		code, body := scrape(t, h, tc.header)
		waited := time.Since(began)
		if code != http.StatusOK || !strings.Contains(body, "\nveeam_em_up 0\n") {
			t.Fatalf("status %d, want 200 with veeam_em_up 0", code)
		}
		if waited < tc.want || waited > tc.want+time.Second {
			t.Errorf("header %q: the scrape waited %v, want about %v", tc.header, waited, tc.want)
		}
	}
}

func TestHandlerServesWhenRefreshFails(t *testing.T) {
	f, h := newHandlerFixture(t)
	f.src.set(statesAndResults())
	code, body := scrape(t, h, "")
	if code != http.StatusOK || !strings.Contains(body, "\nveeam_em_up 1\n") {
		t.Fatalf("healthy scrape: status %d, body:\n%s", code, body)
	}

	f.src.failWith(errors.New("connection refused"), nil)
	code, body = scrape(t, h, "5")
	if code != http.StatusOK {
		t.Errorf("status %d when the refresh failed, want 200", code)
	}
	for _, want := range []string{
		"\nveeam_em_up 0\n",
		"\nveeam_em_refresh_failures_total 1\n",
		`veeam_em_replica_task_last_state{backup_server="vbr01.corp.local",job_name="Replica Job 1",state="InProgress",vm="web01"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape during the failure lacks %q", want)
		}
	}
}

func TestHandlerBeforeAnySuccess(t *testing.T) {
	f, h := newHandlerFixture(t)
	f.src.failWith(errors.New("no route to host"), errors.New("no route to host"))
	code, body := scrape(t, h, "")
	if code != http.StatusOK || !strings.Contains(body, "\nveeam_em_up 0\n") {
		t.Errorf("status %d, want 200 with veeam_em_up 0; body:\n%s", code, body)
	}
}

// TestHandlerWhenEMHangs checks that a scrape is answered by its deadline and
// already reports the refresh that just timed out.
func TestHandlerWhenEMHangs(t *testing.T) {
	f, h := newHandlerFixture(t)
	f.src.set(statesAndResults())
	if code, body := scrape(t, h, ""); code != http.StatusOK || !strings.Contains(body, "\nveeam_em_up 1\n") {
		t.Fatalf("healthy scrape: status %d", code)
	}
	f.src.release = make(chan struct{})
	defer close(f.src.release)
	for range 3 {
		began := time.Now()
		code, body := scrape(t, h, "0.6") // 100ms after the offset
		if elapsed := time.Since(began); elapsed > 2*time.Second {
			t.Errorf("scrape took %v, want about 100ms", elapsed)
		}
		if code != http.StatusOK || !strings.Contains(body, "\nveeam_em_up 0\n") {
			t.Errorf("status %d, want 200 with veeam_em_up 0", code)
		}
	}
}
