package policy_test

import (
	"context"
	"testing"

	"github.com/ionkit/ion/policy"
)

// BenchmarkFallback measures a Fallback around a call that succeeds and
// around one that fails.
func BenchmarkFallback(b *testing.B) {
	fail := func(context.Context) (int, error) { return 0, errShape }
	b.Run("success", func(b *testing.B) { benchShape(b, runner(policy.Fallback(2), shapeFn)) })
	b.Run("fallback", func(b *testing.B) { benchShape(b, runner(policy.Fallback(2), fail)) })
}
