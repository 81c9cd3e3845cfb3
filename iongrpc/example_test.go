package iongrpc_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/ionkit/ion/iongrpc"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

// flaky is a health service that is unavailable twice.
type flaky struct {
	healthpb.UnimplementedHealthServer
	calls atomic.Int64
}

func (f *flaky) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if f.calls.Add(1) <= 2 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// A server with a rate limit per method and a client that retries: the
// client gets through the two Unavailable answers.
func ExampleNewClient() {
	lis := bufconn.Listen(1 << 20)
	srvSide := iongrpc.NewServer(iongrpc.WithRateLimit(limit.NewKeyed[string](limit.PerSecond(100), 10).By(iongrpc.LimitKey), iongrpc.MethodKey))
	srv := grpc.NewServer(grpc.UnaryInterceptor(srvSide.Unary()), grpc.StreamInterceptor(srvSide.Stream()))
	svc := &flaky{}
	healthpb.RegisterHealthServer(srv, svc)
	go func() { _ = srv.Serve(lis) }() // stopped by srv.Stop below
	defer srv.Stop()

	client := iongrpc.NewClient(
		iongrpc.WithRetry(policy.WithAttempts(3), policy.WithBackoff(policy.Constant(10*time.Millisecond))),
		iongrpc.WithTimeout(time.Second),
	)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.Unary()), grpc.WithStreamInterceptor(client.Stream()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()

	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err, "after", svc.calls.Load(), "calls")
	// Output: SERVING <nil> after 3 calls
}
