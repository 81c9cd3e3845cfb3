package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafegrpc"
	"github.com/failsafe-go/failsafe-go/timeout"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/iongrpc"
	"github.com/ionkit/ion/policy"
)

// The gRPC client interceptors run the same policies on both sides as the
// HTTP transports do: a retry (3 attempts), a circuit breaker and a timeout
// of 1 s per attempt, around an invoker that answers at once (the health
// service's Check), so that each side's figure minus "direct" is its own
// cost per call.

func instantInvoker(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
	reply.(*healthpb.HealthCheckResponse).Status = healthpb.HealthCheckResponse_SERVING
	return nil
}

func grpcImpls(parallel bool) []impl {
	run := func(build func() grpc.UnaryClientInterceptor) func(b *testing.B) {
		return func(b *testing.B) {
			ic := build()
			call := func(reply *healthpb.HealthCheckResponse) {
				if err := ic(bg, "/grpc.health.v1.Health/Check", &healthpb.HealthCheckRequest{}, reply, nil, instantInvoker); err != nil {
					b.Fatal(err)
				}
			}
			if !parallel {
				reply := &healthpb.HealthCheckResponse{}
				for b.Loop() {
					call(reply)
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				reply := &healthpb.HealthCheckResponse{}
				for pb.Next() {
					call(reply)
				}
			})
		}
	}
	return []impl{
		{"baseline-direct", run(func() grpc.UnaryClientInterceptor {
			return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				return invoker(ctx, method, req, reply, cc, opts...)
			}
		})},
		{"ion", run(func() grpc.UnaryClientInterceptor {
			return iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(3)),
				iongrpc.WithBreaker(breaker.New("bench")), iongrpc.WithTimeout(time.Second)).Unary()
		})},
		{"failsafe", run(func() grpc.UnaryClientInterceptor {
			return failsafegrpc.NewUnaryClientInterceptor[any](
				failsafegrpc.NewRetryPolicyBuilder[any]().WithMaxAttempts(3).Build(),
				circuitbreaker.NewBuilder[any]().Build(),
				timeout.New[any](time.Second))
		})},
	}
}

var (
	grpcUnary         = register("GRPCUnary", grpcImpls(false)...)
	grpcUnaryParallel = register("GRPCUnaryParallel", grpcImpls(true)...)
)

func BenchmarkGRPCUnary(b *testing.B)         { grpcUnary.run(b) }
func BenchmarkGRPCUnaryParallel(b *testing.B) { grpcUnaryParallel.run(b) }
