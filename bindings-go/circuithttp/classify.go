package circuithttp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// Verdict is what one exchange means to its breaker.
type Verdict struct {
	Outcome circuit.Outcome
	// RetryAfter, when > 0 on a failure, is the dependency's retry time: if this failure opens
	// the breaker, it stays open at least this long (capped by Config.MaxResetTimeout).
	RetryAfter time.Duration
}

// Classifier decides what an exchange means: req is the caller's request, and exactly one of
// resp and err is set (err as the base RoundTripper returned it, or matching ErrTimeout when the
// transport's own timeout fired).
type Classifier func(req *http.Request, resp *http.Response, err error) Verdict

// Classify is the default Classifier, the core's (circuit.ClassifyHTTPResponse and
// circuit.ClassifyHTTPError): a response by its status and Retry-After header (an HTTP-date is
// measured from now), an error by ErrorKind.
func Classify(req *http.Request, resp *http.Response, err error) Verdict {
	if err != nil {
		return Verdict{Outcome: circuit.ClassifyHTTPError(ErrorKind(req, err))}
	}
	values := resp.Header.Values("Retry-After")
	value := ""
	if len(values) > 0 {
		value = values[0]
	}
	outcome, retry, ok := circuit.ClassifyHTTPResponse(resp.StatusCode, value, len(values) > 0, time.Now())
	if !ok {
		retry = 0
	}
	return Verdict{Outcome: outcome, RetryAfter: retry}
}

// ErrorKind says how an exchange that got no response ended: HTTPErrorCancelled when the
// caller's own context is done (its cancellation or its deadline), HTTPErrorTimeout for the
// transport's timeout (ErrTimeout) or any other timeout below it (dial, TLS handshake, response
// header timeout), HTTPErrorConnect when the connection could not be made or broke (refused,
// reset, closed early, DNS, TLS), HTTPErrorOther otherwise.
func ErrorKind(req *http.Request, err error) circuit.HTTPError {
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var tlsRecord tls.RecordHeaderError
	var tlsAlert tls.AlertError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	switch {
	case req.Context().Err() != nil:
		return circuit.HTTPErrorCancelled
	case errors.Is(err, ErrTimeout), errors.As(err, &netErr) && netErr.Timeout():
		return circuit.HTTPErrorTimeout
	case errors.As(err, &opErr), errors.As(err, &dnsErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &tlsRecord), errors.As(err, &tlsAlert),
		errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalidCert):
		return circuit.HTTPErrorConnect
	}
	return circuit.HTTPErrorOther
}
