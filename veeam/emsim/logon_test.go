package emsim

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLogon(t *testing.T) {
	h := newHarness(t, nil)
	resp := h.mustDo(http.MethodPost, "/api/sessionMngr/?v=latest", "", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) })
	if resp.status != http.StatusCreated {
		t.Fatalf("logon: %d, want 201\n%s", resp.status, resp.body)
	}
	token := resp.header.Get(sessionHeader)
	if _, err := base64.StdEncoding.DecodeString(token); err != nil || token == "" {
		t.Errorf("token %q is not base64: %v", token, err)
	}
	if !strings.Contains(resp.header.Get("Set-Cookie"), sessionHeader+"="+token) {
		t.Errorf("Set-Cookie %q does not carry the token", resp.header.Get("Set-Cookie"))
	}
	var doc struct {
		XMLName   xml.Name  `xml:"http://www.veeam.com/ent/v1.0 LogonSession"`
		Links     []linkDoc `xml:"Links>Link"`
		UserName  string
		SessionId string
	}
	if err := xml.Unmarshal([]byte(resp.body), &doc); err != nil {
		t.Fatal(err)
	}
	del, ok := findLink(doc.Links, "Delete", "LogonSession")
	if doc.UserName != testUser || len(doc.SessionId) != 36 || !ok || !strings.HasSuffix(del.Href, "/api/logonSessions/"+doc.SessionId) {
		t.Errorf("LogonSession %+v", doc)
	}
	if h.sim.Logons() != 1 || h.sim.ActiveSessions() != 1 {
		t.Errorf("logons %d, active %d; want 1 and 1", h.sim.Logons(), h.sim.ActiveSessions())
	}

	for _, v := range []string{"v1_5", "v1_7"} {
		resp := h.mustDo(http.MethodPost, "/api/sessionMngr/?v="+v, "", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) })
		if resp.status != http.StatusCreated {
			t.Errorf("logon with v=%s: %d", v, resp.status)
		}
	}
	if resp := h.mustDo(http.MethodPost, "/api/sessionMngr/?v=v9_9", "", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) }); resp.status != http.StatusBadRequest {
		t.Errorf("logon with an unknown version: %d, want 400", resp.status)
	}
}

func TestLogonRejected(t *testing.T) {
	h := newHarness(t, nil)
	cases := map[string]func(*http.Request){
		"wrong password": func(r *http.Request) { r.SetBasicAuth(testUser, "guess") },
		"wrong user":     func(r *http.Request) { r.SetBasicAuth("admin@corp.local", testPassword) },
		"no credentials": nil,
	}
	for name, edit := range cases {
		resp := h.mustDo(http.MethodPost, "/api/sessionMngr/?v=latest", "", edit)
		if resp.status != http.StatusUnauthorized || resp.header.Get("WWW-Authenticate") != "Basic Realm=RestSvc" {
			t.Errorf("%s: %d, WWW-Authenticate %q; want 401 and the Basic challenge", name, resp.status, resp.header.Get("WWW-Authenticate"))
		}
		if doc := decodeError(t, resp.body); doc.StatusCode != 401 || doc.Status != "Unauthorized" || doc.Message == "" {
			t.Errorf("%s: Error %+v", name, doc)
		}
		if strings.Contains(resp.body, testPassword) {
			t.Errorf("%s: the answer contains the password", name)
		}
	}
	if h.sim.Logons() != 0 || h.sim.FailedLogons() != len(cases) {
		t.Errorf("logons %d, failed %d; want 0 and %d", h.sim.Logons(), h.sim.FailedLogons(), len(cases))
	}
	if resp := h.mustDo(http.MethodGet, "/api/sessionMngr/?v=latest", "", nil); resp.status != http.StatusMethodNotAllowed || resp.header.Get("Allow") != "POST" {
		t.Errorf("GET on the logon: %d, Allow %q; want 405 and POST", resp.status, resp.header.Get("Allow"))
	}
}

func TestTokenRequired(t *testing.T) {
	h := newHarness(t, nil)
	for name, token := range map[string]string{"missing": "", "unknown": base64.StdEncoding.EncodeToString([]byte("not-a-session"))} {
		resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaTaskSession", token, nil)
		if resp.status != http.StatusUnauthorized || decodeError(t, resp.body).Status != "Unauthorized" {
			t.Errorf("%s token: %d %s, want 401 with an Error", name, resp.status, resp.body)
		}
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTimeout = 10 * time.Minute })
	token := h.logon()
	query := func() int {
		return h.mustDo(http.MethodGet, "/api/query?type=ReplicaJobSession&pageSize=1", token, nil).status
	}
	// Each use refreshes the session, so steady use keeps it alive.
	for range 3 {
		h.clock.Advance(9 * time.Minute)
		if got := query(); got != http.StatusOK {
			t.Fatalf("query 9 minutes after the last use: %d, want 200", got)
		}
	}
	h.clock.Advance(10*time.Minute + time.Second)
	if h.sim.ActiveSessions() != 0 {
		t.Errorf("ActiveSessions = %d after the idle timeout, want 0", h.sim.ActiveSessions())
	}
	if got := query(); got != http.StatusUnauthorized {
		t.Errorf("query after the idle timeout: %d, want 401", got)
	}
	h.clock.Advance(-time.Hour)
	if got := query(); got != http.StatusUnauthorized {
		t.Errorf("an expired session came back: %d, want 401", got)
	}
}

func TestExpireSessions(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.logon(), h.logon()
	h.sim.ExpireSessions()
	for _, token := range []string{a, b} {
		if resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaJobSession", token, nil); resp.status != http.StatusUnauthorized {
			t.Errorf("query after ExpireSessions: %d, want 401", resp.status)
		}
	}
	if h.sim.ActiveSessions() != 0 || h.sim.Logons() != 2 {
		t.Errorf("active %d, logons %d; want 0 and 2", h.sim.ActiveSessions(), h.sim.Logons())
	}
}

// EM prefers the cookie when a client sends both, which breaks clients
// that keep a cookie jar with a stale session.
func TestCookieWinsOverHeader(t *testing.T) {
	h := newHarness(t, nil)
	good := h.logon()
	withStaleCookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionHeader, Value: "c3RhbGU="}) }
	if resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaJobSession", good, withStaleCookie); resp.status != http.StatusUnauthorized {
		t.Errorf("valid header with a stale cookie: %d, want 401", resp.status)
	}
	withGoodCookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionHeader, Value: good}) }
	if resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaJobSession", "", withGoodCookie); resp.status != http.StatusOK {
		t.Errorf("cookie alone: %d, want 200", resp.status)
	}
}

func TestLogoff(t *testing.T) {
	h := newHarness(t, nil)
	resp := h.mustDo(http.MethodPost, "/api/sessionMngr/?v=latest", "", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) })
	token := resp.header.Get(sessionHeader)
	var doc struct {
		SessionId string
	}
	if err := xml.Unmarshal([]byte(resp.body), &doc); err != nil {
		t.Fatal(err)
	}
	other := h.logon()

	if resp := h.mustDo(http.MethodDelete, "/api/logonSessions/"+doc.SessionId, token, nil); resp.status != http.StatusNoContent {
		t.Fatalf("logoff: %d, want 204\n%s", resp.status, resp.body)
	}
	if h.sim.Logoffs() != 1 || h.sim.ActiveSessions() != 1 {
		t.Errorf("logoffs %d, active %d; want 1 and 1", h.sim.Logoffs(), h.sim.ActiveSessions())
	}
	if resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaJobSession", token, nil); resp.status != http.StatusUnauthorized {
		t.Errorf("query after logoff: %d, want 401", resp.status)
	}
	resp = h.mustDo(http.MethodDelete, "/api/logonSessions/"+doc.SessionId, other, nil)
	if resp.status != http.StatusNotFound || decodeError(t, resp.body).Status != "NotFound" {
		t.Errorf("second logoff of the same session: %d %s, want 404 with an Error", resp.status, resp.body)
	}
	if resp := h.mustDo(http.MethodDelete, "/api/logonSessions/"+doc.SessionId, "", nil); resp.status != http.StatusUnauthorized {
		t.Errorf("logoff without a token: %d, want 401", resp.status)
	}
	if resp := h.mustDo(http.MethodGet, "/api/logonSessions/"+doc.SessionId, other, nil); resp.status != http.StatusMethodNotAllowed {
		t.Errorf("GET on a logon session: %d, want 405", resp.status)
	}
	if h.sim.Logoffs() != 1 {
		t.Errorf("logoffs %d after failed attempts, want 1", h.sim.Logoffs())
	}
}
