package veeam

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

// writeServerCA writes the test server's self-signed certificate as a PEM
// file, as an operator would export EM's certificate.
func writeServerCA(t *testing.T, f *fakeEM) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "em-ca.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: f.server.Certificate().Raw}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSTrust(t *testing.T) {
	f := newFakeEM(t, true)
	f.query = onePage
	caFile := writeServerCA(t, f)
	cases := []struct {
		name    string
		adjust  func(*Config)
		wantErr string // empty: the query must succeed
		warns   bool
	}{
		{name: "CA file", adjust: func(cfg *Config) { cfg.RootCAs = nil; cfg.CAFile = caFile }},
		{name: "explicit pool", adjust: func(*Config) {}},
		{name: "system roots only", adjust: func(cfg *Config) { cfg.RootCAs = nil }, wantErr: "certificate"},
		{name: "insecure", adjust: func(cfg *Config) { cfg.RootCAs = nil; cfg.InsecureSkipVerify = true }, warns: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			c := newTestClient(t, f, func(cfg *Config) {
				cfg.Logger = log.NewLogfmtLogger(&logs)
				tc.adjust(cfg)
			})
			_, err := replicaTasks(testContext(t), c, Window{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("query: %v", err)
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--veeam.ca-file") {
					t.Fatalf("err = %v, want a certificate error with a hint", err)
				}
				if !strings.HasPrefix(err.Error(), "logon: ") {
					t.Errorf("err = %v, want it to name the logon", err)
				}
			}
			if warned := strings.Contains(logs.String(), "level=warn"); warned != tc.warns {
				t.Errorf("warning logged: %v, want %v: %s", warned, tc.warns, logs.String())
			}
		})
	}
}

func TestCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, wantErr string }{
		{filepath.Join(dir, "missing.pem"), "read CA file"},
		{notPEM, "holds no PEM-encoded certificate"},
	} {
		_, err := New(Config{URL: "https://em.corp.local:9398", Username: testUser, Password: func() (string, error) { return "", nil }, CAFile: tc.path})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("CAFile %s: err = %v, want %q", tc.path, err, tc.wantErr)
		}
	}
}

func TestTLSConfigFloor(t *testing.T) {
	tc, err := tlsConfig(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 || tc.InsecureSkipVerify || tc.RootCAs != nil {
		t.Errorf("default TLS config = MinVersion %x, insecure %v, custom roots %v; want TLS 1.2, verified, system roots",
			tc.MinVersion, tc.InsecureSkipVerify, tc.RootCAs != nil)
	}
	transport := newTransport(tc)
	if transport.Proxy == nil || transport.TLSHandshakeTimeout == 0 || transport.ResponseHeaderTimeout == 0 || transport.MaxIdleConnsPerHost != maxIdleConnsPerHost {
		t.Errorf("transport lacks proxy support, timeouts or connection reuse: %+v", transport)
	}
}

// The test server's certificate names example.com and 127.0.0.1, so a
// ServerName override decides which name the handshake checks.
func TestTLSServerName(t *testing.T) {
	f := newFakeEM(t, true)
	f.query = onePage
	for _, tc := range []struct {
		serverName string
		wantErr    string // empty: the query must succeed
	}{
		{serverName: "example.com"},
		{serverName: "em-east.corp.local", wantErr: "em-east.corp.local"},
	} {
		t.Run(tc.serverName, func(t *testing.T) {
			c := newTestClient(t, f, func(cfg *Config) { cfg.ServerName = tc.serverName })
			_, err := replicaTasks(testContext(t), c, Window{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("query: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want a certificate error naming %q", err, tc.wantErr)
			}
		})
	}
}
