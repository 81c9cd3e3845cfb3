package iongrpc_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/iongrpc"
)

// TestPriorityTravelsFromClientToServer makes calls with and without a
// priority through the client interceptors to a real server whose Ion
// interceptor trusts only calls that carry a shared secret in their
// metadata; an interceptor behind it records the priority the handler sees.
func TestPriorityTravelsFromClientToServer(t *testing.T) {
	transports(t, func(t *testing.T, buf bool) {
		trusted := func(ctx context.Context) bool {
			md, _ := metadata.FromIncomingContext(ctx)
			return len(md.Get("x-internal")) > 0
		}
		s := iongrpc.NewServer(iongrpc.WithPriority(trusted))
		require.NoError(t, s.Err())
		var mu sync.Mutex
		var seen []adaptive.Priority
		record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			mu.Lock()
			seen = append(seen, adaptive.PriorityFromContext(ctx))
			mu.Unlock()
			return h(ctx, req)
		}
		hc := listen(t, &health{updates: 1}, iongrpc.NewClient(), buf, grpc.ChainUnaryInterceptor(s.Unary(), record))

		internal := metadata.AppendToOutgoingContext(t.Context(), "x-internal", "yes")
		for _, ctx := range []context.Context{
			adaptive.ContextWithPriority(internal, adaptive.Critical),    // trusted: critical
			adaptive.ContextWithPriority(t.Context(), adaptive.Critical), // untrusted: normal
			adaptive.ContextWithPriority(internal, adaptive.Sheddable),   // trusted: sheddable
			internal, // none sent: normal
			metadata.AppendToOutgoingContext(adaptive.ContextWithPriority(internal, adaptive.High), iongrpc.PriorityKey, "low"), // the caller's own metadata wins
		} {
			_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			require.NoError(t, err)
		}
		assert.Equal(t, []adaptive.Priority{adaptive.Critical, adaptive.Normal, adaptive.Sheddable, adaptive.Normal, adaptive.Low}, seen)
	})
}

func TestWithPriorityNilFailsClosed(t *testing.T) {
	assert.ErrorIs(t, iongrpc.NewServer(iongrpc.WithPriority(nil)).Err(), ion.ErrInvalidConfig)
}
