package circuitgrpc

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// upstream is a real gRPC server on a loopback port: the health service, behind interceptors
// that answer with the error fail returns (nil: let the call through).
type upstream struct {
	addr  string
	calls atomic.Int64 // calls that reached the server
	fail  atomic.Pointer[func(ctx context.Context) error]
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: lis.Addr().String()}
	check := func(ctx context.Context) error {
		u.calls.Add(1)
		if f := u.fail.Load(); f != nil {
			return (*f)(ctx)
		}
		return nil
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return u
}

// failWith makes the server answer every call with f's error.
func (u *upstream) failWith(f func(ctx context.Context) error) { u.fail.Store(&f) }

// dial connects to the upstream through the interceptors.
func dial(t *testing.T, addr string, unary grpc.UnaryClientInterceptor, stream grpc.StreamClientInterceptor) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(unary), grpc.WithStreamInterceptor(stream))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}
