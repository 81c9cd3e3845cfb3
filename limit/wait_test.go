package limit_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
)

func TestWaitImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 3)
		start := time.Now()
		require.NoError(t, lim.WaitN(t.Context(), 3))
		assert.Zero(t, time.Since(start), "tokens available at once: no wait")
		require.ErrorIs(t, lim.WaitN(t.Context(), 4), limit.ErrExceedsBurst)
		require.ErrorIs(t, lim.WaitN(t.Context(), -1), limit.ErrNegativeN)
		assert.Zero(t, time.Since(start), "bad n fails at once, without sleeping")
		r := lim.ReserveN(time.Now(), 1)
		assert.Equal(t, time.Second, r.Delay(), "and without changing state")
	})
}

func TestWaitForRefill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(10, 1)
		require.True(t, lim.Allow())
		start := time.Now()
		require.NoError(t, lim.Wait(t.Context()))
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "one token at 10/s takes 100 ms")
		require.NoError(t, lim.WaitN(t.Context(), 1))
		assert.Equal(t, 200*time.Millisecond, time.Since(start), "the next one another 100 ms")
	})
}

// TestWaitFIFO checks that waiters are served in the order they called, and
// that a large n is not starved by the small ones that come after it.
func TestWaitFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(10, 5)
		require.True(t, lim.AllowN(time.Now(), 5))
		start := time.Now()
		var mu sync.Mutex
		var order []string
		var at []time.Duration
		var wg sync.WaitGroup
		waiter := func(name string, n int) {
			wg.Go(func() {
				require.NoError(t, lim.WaitN(t.Context(), n))
				mu.Lock()
				order = append(order, name)
				at = append(at, time.Since(start))
				mu.Unlock()
			})
			synctest.Wait() // the waiter has its reservation before the next one calls
		}
		waiter("big", 5)
		for _, name := range []string{"s1", "s2", "s3"} {
			waiter(name, 1)
		}
		wg.Wait()
		assert.Equal(t, []string{"big", "s1", "s2", "s3"}, order, "waiters are served in call order")
		assert.Equal(t, []time.Duration{500 * time.Millisecond, 600 * time.Millisecond, 700 * time.Millisecond, 800 * time.Millisecond}, at)
	})
}

func TestWaitCancelledRefunds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		require.True(t, lim.Allow())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- lim.Wait(ctx) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		err := <-done
		require.ErrorIs(t, err, context.Canceled, "a cancelled wait returns ctx.Err()")
		start := time.Now()
		require.NoError(t, lim.Wait(t.Context()))
		assert.Equal(t, 900*time.Millisecond, time.Since(start),
			"the cancelled waiter gave its token back: the next waiter is served when it would have been")
	})
}

func TestWaitDeadlineTooShortFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		require.True(t, lim.Allow())
		for _, timeout := range []time.Duration{500 * time.Millisecond, time.Second} {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			start := time.Now()
			err := lim.Wait(ctx)
			cancel()
			assert.Zero(t, time.Since(start), "a wait that cannot end before the deadline fails at once")
			require.ErrorIs(t, err, limit.ErrLimited)
			require.ErrorIs(t, err, ion.ErrRejected)
			var le *limit.LimitedError
			require.True(t, errors.As(err, &le))
			assert.Equal(t, time.Second, le.Delay)
			d, ok := ion.RetryAfter(err)
			assert.True(t, ok)
			assert.Equal(t, time.Second, d, "ion.RetryAfter gives the wait")
		}
		r := lim.ReserveN(time.Now(), 1)
		assert.Equal(t, time.Second, r.Delay(), "the failed waits consumed nothing")

		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		r.Cancel()
		start := time.Now()
		require.NoError(t, lim.Wait(ctx), "a wait that fits the deadline waits")
		assert.Equal(t, time.Second, time.Since(start))
	})
}

func TestWaitZeroRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(0, 1)
		require.NoError(t, lim.Wait(t.Context()))
		err := lim.Wait(t.Context())
		require.ErrorIs(t, err, limit.ErrLimited, "a wait that would never end fails at once")
		var le *limit.LimitedError
		require.True(t, errors.As(err, &le))
		assert.Equal(t, time.Duration(math.MaxInt64), le.Delay)
		assert.Contains(t, err.Error(), "never")
	})
}

func TestAdmitMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		require.NoError(t, lim.Admit(t.Context(), 0))
		start := time.Now()
		require.ErrorIs(t, lim.Admit(t.Context(), 500*time.Millisecond), limit.ErrLimited)
		require.ErrorIs(t, lim.Admit(t.Context(), -time.Second), limit.ErrLimited, "a negative max wait is no wait")
		assert.Zero(t, time.Since(start))
		require.NoError(t, lim.Admit(t.Context(), 2*time.Second))
		assert.Equal(t, time.Second, time.Since(start))
	})
}

func TestSetRateKeepsAccruedTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(10, 10)
		require.True(t, lim.AllowN(time.Now(), 10))
		time.Sleep(500 * time.Millisecond)
		assert.InDelta(t, 5, lim.Tokens(), 1e-6, "5 tokens accrued at 10/s")
		require.NoError(t, lim.SetRate(1))
		assert.InDelta(t, 5, lim.Tokens(), 1e-6, "SetRate keeps what was accrued")
		assert.Equal(t, limit.Rate(1), lim.Rate())
		time.Sleep(time.Second)
		assert.InDelta(t, 6, lim.Tokens(), 1e-6, "and accrues at the new rate from then on")

		require.NoError(t, lim.SetBurst(3))
		assert.InDelta(t, 3, lim.Tokens(), 1e-6, "SetBurst caps the tokens")
		require.NoError(t, lim.SetBurst(20))
		assert.InDelta(t, 3, lim.Tokens(), 1e-6, "a larger burst adds no tokens")
		assert.Equal(t, 20, lim.Burst())

		require.ErrorIs(t, lim.SetRate(limit.Rate(math.NaN())), ion.ErrInvalidConfig)
		require.ErrorIs(t, lim.SetBurst(-1), ion.ErrInvalidConfig)
		require.ErrorIs(t, lim.SetBurst(0), ion.ErrInvalidConfig, "burst 0 with a finite non-zero rate")
		assert.Equal(t, limit.Rate(1), lim.Rate(), "a refused change changes nothing")
		assert.Equal(t, 20, lim.Burst())

		require.NoError(t, lim.SetRate(limit.Inf))
		assert.True(t, math.IsInf(lim.Tokens(), 1))
		assert.True(t, lim.AllowN(time.Now(), 1000))
		require.NoError(t, lim.SetRate(1))
		assert.InDelta(t, 20, lim.Tokens(), 1e-6, "leaving Inf, the bucket is full")
	})
}

func TestTemporaryLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(100, 100)
		require.NoError(t, lim.SetTemporaryLimit(1, 5, 10*time.Second))
		assert.Equal(t, limit.Rate(1), lim.Rate())
		assert.Equal(t, 5, lim.Burst())
		assert.InDelta(t, 5, lim.Tokens(), 1e-6, "the tokens are capped at the temporary burst")
		require.True(t, lim.AllowN(time.Now(), 5))
		require.False(t, lim.Allow())

		time.Sleep(3 * time.Second)
		assert.InDelta(t, 3, lim.Tokens(), 1e-6, "3 s at the temporary 1/s")

		// A second temporary limit replaces the first, restarting d, and
		// keeps the original permanent limits.
		require.NoError(t, lim.SetTemporaryLimit(2, 10, 10*time.Second))
		require.NoError(t, lim.SetRate(50), "SetRate during a temporary limit changes the permanent rate")
		assert.Equal(t, limit.Rate(2), lim.Rate(), "the temporary rate stays in force")

		time.Sleep(10 * time.Second) // no timer, no goroutine: the revert is lazy
		assert.Equal(t, limit.Rate(50), lim.Rate(), "reverted to the permanent limits")
		assert.Equal(t, 100, lim.Burst())
		assert.InDelta(t, 10, lim.Tokens(), 1e-6, "3 + 2/s × 10 s, capped at the temporary burst until the revert")
		time.Sleep(time.Second)
		assert.InDelta(t, 60, lim.Tokens(), 1e-6, "then 50/s")

		require.NoError(t, lim.SetTemporaryLimit(1, 1, time.Hour))
		lim.ClearTemporaryLimit()
		assert.Equal(t, limit.Rate(50), lim.Rate(), "ClearTemporaryLimit reverts at once")
		lim.ClearTemporaryLimit() // nothing to clear

		require.ErrorIs(t, lim.SetTemporaryLimit(1, 1, 0), ion.ErrInvalidConfig)
		require.ErrorIs(t, lim.SetTemporaryLimit(-1, 1, time.Second), ion.ErrInvalidConfig)
	})
}

func TestTemporaryLimitRevertWithWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(10, 1)
		require.NoError(t, lim.SetTemporaryLimit(1, 1, 500*time.Millisecond))
		require.True(t, lim.Allow())
		start := time.Now()
		require.NoError(t, lim.Wait(t.Context()))
		assert.Equal(t, time.Second, time.Since(start), "the wait was scheduled at the temporary rate")
		// The revert happened at 500 ms with the bucket half a token in debt
		// (the reservation above was charged when it was made); at the
		// permanent 10/s that debt was repaid at 650 ms, so the bucket is
		// full at 1 s and then serves every 100 ms.
		require.NoError(t, lim.Wait(t.Context()))
		assert.Equal(t, time.Second, time.Since(start))
		require.NoError(t, lim.Wait(t.Context()))
		assert.Equal(t, 1100*time.Millisecond, time.Since(start), "the permanent rate")
	})
}

func TestDrainTo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 10)
		lim.DrainTo(4)
		assert.InDelta(t, 4, lim.Tokens(), 1e-9)
		lim.DrainTo(8)
		assert.InDelta(t, 4, lim.Tokens(), 1e-9, "DrainTo never adds tokens")
		lim.DrainTo(-3)
		assert.InDelta(t, 0, lim.Tokens(), 1e-9, "a negative count drains to 0")
		time.Sleep(2 * time.Second)
		assert.InDelta(t, 2, lim.Tokens(), 1e-9, "and the bucket refills from there")
	})
}

func TestWaitUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(100, 10)
		start := time.Now()
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() { require.NoError(t, lim.Wait(t.Context())) })
		}
		wg.Wait()
		assert.Equal(t, 1900*time.Millisecond, time.Since(start), "200 waiters at 100/s after a burst of 10")
	})
}
