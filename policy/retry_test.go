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
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		r := policy.Retry[int]()
		require.NoError(t, r.Err())
		v, err := policy.Run(t.Context(), r, l.Func)
		assert.Zero(t, v)
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted, "exhausted attempts match the retry sentinel")
		assert.ErrorIs(t, err, errTransient, "exhausted attempts match the last attempt's error")
		var re *policy.RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 3, re.Attempts, "the default is 3 attempts")
		assert.Equal(t, "policy: retries exhausted after 3 attempts: transient", err.Error())
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond}, l.Starts(),
			"the default backoff is Exponential(100ms, 10s) without jitter")
		assert.Equal(t, []int{1, 2, 3}, l.Attempts(), "each attempt sees its number through policy.Attempt")
	})
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := policytest.Record(policytest.FailTimes(2, errTransient, "ok"))
		r := policy.Retry[string](policy.WithAttempts(4), policy.WithBackoff(policy.Constant(time.Second)))
		v, err := policy.Run(t.Context(), r, l.Func)
		require.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, 3, l.Count(), "Retry stops at the first success")
		assert.Equal(t, []int{1, 2, 3}, l.Attempts())
	})
}

// TestFailsafeGo23BackoffApplied guards failsafe-go#23: a configured
// backoff was not applied between attempts.
func TestFailsafeGo23BackoffApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		r := policy.Retry[int](policy.WithBackoff(policy.Exponential(time.Second, time.Minute)))
		_, _ = policy.Run(t.Context(), r, l.Func)
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, l.Gaps())
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
			l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
			start := time.Now()
			_, err := policy.Run(t.Context(), r, l.Func)
			assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
			assert.ErrorIs(t, err, errTransient)
			assert.Equal(t, []time.Duration{0, 300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond}, l.Starts(),
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
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		_, err := policy.Run(context.Background(), r, l.Func)
		assert.ErrorIs(t, err, ion.ErrInvalidConfig)
		assert.Zero(t, l.Count(), "a policy with invalid config never calls fn")
	}
	synctest.Test(t, func(t *testing.T) {
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		r := policy.Retry[int](policy.WithUnlimitedAttempts(), policy.WithBackoff(policy.Constant(time.Second)))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := policy.Run(ctx, r, l.Func)
		assert.ErrorIs(t, err, policy.ErrRetryDeadline)
		assert.Equal(t, 60, l.Count(), "unlimited attempts retry until the ctx deadline")
	})
}

func TestRetryUnlimitedNeedsABound(t *testing.T) {
	l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
	r := policy.Retry[int](policy.WithUnlimitedAttempts())
	require.NoError(t, r.Err(), "unlimited attempts are valid when a call brings a deadline")
	_, err := policy.Run(context.Background(), r, l.Func)
	var ce *ion.ConfigError
	require.ErrorAs(t, err, &ce, "unlimited attempts without a bound fail closed")
	assert.Equal(t, "WithUnlimitedAttempts", ce.Param)
	assert.Zero(t, l.Count())
	assert.Equal(t, "retry(attempts=unlimited backoff=exponential(100ms..10s))", r.String())
	// WithAttempts after WithUnlimitedAttempts wins.
	assert.Equal(t, "retry(attempts=2 backoff=constant(0s))",
		policy.Retry[int](policy.WithUnlimitedAttempts(), policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0))).String())
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
				// The first attempt is rejected, as by an open breaker.
				l := policytest.Record(policytest.Sequence(policytest.Fail[string](&limitedErr{wait: tc.after}), policytest.Ok("ok")))
				opts := append([]policy.RetryOption{policy.WithBackoff(policy.Constant(100 * ms)), policy.WithSeed(1)}, tc.opts...)
				v, err := policy.Run(t.Context(), policy.Retry[string](opts...), l.Func)
				require.NoError(t, err)
				assert.Equal(t, "ok", v)
				gaps := l.Gaps()
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
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, &limitedErr{wait: 3 * time.Second}, 0))
		r := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0)), policy.WithMaxRetryAfter(time.Minute))
		_, err := policy.Run(t.Context(), r, l.Func)
		d, ok := ion.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, 3*time.Second, d)
		assert.ErrorIs(t, err, ion.ErrRejected)
		assert.Equal(t, []time.Duration{3 * time.Second}, l.Gaps())
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
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
		defer cancel()
		r := policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(100*time.Millisecond)))
		start := time.Now()
		_, err := policy.Run(ctx, r, l.Func)
		assert.ErrorIs(t, err, policy.ErrRetryDeadline)
		assert.ErrorIs(t, err, errTransient, "the deadline error wraps the last attempt's error")
		assert.NotErrorIs(t, err, context.DeadlineExceeded, "Retry gave up before the deadline passed")
		assert.Equal(t, 200*time.Millisecond, time.Since(start), "no sleep when the deadline cannot fit the next delay")
		assert.Equal(t, 3, l.Count())
	})
	// A Retry-After beyond the deadline returns at once.
	synctest.Test(t, func(t *testing.T) {
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, &limitedErr{wait: 2 * time.Second}, 0))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := policy.Run(ctx, policy.Retry[int](), l.Func)
		assert.ErrorIs(t, err, policy.ErrRetryDeadline)
		assert.ErrorIs(t, err, ion.ErrRejected)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, 1, l.Count())
	})
}

func TestRetryCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		r := policy.Retry[int](policy.WithBackoff(policy.Constant(time.Second)))
		var got []policy.Outcome
		start := time.Now()
		_, err := policy.Run(ctx, policy.Compose(probe[int](&got), r), l.Func)
		assert.Equal(t, 50*time.Millisecond, time.Since(start), "cancellation during a backoff returns at once")
		assert.ErrorIs(t, err, context.Canceled, "the ctx error is wrapped")
		assert.ErrorIs(t, err, errTransient, "the last attempt's error is wrapped")
		assert.Equal(t, 1, l.Count(), "no attempt after the cancellation")
		assert.Equal(t, []policy.Outcome{policy.Ignored}, got, "the caller's cancellation is Ignored by outer policies")
		assert.Contains(t, err.Error(), "policy: retry stopped: context canceled after 1 attempt: transient")
	})
}

func TestRetryClassification(t *testing.T) {
	ctx := context.Background()
	noDelay := policy.WithBackoff(policy.Constant(0))

	t.Run("ignored is not retried", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		l := policytest.Record(func(ctx context.Context) (int, error) {
			cancel()
			return 0, ctx.Err()
		})
		_, err := policy.Run(cctx, policy.Retry[int](noDelay), l.Func)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, l.Count())
		var re *policy.RetryError
		assert.False(t, errors.As(err, &re), "an Ignored result is returned unchanged")
	})

	t.Run("classifier failure with nil error", func(t *testing.T) {
		p := policy.Compose[int](policy.Retry[int](noDelay)).WithClassifier(func(v int, err error) policy.Outcome {
			if err != nil || v >= 500 {
				return policy.Failure
			}
			return policy.Success
		})
		v, err := p.Run(ctx, func(context.Context) (int, error) { return 503, nil })
		assert.Equal(t, 503, v, "the last value is returned with the error")
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		var re *policy.RetryError
		require.ErrorAs(t, err, &re)
		assert.NoError(t, re.Err)
		assert.Equal(t, "policy: retries exhausted after 3 attempts: last result was a failure", err.Error())
		assert.Equal(t, []error{policy.ErrRetriesExhausted}, re.Unwrap())
	})

	t.Run("RetryIf retries a success", func(t *testing.T) {
		l := policytest.Record(policytest.Sequence(policytest.Ok("pending"), policytest.Ok("pending"), policytest.Ok("done")))
		r := policy.Retry[string](noDelay).RetryIf(func(v string, err error) bool { return v == "pending" })
		v, err := policy.Run(ctx, r, l.Func)
		require.NoError(t, err)
		assert.Equal(t, "done", v)
		assert.Equal(t, 3, l.Count())
	})

	t.Run("AbortIf stops a failure", func(t *testing.T) {
		l := policytest.Record(policytest.FailTimes[string](math.MaxInt, errPermanent, ""))
		r := policy.Retry[string](noDelay).AbortIf(func(_ string, err error) bool { return errors.Is(err, errPermanent) })
		_, err := policy.Run(ctx, r, l.Func)
		assert.Equal(t, errPermanent, err, "an aborted result is returned unchanged")
		assert.Equal(t, 1, l.Count())
		l2 := policytest.Record(policytest.FailTimes[string](math.MaxInt, errTransient, ""))
		_, err = policy.Run(ctx, r, l2.Func)
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		assert.Equal(t, 3, l2.Count(), "other failures are still retried")
	})

	t.Run("AbortIf vetoes RetryIf", func(t *testing.T) {
		r := policy.Retry[string](noDelay).
			RetryIf(func(string, error) bool { return true }).
			AbortIf(func(v string, _ error) bool { return v == "stop" })
		v, err := policy.Run(ctx, r, policytest.Sequence(policytest.Ok("again"), policytest.Ok("stop"), policytest.Ok("again")))
		require.NoError(t, err)
		assert.Equal(t, "stop", v)
	})

	t.Run("copies leave the original unchanged", func(t *testing.T) {
		base := policy.Retry[string](noDelay)
		_ = base.AbortIf(func(string, error) bool { return true })
		l := policytest.Record(policytest.FailTimes[string](math.MaxInt, errTransient, ""))
		_, _ = policy.Run(ctx, base, l.Func)
		assert.Equal(t, 3, l.Count())
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
		l := policytest.Record(policytest.FailTimes(2, errTransient, 7))
		_, err := policy.Run(t.Context(), r, l.Func)
		require.NoError(t, err)
		assert.Equal(t, []call{{2, errTransient, time.Second}, {3, errTransient, 2 * time.Second}}, calls,
			"the hook sees the coming attempt's number, the last error and the delay")
	})
}

func TestRetryNestedAttemptNumbers(t *testing.T) {
	outer := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0)))
	inner := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0)))
	l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
	_, err := policy.Compose[int](outer, inner).Run(context.Background(), l.Func)
	assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
	assert.Equal(t, []int{1, 2, 1, 2}, l.Attempts(), "an inner retry numbers its own attempts")
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
		l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		var errs []error
		for range 5 {
			_, err := policy.Run(t.Context(), r, l.Func)
			errs = append(errs, err)
		}
		// The failing calls deposit too. Calls 11 to 14 get their two
		// retries (8 in all: 7 from the ratio, 0.5 × 14, and 1 from the
		// floor); call 15 finds the ratio (7.5) and the floor spent.
		assert.Equal(t, 5+8, l.Count(), "retries are capped by ratio × calls + the floor")
		for _, err := range errs[:4] {
			assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		}
		assert.ErrorIs(t, errs[4], policy.ErrRetryBudget)
		assert.ErrorIs(t, errs[4], errTransient, "the budget error wraps the last attempt's error")
		// A second later the floor allows one more retry, and this call's
		// deposit one more from the ratio (8 of 16 calls).
		time.Sleep(time.Second)
		l2 := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		_, err := policy.Run(t.Context(), r, l2.Func)
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		assert.Equal(t, 3, l2.Count())
		// After the 10 s window the old calls no longer count.
		time.Sleep(11 * time.Second)
		l3 := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
		_, err = policy.Run(t.Context(), r, l3.Func)
		assert.ErrorIs(t, err, policy.ErrRetryBudget)
		assert.Equal(t, 2, l3.Count(), "only the floor is left once the window has passed")
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
			l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
			_, err := policy.Run(context.Background(), tc.r, l.Func)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "every call fails closed")
			assert.Zero(t, l.Count())
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
		l := policytest.Record(policytest.FailTimes(1, errTransient, 5))
		_, err := policy.Run(t.Context(), r, l.Func)
		require.NoError(t, err)
		_, err = policy.Run(t.Context(), r, policytest.FailTimes[int](math.MaxInt, errTransient, 0))
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
	l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
	// Execute directly, past Run's own check.
	inner := policy.New("direct", func(_ context.Context, n policy.Next[int]) (int, error) {
		return policy.Retry[int]().Execute(ctx, n)
	})
	_, err := policy.Run(context.Background(), inner, l.Func)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, l.Count(), "an already-done ctx fails the call before any attempt")
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

// FuzzRetry builds a Retry from arbitrary settings and runs a failing call
// through it in a synctest bubble. Properties: no panic; invalid settings
// fail closed without calling fn; valid ones wait between 0 and the
// backoff's maximum before each retry and end with an error matching
// ErrRetriesExhausted and the last error.
func FuzzRetry(f *testing.F) {
	f.Add(3, uint8(2), int64(time.Millisecond), int64(0), int64(time.Second), uint8(0), uint64(1))
	f.Add(0, uint8(0), int64(-1), int64(0), int64(0), uint8(1), uint64(2))
	f.Add(5, uint8(1), int64(1), int64(math.MaxInt64), int64(math.MaxInt64), uint8(3), uint64(3))
	f.Add(-4, uint8(2), int64(math.MaxInt64), int64(0), int64(math.MaxInt64), uint8(9), uint64(4))
	f.Fuzz(func(t *testing.T, attempts int, kind uint8, initial, step, maxDelay int64, jitter uint8, seed uint64) {
		var b policy.Backoff
		switch kind % 3 {
		case 0:
			b = policy.Constant(time.Duration(initial))
		case 1:
			b = policy.Linear(time.Duration(initial), time.Duration(step), time.Duration(maxDelay))
		default:
			b = policy.Exponential(time.Duration(initial), time.Duration(maxDelay))
		}
		r := policy.Retry[int](policy.WithAttempts(attempts%12), policy.WithBackoff(b),
			policy.WithJitter(policy.Jitter(jitter%5)), policy.WithSeed(seed))
		synctest.Test(t, func(t *testing.T) {
			l := policytest.Record(policytest.FailTimes[int](math.MaxInt, errTransient, 0))
			_, err := policy.Run(t.Context(), r, l.Func)
			if r.Err() != nil {
				checkConfigErr(t, err)
				if l.Count() != 0 {
					t.Fatal("an invalid Retry called fn")
				}
				return
			}
			if !errors.Is(err, policy.ErrRetriesExhausted) || !errors.Is(err, errTransient) {
				t.Fatalf("exhausted retry returned %v", err)
			}
			if l.Count() != attempts%12 {
				t.Fatalf("made %d attempts, want %d", l.Count(), attempts%12)
			}
			ceiling := b.Delay(math.MaxInt)
			if policy.Jitter(jitter%5) == policy.DecorrelatedJitter && kind%3 != 0 {
				ceiling = time.Duration(maxDelay) // decorrelated jitter ignores the schedule's shape
			}
			for i, d := range l.Gaps() {
				if d < 0 || d > ceiling {
					t.Fatalf("wait %d = %v, want within [0, %v]", i+1, d, ceiling)
				}
			}
		})
	})
}
