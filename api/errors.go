package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// maxErrorBody is how much of a non-2xx response body StatusError.Error
// shows; the Body field keeps up to maxResponseBody bytes.
const maxErrorBody = 512

// StatusError is a non-2xx answer from an ACE node. Body holds the
// response text (ACE explains 400s in plain text).
type StatusError struct {
	StatusCode int
	Body       string
	// RetryAfter is the server's Retry-After (seconds or HTTP date) on a
	// 429/503, zero when absent; the delivery loop may wait this long.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	body := e.Body
	if len(body) > maxErrorBody {
		cut := maxErrorBody
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		body = body[:cut] + "...(truncated)"
	}
	if body == "" {
		return fmt.Sprintf("ACE node answered HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("ACE node answered HTTP %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), body)
}

// Transient reports whether the failure means "try again later".
func (e *StatusError) Transient() bool {
	c := e.StatusCode
	return c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooManyRequests
}

// LocalError is a failure on this side that no retry fixes: an unreadable
// attachment, a bad location, an unencodable submission.
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }

func localErrorf(format string, a ...any) error {
	return &LocalError{Err: fmt.Errorf(format, a...)}
}

// ProtocolError is a 2xx answer that is not what the ACE API returns (for
// example an HTML page from a misconfigured proxy). It is not transient:
// the node may have stored the submission, and retrying in a loop would not
// make the answer readable.
type ProtocolError struct {
	StatusCode int
	Body       string
	Err        error
}

func (e *ProtocolError) Error() string {
	body := e.Body
	if len(body) > 200 {
		body = body[:200] + "...(truncated)"
	}
	return fmt.Sprintf("unexpected answer (HTTP %d) from ACE node: %v: %q", e.StatusCode, e.Err, body)
}
func (e *ProtocolError) Unwrap() error { return e.Err }

// Transient classifies an error returned by Submit or Ping.
//
// True ("keep the item and retry later"): connection refused or reset,
// DNS and dial errors, timeouts (including an expired context deadline of
// the request), TLS handshake failures (including certificate problems,
// which an operator fixes without losing the backlog), HTTP 5xx, 408, 429.
//
// False ("permanent"): nil, other 4xx answers, local problems (unreadable
// attachment, bad location), unreadable 2xx answers, and cancellation of the
// caller's context (shutdown is not a delivery failure to back off from).
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Transient()
	}
	var le *LocalError
	if errors.As(err, &le) {
		return false
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if isTLSError(err) {
		return true
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	switch {
	case errors.As(err, &opErr), errors.As(err, &dnsErr), errors.As(err, &addrErr):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ETIMEDOUT):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// The server closed the connection before or while answering.
		return true
	}
	// net/http reports some connection failures with unexported errors;
	// recognise them by text, but only when they come from the transport.
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Err.Error()
		for _, m := range transportFailures {
			if strings.Contains(msg, m) {
				return true
			}
		}
	}
	return false
}

// Failure kinds FailureKind returns: what went wrong, for logs and
// counters. A certificate problem is its own kind, never a server error.
const (
	KindCertificate = "certificate" // the node's certificate failed verification
	KindTLS         = "tls"         // another TLS handshake failure
	KindTimeout     = "timeout"     // connect, handshake or answer took too long
	KindConnect     = "connect"     // refused, reset, DNS or routing failure
	KindServer      = "server"      // HTTP 5xx, 408 or 429: the node cannot take it now
	KindRejected    = "rejected"    // another HTTP 4xx: the node refused this request
	KindProtocol    = "protocol"    // a 2xx answer that is not the ACE API's
	KindLocal       = "local"       // a problem on this side (bad location, unreadable file)
	KindCanceled    = "canceled"    // the caller's context was cancelled
	KindOther       = "other"
)

// FailureKind classifies an error returned by Submit or Ping ("" for nil).
func FailureKind(err error) string {
	if err == nil {
		return ""
	}
	var se *StatusError
	var le *LocalError
	var pe *ProtocolError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		if se.Transient() {
			return KindServer
		}
		return KindRejected
	case errors.As(err, &le):
		return KindLocal
	case errors.As(err, &pe):
		return KindProtocol
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case isCertError(err):
		return KindCertificate
	case isTLSError(err):
		return KindTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case Transient(err):
		return KindConnect
	}
	return KindOther
}

var transportFailures = []string{
	"server closed idle connection",
	"transport connection broken",
	"connection reset by peer",
	"broken pipe",
	"http2: server sent GOAWAY",
	"http2: client connection lost",
	"http2: client connection force closed",
	"REFUSED_STREAM",
}

// isTLSError reports handshake and certificate failures.
func isTLSError(err error) bool {
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var ee *tls.ECHRejectionError
	return errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &cv) ||
		errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &ee)
}

// isCertError reports certificate verification failures: transient for the
// delivery loop, but not worth retrying within one call.
func isCertError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// parseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP date. Unusable or past values give 0; the result is capped at a day.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, 86400)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, 24*time.Hour)
}
