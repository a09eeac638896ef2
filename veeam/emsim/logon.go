package emsim

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

const (
	sessionHeader  = "X-RestSvcSessionId"
	basicChallenge = "Basic Realm=RestSvc"
)

// supportedVersions are the API versions EM 12 and 13 announce, oldest
// first; "latest" means the last.
var supportedVersions = []string{"v1_5", "v1_6", "v1_7"}

func (s *Server) serveRoot(ex *exchange) {
	if !s.allowMethods(ex, http.MethodGet, http.MethodHead) {
		return
	}
	ex.w.Header().Set("Content-Type", contentXML)
	ex.w.WriteHeader(http.StatusOK)
	x := newXMLWriter(ex.body)
	x.raw(xmlHeader)
	x.open("EnterpriseManager")
	x.attr("xmlns", emNamespace)
	x.attr("Href", ex.base+"/api/")
	x.attr("Type", "EnterpriseManager")
	x.closeOpen()
	x.raw("<Links>")
	x.link("Create", "LogonSession", ex.base+"/api/sessionMngr/?v=latest", "")
	x.raw("</Links><SupportedVersions>")
	for _, v := range supportedVersions {
		x.open("SupportedVersion")
		x.attr("Name", v)
		x.closeOpen()
		x.raw("<Links>")
		x.link("Create", "LogonSession", ex.base+"/api/sessionMngr/?v="+v, "")
		x.raw("</Links>")
		x.end("SupportedVersion")
	}
	x.raw("</SupportedVersions>")
	x.end("EnterpriseManager")
	s.finish(ex, x)
}

func (s *Server) serveLogon(ex *exchange) {
	if !s.allowMethods(ex, http.MethodPost) {
		return
	}
	if v, ok := lookupParam(ex.params, "v"); ok && v != "latest" && !containsFold(supportedVersions, v) {
		s.writeError(ex, http.StatusBadRequest, "Unsupported API version "+v+"; supported: "+strings.Join(supportedVersions, ", ")+", latest")
		return
	}
	user, password, ok := ex.r.BasicAuth()
	if !ok || !strings.EqualFold(user, s.username) || subtle.ConstantTimeCompare([]byte(password), []byte(s.password)) != 1 {
		s.sessions.failedLogon()
		ex.w.Header().Set("WWW-Authenticate", basicChallenge)
		s.writeError(ex, http.StatusUnauthorized, "Authentication failed: the user name or the password is incorrect.")
		return
	}
	sess := s.sessions.create(s.username, ex.now)
	deleteHref := logonSessionHref(ex.base, sess.id)
	h := ex.w.Header()
	h.Set(sessionHeader, sess.token)
	http.SetCookie(ex.w, &http.Cookie{Name: sessionHeader, Value: sess.token, Path: "/", Secure: ex.r.TLS != nil, HttpOnly: true})
	h.Set("Location", deleteHref)
	h.Set("Content-Type", contentXML)
	ex.w.WriteHeader(http.StatusCreated)
	x := newXMLWriter(ex.body)
	x.raw(xmlHeader)
	x.open("LogonSession")
	x.attr("xmlns", emNamespace)
	x.attr("Href", deleteHref)
	x.attr("Type", "LogonSession")
	x.closeOpen()
	x.raw("<Links>")
	x.link("Down", "EnterpriseManager", ex.base+"/api/", "")
	x.link("Delete", "LogonSession", deleteHref, "")
	x.raw("</Links>")
	x.element("UserName", sess.user, false)
	x.element("SessionId", sess.id, false)
	x.end("LogonSession")
	s.finish(ex, x)
}

func (s *Server) serveLogoff(ex *exchange) {
	if !s.allowMethods(ex, http.MethodDelete) {
		return
	}
	if !s.authenticate(ex) {
		return
	}
	id := ex.r.URL.Path[len("/api/logonSessions/"):]
	if !s.sessions.logoff(id, ex.now) {
		s.writeError(ex, http.StatusNotFound, "Logon session "+id+" was not found.")
		return
	}
	ex.w.WriteHeader(http.StatusNoContent)
}

// requestToken is the session token of a request. Like EM, it prefers the
// cookie over the header when both are sent.
func requestToken(r *http.Request) string {
	if c, err := r.Cookie(sessionHeader); err == nil && c.Value != "" {
		return c.Value
	}
	return r.Header.Get(sessionHeader)
}

// authenticate checks the session token, answering 401 when it is missing,
// unknown or expired.
func (s *Server) authenticate(ex *exchange) bool {
	token := requestToken(ex.r)
	if token == "" {
		s.writeError(ex, http.StatusUnauthorized, "Authentication required: send the "+sessionHeader+" header returned by the logon.")
		return false
	}
	if !s.sessions.use(token, ex.now) {
		s.writeError(ex, http.StatusUnauthorized, "The logon session has expired or does not exist; log on again.")
		return false
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, item := range list {
		if strings.EqualFold(item, s) {
			return true
		}
	}
	return false
}
