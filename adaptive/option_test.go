package adaptive_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

// TestBadConfigFailsClosed checks that every invalid option makes the
// limiter or throttler fail closed: each call returns a *ion.ConfigError
// naming the option, and never runs.
func TestBadConfigFailsClosed(t *testing.T) {
	nan := math.NaN()
	limiters := []struct {
		opt   adaptive.LimiterOption
		param string
	}{
		{adaptive.WithLimits(10, 5), "WithLimits"},
		{adaptive.WithLimits(0, 5), "WithLimits"},
		{adaptive.WithInitialLimit(0), "WithInitialLimit"},
		{adaptive.WithAlgorithm(adaptive.Algorithm(9)), "WithAlgorithm"},
		{adaptive.WithSampleWindow(0, 10), "WithSampleWindow"},
		{adaptive.WithSampleWindow(-time.Second, 10), "WithSampleWindow"},
		{adaptive.WithSampleWindow(time.Second, 0), "WithSampleWindow"},
		{adaptive.WithSmoothing(nan), "WithSmoothing"},
		{adaptive.WithSmoothing(0), "WithSmoothing"},
		{adaptive.WithSmoothing(1.5), "WithSmoothing"},
		{adaptive.WithBackoff(nan), "WithBackoff"},
		{adaptive.WithBackoff(1), "WithBackoff"},
		{adaptive.WithBackoff(0), "WithBackoff"},
		{adaptive.WithTolerance(nan), "WithTolerance"},
		{adaptive.WithTolerance(0.5), "WithTolerance"},
		{adaptive.WithTolerance(math.Inf(1)), "WithTolerance"},
		{adaptive.WithMaxWait(-time.Second), "WithMaxWait"},
		{adaptive.WithMaxQueue(0), "WithMaxQueue"},
		{adaptive.WithCoDel(0, time.Second), "WithCoDel"},
		{adaptive.WithCoDel(time.Millisecond, -1), "WithCoDel"},
		{adaptive.WithAdaptiveLIFO(0), "WithAdaptiveLIFO"},
		{nil, "opts"},
	}
	for _, tc := range limiters {
		t.Run("limiter/"+tc.param, func(t *testing.T) {
			lim := adaptive.NewLimiter(tc.opt)
			assertConfigError(t, lim.Err(), tc.param)
			ran := false
			_, err := policy.Run(context.Background(), adaptive.Policy[int](lim), func(context.Context) (int, error) { ran = true; return 1, nil })
			assertConfigError(t, err, tc.param)
			assert.False(t, ran, "a fail-closed limiter must not run the call")
			assert.Equal(t, adaptive.Stats{}, lim.Stats())
		})
	}
	t.Run("limiter/initial limit outside the limits", func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 10), adaptive.WithInitialLimit(11))
		assertConfigError(t, lim.Err(), "WithInitialLimit")
	})
	t.Run("limiter/default initial limit within narrow limits", func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 5))
		require.NoError(t, lim.Err())
		assert.Equal(t, 5, lim.Stats().Limit, "the default initial limit 20 is clamped to the max")
	})
	t.Run("limiter/nil", func(t *testing.T) {
		_, err := policy.Run(context.Background(), adaptive.Policy[int](nil), func(context.Context) (int, error) { return 1, nil })
		assertConfigError(t, err, "Policy")
	})

	throttlers := []struct {
		opt   adaptive.ThrottlerOption
		param string
	}{
		{adaptive.WithK(nan), "WithK"},
		{adaptive.WithK(0.5), "WithK"},
		{adaptive.WithK(math.Inf(1)), "WithK"},
		{adaptive.WithWindow(0), "WithWindow"},
		{adaptive.WithWindow(-time.Minute), "WithWindow"},
		{nil, "opts"},
	}
	for _, tc := range throttlers {
		t.Run("throttler/"+tc.param, func(t *testing.T) {
			thr := adaptive.NewThrottler(tc.opt)
			assertConfigError(t, thr.Err(), tc.param)
			ran := false
			_, err := policy.Run(context.Background(), adaptive.ThrottlerPolicy[int](thr), func(context.Context) (int, error) { ran = true; return 1, nil })
			assertConfigError(t, err, tc.param)
			assert.False(t, ran, "a fail-closed throttler must not run the call")
			assert.Equal(t, 1.0, thr.RejectionRate())
		})
	}
	t.Run("throttler/nil", func(t *testing.T) {
		_, err := policy.Run(context.Background(), adaptive.ThrottlerPolicy[int](nil), func(context.Context) (int, error) { return 1, nil })
		assertConfigError(t, err, "ThrottlerPolicy")
	})
}

func assertConfigError(t *testing.T, err error, param string) {
	t.Helper()
	require.ErrorIs(t, err, ion.ErrInvalidConfig)
	var ce *ion.ConfigError
	require.True(t, errors.As(err, &ce), "%v is not a *ion.ConfigError", err)
	assert.Equal(t, "adaptive", ce.Pkg)
	assert.Equal(t, param, ce.Param, "the error names the parameter: %v", err)
}
