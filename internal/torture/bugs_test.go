package torture

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests of the bugs that the torture runs found (fixed in
// bdf2c9d, "pool, policy: fix four bugs found by the torture tests"). Each
// comment says where the bug was and how it showed.

// TestPoolPolicyForcedCloseLooksLikeAFailure guards the bug found by
// TestPipelinesVirtual/pool: a call that pool.Policy runs on a worker when
// a forced Close (its ctx ended) cancels it gets its ctx cancelled with a
// plain context.Canceled (pool/result.go, adapter.execute: the
// p.runCtx.Done() case calls the cancel of context.WithCancel) and returns
// the call's own ctx error. So the caller, whose ctx is live, gets
// context.Canceled it did not cause, the call's context.Cause is
// context.Canceled rather than ErrClosed (as it is for tasks), and a breaker
// composed outside the pool counts the pool's own shutdown as a Failure of
// the dependency and trips. Expected: the call's ctx is cancelled with
// cause ErrClosed, and its error matches ErrClosed (so ion.ErrRejected, and
// policy.Next.Classify calls it Ignored).
func TestPoolPolicyForcedCloseLooksLikeAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 1)
		cb := breaker.New("dependency", breaker.WithConsecutiveFailures(1))
		pipe := policy.Compose(breaker.Policy[int](cb), pool.Policy[int](p))
		var cause error
		done := make(chan error, 1)
		// Owner: this test. Exit: when the call returns, after the forced
		// Close below cancels it. Join: <-done.
		go func() {
			_, err := pipe.Run(context.Background(), func(ctx context.Context) (int, error) {
				<-ctx.Done() // a well-behaved call: it stops when told to
				cause = context.Cause(ctx)
				return 0, ctx.Err()
			})
			done <- err
		}()
		synctest.Wait() // the call is running on the worker
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_, cerr := p.Close(ctx)
		require.ErrorIs(t, cerr, context.DeadlineExceeded, "the Close is forced")
		err := <-done

		assert.ErrorIs(t, err, pool.ErrClosed, "a call cut short by a forced Close must say so")
		assert.ErrorIs(t, err, ion.ErrRejected, "it is our own shutdown, not the dependency's failure")
		assert.Equal(t, pool.ErrClosed, cause, "context.Cause of the cut call, as for tasks")
		assert.Equal(t, breaker.Closed, cb.State(), "the breaker outside the pool must not trip on the pool's shutdown")
		assert.Zero(t, cb.Snapshot().Failures, "nor count it as a failure")
	})
}

// TestHedgeGoexitInHedgeHangsTheCall guards the bug that a hedge attempt
// that calls runtime.Goexit (t.FailNow in a test's Func does) is never
// reported (policy/hedge.go, hedgeCall.attempt recovers panics only; the
// hedge goroutine then exits without hedgeCall.report, so running never
// reaches 0). Once the other attempts have failed, the caller waits in
// hedgeCall.finish forever, with its goroutine leaked; with WithHedges(1) it
// never returns at all. Here a second hedge, due later, ends the wait, so
// the test fails instead of hanging. The pool reports a Goexit as a
// *ion.PanicError; so should Hedge, at once, as for a panic.
func TestHedgeGoexitInHedgeHangsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := policy.Hedge[int](10*time.Millisecond, policy.WithHedges(2))
		type result struct {
			v   int
			err error
			at  time.Duration
		}
		start := time.Now()
		done := make(chan result, 1)
		// Owner: this test. Exit: when the hedged call returns (at 20ms at
		// the latest, when the second hedge succeeds). Join: <-done.
		go func() {
			v, err := policy.Run(context.Background(), h, func(ctx context.Context) (int, error) {
				switch policy.Attempt(ctx) {
				case 1: // fails after the first hedge has gone
					select {
					case <-time.After(15 * time.Millisecond):
						return 0, errInjected
					case <-ctx.Done():
						return 0, ctx.Err()
					}
				case 2:
					runtime.Goexit()
				}
				return 3, nil
			})
			done <- result{v, err, time.Since(start)}
		}()
		r := <-done
		var pe *ion.PanicError
		assert.ErrorAs(t, r.err, &pe, "a Goexit in a hedge must end the call as a panic does, got (%d, %v)", r.v, r.err)
		assert.Equal(t, 10*time.Millisecond, r.at,
			"the call must end when the hedge exits, not wait for another attempt (without one it never returns)")
	})
}

// TestTimeoutAbandonGoexitReturnsSuccess guards the bug that a Timeout
// with WithAbandon, whose call runs on a goroutine of its own, turns a call
// that calls runtime.Goexit into a success with the zero value
// (policy/timeout.go, runAbandon: the deferred function recovers nothing,
// closes c.done, and the caller returns c.v, c.err, both zero). The caller
// gets (0, nil) from a call that never returned. Expected: a
// *ion.PanicError, as the pool reports a Goexit on its workers.
func TestTimeoutAbandonGoexitReturnsSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tl := policy.Timeout[int](time.Second, policy.WithAbandon())
		v, err := policy.Run(context.Background(), tl, func(context.Context) (int, error) {
			runtime.Goexit()
			return 1, nil
		})
		var pe *ion.PanicError
		assert.ErrorAs(t, err, &pe, "a call that called runtime.Goexit returned (%d, %v): it did not succeed", v, err)
		assert.Zero(t, tl.Abandoned())
	})
}

// TestPoolCloseReturnsBeforeExpiryReports guards the bug found by
// FuzzPoolOptions: a worker that finds the queued tasks expired on its last
// look at the queue of a closed pool unregisters itself (and, being the
// last, lets Close return) before it reports them (pool/pool.go, Pool.next:
// the p.closed branch calls exitUnlock, and flushExpired runs after it). So
// Close returns nil while the Expired counter already counts tasks whose
// discard handler (or Future, or Policy caller) has not been told yet, and a
// worker goroutine is still running after Close returned, against "once it
// has returned nil, p has none left". Expected: every report is delivered
// before Close returns.
func TestPoolCloseReturnsBeforeExpiryReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reported atomic.Int64
		p := pool.New(1, 1, pool.WithMaxQueueWait(time.Millisecond),
			pool.WithDiscardHandler(func(context.Context, pool.Task, error) {
				time.Sleep(time.Millisecond) // a handler that takes a moment
				reported.Add(1)
			}))
		ctx := context.Background()
		require.NoError(t, p.Submit(ctx, func(context.Context) error { time.Sleep(5 * time.Millisecond); return nil }))
		require.NoError(t, p.Submit(ctx, func(context.Context) error { return nil })) // queued; expires behind the first
		n, err := p.Close(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		m := p.Snapshot()
		assert.Equal(t, uint64(1), m.Expired)
		assert.Equal(t, int64(m.Expired), reported.Load(),
			"Close returned while an expired task's report was still being delivered by an exiting worker")
		time.Sleep(time.Millisecond) // let the late report finish, so that the bubble can end
	})
}
