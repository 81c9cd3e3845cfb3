package policy_test

import (
	"context"
	"testing"
	"time"

	"github.com/ionkit/ion/policy"
)

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
