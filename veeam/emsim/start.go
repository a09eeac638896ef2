package emsim

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Running is a simulator listening on loopback.
type Running struct {
	*Server
	URL      string         // e.g. "https://127.0.0.1:41234"
	CertPEM  []byte         // the self-signed certificate; nil over HTTP
	CertPool *x509.CertPool // holds CertPEM; nil over HTTP

	httpServer *http.Server
	served     chan error
	closeOnce  sync.Once
}

// Start builds a simulator and serves it on 127.0.0.1 at a free port, over
// HTTPS with a fresh self-signed certificate when useTLS is set.
func Start(cfg Config, useTLS bool) (*Running, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start simulator: listen: %w", err)
	}
	run := &Running{
		Server: s,
		httpServer: &http.Server{
			Handler:           s,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          stdlog.New(serverErrorWriter{logger: s.logger}, "", 0),
		},
		served: make(chan error, 1),
	}
	scheme := "http"
	if useTLS {
		cert, certPEM, err := selfSignedCertificate()
		if err != nil {
			listener.Close()
			return nil, fmt.Errorf("start simulator: %w", err)
		}
		run.CertPEM = certPEM
		run.CertPool = x509.NewCertPool()
		run.CertPool.AddCert(cert.Leaf)
		// HTTP/1.1 only, so a TruncateAt fault cuts a connection exactly
		// as a broken proxy would.
		listener = tls.NewListener(listener, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		})
		scheme = "https"
	}
	run.URL = scheme + "://" + listener.Addr().String()
	go func() { run.served <- run.httpServer.Serve(listener) }()
	return run, nil
}

// Close stops serving: held requests are cut, connections closed. It may
// be called more than once.
func (r *Running) Close() {
	r.closeOnce.Do(func() {
		// The listener goes first: a client whose held request is cut
		// retries it at once, and must find nobody listening.
		if err := r.httpServer.Close(); err != nil {
			level.Warn(r.logger).Log("msg", "close simulator listener", "err", err)
		}
		r.Server.shutdown()
		if err := <-r.served; !errors.Is(err, http.ErrServerClosed) {
			level.Warn(r.logger).Log("msg", "simulator stopped serving", "err", err)
		}
	})
}

// serverErrorWriter hands the HTTP server's own error lines (TLS handshake
// failures, broken connections) to the simulator's logger.
type serverErrorWriter struct {
	logger log.Logger
}

func (w serverErrorWriter) Write(p []byte) (int, error) {
	level.Warn(w.logger).Log("msg", "simulator HTTP server", "err", string(bytes.TrimSpace(p)))
	return len(p), nil
}
