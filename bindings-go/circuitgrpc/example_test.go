package circuitgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"github.com/circuit-rs/circuit/bindings-go/circuitgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// The code between doc:begin and doc:end is the example of docs/integrations/go-grpc.md (a test
// checks they match): a server answering Unavailable fails five times, then the breaker rejects.
func ExampleUnaryClientInterceptor() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
		return nil, status.Error(codes.Unavailable, "overloaded")
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	target := lis.Addr().String()
	ctx := context.Background()

	// doc:begin
	family, err := circuit.NewFamily(circuit.Config{FailureThreshold: circuit.Of(5)}, circuit.FamilyOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer family.Close()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(circuitgrpc.UnaryClientInterceptor(family)),
		grpc.WithStreamInterceptor(circuitgrpc.StreamClientInterceptor(family)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	for range 6 {
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		fmt.Println(status.Code(err), errors.Is(err, circuit.ErrOpen)) // rejected: Unavailable, true
	}
	// doc:end

	// Output:
	// Unavailable false
	// Unavailable false
	// Unavailable false
	// Unavailable false
	// Unavailable false
	// Unavailable true
}
