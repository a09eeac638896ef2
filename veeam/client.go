package veeam

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

const (
	defaultPageSize      = 1000
	defaultPagesInFlight = 4
	defaultMaxBodyBytes  = 256 << 20
	// smallBodyLimit bounds the documents read besides query pages (Error,
	// LogonSession) and how much of an unread body is drained so that its
	// connection can be reused.
	smallBodyLimit = 64 << 10
	sessionHeader  = "X-RestSvcSessionId"
)

// Config says how to reach Enterprise Manager and how to log on.
type Config struct {
	URL      string // base URL, e.g. "https://em.example.com:9398", with or without a trailing "/" or "/api"
	Username string
	// Password is called at every logon attempt, so a rotated password file
	// is picked up without a restart. A change of its answer also ends a
	// logon back-off at once.
	Password func() (string, error)
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// RootCAs, when set, is the only pool trusted; CAFile is then ignored.
	RootCAs            *x509.CertPool
	InsecureSkipVerify bool
	// ServerName, when set, is sent as TLS SNI and is the name EM's
	// certificate must carry, for an EM reached by an address or alias that
	// its certificate does not name.
	ServerName string
	PageSize   int // entities per query page; 1000 when 0
	// MaxConcurrentPages bounds the query pages the client requests at
	// once, over all its queries; 4 when 0. The pages of a query after the
	// first, which tells how many there are, are fetched concurrently, so a
	// remote EM's latency costs about a quarter of the pages' round trips;
	// queries running at the same time (replica and backup sessions) share
	// the bound, so EM never serves more than this many pages to one
	// exporter target.
	MaxConcurrentPages int
	MaxBodyBytes       int64             // largest response body accepted; 256 MiB when 0
	Transport          http.RoundTripper // replaces the client's own transport and its TLS settings
	Logger             log.Logger        // nil logs nothing
	// Now tells the time for the logon back-off; nil uses time.Now.
	Now func() time.Time
}

// Client talks to the Enterprise Manager REST API. It logs on when first
// needed, keeps the logon session across calls, and logs on again once when
// EM rejects it. When EM rejects the credentials themselves (401 or 403 at
// logon), it backs off: for 5 s, then twice as long after each rejection up to
// 5 min, calls that need a logon fail with *LogonBackoffError without
// contacting EM, until the back-off ends, the password changes or a logon
// succeeds. It is safe for concurrent use; Close it when done.
type Client struct {
	base     string // scheme://host[:port][/prefix], without "/api"
	host     string // host[:port], to name EM in network errors
	username string
	password func() (string, error)
	pageSize int
	maxPages int
	// pagesInFlight bounds the concurrent page fetches of one query, and
	// pageSlots, holding that many tokens, those of all queries together.
	pagesInFlight int
	pageSlots     chan struct{}
	maxBody       int64
	// pageReaders recycles the read buffers of page bodies: a big first
	// refresh reads hundreds of pages.
	pageReaders sync.Pool
	http        *http.Client
	logger      log.Logger
	now         func() time.Time

	mu      sync.Mutex
	session *logonSession // nil when not logged on
	logon   *logonCall    // the logon in flight, if any
	backoff logonBackoff
	// retryAfter holds every request back while EM asked not to be called.
	retryAfter retryAfterHold
	requestLog requestLog

	logons, logonFailures, logoffs atomic.Uint64
}

// logonSession is one logon to EM. Sessions are compared by pointer: a
// goroutine whose token was rejected knows another goroutine has already
// logged on again when the current session is a different one.
type logonSession struct {
	token string // X-RestSvcSessionId
	id    string // SessionId, names the session to delete at logoff
}

// logonCall lets goroutines that need a session while a logon is in flight
// wait for it and share its outcome instead of logging on themselves.
type logonCall struct {
	done    chan struct{}
	session *logonSession
	err     error
}

// New checks cfg and builds a client. It does not contact EM.
func New(cfg Config) (*Client, error) {
	base, host, err := baseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Username == "":
		return nil, errors.New("EM username is required")
	case strings.Contains(cfg.Username, ":"):
		return nil, errors.New("EM username must not contain ':', which HTTP Basic authentication cannot carry")
	case cfg.Password == nil:
		return nil, errors.New("EM password source is required")
	case cfg.PageSize < 0:
		return nil, fmt.Errorf("page size %d is negative", cfg.PageSize)
	case cfg.MaxConcurrentPages < 0:
		return nil, fmt.Errorf("maximum concurrent pages %d is negative", cfg.MaxConcurrentPages)
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("maximum body size %d is negative", cfg.MaxBodyBytes)
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	transport := cfg.Transport
	if transport == nil {
		transport = newTransport(tc)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	if cfg.InsecureSkipVerify {
		level.Warn(logger).Log("msg", "TLS certificate verification of Enterprise Manager is disabled: the connection and the credentials can be intercepted")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c := &Client{
		base:          base,
		host:          host,
		username:      cfg.Username,
		password:      cfg.Password,
		pageSize:      cfg.PageSize,
		maxPages:      defaultMaxPages,
		pagesInFlight: cfg.MaxConcurrentPages,
		maxBody:       cfg.MaxBodyBytes,
		http: &http.Client{
			Transport: transport,
			// EM does not redirect; following one could hand the session
			// token to another host, and a login page behind a redirect is
			// better reported as what it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logger:  logger,
		now:     now,
		backoff: newLogonBackoff(),
	}
	c.pageReaders.New = func() any { return bufio.NewReaderSize(nil, scanBufferSize) }
	if c.pageSize == 0 {
		c.pageSize = defaultPageSize
	}
	if c.maxBody == 0 {
		c.maxBody = defaultMaxBodyBytes
	}
	if c.pagesInFlight == 0 {
		c.pagesInFlight = defaultPagesInFlight
	}
	c.pageSlots = make(chan struct{}, c.pagesInFlight)
	return c, nil
}

// baseURL checks the configured URL and strips what New adds itself. host is
// the URL's host[:port].
func baseURL(raw string) (base, host string, err error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// The inner error only: the URL itself could carry a password.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", "", fmt.Errorf("EM URL cannot be parsed: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", "", fmt.Errorf("EM URL must start with https:// or http://, got scheme %q", u.Scheme)
	case u.User != nil:
		return "", "", errors.New("EM URL must not carry credentials: set the username and the password source instead")
	case u.Host == "":
		return "", "", errors.New("EM URL has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return "", "", errors.New("EM URL must not have a query or a fragment")
	}
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	if len(prefix) >= 4 && strings.EqualFold(prefix[len(prefix)-4:], "/api") {
		prefix = prefix[:len(prefix)-4]
	}
	return scheme + "://" + u.Host + prefix, u.Host, nil
}

// Stats returns the client's counters and the state of its logon back-off.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	until := c.backoff.activeUntil(c.now())
	rejections := c.backoff.rejections
	c.mu.Unlock()
	requests, bytes := c.requestLog.snapshot()
	return Stats{
		Logons:            c.logons.Load(),
		LogonFailures:     c.logonFailures.Load(),
		Logoffs:           c.logoffs.Load(),
		Requests:          sum(requests),
		LogonRejections:   rejections,
		LogonBackoffUntil: until,
		RetryAfterUntil:   c.retryAfter.activeUntil(c.now()),
		RequestsByOutcome: requests,
		AnswerBytes:       bytes,
	}
}

// Close closes the connections to EM left idle for reuse, ending the
// goroutines that serve them. It does not log off; call Logoff first. The
// client stays usable: a later call opens a new connection.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

// Logon makes sure the client holds a logon session, logging on if it has
// none. Calls log on by themselves when needed; Logon lets a caller check the
// credentials early. During a logon back-off it fails with
// *LogonBackoffError.
func (c *Client) Logon(ctx context.Context) error {
	_, err := c.sessionFor(ctx, nil)
	return err
}

// Logoff ends the logon session on EM and forgets it; it does nothing when
// the client is not logged on. The session is forgotten even when EM cannot
// be reached: it then expires on EM after 15 minutes idle.
func (c *Client) Logoff(ctx context.Context) error {
	const op = "logoff"
	s, err := c.takeSession(ctx)
	if err != nil || s == nil {
		return err
	}
	if s.id == "" {
		return errors.New("logoff: EM's logon answer named no session to delete; it will expire after 15 minutes idle")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+"/api/logonSessions/"+url.PathEscape(s.id), nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set(sessionHeader, s.token)
	resp, done, err := c.send(ctx, LogoffRequest, op, req)
	if err != nil {
		return err
	}
	defer discard(resp.Body)
	switch resp.StatusCode {
	case http.StatusNoContent:
		done(nil, 0)
		c.logoffs.Add(1)
		level.Debug(c.logger).Log("msg", "Logged off from Enterprise Manager")
		return nil
	case http.StatusUnauthorized:
		// EM answers 401 for a token it no longer knows: the session has
		// already expired, which is what logging off was for.
		done(errExpiredToken, 0)
		return nil
	}
	err = statusError(op, resp)
	done(err, 0)
	return err
}

// errExpiredToken counts an answer 401 to a request sent with a session
// token: EM no longer knows the session.
var errExpiredToken = &APIError{Op: "request", StatusCode: http.StatusUnauthorized, Status: "Unauthorized", Message: "session expired"}

// takeSession removes the current session from the client, after any logon
// in flight has finished so that it cannot install a session behind Logoff.
func (c *Client) takeSession(ctx context.Context) (*logonSession, error) {
	for {
		c.mu.Lock()
		call := c.logon
		if call == nil {
			s := c.session
			c.session = nil
			c.mu.Unlock()
			return s, nil
		}
		c.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, requestError(ctx, "logoff: wait for the logon in flight", c.host, ctx.Err())
		}
	}
}

// sessionFor returns the session to send a request with. rejected is the
// session whose token EM has just refused, or nil. Only one logon runs at a
// time; goroutines arriving meanwhile share its result, and a goroutine whose
// rejected session was already replaced uses the replacement.
func (c *Client) sessionFor(ctx context.Context, rejected *logonSession) (*logonSession, error) {
	c.mu.Lock()
	if c.session != nil && c.session != rejected {
		s := c.session
		c.mu.Unlock()
		return s, nil
	}
	// The current session is absent or known dead: no later call should
	// send its token.
	c.session = nil
	if call := c.logon; call != nil {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.session, call.err
		case <-ctx.Done():
			return nil, requestError(ctx, "logon: wait for the logon in flight", c.host, ctx.Err())
		}
	}
	call := &logonCall{done: make(chan struct{})}
	c.logon = call
	c.mu.Unlock()
	c.lead(ctx, call)
	return call.session, call.err
}

// lead runs the logon that call stands for. The deferred release keeps the
// waiting goroutines from hanging even if the password source panics.
func (c *Client) lead(ctx context.Context, call *logonCall) {
	defer func() {
		if call.session == nil && call.err == nil {
			call.err = errors.New("logon: did not complete")
		}
		c.mu.Lock()
		c.logon = nil
		if call.err == nil {
			c.session = call.session
		}
		c.mu.Unlock()
		close(call.done)
	}()
	call.session, call.err = c.logOn(ctx)
}

// logOn logs on unless EM rejected the same password recently. A refusal
// from the back-off sends nothing and is not counted as a failed logon.
func (c *Client) logOn(ctx context.Context) (*logonSession, error) {
	password, err := c.password()
	if err != nil {
		c.logonFailures.Add(1)
		return nil, fmt.Errorf("logon: read password: %w", err)
	}
	fp := c.backoff.fingerprint(password)
	c.mu.Lock()
	err = c.backoff.admit(c.now(), fp)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s, err := c.postLogon(ctx, password)
	c.mu.Lock()
	c.backoff.record(c.now(), fp, err)
	until, rejections := c.backoff.until, c.backoff.rejections
	c.mu.Unlock()
	if err != nil {
		c.logonFailures.Add(1)
		if isCredentialRejection(err) {
			level.Warn(c.logger).Log("msg", "Enterprise Manager rejected the credentials; no logon until the back-off ends or the password changes",
				"user", c.username, "retry_at", until.UTC().Format(time.RFC3339), "rejections", rejections, "err", err)
		}
		return nil, err
	}
	c.logons.Add(1)
	level.Debug(c.logger).Log("msg", "Logged on to Enterprise Manager", "user", c.username)
	return s, nil
}

func (c *Client) postLogon(ctx context.Context, password string) (s *logonSession, err error) {
	const op = "logon"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/sessionMngr/?v=latest", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.SetBasicAuth(c.username, password)
	resp, done, err := c.send(ctx, LogonRequest, op, req)
	if err != nil {
		return nil, err
	}
	defer func() {
		discard(resp.Body)
		done(err, 0)
	}()
	switch resp.StatusCode {
	case http.StatusCreated:
	case http.StatusUnauthorized:
		return nil, &AuthError{Message: readEMError(resp.Body).Message}
	default:
		return nil, statusError(op, resp)
	}
	token := strings.TrimSpace(resp.Header.Get(sessionHeader))
	if token == "" {
		return nil, fmt.Errorf("%s: EM answered 201 without an %s header", op, sessionHeader)
	}
	id, err := decodeLogonSession(newCappedReader(resp.Body, smallBodyLimit))
	if err != nil {
		// The token works without the id; only Logoff needs it.
		level.Warn(c.logger).Log("msg", "Cannot read the logon session id from EM's answer; the session cannot be logged off", "err", err)
	}
	return &logonSession{token: token, id: id}, nil
}

// xmlLogonSession is the part of EM's LogonSession document the client uses.
type xmlLogonSession struct {
	SessionID string    `xml:"SessionId"`
	Links     []xmlLink `xml:"Links>Link"`
}

// decodeLogonSession returns the id of the session to delete at logoff:
// SessionId, or else the last path segment of the Delete link. The link's
// host is not used because EM writes its own idea of its name there.
func decodeLogonSession(r io.Reader) (string, error) {
	var x xmlLogonSession
	if err := xml.NewDecoder(r).Decode(&x); err != nil {
		return "", fmt.Errorf("decode LogonSession: %w", err)
	}
	if id := strings.TrimSpace(x.SessionID); id != "" {
		return id, nil
	}
	for _, l := range x.Links {
		if strings.TrimSpace(l.Rel) != "Delete" {
			continue
		}
		u, err := url.Parse(strings.TrimSpace(l.Href))
		if err != nil {
			return "", fmt.Errorf("LogonSession Delete link: %w", err)
		}
		if id := path.Base(u.Path); id != "." && id != "/" {
			return id, nil
		}
	}
	return "", errors.New("LogonSession has neither a SessionId nor a Delete link")
}

// authorized sends a request of type typ with the session token, logging on
// first when the client has no session. When EM rejects the token it logs on
// again once and retries once; a second rejection is the caller's to report.
// The caller reports how the answer went with done, as for send.
func (c *Client) authorized(ctx context.Context, typ, op, method, target string) (*http.Response, requestDone, error) {
	s, err := c.sessionFor(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, done, err := c.sendWithToken(ctx, typ, op, method, target, s.token)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, done, err
	}
	discard(resp.Body)
	done(errExpiredToken, 0)
	s, err = c.sessionFor(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	return c.sendWithToken(ctx, typ, op, method, target, s.token)
}

func (c *Client) sendWithToken(ctx context.Context, typ, op, method, target, token string) (*http.Response, requestDone, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set(sessionHeader, token)
	return c.send(ctx, typ, op, req)
}

// requestDone records how a request went once its answer has been read:
// with the error that reading or judging it gave, nil if it was good, and
// the answer bytes read.
type requestDone func(err error, bytes int64)

// send sends a request of type typ, unless EM asked with Retry-After not to
// be called yet. A request that fails before an answer is counted at once;
// for one answered, the caller calls done when it has read the answer.
func (c *Client) send(ctx context.Context, typ, op string, req *http.Request) (*http.Response, requestDone, error) {
	if err := c.retryAfter.check(c.now()); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Accept", "application/xml")
	resp, err := c.http.Do(req)
	if err != nil {
		err = requestError(ctx, op, c.host, err)
		c.requestLog.record(typ, outcomeOf(err, OutcomeNetworkError), 0)
		return nil, nil, err
	}
	c.retryAfter.note(c.now(), resp)
	var once sync.Once
	return resp, func(err error, bytes int64) {
		once.Do(func() { c.requestLog.record(typ, outcomeOf(err, OutcomeInvalid), bytes) })
	}, nil
}

// requestError classifies a failed exchange with host: a deadline or network
// timeout becomes a *TimeoutError, a failure the operator can act on a
// *NetworkError, anything else is wrapped with op. The URL that net/http puts
// in its errors is dropped because op already names the call.
func requestError(ctx context.Context, op, host string, err error) error {
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		timedOut = true
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if timedOut {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return &TimeoutError{Op: op, Err: err}
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%s: %w: %w", op, ctxErr, err)
	}
	if reason, ok := networkReason(err); ok {
		return &NetworkError{Op: op, Host: host, Reason: reason, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// emErrorDoc is EM's Error document, sent with every 4xx and 5xx answer.
type emErrorDoc struct {
	XMLName    xml.Name
	Message    string `xml:"Message,attr"`
	StatusCode string `xml:"StatusCode,attr"`
	Status     string `xml:"Status,attr"`
}

// readEMError reads a bounded part of an error answer's body and returns EM's
// Error document, or a zero one when the body is something else.
func readEMError(body io.Reader) emErrorDoc {
	var doc emErrorDoc
	err := xml.NewDecoder(io.LimitReader(body, smallBodyLimit)).Decode(&doc)
	if err != nil || doc.XMLName.Local != "Error" {
		return emErrorDoc{}
	}
	doc.Message = strings.TrimSpace(doc.Message)
	doc.Status = strings.TrimSpace(doc.Status)
	return doc
}

// statusError turns an unexpected answer into a typed error carrying EM's
// message. It reads from resp.Body; the caller still closes it.
func statusError(op string, resp *http.Response) error {
	doc := readEMError(resp.Body)
	if resp.StatusCode == http.StatusForbidden {
		return &PermissionError{Op: op, Message: doc.Message}
	}
	status := doc.Status
	if status == "" {
		status = http.StatusText(resp.StatusCode)
	}
	return &APIError{Op: op, StatusCode: resp.StatusCode, Status: status, Message: doc.Message}
}

// discard drains a bounded part of what is left of a body, so that its
// connection can be reused, and closes it. Errors are ignored on purpose:
// the answer has already been taken, and a failed drain only costs the
// connection.
func discard(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, smallBodyLimit)
	_ = body.Close()
}

// cappedReader fails with *BodyTooLargeError once more than limit bytes have
// been read, instead of silently truncating like io.LimitReader would.
type cappedReader struct {
	r     io.Reader
	limit int64
	n     int64 // bytes read so far, at most limit+1
}

func newCappedReader(r io.Reader, limit int64) *cappedReader {
	return &cappedReader{r: r, limit: limit}
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n > c.limit {
		return 0, &BodyTooLargeError{Limit: c.limit}
	}
	// Reading one byte past the limit tells a body of exactly limit bytes
	// from a longer one.
	if room := c.limit - c.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n - int(c.n-c.limit), &BodyTooLargeError{Limit: c.limit}
	}
	return n, err
}

// bytesRead is how much of the body was read, the byte past the cap excluded.
func (c *cappedReader) bytesRead() int64 {
	return min(c.n, c.limit)
}
