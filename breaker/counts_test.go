package breaker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/policy"
)

func counts(s, f, cs, cf int64) breaker.Counts {
	return breaker.Counts{Requests: s + f, Successes: s, Failures: f, ConsecutiveSuccesses: cs, ConsecutiveFailures: cf}
}

// TestCountsOfTheCurrentGeneration steps a breaker through its states and
// checks the counts of each generation: they start from zero at every
// transition (and at a Reset), and a result from an earlier generation is
// in the totals only.
func TestCountsOfTheCurrentGeneration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("c", breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(time.Minute),
			breaker.WithHalfOpenMaxCalls(2), breaker.WithSuccessThreshold(2))
		do := func(o policy.Outcome) {
			t.Helper()
			tk, err := cb.Allow()
			require.NoError(t, err)
			tk.Done(o)
		}
		assert.Equal(t, counts(0, 0, 0, 0), cb.Snapshot().Counts, "a new breaker")
		do(policy.Success)
		do(policy.Success)
		do(policy.Ignored) // neither counts nor breaks the run
		assert.Equal(t, counts(2, 0, 2, 0), cb.Snapshot().Counts)
		late, err := cb.Allow() // still running across the trip below
		require.NoError(t, err)
		do(policy.Failure)
		do(policy.Failure)
		assert.Equal(t, counts(2, 2, 0, 2), cb.Snapshot().Counts, "failures cut the run of successes")
		do(policy.Failure)
		s := cb.Snapshot()
		assert.Equal(t, breaker.Open, s.State)
		assert.Equal(t, counts(0, 0, 0, 0), s.Counts, "the open generation starts empty")

		late.Done(policy.Success)
		s = cb.Snapshot()
		assert.Equal(t, counts(0, 0, 0, 0), s.Counts, "a result of the closed generation is not the open one's")
		assert.Equal(t, int64(3), s.Successes, "but it is in the totals")
		assert.Equal(t, int64(3), s.Failures)

		time.Sleep(time.Minute)
		p1, err := cb.Allow()
		require.NoError(t, err)
		p2, err := cb.Allow()
		require.NoError(t, err)
		p1.Done(policy.Success)
		assert.Equal(t, counts(1, 0, 1, 0), cb.Snapshot().Counts, "the half-open generation counts its probes")
		p2.Done(policy.Success)
		s = cb.Snapshot()
		assert.Equal(t, breaker.Closed, s.State)
		assert.Equal(t, counts(0, 0, 0, 0), s.Counts)
		assert.Equal(t, int64(5), s.Successes)

		do(policy.Failure)
		cb.Reset()
		assert.Equal(t, counts(0, 0, 0, 0), cb.Snapshot().Counts, "Reset of a closed breaker starts a new generation")
		assert.Equal(t, int64(4), cb.Snapshot().Failures)
	})
}

// TestCountsExactUnderConcurrency hammers one generation from many
// goroutines: its counts and the totals hold every result exactly once, and
// the run is that of the last result.
func TestCountsExactUnderConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []breaker.Option
		contend bool // turn the contended mode on again and again
	}{
		{"consecutive", []breaker.Option{breaker.WithConsecutiveFailures(1 << 30)}, false},
		{"consecutive, contended", []breaker.Option{breaker.WithConsecutiveFailures(1 << 30)}, true},
		{"failure rate", []breaker.Option{breaker.WithFailureRate(1), breaker.WithCountWindow(1000, 1000)}, false},
		{"burst", []breaker.Option{breaker.WithFailuresWithin(1<<16, time.Nanosecond)}, false},
		{"trip func", []breaker.Option{breaker.WithTripFunc(func(breaker.Counts) bool { return false })}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := breaker.New("c", tc.opts...)
			const goroutines, calls = 8, 2000
			var wg sync.WaitGroup
			var start sync.WaitGroup
			start.Add(1)
			for i := range goroutines {
				wg.Go(func() {
					start.Wait()
					for j := range calls {
						if tc.contend && j%32 == i {
							breaker.Contend(cb)
						}
						if tc.contend && j%2 == 0 {
							// Through the policy adapter, whose closed
							// success has its own fast path.
							if _, err := policy.Run(context.Background(), breaker.Policy[int](cb), func(context.Context) (int, error) {
								if (i+j)%4 == 0 {
									return 0, errors.New("fail")
								}
								return 1, nil
							}); err != nil && (i+j)%4 != 0 {
								t.Error(err)
								return
							}
							continue
						}
						tk, err := cb.Allow()
						if err != nil {
							t.Error(err)
							return
						}
						if (i+j)%4 == 0 {
							tk.Done(policy.Failure)
						} else {
							tk.Done(policy.Success)
						}
					}
				})
			}
			start.Done()
			wg.Wait()
			tk, err := cb.Allow()
			require.NoError(t, err)
			tk.Done(policy.Success)
			s := cb.Snapshot()
			require.Equal(t, breaker.Closed, s.State, "no rule is met")
			const total = goroutines*calls + 1
			assert.Equal(t, int64(total), s.Counts.Requests, "every result once")
			assert.Equal(t, int64(goroutines*calls/4), s.Counts.Failures)
			assert.Equal(t, s.Counts.Successes, s.Successes, "one generation: its counts are the totals")
			assert.Equal(t, s.Counts.Failures, s.Failures)
			assert.Equal(t, int64(0), s.Counts.ConsecutiveFailures, "the last result was a success")
			assert.GreaterOrEqual(t, s.Counts.ConsecutiveSuccesses, int64(1))
		})
	}
}

// TestCountsExactAcrossTransitions trips and resets a breaker while many
// goroutines report results: each result is in the totals exactly once,
// whichever generation it lands in.
func TestCountsExactAcrossTransitions(t *testing.T) {
	cb := breaker.New("c", breaker.WithConsecutiveFailures(3))
	const goroutines, calls = 8, 2000
	var wg sync.WaitGroup
	var succ, fail, rejected atomic.Int64
	for i := range goroutines {
		wg.Go(func() {
			for j := range calls {
				tk, err := cb.Allow()
				if err != nil {
					rejected.Add(1)
					if j%16 == 0 {
						cb.Reset()
					}
					continue
				}
				if (i*7+j)%5 == 0 {
					fail.Add(1)
					tk.Done(policy.Failure)
				} else {
					succ.Add(1)
					tk.Done(policy.Success)
				}
			}
		})
	}
	wg.Wait()
	s := cb.Snapshot()
	assert.Equal(t, succ.Load(), s.Successes, "every success once in the totals")
	assert.Equal(t, fail.Load(), s.Failures, "every failure once in the totals")
	assert.Equal(t, rejected.Load(), s.Rejected)
	assert.LessOrEqual(t, s.Counts.Requests, succ.Load()+fail.Load())
}

// TestFailuresWithin: the count-based rule trips at n failures within d of
// each other, whatever successes come between, and not when the burst is
// spread wider than d.
func TestFailuresWithin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("w", breaker.WithFailuresWithin(3, 10*time.Second))
		do := func(o policy.Outcome) {
			t.Helper()
			tk, err := cb.Allow()
			require.NoError(t, err)
			tk.Done(o)
		}
		do(policy.Failure)
		time.Sleep(6 * time.Second)
		do(policy.Failure)
		do(policy.Success) // successes do not reset the burst
		time.Sleep(5 * time.Second)
		do(policy.Failure) // 11 s after the first: not a burst of 3 within 10 s
		assert.Equal(t, breaker.Closed, cb.State(), "3 failures over 11 s do not trip")
		time.Sleep(4*time.Second - 1)
		do(policy.Failure) // the last 3 span 5 s + 4 s - 1 ns
		assert.Equal(t, breaker.Open, cb.State(), "3 failures within 10 s trip")

		cb.Reset()
		do(policy.Failure)
		do(policy.Failure)
		assert.Equal(t, breaker.Closed, cb.State(), "a Reset forgets the failures before it")
	})
}

// TestTripFunc: the user's predicate decides on the current counts after
// each failure, with no lock held (it may call back into the breaker).
func TestTripFunc(t *testing.T) {
	var cb *breaker.Breaker
	var seen []breaker.Counts
	cb = breaker.New("f", breaker.WithTripFunc(func(c breaker.Counts) bool {
		seen = append(seen, c)
		_ = cb.Snapshot() // would deadlock if a lock were held
		return c.Requests >= 4 && float64(c.Failures)/float64(c.Requests) >= 0.5
	}))
	for _, o := range []policy.Outcome{policy.Success, policy.Failure, policy.Success, policy.Failure} {
		tk, err := cb.Allow()
		require.NoError(t, err)
		tk.Done(o)
	}
	assert.Equal(t, breaker.Open, cb.State(), "2 failures in 4 requests trip")
	assert.Equal(t, []breaker.Counts{counts(1, 1, 0, 1), counts(2, 2, 0, 1)}, seen,
		"called after each failure, with that failure counted")
}

// TestSuccessCountWrapsIntoTheTotals drives a generation's success count
// across the 2^31 that its result word holds, on the lock-free paths (the
// two-step form's and the policy adapter's) and on the paths that hold the
// breaker's lock (a rate rule, a half-open probe): the carry loses nothing,
// the run goes on, and a generation that retires after the wrap hands all
// its successes to the totals.
func TestSuccessCountWrapsIntoTheTotals(t *testing.T) {
	const wrap = int64(1) << 31
	for _, tc := range []struct {
		name      string
		opts      []breaker.Option
		viaPolicy bool
	}{
		{"consecutive", nil, false},
		{"consecutive-policy", nil, true},
		{"failure rate", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(10, 10)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := breaker.New("w", tc.opts...)
			breaker.SetGenerationSuccesses(cb, wrap-2)
			for range 3 {
				if tc.viaPolicy {
					_, err := policy.Run(context.Background(), breaker.Policy[int](cb), ok)
					require.NoError(t, err)
					continue
				}
				tk, err := cb.Allow()
				require.NoError(t, err)
				tk.Done(policy.Success)
			}
			s := cb.Snapshot()
			assert.Equal(t, wrap+1, s.Counts.Successes, "the count carries past 2^31")
			assert.Equal(t, wrap+1, s.Successes)
			assert.Equal(t, int64(3), s.Counts.ConsecutiveSuccesses)
			cb.Trip()
			s = cb.Snapshot()
			assert.Zero(t, s.Counts.Successes, "a new generation")
			assert.Equal(t, wrap+1, s.Successes, "the retired generation's successes, carry included, are in the totals")
		})
	}
	t.Run("half-open probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cb := breaker.New("w", breaker.WithConsecutiveFailures(1), breaker.WithSuccessThreshold(3))
			openThenHalfOpen(t, cb, 1, 30*time.Second)
			breaker.SetGenerationSuccesses(cb, wrap-1)
			tk, err := cb.Allow()
			require.NoError(t, err)
			tk.Done(policy.Success) // wraps with the breaker's lock held
			s := cb.Snapshot()
			assert.Equal(t, breaker.HalfOpen, s.State)
			assert.Equal(t, wrap, s.Counts.Successes)
		})
	})
}
