package breaker_test

import (
	"context"
	"fmt"
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

// openThenHalfOpen trips cb with failures and waits out the open duration.
// It must run inside a synctest bubble.
func openThenHalfOpen(t *testing.T, cb *breaker.Breaker, failures int, open time.Duration) {
	t.Helper()
	for range failures {
		tk, err := cb.Allow()
		require.NoError(t, err)
		tk.Done(policy.Failure)
	}
	require.Equal(t, breaker.Open, cb.State())
	time.Sleep(open)
	require.Equal(t, breaker.HalfOpen, cb.State())
}

func TestTicketDoneIsIdempotent(t *testing.T) {
	cb := breaker.New("t", breaker.WithConsecutiveFailures(2))
	tk, err := cb.Allow()
	require.NoError(t, err)
	tk.Done(policy.Failure)
	tk.Done(policy.Failure) // no-op
	assert.Equal(t, breaker.Closed, cb.State(), "a second Done must not count a second failure")
	assert.Equal(t, int64(1), cb.Snapshot().Failures)

	var zero breaker.Ticket
	zero.Done(policy.Failure) // no-op
	assert.Equal(t, int64(1), cb.Snapshot().Failures, "the zero Ticket's Done does nothing")
}

func TestTicketCopyCannotFreeAnotherProbesSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("t", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(1),
			breaker.WithSuccessThreshold(1))
		openThenHalfOpen(t, cb, 1, 30*time.Second)
		t1, err := cb.Allow()
		require.NoError(t, err)
		dup := t1
		t1.Done(policy.Ignored) // frees the only slot
		t2, err := cb.Allow()
		require.NoError(t, err, "the slot was freed")
		dup.Done(policy.Ignored) // a copy of a done ticket: the slot is t2's now
		_, err = cb.Allow()
		require.ErrorIs(t, err, breaker.ErrHalfOpenBusy, "a copied ticket must not free a slot twice")
		t2.Done(policy.Success)
		assert.Equal(t, breaker.Closed, cb.State())
	})
}

func TestUnknownOutcomeCountsAsFailure(t *testing.T) {
	cb := breaker.New("t", breaker.WithConsecutiveFailures(1))
	tk, err := cb.Allow()
	require.NoError(t, err)
	tk.Done(policy.Outcome(42))
	assert.Equal(t, breaker.Open, cb.State(), "an unknown outcome must fail closed, as a Failure")
}

func TestStaleGenerationResultsAreIgnored(t *testing.T) {
	t.Run("late probe success after a probe failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cb := breaker.New("t", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(2),
				breaker.WithSuccessThreshold(1))
			openThenHalfOpen(t, cb, 1, 30*time.Second)
			p1, err := cb.Allow()
			require.NoError(t, err)
			p2, err := cb.Allow()
			require.NoError(t, err)
			p1.Done(policy.Failure)
			require.Equal(t, breaker.Open, cb.State())
			p2.Done(policy.Success) // started in the half-open generation
			assert.Equal(t, breaker.Open, cb.State(), "a late success must not close a breaker that a probe failure re-opened")
			assert.Equal(t, int64(1), cb.Snapshot().Successes, "a stale result still counts in the totals")

			// Even once half-open again, the old probe's result is stale.
			time.Sleep(30 * time.Second)
			require.Equal(t, breaker.HalfOpen, cb.State())
			p2.Done(policy.Success)
			assert.Equal(t, breaker.HalfOpen, cb.State())
		})
	})
	t.Run("closed-state failure from before a reset", func(t *testing.T) {
		for _, opts := range [][]breaker.Option{
			{breaker.WithConsecutiveFailures(1)},
			{breaker.WithFailureRate(0.5), breaker.WithCountWindow(1, 1)},
		} {
			cb := breaker.New("t", opts...)
			tk, err := cb.Allow()
			require.NoError(t, err)
			cb.Trip()
			cb.Reset()
			tk.Done(policy.Failure)
			assert.Equal(t, breaker.Closed, cb.State(), "a result from an earlier closed generation must not trip the new one")
		}
	})
	t.Run("disabled-state results", func(t *testing.T) {
		cb := breaker.New("t", breaker.WithConsecutiveFailures(1))
		cb.Disable()
		tk, err := cb.Allow()
		require.NoError(t, err)
		cb.Enable()
		tk.Done(policy.Failure)
		assert.Equal(t, breaker.Closed, cb.State())
	})
}

// TestHalfOpenConcurrentCallers runs 10 concurrent callers against a
// half-open breaker with K probe slots: exactly K run, the others are
// rejected with ErrHalfOpenBusy.
func TestHalfOpenConcurrentCallers(t *testing.T) {
	for _, k := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("K=%d", k), func(t *testing.T) { halfOpenCallers(t, k) })
	}
}

// TestSeedUnboundedHalfOpenProbes guards the seed's bug: its half-open
// admission counted successes, not calls in flight, so 10 concurrent calls
// were all admitted with a maximum of 1.
func TestSeedUnboundedHalfOpenProbes(t *testing.T) { halfOpenCallers(t, 1) }

func halfOpenCallers(t *testing.T, k int) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("t", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(k),
			breaker.WithSuccessThreshold(k))
		openThenHalfOpen(t, cb, 1, 30*time.Second)
		p := breaker.Policy[int](cb)
		release := make(chan struct{})
		var running, busy atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) {
					running.Add(1)
					<-release
					return 1, nil
				})
				if err != nil {
					require.ErrorIs(t, err, breaker.ErrHalfOpenBusy)
					busy.Add(1)
				}
			})
		}
		synctest.Wait()
		assert.Equal(t, int32(k), running.Load(), "exactly K probes run at once")
		assert.Equal(t, int32(10-k), busy.Load(), "the others are rejected at once")
		close(release)
		wg.Wait()
		assert.Equal(t, breaker.Closed, cb.State(), "K successful probes close the breaker")
	})
}

// TestHalfOpenStrictUnderContention hammers a half-open breaker from 100
// goroutines: the number of probes in flight never exceeds K.
func TestHalfOpenStrictUnderContention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const k = 3
		cb := breaker.New("t", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(k),
			breaker.WithSuccessThreshold(1))
		openThenHalfOpen(t, cb, 1, 30*time.Second)
		var inFlight, peak, admitted atomic.Int32
		var wg sync.WaitGroup
		for g := range 100 {
			wg.Go(func() {
				for i := range 50 {
					tk, err := cb.Allow()
					if err != nil {
						require.ErrorIs(t, err, breaker.ErrHalfOpenBusy)
						continue
					}
					admitted.Add(1)
					n := inFlight.Add(1)
					for {
						old := peak.Load()
						if n <= old || peak.CompareAndSwap(old, n) {
							break
						}
					}
					if (g+i)%3 == 0 {
						time.Sleep(time.Millisecond) // in the bubble: lets others pile up
					}
					inFlight.Add(-1)
					tk.Done(policy.Ignored) // keep the breaker half-open
				}
			})
		}
		wg.Wait()
		assert.LessOrEqual(t, peak.Load(), int32(k), "never more than K probes in flight")
		assert.Equal(t, int32(k), peak.Load(), "the slots were used")
		assert.Greater(t, admitted.Load(), int32(k), "freed slots are reused")
		assert.Equal(t, breaker.HalfOpen, cb.State())
	})
}
