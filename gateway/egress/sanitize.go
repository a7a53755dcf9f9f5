package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
)

// The phrases SanitizeError answers; nothing else ever comes out of it but "http <status>".
//
// A refused connect, a reset, an unreachable network and a timeout all read "connection failed":
// told apart, they would say which ports of a host are closed (refused) and which are filtered
// (timeout), which would make webhook registration a port scanner.
const (
	ReasonRefused      = "refused by egress policy"
	ReasonCanceled     = "canceled"
	ReasonHostNotFound = "host not found"
	ReasonDNS          = "dns error"
	ReasonConnFailed   = "connection failed"
	ReasonTLS          = "tls error"
	ReasonHTTP         = "http error"
	ReasonFailed       = "delivery failed"
)

// StatusError is a delivery answered with a status that is not a success.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return "http " + strconv.Itoa(e.Code) }

// SanitizeError turns a delivery error into one of a fixed set of short phrases (the Reason
// constants, or "http 503" for a *StatusError), with no address, port, host name or DNS
// server in it: what a dead letter's last_error and the API may show. The full error belongs
// in the logs. nil gives "".
func SanitizeError(err error) string {
	var (
		status *StatusError
		dnsErr *net.DNSError
		opErr  *net.OpError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrRefused):
		return ReasonRefused
	case errors.As(err, &status):
		if status.Code >= 100 && status.Code <= 599 {
			return status.Error()
		}
		return ReasonHTTP
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return ReasonHostNotFound
		}
		if dnsErr.IsTimeout {
			return ReasonConnFailed
		}
		return ReasonDNS
	case isTimeout(err):
		return ReasonConnFailed
	case isTLS(err):
		return ReasonTLS
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ReasonConnFailed
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return ReasonTLS // an alert from the peer (crypto/tls's alert type is unexported)
	default:
		return ReasonFailed
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isTLS(err error) bool {
	var (
		rh      tls.RecordHeaderError
		alert   tls.AlertError
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		ech     *tls.ECHRejectionError
	)
	return errors.As(err, &rh) || errors.As(err, &alert) || errors.As(err, &verify) || errors.As(err, &unknown) ||
		errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &ech)
}
