package veeam

import (
	"errors"
	"fmt"
	"time"
)

// AuthError means EM rejected the credentials at logon (401).
type AuthError struct {
	Message string // EM's Error message, if any
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication failed: EM rejected the credentials (401)%s", suffix(e.Message))
}

// PermissionError means EM refused the call for the account's role (403).
type PermissionError struct {
	Op      string // "logon" or "query ReplicaTaskSession", ...
	Message string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s: permission denied (403): the account needs the Portal Administrator, Portal User or Restore Operator role%s", e.Op, suffix(e.Message))
}

// APIError is any other non-success answer from EM.
type APIError struct {
	Op         string
	StatusCode int
	Status     string // EM's Status attribute or the HTTP status text
	Message    string // EM's Error message; empty if the body was not an Error document
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: EM answered HTTP %d%s", e.Op, e.StatusCode, suffix(e.Message))
}

// DecodeError means a response body could not be decoded.
type DecodeError struct {
	Type string // request type, e.g. ReplicaTaskSession or OverviewReportFrame
	Page int    // 1-based page number of a query; 0 for a report
	Err  error
}

func (e *DecodeError) Error() string {
	if e.Page == 0 {
		return fmt.Sprintf("decode %s: %v", e.Type, e.Err)
	}
	return fmt.Sprintf("decode %s page %d: %v", e.Type, e.Page, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// BodyTooLargeError means a response body exceeded the configured cap.
type BodyTooLargeError struct {
	Limit int64
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("response body larger than the cap of %d bytes", e.Limit)
}

// TimeoutError means a call did not finish before its context's deadline.
type TimeoutError struct {
	Op  string
	Err error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: timed out: %v", e.Op, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout lets callers use the net.Error convention.
func (e *TimeoutError) Timeout() bool { return true }

// IsAuthError reports whether err means the credentials were rejected.
func IsAuthError(err error) bool {
	var a *AuthError
	return errors.As(err, &a)
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// LogonBackoffError means the client did not try to log on because EM
// rejected the same credentials recently. It unwraps to that rejection, an
// *AuthError or a *PermissionError.
type LogonBackoffError struct {
	Until time.Time // the first moment a logon with the same password is tried again
	Cause error
}

func (e *LogonBackoffError) Error() string {
	return fmt.Sprintf("logon not attempted: the next attempt is at %s, or at once when the password file changes; last rejection: %v",
		e.Until.UTC().Format(time.RFC3339), e.Cause)
}

func (e *LogonBackoffError) Unwrap() error { return e.Cause }

// NetworkReason is why a connection to EM failed.
type NetworkReason uint8

// The network failures the client tells apart.
const (
	ConnectionRefused NetworkReason = iota + 1
	ConnectionReset
	ConnectionClosed // EM closed the connection without answering
	HostNotFound
	CertificateUnknownAuthority
	CertificateWrongHost
	CertificateInvalid // expired, not yet valid, unusable for a server...
)

// NetworkError means a request did not reach EM or its answer did not come
// back, for a reason an operator can act on.
type NetworkError struct {
	Op     string
	Host   string // EM's host[:port] as configured
	Reason NetworkReason
	Err    error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Op, e.Reason.explain(e.Host), e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// explain says what the reason means for the operator, naming the flag that
// fixes it when there is one.
func (r NetworkReason) explain(host string) string {
	switch r {
	case ConnectionRefused:
		return fmt.Sprintf("nothing accepts connections at %s (is EM running, is the port in the URL right?)", host)
	case ConnectionReset:
		return fmt.Sprintf("the connection to %s was reset by EM or by a firewall or proxy in between", host)
	case ConnectionClosed:
		return fmt.Sprintf("%s closed the connection without answering", host)
	case HostNotFound:
		return fmt.Sprintf("the host name in %s does not resolve (check the URL and DNS)", host)
	case CertificateUnknownAuthority:
		return fmt.Sprintf("the TLS certificate of %s is signed by an unknown authority: trust the CA that signed it with --veeam.ca-file (EM's own certificate is self-signed by default)", host)
	case CertificateWrongHost:
		return fmt.Sprintf("the TLS certificate of %s is not valid for that name: use a host name the certificate names in the URL", host)
	case CertificateInvalid:
		return fmt.Sprintf("the TLS certificate of %s is not valid", host)
	}
	return fmt.Sprintf("cannot reach %s", host)
}
