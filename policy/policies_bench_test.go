package policy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// shapeFn is a package variable so that the compiler cannot inline the
// direct baseline.
var shapeFn policy.Func[int] = func(context.Context) (int, error) { return 1, nil }

var errShape = errors.New("bench: failure")

// benchShape runs op serially and under RunParallel.
func benchShape(b *testing.B, op func(ctx context.Context)) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			op(ctx)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op(ctx)
			}
		})
	})
}

// runner returns an op that runs shapeFn through p.
func runner(p policy.Policy[int], fn policy.Func[int]) func(context.Context) {
	pipe := policy.Compose(p)
	return func(ctx context.Context) { _, _ = pipe.Run(ctx, fn) }
}

// BenchmarkDirect is the baseline of the call-shaping benchmarks: the
// function called with no policy.
func BenchmarkDirect(b *testing.B) {
	benchShape(b, func(ctx context.Context) { _, _ = shapeFn(ctx) })
}

// BenchmarkRetry measures a Retry whose first attempt succeeds (the hot
// path), with and without sinks and a budget, and a call that fails three
// times without delay.
func BenchmarkRetry(b *testing.B) {
	rec := observe.NewRecorder()
	b.Run("success", func(b *testing.B) { benchShape(b, runner(policy.Retry[int](), shapeFn)) })
	b.Run("success-metrics", func(b *testing.B) {
		benchShape(b, runner(policy.Retry[int](policy.WithMetrics(rec)), shapeFn))
	})
	b.Run("success-budget", func(b *testing.B) {
		benchShape(b, runner(policy.Retry[int](policy.WithBudget(policy.NewBudget(0.1, 10))), shapeFn))
	})
	b.Run("fail-3-attempts", func(b *testing.B) {
		fail := func(context.Context) (int, error) { return 0, errShape }
		benchShape(b, runner(policy.Retry[int](policy.WithBackoff(policy.Constant(0))), fail))
	})
}

// BenchmarkTimeout measures a Timeout around a fast call against its own
// floor, a bare context.WithTimeoutCause and cancel.
func BenchmarkTimeout(b *testing.B) {
	b.Run("bare-WithTimeoutCause", func(b *testing.B) {
		benchShape(b, func(ctx context.Context) {
			tctx, cancel := context.WithTimeoutCause(ctx, time.Second, policy.ErrTimeout)
			_, _ = shapeFn(tctx)
			cancel()
		})
	})
	b.Run("cooperative", func(b *testing.B) { benchShape(b, runner(policy.Timeout[int](time.Second), shapeFn)) })
	b.Run("abandon", func(b *testing.B) {
		benchShape(b, runner(policy.Timeout[int](time.Second, policy.WithAbandon()), shapeFn))
	})
}

// BenchmarkFallback measures a Fallback around a call that succeeds and
// around one that fails.
func BenchmarkFallback(b *testing.B) {
	fail := func(context.Context) (int, error) { return 0, errShape }
	b.Run("success", func(b *testing.B) { benchShape(b, runner(policy.Fallback(2), shapeFn)) })
	b.Run("fallback", func(b *testing.B) { benchShape(b, runner(policy.Fallback(2), fail)) })
}

// BenchmarkHedge measures a Hedge whose first attempt wins before the delay
// (no hedge fires), against two stdlib baselines: the floor of any hedge
// (a cancellable ctx and a timer armed then stopped) and a goroutine with a
// channel, the least a concurrent race needs.
func BenchmarkHedge(b *testing.B) {
	b.Run("baseline-cancel-timer", func(b *testing.B) {
		benchShape(b, func(ctx context.Context) {
			cctx, cancel := context.WithCancel(ctx)
			t := time.AfterFunc(time.Second, func() {})
			_, _ = shapeFn(cctx)
			t.Stop()
			cancel()
		})
	})
	b.Run("baseline-goroutine", func(b *testing.B) {
		benchShape(b, func(ctx context.Context) {
			ch := make(chan int, 1)
			go func() { v, _ := shapeFn(ctx); ch <- v }()
			<-ch
		})
	})
	b.Run("no-fire", func(b *testing.B) { benchShape(b, runner(policy.Hedge[int](time.Second), shapeFn)) })
}

// BenchmarkComposed measures the four policies composed, success path.
func BenchmarkComposed(b *testing.B) {
	p := policy.Compose(
		policy.Fallback(0),
		policy.Retry[int](),
		policy.Hedge[int](time.Second),
		policy.Timeout[int](time.Second),
	)
	benchShape(b, func(ctx context.Context) { _, _ = p.Run(ctx, shapeFn) })
}
