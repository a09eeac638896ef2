package emsim

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// logonSession is one EM REST session created by a logon.
type logonSession struct {
	id      string // SessionId, the GUID in the logoff URL
	token   string // X-RestSvcSessionId
	user    string
	lastUse time.Time
}

// sessionStore holds the logon sessions. An expired session is removed the
// first time it is looked at.
type sessionStore struct {
	mu           sync.Mutex
	idle         time.Duration
	byToken      map[string]*logonSession
	logons       int
	failedLogons int
	logoffs      int
}

func newSessionStore(idle time.Duration) *sessionStore {
	return &sessionStore{idle: idle, byToken: map[string]*logonSession{}}
}

func randomGUID() guid {
	var g guid
	// crypto/rand.Read never fails on supported platforms.
	rand.Read(g[:])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func (st *sessionStore) create(user string, now time.Time) *logonSession {
	// Real tokens are the base64 of a GUID's text.
	sess := &logonSession{
		id:      randomGUID().String(),
		token:   base64.StdEncoding.EncodeToString([]byte(randomGUID().String())),
		user:    user,
		lastUse: now,
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.byToken[sess.token] = sess
	st.logons++
	return sess
}

func (st *sessionStore) failedLogon() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.failedLogons++
}

// use reports whether token belongs to a live session, and marks it used
// at now.
func (st *sessionStore) use(token string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	sess, ok := st.byToken[token]
	if !ok {
		return false
	}
	if now.Sub(sess.lastUse) > st.idle {
		delete(st.byToken, token)
		return false
	}
	sess.lastUse = now
	return true
}

// logoff ends the session with SessionId id; false if there is none.
func (st *sessionStore) logoff(id string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for token, sess := range st.byToken {
		if sess.id != id {
			continue
		}
		delete(st.byToken, token)
		if now.Sub(sess.lastUse) > st.idle {
			return false
		}
		st.logoffs++
		return true
	}
	return false
}

func (st *sessionStore) expire(token string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.byToken, token)
}

func (st *sessionStore) expireAll() {
	st.mu.Lock()
	defer st.mu.Unlock()
	clear(st.byToken)
}

func (st *sessionStore) active(now time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, sess := range st.byToken {
		if now.Sub(sess.lastUse) <= st.idle {
			n++
		}
	}
	return n
}

// Logons counts successful logons.
func (s *Server) Logons() int {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	return s.sessions.logons
}

// FailedLogons counts logons refused for bad or missing credentials.
func (s *Server) FailedLogons() int {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	return s.sessions.failedLogons
}

// Logoffs counts sessions ended by a successful logoff.
func (s *Server) Logoffs() int {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	return s.sessions.logoffs
}

// ActiveSessions counts logon sessions that are neither logged off nor
// expired.
func (s *Server) ActiveSessions() int {
	return s.sessions.active(s.clock.Now())
}

// ExpireSessions invalidates every current logon session: the next use of
// any of them is answered 401.
func (s *Server) ExpireSessions() {
	s.sessions.expireAll()
}
