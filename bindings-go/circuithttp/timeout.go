package circuithttp

import (
	"errors"
	"fmt"
	"time"
)

// ErrTimeout matches (errors.Is) the error of a request the transport's own timeout
// (WithTimeout) ended.
var ErrTimeout = errors.New("circuithttp: request timed out")

// timeoutError is a request ended by the transport's timeout: it matches ErrTimeout and the
// RoundTripper's own error, and is a net.Error whose Timeout is true (so url.Error.Timeout is).
type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("circuithttp: no response within %v: %v", e.after, e.err)
}

func (e *timeoutError) Unwrap() []error { return []error{ErrTimeout, e.err} }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
