package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

const (
	webScrapeUser     = "prometheus"
	webScrapePassword = "web-scrape-Pa55-never-logged"
)

// webServerCert writes a fresh self-signed certificate for 127.0.0.1 and its
// key to dir, and returns their paths and a pool trusting the certificate.
// Generating it here keeps private keys out of the repository.
func webServerCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "veeam_em_exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// webWriteConfig writes an exporter-toolkit web configuration serving TLS
// with certFile and keyFile and asking for basic authentication.
func webWriteConfig(t *testing.T, dir, certFile, keyFile string) string {
	t.Helper()
	// The lowest cost keeps the test fast.
	hash, err := bcrypt.GenerateFromPassword([]byte(webScrapePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf("tls_server_config:\n  cert_file: %q\n  key_file: %q\nbasic_auth_users:\n  %s: %q\n",
		certFile, keyFile, webScrapeUser, hash)
	file := filepath.Join(dir, "web-config.yml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestWebConfigProtectsMetrics runs the binary with --web.config.file serving
// HTTPS and basic authentication, as a user would to protect /metrics.
func TestWebConfigProtectsMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	sim := startSimulatedEM(t, 5, emsim.NewManualClock(time.Now().UTC()))
	dir := sim.dir
	certFile, keyFile, trusted := webServerCert(t, dir)
	webConfig := webWriteConfig(t, dir, certFile, keyFile)

	// startExporter waits on plain HTTP, which the TLS port answers with a
	// 400 as soon as it listens.
	exp := startExporter(t, buildBinary(t), append(sim.flags(), "--web.config.file="+webConfig)...)
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trusted, MinVersion: tls.VersionTLS12}},
	}
	defer client.CloseIdleConnections()
	metricsURL := "https://" + exp.addr + "/metrics"

	cases := []struct {
		name     string
		user     string
		password string
		wantCode int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", webScrapeUser, "not-" + webScrapePassword, http.StatusUnauthorized},
		{"wrong user", "admin", webScrapePassword, http.StatusUnauthorized},
		{"right credentials", webScrapeUser, webScrapePassword, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, metricsURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.password)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.wantCode, body)
			}
			if tc.wantCode != http.StatusOK {
				if strings.Contains(string(body), "veeam_em_") {
					t.Errorf("a refused request got metrics:\n%s", body)
				}
				return
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
			if err != nil {
				t.Fatalf("parse scrape: %v", err)
			}
			if got := gaugeValue(families, "veeam_em_up"); got != 1 {
				t.Errorf("veeam_em_up = %v, want 1\n%s", got, body)
			}
		})
	}

	t.Run("plain HTTP is refused", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+exp.addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(webScrapeUser, webScrapePassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "veeam_em_") {
			t.Errorf("plain HTTP got an answer: %d\n%s", resp.StatusCode, body)
		}
	})

	t.Run("an untrusted certificate is refused by the client", func(t *testing.T) {
		untrusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		defer untrusting.CloseIdleConnections()
		resp, err := untrusting.Get(metricsURL)
		if err == nil {
			resp.Body.Close()
			t.Fatal("the exporter's self-signed certificate was accepted without being trusted: is it serving TLS?")
		}
		var unknownAuthority x509.UnknownAuthorityError
		if !errors.As(err, &unknownAuthority) {
			t.Errorf("error %v, want an unknown certificate authority", err)
		}
	})

	exp.stop(syscall.SIGTERM)
	if got := sim.Logoffs(); got != 1 {
		t.Errorf("logoffs after SIGTERM = %d, want 1", got)
	}
	logs := exp.stderr.String()
	if strings.Contains(logs, webScrapePassword) {
		t.Error("the scrape password appears in the exporter's log")
	}
	if strings.Contains(logs, e2ePassword) {
		t.Error("the EM password appears in the exporter's log")
	}
}
