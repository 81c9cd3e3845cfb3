package iongrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/iongrpc"
	"github.com/ionkit/ion/policy"
)

// instantInvoker answers every unary call at once, so that a benchmark
// measures the interceptor's own cost.
func instantInvoker(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
	reply.(*healthpb.HealthCheckResponse).Status = healthpb.HealthCheckResponse_SERVING
	return nil
}

func BenchmarkUnaryInterceptor(b *testing.B) {
	req := &healthpb.HealthCheckRequest{}
	for _, tc := range []struct {
		name string
		ic   grpc.UnaryClientInterceptor
	}{
		{"none", func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(ctx, method, req, reply, cc, opts...)
		}},
		{"empty", iongrpc.NewClient().Unary()},
		{"retry+breaker+timeout", iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(3)),
			iongrpc.WithBreaker(breaker.New("bench")), iongrpc.WithTimeout(time.Second)).Unary()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			reply := &healthpb.HealthCheckResponse{}
			for b.Loop() {
				if err := tc.ic(context.Background(), "/grpc.health.v1.Health/Check", req, reply, nil, instantInvoker); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				reply := &healthpb.HealthCheckResponse{}
				for pb.Next() {
					if err := tc.ic(context.Background(), "/grpc.health.v1.Health/Check", req, reply, nil, instantInvoker); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
