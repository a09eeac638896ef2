package veeam

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"time"
)

// The directory behind EM may lock an account after a few wrong passwords,
// and a scrape every few seconds would get there fast: a rejected logon is
// not retried at every scrape. The first rejection waits
// initialLogonBackoff, each following one twice as long as the one before,
// up to maxLogonBackoff.
const (
	initialLogonBackoff = 5 * time.Second
	maxLogonBackoff     = 5 * time.Minute
)

// passwordFingerprint identifies a password without keeping it.
type passwordFingerprint [sha256.Size]byte

// logonBackoff remembers EM's last rejection of the credentials. It is not
// safe for concurrent use; the client guards it with its mutex.
type logonBackoff struct {
	// key makes fingerprints HMACs: a plain hash of a weak password held in
	// memory could be looked up in a precomputed table.
	key      []byte
	until    time.Time     // no logon before this; zero when not backing off
	step     time.Duration // length of the last back-off, 0 after a success
	rejected passwordFingerprint
	cause    error // the AuthError or PermissionError of the last rejection
	// rejections counts every rejected logon since the client was created.
	rejections uint64
}

func newLogonBackoff() logonBackoff {
	key := make([]byte, sha256.Size)
	// crypto/rand.Read never fails: it crashes the program rather than
	// return weak randomness.
	_, _ = rand.Read(key)
	return logonBackoff{key: key}
}

func (b *logonBackoff) fingerprint(password string) passwordFingerprint {
	mac := hmac.New(sha256.New, b.key)
	mac.Write([]byte(password))
	var fp passwordFingerprint
	copy(fp[:], mac.Sum(nil))
	return fp
}

// admit returns the error that refuses a logon with the password fp at now,
// or nil when the logon may go ahead. A password other than the rejected one
// ends the back-off at once: the operator has changed it.
func (b *logonBackoff) admit(now time.Time, fp passwordFingerprint) error {
	if b.until.IsZero() {
		return nil
	}
	if !hmac.Equal(fp[:], b.rejected[:]) {
		b.until = time.Time{}
		return nil
	}
	if now.Before(b.until) {
		return &LogonBackoffError{Until: b.until, Cause: b.cause}
	}
	return nil
}

// record updates the back-off with the outcome of a logon sent with the
// password fp and answered at now. Only a rejection of the credentials starts
// or lengthens it; EM being down or unreachable says nothing about them.
func (b *logonBackoff) record(now time.Time, fp passwordFingerprint, err error) {
	if err == nil {
		b.until, b.step, b.cause = time.Time{}, 0, nil
		return
	}
	if !isCredentialRejection(err) {
		return
	}
	b.rejections++
	b.step = min(max(2*b.step, initialLogonBackoff), maxLogonBackoff)
	b.until = now.Add(b.step)
	b.rejected = fp
	b.cause = err
}

// activeUntil is the end of the back-off in force at now, or zero.
func (b *logonBackoff) activeUntil(now time.Time) time.Time {
	if now.Before(b.until) {
		return b.until
	}
	return time.Time{}
}

// isCredentialRejection tells a logon refused for the credentials (401) or
// for the account's role (403) from any other failure.
func isCredentialRejection(err error) bool {
	var authErr *AuthError
	var permErr *PermissionError
	return errors.As(err, &authErr) || errors.As(err, &permErr)
}
