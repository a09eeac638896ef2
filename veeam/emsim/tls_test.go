package emsim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStartTLS(t *testing.T) {
	sim, err := Start(Config{Seed: 1, Username: testUser, Password: testPassword, Clock: NewManualClock(testStart), Topology: TestTopology()}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if !strings.HasPrefix(sim.URL, "https://127.0.0.1:") {
		t.Errorf("URL %q", sim.URL)
	}
	block, _ := pem.Decode(sim.CertPEM)
	if block == nil {
		t.Fatal("CertPEM holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("certificate not valid for %s: %v", host, err)
		}
	}

	trusting := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool}}}
	resp, err := trusting.Get(sim.URL + "/api/")
	if err != nil {
		t.Fatalf("GET with the simulator's CertPool: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/ over TLS: %d", resp.StatusCode)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CertPEM)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(sim.URL, "https://"))
	viaName := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := viaName.Get("https://localhost:" + port + "/api/"); err != nil {
		t.Errorf("GET via localhost with CertPEM as CA: %v", err)
	} else {
		resp.Body.Close()
	}

	var verr *tls.CertificateVerificationError
	if _, err := http.Get(sim.URL + "/api/"); !errors.As(err, &verr) {
		t.Errorf("a client without the CA: %v, want a certificate verification error", err)
	}
}

func TestStartPlainHTTP(t *testing.T) {
	sim, err := Start(Config{Seed: 1, Username: testUser, Password: testPassword, Topology: TestTopology()}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if !strings.HasPrefix(sim.URL, "http://127.0.0.1:") || sim.CertPEM != nil || sim.CertPool != nil {
		t.Errorf("URL %q, CertPEM %d bytes, CertPool %v", sim.URL, len(sim.CertPEM), sim.CertPool)
	}
	resp, err := http.Get(sim.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sim.Close()
	if _, err := http.Get(sim.URL + "/api/"); err == nil {
		t.Error("the simulator still answers after Close")
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	if _, err := Start(Config{Username: testUser, Password: testPassword}, false); err == nil {
		t.Error("Start accepted an empty topology")
	}
}
