package adaptive_test

import (
	"context"
	"testing"

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

// chanSem is the stdlib baseline: a fixed bulkhead as a buffered channel.
type chanSem chan struct{}

func (s chanSem) Execute(ctx context.Context, next policy.Next[int]) (int, error) {
	select {
	case s <- struct{}{}:
	default:
		return 0, adaptive.ErrLimited
	}
	defer func() { <-s }()
	return next.Call(ctx)
}

func BenchmarkPolicy(b *testing.B) {
	fn := func(context.Context) (int, error) { return 1, nil }
	ctx := adaptive.ContextWithPriority(context.Background(), adaptive.High)
	for _, bc := range []struct {
		name string
		p    policy.Policy[int]
	}{
		{"limiter", adaptive.Policy[int](adaptive.NewLimiter(adaptive.WithLimits(1000, 1000)))},
		{"throttler", adaptive.ThrottlerPolicy[int](adaptive.NewThrottler())},
		{"chan-semaphore", chanSem(make(chan struct{}, 1000))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = policy.Run(ctx, bc.p, fn)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = policy.Run(ctx, bc.p, fn)
				}
			})
		})
	}
}
