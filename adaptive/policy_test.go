package adaptive_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

// TestPolicyAdmitDoesNotAllocate guards the hot paths: a call admitted at
// once by the limiter, or let through by the throttler, allocates nothing.
func TestPolicyAdmitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := adaptive.ContextWithPriority(context.Background(), adaptive.High)
	fn := func(context.Context) (int, error) { return 1, nil }
	for name, p := range map[string]policy.Policy[int]{
		"limiter":   adaptive.Policy[int](adaptive.NewLimiter(adaptive.WithSampleWindow(1, 1))),
		"throttler": adaptive.ThrottlerPolicy[int](adaptive.NewThrottler()),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := policy.Run(ctx, p, fn)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(1000, func() { _, _ = policy.Run(ctx, p, fn) })
			assert.Zero(t, allocs, "allocations per admitted call")
		})
	}
}

func TestPolicyString(t *testing.T) {
	assert.Equal(t, "adaptive limiter(db, vegas)", adaptive.Policy[int](adaptive.NewLimiter(adaptive.WithName("db"))).(interface{ String() string }).String())
	assert.Equal(t, "adaptive limiter(aimd)", adaptive.Policy[int](adaptive.NewLimiter(adaptive.WithAlgorithm(adaptive.AIMD))).(interface{ String() string }).String())
	assert.Contains(t, adaptive.Policy[int](nil).(interface{ String() string }).String(), "invalid")
	assert.Equal(t, "adaptive throttler(api, K 2)", adaptive.ThrottlerPolicy[int](adaptive.NewThrottler(adaptive.WithName("api"))).(interface{ String() string }).String())
	assert.Equal(t, "adaptive throttler(K 1.5)", adaptive.ThrottlerPolicy[int](adaptive.NewThrottler(adaptive.WithK(1.5))).(interface{ String() string }).String())
}
