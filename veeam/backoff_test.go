package veeam

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"go.uber.org/goleak"
)

// rotatingPassword is a password source whose answer the test changes, like
// a password file rewritten by an operator.
type rotatingPassword struct {
	mu       sync.Mutex
	password string
}

func (p *rotatingPassword) read() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.password, nil
}

func (p *rotatingPassword) set(password string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.password = password
}

// backoffFixture is a fake EM that rejects the client's password, a client
// with a fake clock and a password source the test can rotate.
type backoffFixture struct {
	em       *fakeEM
	clock    *fakeClock
	password *rotatingPassword
	logs     *bytes.Buffer
	client   *Client
}

const wrongPassword = "Wr0ng: \"old\" password"

func newBackoffFixture(t *testing.T) *backoffFixture {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	fx := &backoffFixture{
		em:       newFakeEM(t, false),
		clock:    newFakeClock(),
		password: &rotatingPassword{password: wrongPassword},
		logs:     &bytes.Buffer{},
	}
	fx.em.query = onePage
	fx.client = newTestClient(t, fx.em, func(cfg *Config) {
		cfg.Now = fx.clock.Now
		cfg.Password = fx.password.read
		cfg.Logger = log.NewLogfmtLogger(log.NewSyncWriter(fx.logs))
	})
	t.Cleanup(fx.client.Close)
	return fx
}

// query runs one query and returns how many requests it sent and its error.
func (fx *backoffFixture) query(t *testing.T) (uint64, error) {
	t.Helper()
	before := fx.client.Stats().Requests
	_, err := replicaTasks(testContext(t), fx.client, Window{})
	return fx.client.Stats().Requests - before, err
}

func TestRejectedLogonBacksOff(t *testing.T) {
	fx := newBackoffFixture(t)
	sent, err := fx.query(t)
	if !IsAuthError(err) || sent != 1 {
		t.Fatalf("first call: err %v after %d requests, want an *AuthError after 1", err, sent)
	}
	until := fx.clock.Now().Add(initialLogonBackoff)
	if got := fx.client.Stats(); !got.LogonBackoffUntil.Equal(until) || got.LogonRejections != 1 || got.LogonFailures != 1 {
		t.Errorf("Stats() = %+v, want a back-off until %v, 1 rejection and 1 failure", got, until)
	}

	fx.clock.advance(initialLogonBackoff - time.Millisecond)
	sent, err = fx.query(t)
	var backoffErr *LogonBackoffError
	if !errors.As(err, &backoffErr) || sent != 0 {
		t.Fatalf("call within the back-off: err %v after %d requests, want a *LogonBackoffError without a request", err, sent)
	}
	var authErr *AuthError
	if !errors.As(err, &authErr) || !strings.Contains(authErr.Message, "Login failed") {
		t.Errorf("err = %v, want it to unwrap to EM's rejection", err)
	}
	if !backoffErr.Until.Equal(until) {
		t.Errorf("Until = %v, want %v", backoffErr.Until, until)
	}
	for _, want := range []string{until.Format(time.RFC3339), "password file changes", "Login failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}
	if got := fx.client.Stats(); got.LogonFailures != 1 || got.LogonRejections != 1 {
		t.Errorf("Stats() = %+v, want the refused call not counted as a logon attempt", got)
	}

	fx.clock.advance(time.Millisecond)
	if sent, err := fx.query(t); !IsAuthError(err) || errors.As(err, &backoffErr) || sent != 1 {
		t.Errorf("call after the back-off: err %v after %d requests, want EM's rejection after 1", err, sent)
	}
	if strings.Contains(fx.logs.String(), wrongPassword) {
		t.Errorf("the password is in the logs: %s", fx.logs)
	}
}

func TestLogonBackoffDoublesUpToTheCap(t *testing.T) {
	fx := newBackoffFixture(t)
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, step := range want {
		sent, err := fx.query(t)
		if !IsAuthError(err) || sent != 1 {
			t.Fatalf("attempt %d: err %v after %d requests, want EM's rejection after 1", i+1, err, sent)
		}
		got := fx.client.Stats().LogonBackoffUntil.Sub(fx.clock.Now())
		if got != step {
			t.Errorf("back-off after rejection %d: %v, want %v", i+1, got, step)
		}
		fx.clock.advance(got)
	}
	if got := fx.client.Stats().LogonRejections; got != uint64(len(want)) {
		t.Errorf("LogonRejections = %d, want %d", got, len(want))
	}
}

func TestPasswordChangeEndsLogonBackoff(t *testing.T) {
	fx := newBackoffFixture(t)
	if _, err := fx.query(t); !IsAuthError(err) {
		t.Fatalf("err = %v, want an *AuthError", err)
	}
	fx.clock.advance(initialLogonBackoff)
	if _, err := fx.query(t); !IsAuthError(err) {
		t.Fatalf("err = %v, want an *AuthError", err)
	}

	// Another wrong password is tried at once; its rejection lengthens the
	// back-off, since the credentials are still being refused.
	fx.password.set("still " + wrongPassword)
	if sent, err := fx.query(t); !IsAuthError(err) || sent != 1 {
		t.Fatalf("new password: err %v after %d requests, want EM's rejection after 1", err, sent)
	}
	if got := fx.client.Stats().LogonBackoffUntil.Sub(fx.clock.Now()); got != 4*initialLogonBackoff {
		t.Errorf("back-off after the third rejection: %v, want %v", got, 4*initialLogonBackoff)
	}

	fx.password.set(testPassword)
	if sent, err := fx.query(t); err != nil || sent != 2 {
		t.Fatalf("right password: err %v after %d requests, want a logon and a query", err, sent)
	}
	if got := fx.client.Stats(); !got.LogonBackoffUntil.IsZero() || got.Logons != 1 {
		t.Errorf("Stats() = %+v, want no back-off and 1 logon", got)
	}

	// A success starts the next back-off at the first step again.
	fx.em.expire()
	fx.em.setPassword("rotated on the server")
	if _, err := fx.query(t); !IsAuthError(err) {
		t.Fatalf("err = %v, want an *AuthError", err)
	}
	if got := fx.client.Stats().LogonBackoffUntil.Sub(fx.clock.Now()); got != initialLogonBackoff {
		t.Errorf("back-off after a success and a rejection: %v, want %v", got, initialLogonBackoff)
	}
}

func TestForbiddenLogonBacksOff(t *testing.T) {
	fx := newBackoffFixture(t)
	fx.password.set(testPassword)
	fx.em.setLogonStatus(http.StatusForbidden)
	if sent, err := fx.query(t); sent != 1 || err == nil {
		t.Fatalf("err %v after %d requests, want a refusal after 1", err, sent)
	}
	sent, err := fx.query(t)
	var backoffErr *LogonBackoffError
	var permErr *PermissionError
	if !errors.As(err, &backoffErr) || !errors.As(err, &permErr) || sent != 0 {
		t.Errorf("err %v after %d requests, want a *LogonBackoffError unwrapping to a *PermissionError, without a request", err, sent)
	}
}

func TestOtherLogonFailuresDoNotBackOff(t *testing.T) {
	fx := newBackoffFixture(t)
	fx.password.set(testPassword)
	fx.em.setLogonStatus(http.StatusInternalServerError)
	for i := range 3 {
		sent, err := fx.query(t)
		var apiErr *APIError
		if !errors.As(err, &apiErr) || sent != 1 {
			t.Errorf("attempt %d: err %v after %d requests, want EM's 500 after 1", i+1, err, sent)
		}
	}
	if got := fx.client.Stats(); !got.LogonBackoffUntil.IsZero() || got.LogonRejections != 0 || got.LogonFailures != 3 {
		t.Errorf("Stats() = %+v, want no back-off, no rejection and 3 failures", got)
	}
}

func TestConcurrentCallsDuringLogonBackoffSendNothing(t *testing.T) {
	fx := newBackoffFixture(t)
	if _, err := fx.query(t); !IsAuthError(err) {
		t.Fatalf("err = %v, want an *AuthError", err)
	}
	before := fx.client.Stats().Requests
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := replicaTasks(testContext(t), fx.client, Window{})
			var backoffErr *LogonBackoffError
			if !errors.As(err, &backoffErr) {
				t.Errorf("err = %v, want a *LogonBackoffError", err)
			}
		})
	}
	wg.Wait()
	if sent := fx.client.Stats().Requests - before; sent != 0 {
		t.Errorf("%d requests sent during the back-off, want none", sent)
	}
}

func TestLogonBackoffErrorHidesThePassword(t *testing.T) {
	fx := newBackoffFixture(t)
	for range 2 {
		_, err := fx.query(t)
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), wrongPassword) {
			t.Errorf("the password is in the error: %v", err)
		}
	}
	if strings.Contains(fx.logs.String(), wrongPassword) {
		t.Errorf("the password is in the logs: %s", fx.logs)
	}
	if !strings.Contains(fx.logs.String(), "level=warn") {
		t.Errorf("the rejection was not logged: %s", fx.logs)
	}
}
