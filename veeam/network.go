package veeam

import (
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
)

// networkReason recognises the failures of a request that have a clear cause
// and remedy; ok is false for any other error. Certificate problems come
// first because a handshake failure can also carry a closed connection.
func networkReason(err error) (reason NetworkReason, ok bool) {
	var (
		unknownAuthority x509.UnknownAuthorityError
		wrongHost        x509.HostnameError
		invalidCert      x509.CertificateInvalidError
		dnsErr           *net.DNSError
	)
	switch {
	case errors.As(err, &unknownAuthority):
		return CertificateUnknownAuthority, true
	case errors.As(err, &wrongHost):
		return CertificateWrongHost, true
	case errors.As(err, &invalidCert):
		return CertificateInvalid, true
	case errors.As(err, &dnsErr):
		return HostNotFound, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return ConnectionRefused, true
	// A write into a connection the peer has already reset fails with EPIPE.
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ConnectionReset, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ConnectionClosed, true
	}
	return 0, false
}
