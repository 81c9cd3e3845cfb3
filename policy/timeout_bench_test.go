package policy_test

import (
	"context"
	"testing"
	"time"

	"github.com/ionkit/ion/policy"
)

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
