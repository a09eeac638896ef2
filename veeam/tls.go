package veeam

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Transport limits. The scrape deadline carried by the context is the real
// bound of a call; these only stop a silent peer from holding a connection
// forever when the context has no deadline.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 2 * time.Minute
	idleConnTimeout       = 90 * time.Second
	maxIdleConnsPerHost   = 8
)

// tlsConfig decides which certificates are trusted for EM. An explicit pool
// (demo mode, tests) wins; otherwise a CA file is added to a copy of the
// system roots, so that pointing the exporter at a self-signed EM does not
// stop it from trusting a proxy or a publicly signed EM later.
func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// An explicit operator choice, warned about once by New.
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		ServerName:         cfg.ServerName,
	}
	switch {
	case cfg.RootCAs != nil:
		tc.RootCAs = cfg.RootCAs
	case cfg.CAFile != "":
		pool, err := caPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func caPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		// Some platforms have no system pool; the CA file alone still lets
		// the exporter reach a self-signed EM.
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM-encoded certificate", path)
	}
	return pool, nil
}

func newTransport(tc *tls.Config) *http.Transport {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		IdleConnTimeout:       idleConnTimeout,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		MaxIdleConns:          2 * maxIdleConnsPerHost,
	}
}
