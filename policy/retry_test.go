package policy_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

func TestRetryDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[int]()
		require.NoError(t, r.Err())
		v, err := policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
		assert.Zero(t, v)
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted, "exhausted attempts match the retry sentinel")
		assert.ErrorIs(t, err, errTransient, "exhausted attempts match the last attempt's error")
		var re *policy.RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 3, re.Attempts, "the default is 3 attempts")
		assert.Equal(t, "policy: retries exhausted after 3 attempts: transient", err.Error())
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond}, l.times(),
			"the default backoff is Exponential(100ms, 10s) without jitter")
		assert.Equal(t, []int{1, 2, 3}, l.attempts(), "each attempt sees its number through policy.Attempt")
	})
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[string](policy.WithAttempts(4), policy.WithBackoff(policy.Constant(time.Second)))
		v, err := policy.Run(t.Context(), r, failThenSucceed(l, 2, "ok"))
		require.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, 3, l.count(), "Retry stops at the first success")
		assert.Equal(t, []int{1, 2, 3}, l.attempts())
	})
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
				l := newCallLog()
				r := policy.Retry[int](policy.WithAttempts(tc.attempts), policy.WithBackoff(tc.backoff))
				_, err := policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
				require.ErrorIs(t, err, policy.ErrRetriesExhausted)
				assert.Equal(t, tc.want, l.gaps(), "the waits between attempts follow the backoff to the nanosecond")
			})
		})
	}
}

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

// TestFailsafeGo23BackoffApplied guards failsafe-go#23: a configured
// backoff was not applied between attempts.
func TestFailsafeGo23BackoffApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[int](policy.WithBackoff(policy.Exponential(time.Second, time.Minute)))
		_, _ = policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, l.gaps())
	})
}

// TestFailsafeGo29MaxDurationFromCallStart guards failsafe-go#29: the max
// duration was measured from a zero start time, so it was always exceeded.
// It must be measured from the start of each call, not from construction.
func TestFailsafeGo29MaxDurationFromCallStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := policy.Retry[int](policy.WithUnlimitedAttempts(), policy.WithMaxDuration(time.Second),
			policy.WithBackoff(policy.Constant(300*time.Millisecond)))
		time.Sleep(time.Hour) // the policy is old; the call is not
		for range 2 {
			l := newCallLog()
			start := time.Now()
			_, err := policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
			assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
			assert.ErrorIs(t, err, errTransient)
			assert.Equal(t, []time.Duration{0, 300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond}, l.times(),
				"attempts start while start+maxDuration is not reached; the 5th would start at 1.2s")
			assert.Equal(t, 900*time.Millisecond, time.Since(start), "no sleep past the max duration")
		}
	})
}

// TestMaxDurationRetryDueExactlyAtTheBound pins the boundary of
// WithMaxDuration: a retry due at exactly d after the call began is not
// made (every retry starts strictly before d), as for a ctx deadline.
func TestMaxDurationRetryDueExactlyAtTheBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := policy.Retry[int](policy.WithUnlimitedAttempts(), policy.WithMaxDuration(200*time.Millisecond),
			policy.WithBackoff(policy.Constant(100*time.Millisecond)))
		rec := policytest.Record(policytest.FailTimes(math.MaxInt, errTransient, 0))
		start := time.Now()
		_, err := policy.Run(t.Context(), r, rec.Func)
		require.ErrorIs(t, err, policy.ErrRetriesExhausted)
		var starts []time.Duration
		for _, c := range rec.Calls() {
			starts = append(starts, c.Start.Sub(start))
		}
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond}, starts,
			"the retry due at exactly 200ms is not made")
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "Retry gives up at once, without waiting")

		// One nanosecond more and it is.
		r = policy.Retry[int](policy.WithUnlimitedAttempts(), policy.WithMaxDuration(200*time.Millisecond+1),
			policy.WithBackoff(policy.Constant(100*time.Millisecond)))
		rec = policytest.Record(policytest.FailTimes(math.MaxInt, errTransient, 0))
		_, _ = policy.Run(t.Context(), r, rec.Func)
		assert.Equal(t, 3, rec.Count())
	})
}

// TestFailsafeGo32NegativeAttemptsFailClosed guards failsafe-go#32:
// WithMaxAttempts(-1) silently meant "no retries". Here a count below 1 is a
// configuration error, and unlimited attempts must be asked for by name.
func TestFailsafeGo32NegativeAttemptsFailClosed(t *testing.T) {
	for _, n := range []int{-1, 0, math.MinInt} {
		r := policy.Retry[int](policy.WithAttempts(n))
		var ce *ion.ConfigError
		require.ErrorAs(t, r.Err(), &ce)
		assert.Equal(t, "WithAttempts", ce.Param)
		l := newCallLog()
		_, err := policy.Run(context.Background(), r, alwaysFail[int](l, errTransient))
		assert.ErrorIs(t, err, ion.ErrInvalidConfig)
		assert.Zero(t, l.count(), "a policy with invalid config never calls fn")
	}
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[int](policy.WithUnlimitedAttempts(), policy.WithBackoff(policy.Constant(time.Second)))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := policy.Run(ctx, r, alwaysFail[int](l, errTransient))
		assert.ErrorIs(t, err, policy.ErrRetryDeadline)
		assert.Equal(t, 60, l.count(), "unlimited attempts retry until the ctx deadline")
	})
}

func TestRetryUnlimitedNeedsABound(t *testing.T) {
	l := newCallLog()
	r := policy.Retry[int](policy.WithUnlimitedAttempts())
	require.NoError(t, r.Err(), "unlimited attempts are valid when a call brings a deadline")
	_, err := policy.Run(context.Background(), r, alwaysFail[int](l, errTransient))
	var ce *ion.ConfigError
	require.ErrorAs(t, err, &ce, "unlimited attempts without a bound fail closed")
	assert.Equal(t, "WithUnlimitedAttempts", ce.Param)
	assert.Zero(t, l.count())
	assert.Equal(t, "retry(attempts=unlimited backoff=exponential(100ms..10s))", r.String())
	// WithAttempts after WithUnlimitedAttempts wins.
	assert.Equal(t, "retry(attempts=2 backoff=constant(0s))",
		policy.Retry[int](policy.WithUnlimitedAttempts(), policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0))).String())
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
					l := newCallLog()
					r := policy.Retry[int](policy.WithAttempts(attempts), policy.WithBackoff(b),
						policy.WithJitter(tc.jitter), policy.WithSeed(seed))
					_, err := policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
					require.ErrorIs(t, err, policy.ErrRetriesExhausted)
					return l.gaps()
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
			l := newCallLog()
			_, _ = policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
			gaps := l.gaps()
			require.Len(t, gaps, 1)
			assert.True(t, gaps[0] >= 0 && gaps[0] <= time.Second, "full jitter stays in [0, d], got %v", gaps[0])
		}
	})
	// Decorrelated jitter with a zero initial delay waits nothing.
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[int](policy.WithBackoff(policy.Exponential(0, time.Second)), policy.WithJitter(policy.DecorrelatedJitter))
		_, _ = policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
		assert.Equal(t, []time.Duration{0, 0}, l.gaps())
	})
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		opts  []policy.RetryOption
		after time.Duration
		want  time.Duration
	}{
		{"shorter than the backoff", nil, 50 * ms, 100 * ms},
		{"zero", nil, 0, 100 * ms},
		{"equal to the backoff's maximum", nil, 100 * ms, 100 * ms},
		{"longer, within WithMaxRetryAfter", []policy.RetryOption{policy.WithMaxRetryAfter(5 * time.Second)}, 5 * time.Second, 5 * time.Second},
		{"within the proportional jitter's bound", []policy.RetryOption{policy.WithProportionalJitter(0.5)}, 150 * ms, 150 * ms},
		{"within the absolute jitter's bound", []policy.RetryOption{policy.WithAbsoluteJitter(time.Second)}, 1100 * ms, 1100 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newCallLog()
				// An inner layer rejects the first attempt, as an open breaker would.
				reject := policy.New("reject-once", func(ctx context.Context, next policy.Next[string]) (string, error) {
					if l.record(ctx) == 1 {
						return "", &limitedErr{wait: tc.after}
					}
					return next.Call(ctx)
				})
				opts := append([]policy.RetryOption{policy.WithBackoff(policy.Constant(100 * ms)), policy.WithSeed(1)}, tc.opts...)
				p := policy.Compose(policy.Retry[string](opts...), reject)
				v, err := p.Run(t.Context(), func(context.Context) (string, error) { return "ok", nil })
				require.NoError(t, err)
				assert.Equal(t, "ok", v)
				gaps := l.gaps()
				require.Len(t, gaps, 1)
				assert.GreaterOrEqual(t, gaps[0], tc.want, "a rejection is retried after max(backoff, RetryAfter), never sooner")
				if len(tc.opts) == 0 || tc.after == 5*time.Second {
					assert.Equal(t, tc.want, gaps[0])
				}
			})
		})
	}
	// The Retry-After survives the RetryError, so an outer policy sees it.
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0)), policy.WithMaxRetryAfter(time.Minute))
		_, err := policy.Run(t.Context(), r, alwaysFail[int](l, &limitedErr{wait: 3 * time.Second}))
		d, ok := ion.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, 3*time.Second, d)
		assert.ErrorIs(t, err, ion.ErrRejected)
		assert.Equal(t, []time.Duration{3 * time.Second}, l.gaps())
	})
}

// TestRetryWaitingOutLongRetryAfter guards the stall of a default Retry
// around an open breaker: with no ctx deadline and no max duration, it
// waited out the breaker's whole open duration (30 s by default) before its
// next attempt, so a request handler hung where a fast failure was
// expected. A Retry-After longer than the longest delay the Retry would
// wait on its own now ends the retry at once with the rejection.
func TestRetryWaitingOutLongRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		opts  []policy.RetryOption
		after time.Duration
	}{
		{"default backoff, open breaker", nil, 30 * time.Second},
		{"just above the backoff's maximum", []policy.RetryOption{policy.WithBackoff(policy.Exponential(100*time.Millisecond, time.Second))}, time.Second + 1},
		{"above WithMaxRetryAfter", []policy.RetryOption{policy.WithMaxRetryAfter(time.Second)}, 2 * time.Second},
		{"WithMaxRetryAfter(0) waits out none", []policy.RetryOption{policy.WithMaxRetryAfter(0)}, time.Nanosecond},
		{"above the absolute jitter's bound", []policy.RetryOption{policy.WithBackoff(policy.Constant(time.Second)), policy.WithAbsoluteJitter(time.Second)}, 2*time.Second + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := policytest.Record(policytest.Sequence(policytest.Fail[int](&limitedErr{wait: tc.after}), policytest.Ok(1)))
				start := time.Now()
				_, err := policy.Run(t.Context(), policy.Retry[int](tc.opts...), rec.Func)
				assert.Zero(t, time.Since(start), "Retry must not wait a Retry-After it will not honour")
				assert.Equal(t, 1, rec.Count(), "no retry")
				assert.ErrorIs(t, err, policy.ErrRetryAfterTooLong)
				policytest.RequireRejected(t, err)
				policytest.AssertRetryAfter(t, err, tc.after)
				var re *policy.RetryError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, 1, re.Attempts)
			})
		})
	}
}

func TestRetryDeadlineAware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
		defer cancel()
		r := policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(100*time.Millisecond)))
		start := time.Now()
		_, err := policy.Run(ctx, r, alwaysFail[int](l, errTransient))
		assert.ErrorIs(t, err, policy.ErrRetryDeadline)
		assert.ErrorIs(t, err, errTransient, "the deadline error wraps the last attempt's error")
		assert.NotErrorIs(t, err, context.DeadlineExceeded, "Retry gave up before the deadline passed")
		assert.Equal(t, 200*time.Millisecond, time.Since(start), "no sleep when the deadline cannot fit the next delay")
		assert.Equal(t, 3, l.count())
	})
	// A Retry-After beyond the deadline returns at once.
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := policy.Run(ctx, policy.Retry[int](), alwaysFail[int](l, &limitedErr{wait: 2 * time.Second}))
		assert.ErrorIs(t, err, policy.ErrRetryDeadline)
		assert.ErrorIs(t, err, ion.ErrRejected)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, 1, l.count())
	})
}

func TestRetryCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		r := policy.Retry[int](policy.WithBackoff(policy.Constant(time.Second)))
		var got []policy.Outcome
		start := time.Now()
		_, err := policy.Run(ctx, policy.Compose(probe[int](&got), r), alwaysFail[int](l, errTransient))
		assert.Equal(t, 50*time.Millisecond, time.Since(start), "cancellation during a backoff returns at once")
		assert.ErrorIs(t, err, context.Canceled, "the ctx error is wrapped")
		assert.ErrorIs(t, err, errTransient, "the last attempt's error is wrapped")
		assert.Equal(t, 1, l.count(), "no attempt after the cancellation")
		assert.Equal(t, []policy.Outcome{policy.Ignored}, got, "the caller's cancellation is Ignored by outer policies")
		assert.Contains(t, err.Error(), "policy: retry stopped: context canceled after 1 attempt: transient")
	})
}

func TestRetryClassification(t *testing.T) {
	ctx := context.Background()
	noDelay := policy.WithBackoff(policy.Constant(0))

	t.Run("ignored is not retried", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		l := newCallLog()
		_, err := policy.Run(cctx, policy.Retry[int](noDelay), func(ctx context.Context) (int, error) {
			l.record(ctx)
			cancel()
			return 0, ctx.Err()
		})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, l.count())
		var re *policy.RetryError
		assert.False(t, errors.As(err, &re), "an Ignored result is returned unchanged")
	})

	t.Run("classifier failure with nil error", func(t *testing.T) {
		l := newCallLog()
		p := policy.Compose[int](policy.Retry[int](noDelay)).WithClassifier(func(v int, err error) policy.Outcome {
			if err != nil || v >= 500 {
				return policy.Failure
			}
			return policy.Success
		})
		v, err := p.Run(ctx, func(ctx context.Context) (int, error) {
			l.record(ctx)
			return 503, nil
		})
		assert.Equal(t, 503, v, "the last value is returned with the error")
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		var re *policy.RetryError
		require.ErrorAs(t, err, &re)
		assert.NoError(t, re.Err)
		assert.Equal(t, "policy: retries exhausted after 3 attempts: last result was a failure", err.Error())
		assert.Equal(t, []error{policy.ErrRetriesExhausted}, re.Unwrap())
	})

	t.Run("RetryIf retries a success", func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[string](noDelay).RetryIf(func(v string, err error) bool { return v == "pending" })
		v, err := policy.Run(ctx, r, func(ctx context.Context) (string, error) {
			if l.record(ctx) < 3 {
				return "pending", nil
			}
			return "done", nil
		})
		require.NoError(t, err)
		assert.Equal(t, "done", v)
		assert.Equal(t, 3, l.count())
	})

	t.Run("AbortIf stops a failure", func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[string](noDelay).AbortIf(func(_ string, err error) bool { return errors.Is(err, errPermanent) })
		_, err := policy.Run(ctx, r, alwaysFail[string](l, errPermanent))
		assert.Equal(t, errPermanent, err, "an aborted result is returned unchanged")
		assert.Equal(t, 1, l.count())
		l2 := newCallLog()
		_, err = policy.Run(ctx, r, alwaysFail[string](l2, errTransient))
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		assert.Equal(t, 3, l2.count(), "other failures are still retried")
	})

	t.Run("AbortIf vetoes RetryIf", func(t *testing.T) {
		l := newCallLog()
		r := policy.Retry[string](noDelay).
			RetryIf(func(string, error) bool { return true }).
			AbortIf(func(v string, _ error) bool { return v == "stop" })
		v, err := policy.Run(ctx, r, func(ctx context.Context) (string, error) {
			if l.record(ctx) == 2 {
				return "stop", nil
			}
			return "again", nil
		})
		require.NoError(t, err)
		assert.Equal(t, "stop", v)
	})

	t.Run("copies leave the original unchanged", func(t *testing.T) {
		base := policy.Retry[string](noDelay)
		_ = base.AbortIf(func(string, error) bool { return true })
		l := newCallLog()
		_, _ = policy.Run(ctx, base, alwaysFail[string](l, errTransient))
		assert.Equal(t, 3, l.count())
	})
}

func TestRetryOnRetryHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type call struct {
			attempt int
			err     error
			delay   time.Duration
		}
		var calls []call
		var r *policy.RetryLayer[int]
		r = policy.Retry[int](policy.WithBackoff(policy.Linear(time.Second, time.Second, time.Minute)),
			policy.WithOnRetry(func(ctx context.Context, attempt int, err error, delay time.Duration) {
				calls = append(calls, call{attempt, err, delay})
				// The hook runs outside any lock: it may use the policy itself.
				_, _ = policy.Run(ctx, r, func(context.Context) (int, error) { return 1, nil })
			}))
		l := newCallLog()
		_, err := policy.Run(t.Context(), r, failThenSucceed(l, 2, 7))
		require.NoError(t, err)
		assert.Equal(t, []call{{2, errTransient, time.Second}, {3, errTransient, 2 * time.Second}}, calls,
			"the hook sees the coming attempt's number, the last error and the delay")
	})
}

func TestRetryNestedAttemptNumbers(t *testing.T) {
	outer := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0)))
	inner := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0)))
	l := newCallLog()
	_, err := policy.Compose[int](outer, inner).Run(context.Background(), alwaysFail[int](l, errTransient))
	assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
	assert.Equal(t, []int{1, 2, 1, 2}, l.attempts(), "an inner retry numbers its own attempts")
}

func TestRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := policy.NewBudget(0.5, 1)
		require.NoError(t, budget.Err())
		r := policy.Retry[int](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(0)), policy.WithBudget(budget))
		// 10 calls that succeed make room for 5 retries (ratio 0.5), plus one
		// per second from the floor.
		for range 10 {
			_, err := policy.Run(t.Context(), r, func(context.Context) (int, error) { return 1, nil })
			require.NoError(t, err)
		}
		l := newCallLog()
		var errs []error
		for range 5 {
			_, err := policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
			errs = append(errs, err)
		}
		// The failing calls deposit too. Calls 11 to 14 get their two
		// retries (8 in all: 7 from the ratio, 0.5 × 14, and 1 from the
		// floor); call 15 finds the ratio (7.5) and the floor spent.
		assert.Equal(t, 5+8, l.count(), "retries are capped by ratio × calls + the floor")
		for _, err := range errs[:4] {
			assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		}
		assert.ErrorIs(t, errs[4], policy.ErrRetryBudget)
		assert.ErrorIs(t, errs[4], errTransient, "the budget error wraps the last attempt's error")
		// A second later the floor allows one more retry, and this call's
		// deposit one more from the ratio (8 of 16 calls).
		time.Sleep(time.Second)
		l2 := newCallLog()
		_, err := policy.Run(t.Context(), r, alwaysFail[int](l2, errTransient))
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		assert.Equal(t, 3, l2.count())
		// After the 10 s window the old calls no longer count.
		time.Sleep(11 * time.Second)
		l3 := newCallLog()
		_, err = policy.Run(t.Context(), r, alwaysFail[int](l3, errTransient))
		assert.ErrorIs(t, err, policy.ErrRetryBudget)
		assert.Equal(t, 2, l3.count(), "only the floor is left once the window has passed")
	})
}

func TestRetryZeroAllocs(t *testing.T) {
	ctx := context.Background()
	ok := func(context.Context) (int, error) { return 1, nil }
	rec := observe.NewRecorder()
	for name, r := range map[string]*policy.RetryLayer[int]{
		"default":      policy.Retry[int](),
		"with metrics": policy.Retry[int](policy.WithMetrics(rec), policy.WithLogger(rec), policy.WithName("x")),
		"with budget and max duration": policy.Retry[int](policy.WithBudget(policy.NewBudget(0.1, 1)),
			policy.WithMaxDuration(time.Second), policy.WithJitter(policy.FullJitter)),
		"with predicates": policy.Retry[int]().RetryIf(func(int, error) bool { return false }).AbortIf(func(int, error) bool { return false }),
	} {
		p := policy.Compose[int](r)
		allocs := testing.AllocsPerRun(1000, func() {
			if v, err := p.Run(ctx, ok); v != 1 || err != nil {
				t.Fatalf("Run = %v, %v, want 1, nil", v, err)
			}
		})
		assert.Zero(t, allocs, "%s: a Retry whose first attempt succeeds must not allocate", name)
	}
}

func TestRetryBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		r     *policy.RetryLayer[int]
		param string
	}{
		{"attempts", policy.Retry[int](policy.WithAttempts(0)), "WithAttempts"},
		{"max duration", policy.Retry[int](policy.WithMaxDuration(-time.Second)), "WithMaxDuration"},
		{"constant", policy.Retry[int](policy.WithBackoff(policy.Constant(-1))), "Constant delay"},
		{"linear initial", policy.Retry[int](policy.WithBackoff(policy.Linear(-1, 0, 0))), "Linear initial"},
		{"linear step", policy.Retry[int](policy.WithBackoff(policy.Linear(0, -1, 0))), "Linear step"},
		{"linear max", policy.Retry[int](policy.WithBackoff(policy.Linear(2, 0, 1))), "Linear maxDelay"},
		{"exponential initial", policy.Retry[int](policy.WithBackoff(policy.Exponential(-1, 0))), "Exponential initial"},
		{"exponential max", policy.Retry[int](policy.WithBackoff(policy.Exponential(2, 1))), "Exponential maxDelay"},
		{"jitter", policy.Retry[int](policy.WithJitter(policy.Jitter(42))), "WithJitter"},
		{"proportional jitter above 1", policy.Retry[int](policy.WithProportionalJitter(1.5)), "WithProportionalJitter"},
		{"proportional jitter negative", policy.Retry[int](policy.WithProportionalJitter(-0.1)), "WithProportionalJitter"},
		{"proportional jitter NaN", policy.Retry[int](policy.WithProportionalJitter(math.NaN())), "WithProportionalJitter"},
		{"absolute jitter", policy.Retry[int](policy.WithAbsoluteJitter(-1)), "WithAbsoluteJitter"},
		{"max retry-after", policy.Retry[int](policy.WithMaxRetryAfter(-1)), "WithMaxRetryAfter"},
		{"factor below 1", policy.Retry[int](policy.WithBackoff(policy.ExponentialFactor(1, 2, 0.5))), "ExponentialFactor factor"},
		{"factor infinite", policy.Retry[int](policy.WithBackoff(policy.ExponentialFactor(1, 2, math.Inf(1)))), "ExponentialFactor factor"},
		{"factor NaN", policy.Retry[int](policy.WithBackoff(policy.ExponentialFactor(1, 2, math.NaN()))), "ExponentialFactor factor"},
		{"factor initial", policy.Retry[int](policy.WithBackoff(policy.ExponentialFactor(-1, 2, 1.5))), "ExponentialFactor initial"},
		{"factor max", policy.Retry[int](policy.WithBackoff(policy.ExponentialFactor(3, 2, 1.5))), "ExponentialFactor maxDelay"},
		{"on retry", policy.Retry[int](policy.WithOnRetry(nil)), "WithOnRetry"},
		{"budget nil", policy.Retry[int](policy.WithBudget(nil)), "WithBudget"},
		{"budget ratio", policy.Retry[int](policy.WithBudget(policy.NewBudget(math.NaN(), 1))), "NewBudget ratio"},
		{"budget floor", policy.Retry[int](policy.WithBudget(policy.NewBudget(0.1, -1))), "NewBudget minPerSecond"},
		{"metrics", policy.Retry[int](policy.WithMetrics(nil)), "WithMetrics"},
		{"logger", policy.Retry[int](policy.WithLogger(nil)), "WithLogger"},
		{"tracer", policy.Retry[int](policy.WithTracer(nil)), "WithTracer"},
		{"nil option", policy.Retry[int](policy.WithAttempts(2), nil), "option 1"},
		{"retry if", policy.Retry[int]().RetryIf(nil), "RetryIf"},
		{"abort if", policy.Retry[int]().AbortIf(nil), "AbortIf"},
		{"first error wins", policy.Retry[int](policy.WithAttempts(0)).AbortIf(nil), "WithAttempts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *ion.ConfigError
			require.ErrorAs(t, tc.r.Err(), &ce)
			assert.Equal(t, tc.param, ce.Param)
			l := newCallLog()
			_, err := policy.Run(context.Background(), tc.r, alwaysFail[int](l, errTransient))
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "every call fails closed")
			assert.Zero(t, l.count())
			assert.Contains(t, tc.r.String(), "retry(invalid: ")
		})
	}
}

func TestRetryObserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		r := policy.Retry[int](policy.WithName("payments"), policy.WithMetrics(rec), policy.WithLogger(rec),
			policy.WithTracer(rec), policy.WithBackoff(policy.Constant(time.Millisecond)))
		assert.Equal(t, "retry(payments attempts=3 backoff=constant(1ms))", r.String())
		l := newCallLog()
		_, err := policy.Run(t.Context(), r, failThenSucceed(l, 1, 5))
		require.NoError(t, err)
		_, err = policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
		require.Error(t, err)
		labels := []observe.Label{observe.L("name", "payments"), observe.L("policy", "retry")}
		assert.Equal(t, int64(5), rec.Count("ion_policy_attempts_total", labels...))
		assert.Equal(t, int64(3), rec.Count("ion_policy_retries_total", labels...))
		logs := rec.Logs()
		require.Len(t, logs, 1)
		assert.Equal(t, "retry gave up", logs[0].Msg)
		assert.Equal(t, slog.LevelDebug, logs[0].Level)
		spans := rec.Spans()
		require.Len(t, spans, 2)
		assert.Equal(t, observe.SpanRecord{Name: r.String(), Ended: true, Outcome: "success"}, spans[0])
		assert.Equal(t, "failure", spans[1].Outcome)
		assert.Equal(t, err, spans[1].Err)
	})
}

func TestRetryPanicPropagates(t *testing.T) {
	rec := observe.NewRecorder()
	for _, r := range []*policy.RetryLayer[int]{policy.Retry[int](), policy.Retry[int](policy.WithTracer(rec))} {
		assert.PanicsWithValue(t, "boom", func() {
			_, _ = policy.Run(context.Background(), r, func(context.Context) (int, error) { panic("boom") })
		}, "a panic on the caller's goroutine is never swallowed")
	}
	spans := rec.Spans()
	require.Len(t, spans, 1)
	assert.True(t, spans[0].Ended, "the span is ended on a panic")
	assert.Equal(t, "failure", spans[0].Outcome)
}

func TestRetryDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l := newCallLog()
	// Execute directly, past Run's own check.
	inner := policy.New("direct", func(_ context.Context, n policy.Next[int]) (int, error) {
		return policy.Retry[int]().Execute(ctx, n)
	})
	_, err := policy.Run(context.Background(), inner, alwaysFail[int](l, errTransient))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, l.count(), "an already-done ctx fails the call before any attempt")
}

// TestRetryStress runs many concurrent calls through one Retry with a
// shared budget and checks the budget's invariant under -race.
func TestRetryStress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := policy.NewBudget(0.2, 0)
		rec := observe.NewRecorder()
		r := policy.Retry[int](policy.WithAttempts(5), policy.WithBackoff(policy.Constant(time.Millisecond)),
			policy.WithJitter(policy.FullJitter), policy.WithBudget(budget), policy.WithMetrics(rec))
		var wg sync.WaitGroup
		const workers, loops = 16, 50
		for w := range workers {
			wg.Go(func() {
				for i := range loops {
					fn := func(context.Context) (int, error) { return 1, nil }
					if (w+i)%3 == 0 {
						fn = func(context.Context) (int, error) { return 0, errTransient }
					}
					_, _ = policy.Run(t.Context(), r, fn)
				}
			})
		}
		wg.Wait()
		retries := rec.Count("ion_policy_retries_total", observe.L("name", "retry"), observe.L("policy", "retry"))
		assert.LessOrEqual(t, float64(retries), 0.2*workers*loops, "retries never exceed ratio × calls")
		assert.Positive(t, retries)
	})
}

// An Ignored result that is not the caller's cancellation (a classifier
// keeping a 429 from the breaker) is retried only when RetryIf asks.
func TestRetryIfOnIgnoredResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tooMany = 429
		classify := func(v int, err error) policy.Outcome {
			if v == tooMany {
				return policy.Ignored
			}
			return policy.Success
		}
		calls := 0
		fn := func(context.Context) (int, error) {
			calls++
			if calls < 3 {
				return tooMany, nil
			}
			return 200, nil
		}
		plain := policy.Compose[int](policy.Retry[int](policy.WithBackoff(policy.Constant(time.Millisecond)))).WithClassifier(classify)
		v, err := plain.Run(context.Background(), fn)
		require.NoError(t, err)
		assert.Equal(t, tooMany, v, "without RetryIf an Ignored result is returned as it is")
		assert.Equal(t, 1, calls)

		calls = 0
		retry429 := policy.Retry[int](policy.WithBackoff(policy.Constant(time.Millisecond))).
			RetryIf(func(v int, _ error) bool { return v == tooMany })
		v, err = policy.Compose[int](retry429).WithClassifier(classify).Run(context.Background(), fn)
		require.NoError(t, err)
		assert.Equal(t, 200, v, "RetryIf retries the Ignored 429")
		assert.Equal(t, 3, calls)
	})
}
