package veeam

import (
	"errors"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// resettingListener accepts connections on 127.0.0.1 and resets each one at
// once, as a firewall that drops a connection does.
func resettingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			// Zero linger makes Close send a RST instead of a FIN.
			if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
				t.Error(err)
			}
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// closedPort returns an address on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// resetMidBody answers a query with the start of a page, then resets the
// connection.
func resetMidBody(t *testing.T) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		page := queryResult(1, 1000, 1, completed("a"), completed("b"))
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100000\r\n\r\n" + page[:len(page)/2])
		_ = buf.Flush()
		if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
			t.Error(err)
		}
		_ = conn.Close()
	}
}

func TestNetworkErrors(t *testing.T) {
	cases := []struct {
		name string
		// url gives EM's URL; it may start servers that the test cleans up.
		url    func(t *testing.T) string
		reason NetworkReason
		op     string
		says   []string
	}{
		{
			name:   "connection refused",
			url:    func(t *testing.T) string { return "http://" + closedPort(t) },
			reason: ConnectionRefused,
			op:     "logon",
			says:   []string{"nothing accepts connections at 127.0.0.1:", "connection refused"},
		},
		{
			name:   "connection reset",
			url:    func(t *testing.T) string { return "http://" + resettingListener(t) },
			reason: ConnectionReset,
			op:     "logon",
			// The system's own words are "connection reset by peer" or, when
			// the request was still being written, "broken pipe".
			says: []string{"was reset"},
		},
		{
			name: "connection reset in the middle of a page",
			url: func(t *testing.T) string {
				f := newFakeEM(t, false)
				f.query = resetMidBody(t)
				return f.server.URL
			},
			reason: ConnectionReset,
			op:     "query ReplicaTaskSession page 1",
			says:   []string{"was reset"},
		},
		{
			name:   "host name does not resolve",
			url:    func(*testing.T) string { return "https://em.invalid:9398" },
			reason: HostNotFound,
			op:     "logon",
			says:   []string{"em.invalid:9398 does not resolve", "em.invalid"},
		},
		{
			name: "certificate from an unknown CA",
			url: func(t *testing.T) string {
				em := httptest.NewTLSServer(http.NotFoundHandler())
				em.Config.ErrorLog = discardLog()
				t.Cleanup(em.Close)
				return em.URL
			},
			reason: CertificateUnknownAuthority,
			op:     "logon",
			says:   []string{"unknown authority", "--veeam.ca-file"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			c, err := New(Config{
				URL:      tc.url(t),
				Username: testUser,
				Password: func() (string, error) { return testPassword, nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			_, err = replicaTasks(testContext(t), c, Window{})
			var netErr *NetworkError
			if !errors.As(err, &netErr) || netErr.Reason != tc.reason || netErr.Op != tc.op {
				t.Fatalf("err = %#v (%v), want a *NetworkError with reason %d for %q", err, err, tc.reason, tc.op)
			}
			if !strings.HasPrefix(err.Error(), tc.op+": ") {
				t.Errorf("message %q does not start with the operation", err)
			}
			for _, want := range tc.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("the password is in the error: %v", err)
			}
			if got := c.Stats(); !got.LogonBackoffUntil.IsZero() {
				t.Errorf("a network failure started a logon back-off: %+v", got)
			}
		})
	}
}

func TestCloseEndsIdleConnections(t *testing.T) {
	f := newFakeEM(t, false)
	f.query = onePage
	serverOnly := goleak.IgnoreCurrent()
	c := newTestClient(t, f, nil)
	for range 2 {
		if _, err := replicaTasks(testContext(t), c, Window{}); err != nil {
			t.Fatal(err)
		}
		// The server is still up: only the client can end the goroutines
		// that keep its idle connection.
		c.Close()
		goleak.VerifyNone(t, serverOnly)
	}
}

func discardLog() *stdlog.Logger {
	return stdlog.New(io.Discard, "", 0)
}
