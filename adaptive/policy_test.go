package adaptive_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/observe"
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
		"limiter with metrics": adaptive.Policy[int](adaptive.NewLimiter(adaptive.WithSampleWindow(1, 1),
			adaptive.WithMetrics(observe.NewRecorder()))),
		"throttler with metrics": adaptive.ThrottlerPolicy[int](adaptive.NewThrottler(adaptive.WithMetrics(observe.NewRecorder()))),
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

// TestThrottlerPolicyThrottlesAndRecovers: a backend that refuses every
// call (a 503 that the classifier makes a Failure) gets throttled; once the
// refusals have left the window, calls flow again.
func TestThrottlerPolicyThrottlesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		thr := adaptive.NewThrottler(adaptive.WithWindow(10*time.Second), adaptive.WithSeed(3))
		pipe := policy.Compose(adaptive.ThrottlerPolicy[int](thr)).WithClassifier(func(v int, err error) policy.Outcome {
			if v == 503 {
				return policy.Failure
			}
			return policy.Success
		})
		status := 503
		sent, throttled := 0, 0
		for range 100 {
			_, err := pipe.Run(context.Background(), func(context.Context) (int, error) { sent++; return status, nil })
			if err != nil {
				assert.ErrorIs(t, err, adaptive.ErrThrottled)
				assert.ErrorIs(t, err, ion.ErrRejected)
				throttled++
			}
		}
		assert.Equal(t, 100, sent+throttled)
		assert.Greater(t, throttled, 80, "a backend that refuses everything is spared most calls")
		assert.Greater(t, thr.RejectionRate(), 0.9)
		prio, ok := thr.Shedding()
		assert.True(t, ok)
		assert.Equal(t, adaptive.Normal, prio)

		time.Sleep(10 * time.Second)
		status = 200
		assert.Zero(t, thr.RejectionRate(), "the refusals left the window")
		for range 100 {
			_, err := pipe.Run(context.Background(), func(context.Context) (int, error) { return status, nil })
			require.NoError(t, err)
		}
		_, ok = thr.Shedding()
		assert.False(t, ok)
	})
}

func TestPipelineErrReportsMisconfiguredAdaptivePolicies(t *testing.T) {
	assert.ErrorIs(t, policy.Compose(adaptive.Policy[int](nil)).Err(), ion.ErrInvalidConfig)
	assert.ErrorIs(t, policy.Compose(adaptive.ThrottlerPolicy[int](nil)).Err(), ion.ErrInvalidConfig)
	assert.NoError(t, policy.Compose(adaptive.Policy[int](adaptive.NewLimiter())).Err())
}
