package circuitgrpc

import (
	"context"
	"errors"
	"io"
	"sync"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// StreamClientInterceptor protects streams. A stream's outcome is its first answer, recorded
// once: a failure to open it; else the first header or message received (a success), or the
// status the stream ends with if it ends first (io.EOF is a success). If the caller's context
// ends before any answer, that decides: its deadline is a failure, its cancellation is ignored
// (grpc requires a stream to be read to its end or its context cancelled, so one of these always
// happens and no permit stays out). A rejected stream returns a *RejectedError without opening.
func StreamClientInterceptor(family *circuit.Family, opts ...Option) grpc.StreamClientInterceptor {
	o := newOptions(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		permit, err := o.admit(family, cc.Target(), method)
		if err != nil {
			return nil, err
		}
		s := &stream{ctx: ctx, permit: permit, classify: o.classify}
		opened := false
		defer func() {
			if !opened { // the streamer returned an error, or panicked (err is then still nil)
				s.settle(err, err == nil)
			}
		}()
		inner, err := streamer(ctx, desc, cc, method, callOpts...)
		if err != nil {
			return nil, err
		}
		s.ClientStream = inner
		s.mu.Lock()
		s.stop = context.AfterFunc(ctx, func() { s.settle(status.FromContextError(ctx.Err()).Err(), false) })
		s.mu.Unlock()
		opened = true
		return s, nil
	}
}

// stream records its permit once, at the stream's first answer.
type stream struct {
	grpc.ClientStream
	ctx      context.Context // the caller's
	permit   *circuit.Permit
	classify func(context.Context, error) Verdict
	once     sync.Once
	mu       sync.Mutex  // guards stop
	stop     func() bool // stops the context watch
}

// settle records the stream's outcome from err unless already recorded; panicked records a
// failure whatever err says.
func (s *stream) settle(err error, panicked bool) {
	s.once.Do(func() {
		s.mu.Lock()
		if s.stop != nil {
			s.stop()
		}
		s.mu.Unlock()
		verdict := Verdict{Outcome: circuit.OutcomeFailure}
		if !panicked {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			verdict = s.classify(s.ctx, err)
		}
		record(s.permit, verdict)
	})
}

// Header waits for the server's header. A stream that ends without one gets (nil, nil) from grpc,
// its status coming from RecvMsg, so only a header that arrived settles the stream.
func (s *stream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	if md != nil && err == nil {
		s.settle(nil, false)
	}
	return md, err
}

// RecvMsg settles the stream at its first message or at its end.
func (s *stream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	s.settle(err, false)
	return err
}
