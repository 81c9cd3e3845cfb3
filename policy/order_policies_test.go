package policy_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy"
)

// slowFail is a Func that fails with errTransient after d, or returns its
// ctx's error if ctx ends first.
func slowFail(l *callLog, d time.Duration) policy.Func[int] {
	return func(ctx context.Context) (int, error) {
		l.record(ctx)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return 0, errTransient
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// TestOrderRetryOfTimeout: Retry outside Timeout bounds each attempt; a
// timeout is a Failure, so it is retried, and the whole call lasts up to
// attempts × timeout + backoffs.
func TestOrderRetryOfTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		p := policy.Compose(
			policy.Retry[int](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(100*time.Millisecond))),
			policy.Timeout[int](time.Second),
		)
		start := time.Now()
		_, err := p.Run(t.Context(), slowFail(l, time.Hour))
		assert.Equal(t, 3*time.Second+200*time.Millisecond, time.Since(start))
		assert.Equal(t, []time.Duration{0, 1100 * time.Millisecond, 2200 * time.Millisecond}, l.times())
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		assert.ErrorIs(t, err, policy.ErrTimeout, "the last attempt's timeout is wrapped")
	})
}

// TestOrderTimeoutOfRetry: Timeout outside Retry bounds the whole call; the
// Retry sees the deadline and neither sleeps nor starts an attempt that
// cannot fit.
func TestOrderTimeoutOfRetry(t *testing.T) {
	const ms = time.Millisecond
	t.Run("the deadline cuts a running attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newCallLog()
			p := policy.Compose(
				policy.Timeout[int](2500*ms),
				policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(100*ms))),
			)
			start := time.Now()
			_, err := p.Run(t.Context(), slowFail(l, 500*ms))
			assert.Equal(t, 2500*ms, time.Since(start))
			assert.Equal(t, []time.Duration{0, 600 * ms, 1200 * ms, 1800 * ms, 2400 * ms}, l.times())
			assert.ErrorIs(t, err, policy.ErrTimeout, "the outer timeout fired")
			var re *policy.RetryError
			assert.False(t, errors.As(err, &re), "the retry saw its ctx end (Ignored) and returned the attempt's error unchanged")
		})
	})
	t.Run("the retry gives up before the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newCallLog()
			p := policy.Compose(
				policy.Timeout[int](2350*ms),
				policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(100*ms))),
			)
			start := time.Now()
			_, err := p.Run(t.Context(), slowFail(l, 500*ms))
			assert.Equal(t, 2300*ms, time.Since(start), "no sleep that would end past the deadline")
			assert.Equal(t, 4, l.count())
			assert.ErrorIs(t, err, policy.ErrRetryDeadline)
			assert.ErrorIs(t, err, errTransient)
			assert.NotErrorIs(t, err, policy.ErrTimeout, "the timeout never fired")
		})
	})
	t.Run("the caller cancels during a backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The retry's wait ends at once, and the Timeout outside passes the
			// caller's cancellation on unchanged: it did not fire.
			l := newCallLog()
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(700*ms, cancel)
			p := policy.Compose(
				policy.Timeout[int](time.Hour),
				policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(time.Second))),
			)
			_, err := p.Run(ctx, slowFail(l, 500*ms))
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorIs(t, err, errTransient)
			assert.NotErrorIs(t, err, policy.ErrTimeout)
			assert.Equal(t, 1, l.count())
		})
	})
}

// TestOrderRecommended runs the recommended order Fallback → Retry →
// (rejecting layer) → Timeout and checks that each policy sees what it
// should: the retry honours the rejection's delay, and the fallback
// answers once when everything inside failed.
func TestOrderRecommended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newCallLog()
		var rejections int
		open := policy.New("open-breaker", func(ctx context.Context, next policy.Next[string]) (string, error) {
			if rejections < 1 {
				rejections++
				return "", &limitedErr{wait: 2 * time.Second}
			}
			return next.Call(ctx)
		})
		var got []policy.Outcome
		p := policy.Compose(
			probe[string](&got),
			policy.Fallback("stale"),
			policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(100*time.Millisecond)),
				policy.WithMaxRetryAfter(2*time.Second)), // waits out the breaker's 2s, longer than the backoff
			open,
			policy.Timeout[string](time.Second),
		)
		start := time.Now()
		v, err := p.Run(t.Context(), func(ctx context.Context) (string, error) {
			l.record(ctx)
			<-ctx.Done()
			return "", ctx.Err()
		})
		require.NoError(t, err)
		assert.Equal(t, "stale", v)
		// Attempt 1 rejected at 0 (retry after 2s); attempt 2 runs 2s..3s and
		// times out; attempt 3 runs 3.1s..4.1s and times out.
		assert.Equal(t, []time.Duration{2 * time.Second, 3100 * time.Millisecond}, l.times())
		assert.Equal(t, 4100*time.Millisecond, time.Since(start))
		assert.Equal(t, []policy.Outcome{policy.Success}, got)
		assert.Equal(t, []int{2, 3}, l.attempts())
	})
}
