package emsim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/go-kit/log/level"
)

// resetConnection drops the request's connection with a TCP RST and no
// answer, as a crashed proxy or a stateful firewall does. Where the
// connection cannot be taken over (HTTP/2, a handler outside a real
// server) the handler is aborted instead, which closes it without an
// answer.
func (s *Server) resetConnection(ex *exchange) {
	if err := resetTCP(ex.w); err != nil {
		ex.writeErr = fmt.Errorf("reset connection: %w", err)
		level.Warn(s.logger).Log("msg", "connection closed or aborted instead of reset", "err", ex.writeErr)
		panic(http.ErrAbortHandler)
	}
}

func resetTCP(w http.ResponseWriter) error {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("hijack: %w", err)
	}
	// Under TLS the RST goes out on the TCP connection beneath, with no
	// close_notify alert before it.
	raw := conn
	if tlsConn, ok := conn.(*tls.Conn); ok {
		raw = tlsConn.NetConn()
	}
	tcp, ok := raw.(*net.TCPConn)
	if !ok {
		if err := conn.Close(); err != nil {
			return fmt.Errorf("close a %T connection: %w", raw, err)
		}
		return fmt.Errorf("a %T connection cannot be reset, it was closed", raw)
	}
	if err := tcp.SetLinger(0); err != nil {
		return errors.Join(fmt.Errorf("set linger: %w", err), tcp.Close())
	}
	if err := tcp.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
