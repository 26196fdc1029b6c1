package circuithttp

import (
	"context"
	"io"
)

// bodyWithCancel keeps a request's timeout context alive while its body streams and releases it
// when the body is closed. A body that can also be written (a 101 Switching Protocols
// connection) keeps its io.Writer.
func bodyWithCancel(body io.ReadCloser, cancel context.CancelFunc) io.ReadCloser {
	b := cancelBody{ReadCloser: body, cancel: cancel}
	if w, ok := body.(io.Writer); ok {
		return &cancelReadWriteBody{cancelBody: b, Writer: w}
	}
	return &b
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

type cancelReadWriteBody struct {
	cancelBody
	io.Writer
}
