package veeam

import (
	"errors"
	"fmt"
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
	Type string // query type, e.g. ReplicaTaskSession
	Page int    // 1-based page number
	Err  error
}

func (e *DecodeError) Error() string {
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
