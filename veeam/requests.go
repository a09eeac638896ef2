package veeam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RequestOutcome is how a request to EM ended, as the request metrics
// count it.
type RequestOutcome string

// The outcomes of a request sent to EM.
const (
	OutcomeSuccess      RequestOutcome = "success"
	OutcomeUnauthorized RequestOutcome = "unauthorized"  // 401: rejected credentials or an expired session
	OutcomeForbidden    RequestOutcome = "forbidden"     // 403: the account's role
	OutcomeUnavailable  RequestOutcome = "unavailable"   // 503 or 429: EM overloaded or in maintenance
	OutcomeHTTPError    RequestOutcome = "http_error"    // any other unexpected status
	OutcomeInvalid      RequestOutcome = "invalid"       // an answer that could not be read: malformed, too large, HTML
	OutcomeTimeout      RequestOutcome = "timeout"       // no answer in time
	OutcomeNetworkError RequestOutcome = "network_error" // refused, reset, DNS, TLS
	OutcomeCanceled     RequestOutcome = "canceled"      // the exporter gave up: shutdown, or a failing page before it
)

// RequestOutcomes are every outcome, so that counters can start at 0.
var RequestOutcomes = [...]RequestOutcome{OutcomeSuccess, OutcomeUnauthorized, OutcomeForbidden, OutcomeUnavailable,
	OutcomeHTTPError, OutcomeInvalid, OutcomeTimeout, OutcomeNetworkError, OutcomeCanceled}

// The request types that are not queries: they label the request counts
// next to the query types.
const (
	LogonRequest  = "logon"
	LogoffRequest = "logoff"
)

// RequestKey names one request count.
type RequestKey struct {
	Type    string // a query type, LogonRequest or LogoffRequest
	Outcome RequestOutcome
}

// requestLog counts the requests sent to EM and the answer bytes read.
type requestLog struct {
	mu       sync.Mutex
	requests map[RequestKey]uint64
	bytes    map[string]uint64
}

func (l *requestLog) record(typ string, outcome RequestOutcome, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.requests == nil {
		l.requests, l.bytes = make(map[RequestKey]uint64), make(map[string]uint64)
	}
	l.requests[RequestKey{Type: typ, Outcome: outcome}]++
	l.bytes[typ] += uint64(max(bytes, 0))
}

func (l *requestLog) snapshot() (map[RequestKey]uint64, map[string]uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	requests := make(map[RequestKey]uint64, len(l.requests))
	for k, v := range l.requests {
		requests[k] = v
	}
	bytes := make(map[string]uint64, len(l.bytes))
	for k, v := range l.bytes {
		bytes[k] = v
	}
	return requests, bytes
}

// sum is how many requests counts holds in all.
func sum(counts map[RequestKey]uint64) uint64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}

// outcomeOf classifies the error a request ended with; fallback is the
// outcome of an error of no known type.
func outcomeOf(err error, fallback RequestOutcome) RequestOutcome {
	var (
		apiErr   *APIError
		authErr  *AuthError
		permErr  *PermissionError
		timeout  *TimeoutError
		netErr   *NetworkError
		decode   *DecodeError
		tooLarge *BodyTooLargeError
	)
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.As(err, &authErr):
		return OutcomeUnauthorized
	case errors.As(err, &permErr):
		return OutcomeForbidden
	case errors.As(err, &apiErr):
		switch apiErr.StatusCode {
		case http.StatusUnauthorized:
			return OutcomeUnauthorized
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			return OutcomeUnavailable
		}
		return OutcomeHTTPError
	case errors.As(err, &timeout):
		return OutcomeTimeout
	case errors.As(err, &netErr):
		return OutcomeNetworkError
	case errors.As(err, &decode), errors.As(err, &tooLarge):
		return OutcomeInvalid
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	return fallback
}

// maxRetryAfter bounds how long a Retry-After keeps the client quiet: a
// proxy's mistaken "come back tomorrow" must not blind the exporter for a
// day.
const maxRetryAfter = time.Hour

// RetryAfterError means the client did not send a request because EM asked,
// with a Retry-After header on a 503 or 429 answer, not to be called before
// Until.
type RetryAfterError struct {
	Until  time.Time
	Status int // the status that carried the header
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("no request sent: Enterprise Manager answered HTTP %d with Retry-After and is not called again before %s",
		e.Status, e.Until.UTC().Format(time.RFC3339))
}

// retryAfterHold is the quiet period EM asked for.
type retryAfterHold struct {
	mu     sync.Mutex
	until  time.Time
	status int
}

// check returns the error that refuses a request at now, or nil.
func (h *retryAfterHold) check(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Before(h.until) {
		return &RetryAfterError{Until: h.until, Status: h.status}
	}
	return nil
}

// note starts or extends the hold when resp asks for one.
func (h *retryAfterHold) note(now time.Time, resp *http.Response) {
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return
	}
	wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	if !ok || wait <= 0 {
		return
	}
	until := now.Add(min(wait, maxRetryAfter))
	h.mu.Lock()
	defer h.mu.Unlock()
	if until.After(h.until) {
		h.until, h.status = until, resp.StatusCode
	}
}

// activeUntil is the end of the hold in force at now, or zero.
func (h *retryAfterHold) activeUntil(now time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Before(h.until) {
		return h.until
	}
	return time.Time{}
}

// parseRetryAfter reads a Retry-After value, seconds or an HTTP-date, as
// the wait from now.
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		if seconds < 0 {
			return 0, false
		}
		return time.Duration(min(seconds, int64(maxRetryAfter/time.Second))) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return at.Sub(now), true
}
