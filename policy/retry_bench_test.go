package policy_test

import (
	"context"
	"testing"

	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

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
