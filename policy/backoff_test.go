package policy_test

import (
	"context"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

func TestBackoffDelay(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name string
		b    policy.Backoff
		n    int
		want time.Duration
	}{
		{"zero value", policy.Backoff{}, 5, 0},
		{"n below 1", policy.Constant(time.Second), 0, 0},
		{"constant", policy.Constant(time.Second), 1000, time.Second},
		{"linear first", policy.Linear(100*ms, 10*ms, time.Second), 1, 100 * ms},
		{"linear third", policy.Linear(100*ms, 10*ms, time.Second), 3, 120 * ms},
		{"linear capped", policy.Linear(100*ms, 10*ms, time.Second), 1000, time.Second},
		{"linear huge n", policy.Linear(time.Nanosecond, time.Hour, math.MaxInt64), math.MaxInt, math.MaxInt64},
		{"linear zero step", policy.Linear(5*ms, 0, time.Second), math.MaxInt, 5 * ms},
		{"exponential first", policy.Exponential(100*ms, 10*time.Second), 1, 100 * ms},
		{"exponential fourth", policy.Exponential(100*ms, 10*time.Second), 4, 800 * ms},
		{"exponential capped", policy.Exponential(100*ms, 10*time.Second), 8, 10 * time.Second},
		{"exponential no overflow", policy.Exponential(time.Nanosecond, math.MaxInt64), 100, math.MaxInt64},
		{"exponential huge n", policy.Exponential(3*time.Nanosecond, math.MaxInt64-1), math.MaxInt, math.MaxInt64 - 1},
		{"exponential zero initial", policy.Exponential(0, time.Second), math.MaxInt, 0},
		{"factor 1.5 first", policy.ExponentialFactor(100*ms, 10*time.Second, 1.5), 1, 100 * ms},
		{"factor 1.5 third", policy.ExponentialFactor(100*ms, 10*time.Second, 1.5), 3, 225 * ms},
		{"factor 3 fourth", policy.ExponentialFactor(100*ms, 10*time.Second, 3), 4, 2700 * ms},
		{"factor capped", policy.ExponentialFactor(100*ms, time.Second, 1.5), 100, time.Second},
		{"factor 1 is constant", policy.ExponentialFactor(100*ms, time.Second, 1), math.MaxInt, 100 * ms},
		{"factor huge n", policy.ExponentialFactor(time.Nanosecond, math.MaxInt64, 1.0001), math.MaxInt, math.MaxInt64},
		{"factor 2 is Exponential", policy.ExponentialFactor(7, 25, 2), 3, 25},
		{"factor zero initial", policy.ExponentialFactor(0, time.Second, 1.5), 10, 0},
		{"invalid", policy.Constant(-1), 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.b.Delay(tc.n), "%v.Delay(%d)", tc.b, tc.n)
		})
	}
	// The schedule never decreases and never goes negative.
	for _, b := range []policy.Backoff{
		policy.Exponential(time.Nanosecond, math.MaxInt64),
		policy.Linear(time.Nanosecond, math.MaxInt64/3, math.MaxInt64),
		policy.ExponentialFactor(time.Nanosecond, math.MaxInt64, 1.7),
	} {
		prev := time.Duration(0)
		for n := 1; n < 200; n++ {
			d := b.Delay(n)
			require.GreaterOrEqual(t, d, prev, "%v.Delay(%d) must not decrease (overflow)", b, n)
			prev = d
		}
	}
	assert.Equal(t, "constant(1s)", policy.Constant(time.Second).String())
	assert.Equal(t, "linear(100ms+10ms..1s)", policy.Linear(100*ms, 10*ms, time.Second).String())
	assert.Equal(t, "exponential(100ms..10s)", policy.Exponential(100*ms, 10*time.Second).String())
	assert.Equal(t, "exponential(100ms..10s x1.5)", policy.ExponentialFactor(100*ms, 10*time.Second, 1.5).String())
	assert.Equal(t, "exponential(100ms..10s)", policy.ExponentialFactor(100*ms, 10*time.Second, 2).String())
	assert.Equal(t, "retry(attempts=3 backoff=constant(1s) jitter=±20% jitter=+50ms)",
		policy.Retry[int](policy.WithBackoff(policy.Constant(time.Second)), policy.WithProportionalJitter(0.2), policy.WithAbsoluteJitter(50*ms)).String())
	assert.Equal(t, "none full equal decorrelated Jitter(9)", policy.NoJitter.String()+" "+policy.FullJitter.String()+" "+
		policy.EqualJitter.String()+" "+policy.DecorrelatedJitter.String()+" "+policy.Jitter(9).String())
}

func TestRetryBackoffSchedules(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		attempts int
		backoff  policy.Backoff
		want     []time.Duration // gaps between attempts, to the nanosecond
	}{
		{"zero", 3, policy.Backoff{}, []time.Duration{0, 0}},
		{"constant", 4, policy.Constant(time.Second), []time.Duration{time.Second, time.Second, time.Second}},
		{"linear", 6, policy.Linear(100*ms, 50*ms, 220*ms), []time.Duration{100 * ms, 150 * ms, 200 * ms, 220 * ms, 220 * ms}},
		{"exponential", 7, policy.Exponential(100*ms, time.Second),
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"exponential odd", 4, policy.Exponential(7*time.Nanosecond, 25*time.Nanosecond),
			[]time.Duration{7, 14, 25}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
				r := policy.Retry[int](policy.WithAttempts(tc.attempts), policy.WithBackoff(tc.backoff))
				_, err := policy.Run(t.Context(), r, l.Func)
				require.ErrorIs(t, err, policy.ErrRetriesExhausted)
				assert.Equal(t, tc.want, l.Gaps(), "the waits between attempts follow the backoff to the nanosecond")
			})
		})
	}
}

func TestRetryJitter(t *testing.T) {
	const ms = time.Millisecond
	const attempts = 8
	b := policy.Exponential(100*ms, 2*time.Second)
	tests := []struct {
		jitter policy.Jitter
		lo, hi func(n int, prev time.Duration) time.Duration // bounds of the wait before retry n
	}{
		{policy.FullJitter,
			func(int, time.Duration) time.Duration { return 0 },
			func(n int, _ time.Duration) time.Duration { return b.Delay(n) }},
		{policy.EqualJitter,
			func(n int, _ time.Duration) time.Duration { return b.Delay(n) - b.Delay(n)/2 },
			func(n int, _ time.Duration) time.Duration { return b.Delay(n) }},
		{policy.DecorrelatedJitter,
			func(int, time.Duration) time.Duration { return 100 * ms },
			func(_ int, prev time.Duration) time.Duration { return min(3*prev, 2*time.Second) }},
	}
	for _, tc := range tests {
		t.Run(tc.jitter.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				schedule := func(seed uint64) []time.Duration {
					l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
					r := policy.Retry[int](policy.WithAttempts(attempts), policy.WithBackoff(b),
						policy.WithJitter(tc.jitter), policy.WithSeed(seed))
					_, err := policy.Run(t.Context(), r, l.Func)
					require.ErrorIs(t, err, policy.ErrRetriesExhausted)
					return l.Gaps()
				}
				var distinct int
				first := schedule(1)
				for seed := uint64(1); seed <= 20; seed++ {
					gaps := schedule(seed)
					require.Len(t, gaps, attempts-1)
					prev := 100 * ms
					for i, d := range gaps {
						n := i + 1
						assert.GreaterOrEqual(t, d, tc.lo(n, prev), "seed %d retry %d: jittered delay below its range", seed, n)
						assert.LessOrEqual(t, d, tc.hi(n, prev), "seed %d retry %d: jittered delay above its range", seed, n)
						assert.GreaterOrEqual(t, d, time.Duration(0), "a delay is never negative")
						prev = d
					}
					if seed == 1 {
						assert.Equal(t, first, gaps, "the same seed gives the same schedule")
					} else if !assert.ObjectsAreEqual(first, gaps) {
						distinct++
					}
				}
				assert.Greater(t, distinct, 15, "different seeds give different schedules")
			})
		})
	}
}

// TestRetryJitterShapes checks the jitters that take a parameter: every
// delay stays within its documented bounds, one seed gives one schedule,
// and different seeds spread the delays.
func TestRetryJitterShapes(t *testing.T) {
	const ms = time.Millisecond
	const attempts = 8
	b := policy.ExponentialFactor(100*ms, 2*time.Second, 1.5)
	tests := []struct {
		name   string
		opts   []policy.RetryOption
		lo, hi func(d time.Duration) time.Duration // bounds of the wait for an un-jittered delay d
	}{
		{"proportional 20%", []policy.RetryOption{policy.WithProportionalJitter(0.2)},
			func(d time.Duration) time.Duration { return d - d/5 },
			func(d time.Duration) time.Duration { return d + d/5 }},
		{"proportional 100%", []policy.RetryOption{policy.WithProportionalJitter(1)},
			func(time.Duration) time.Duration { return 0 },
			func(d time.Duration) time.Duration { return 2 * d }},
		{"absolute 50ms", []policy.RetryOption{policy.WithAbsoluteJitter(50 * ms)},
			func(d time.Duration) time.Duration { return d },
			func(d time.Duration) time.Duration { return d + 50*ms }},
		{"full plus absolute", []policy.RetryOption{policy.WithJitter(policy.FullJitter), policy.WithAbsoluteJitter(50 * ms)},
			func(time.Duration) time.Duration { return 0 },
			func(d time.Duration) time.Duration { return d + 50*ms }},
		{"WithJitter after proportional replaces it", []policy.RetryOption{policy.WithProportionalJitter(1), policy.WithJitter(policy.EqualJitter)},
			func(d time.Duration) time.Duration { return d - d/2 },
			func(d time.Duration) time.Duration { return d }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				schedule := func(seed uint64) []time.Duration {
					var got []time.Duration
					opts := append([]policy.RetryOption{policy.WithAttempts(attempts), policy.WithBackoff(b), policy.WithSeed(seed),
						policy.WithOnRetry(func(_ context.Context, _ int, _ error, d time.Duration) { got = append(got, d) })}, tc.opts...)
					_, err := policy.Run(t.Context(), policy.Retry[int](opts...), policytest.FailTimes(math.MaxInt, errTransient, 0))
					require.ErrorIs(t, err, policy.ErrRetriesExhausted)
					return got
				}
				first := schedule(1)
				distinct := 0
				for seed := uint64(1); seed <= 20; seed++ {
					got := schedule(seed)
					require.Len(t, got, attempts-1)
					for i, d := range got {
						want := b.Delay(i + 1)
						assert.GreaterOrEqual(t, d, tc.lo(want), "seed %d retry %d: below the documented bound", seed, i+1)
						assert.LessOrEqual(t, d, tc.hi(want), "seed %d retry %d: above the documented bound", seed, i+1)
					}
					if seed == 1 {
						assert.Equal(t, first, got, "the same seed gives the same schedule")
					} else if !assert.ObjectsAreEqual(first, got) {
						distinct++
					}
				}
				assert.Greater(t, distinct, 15, "different seeds give different schedules")
			})
		})
	}
	// The saturating paths: the largest delays neither overflow nor go
	// negative.
	synctest.Test(t, func(t *testing.T) {
		var got []time.Duration
		r := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(math.MaxInt64)),
			policy.WithProportionalJitter(1), policy.WithAbsoluteJitter(math.MaxInt64), policy.WithSeed(3),
			policy.WithOnRetry(func(_ context.Context, _ int, _ error, d time.Duration) { got = append(got, d) }))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel) // ends the wait
		_, err := policy.Run(ctx, r, policytest.FailTimes(math.MaxInt, errTransient, 0))
		require.ErrorIs(t, err, context.Canceled)
		require.Len(t, got, 1)
		assert.Positive(t, got[0], "a saturated delay is not negative")
	})
}

func TestRetryJitterUnseeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(time.Second)), policy.WithJitter(policy.FullJitter))
		for range 20 {
			l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
			_, _ = policy.Run(t.Context(), r, l.Func)
			gaps := l.Gaps()
			require.Len(t, gaps, 1)
			assert.True(t, gaps[0] >= 0 && gaps[0] <= time.Second, "full jitter stays in [0, d], got %v", gaps[0])
		}
	})
	// Decorrelated jitter with a zero initial delay waits nothing.
	synctest.Test(t, func(t *testing.T) {
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		r := policy.Retry[int](policy.WithBackoff(policy.Exponential(0, time.Second)), policy.WithJitter(policy.DecorrelatedJitter))
		_, _ = policy.Run(t.Context(), r, l.Func)
		assert.Equal(t, []time.Duration{0, 0}, l.Gaps())
	})
}
