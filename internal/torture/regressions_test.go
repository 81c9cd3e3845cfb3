package torture

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/sem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regressions named after real bugs live in the package each bug concerns:
//
//	golang/go#63615 (done ctx acquires)        sem      TestGolangGo63615DoneCtxFailsWithFreePermits
//	golang/go#37852 (cancelled head blocks)    sem      TestGolangGo37852CancelledHeadWakesFollowers
//	golang/go#34861 (truncation)               limit    TestGolangGo34861NoTruncation
//	golang/go#39984 (overflow, slow rates)     limit    TestGolangGo39984NoOverflowForSlowRates
//	golang/go#71154 (overflow, tiny rates)     limit    TestGolangGo71154TinyRate
//	golang/go#52584 (failed reservation)       limit    TestGolangGo52584FailedReservationChangesNothing
//	sony/gobreaker#37 (listener deadlock)      breaker  TestGobreaker37ListenerCallsBackNoDeadlock
//	failsafe-go bulkhead panic permit leak     sem      TestFailsafeGoBulkheadPanicLeaksPermit
//	failsafe-go#134 (timeout ctx leak)         policy   TestFailsafeGo134TimeoutCtxLeak
//	seed pool: nil task after Close            pool     TestSeedPoolNilTaskAfterClose
//	seed pool: queued tasks lost on Close      pool     TestSeedPoolLostQueuedTasksOnClose
//	seed semaphore: lost wakeups               sem      TestSeedSemaphoreLostWakeup
//	seed multi-tier: non-atomic charging       limit    TestSeedMultiTierNonAtomicCharging
//
// This file adds their cross-package forms: the same bug reached through a
// composed pipeline, where a policy's own test cannot see it. FuzzWaitN and
// FuzzMultiTierRoutes check golang/go#52584's property (a refused request
// changes nothing) for every limiter with arbitrary input.

// TestFailsafeGoBulkheadPanicLeaksPermitComposed guards failsafe-go's
// bulkhead permit leaked by a panic, wherever the bulkhead sits in a
// pipeline and whichever goroutine panics: the caller's (the panic comes
// back up), a hedge's, a pool worker's or an abandoning timeout's (it comes
// back as a *ion.PanicError). Each case panics more times than the
// bulkhead has permits, so one leaked permit per panic would leave it full.
func TestFailsafeGoBulkheadPanicLeaksPermitComposed(t *testing.T) {
	const capacity = 3
	for _, tc := range []struct {
		name    string
		onOwn   bool // the panic happens on an Ion goroutine and becomes a *ion.PanicError
		compose func(bulkhead policy.Policy[int], p *pool.Pool) *policy.Pipeline[int]
	}{
		{"caller's goroutine, inside a retry and a breaker", false, func(b policy.Policy[int], _ *pool.Pool) *policy.Pipeline[int] {
			return policy.Compose(policy.Retry[int](policy.WithBackoff(policy.Constant(0)), policy.WithMaxRetryAfter(time.Minute)),
				breaker.Policy[int](breaker.New("b")), limit.Policy[int](limit.NewTokenBucket(limit.Inf, 0)), b,
				policy.Timeout[int](time.Second))
		}},
		{"caller's goroutine, outside a retry", false, func(b policy.Policy[int], _ *pool.Pool) *policy.Pipeline[int] {
			return policy.Compose(b, policy.Retry[int](policy.WithBackoff(policy.Constant(0))))
		}},
		{"hedge goroutines", true, func(b policy.Policy[int], _ *pool.Pool) *policy.Pipeline[int] {
			return policy.Compose(policy.Hedge[int](0, policy.WithHedges(2)), b)
		}},
		{"pool worker", true, func(b policy.Policy[int], p *pool.Pool) *policy.Pipeline[int] {
			return policy.Compose(pool.Policy[int](p), b)
		}},
		{"abandoning timeout's goroutine", true, func(b policy.Policy[int], _ *pool.Pool) *policy.Pipeline[int] {
			return policy.Compose(policy.Timeout[int](time.Second, policy.WithAbandon()), b)
		}},
		{"bulkhead outside a pool worker", true, func(b policy.Policy[int], p *pool.Pool) *policy.Pipeline[int] {
			return policy.Compose(b, pool.Policy[int](p))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(capacity)
				workers := pool.New(2, 2)
				defer func() { _, _ = workers.Close(context.Background()) }()
				p := tc.compose(sem.Policy[int](s), workers)
				for range 2 * capacity {
					r := run(context.Background(), p, func(context.Context) (int, error) { panic(errPanicked) })
					if tc.onOwn {
						var pe *ion.PanicError
						require.ErrorAs(t, r.err, &pe, "%s: got (%d, %v)", p, r.v, r.err)
						require.Equal(t, any(errPanicked), pe.Value)
					} else {
						require.True(t, r.panicked, "%s: the panic must reach the caller, got (%d, %v)", p, r.v, r.err)
						require.Equal(t, any(errPanicked), r.pv)
					}
					require.Equal(t, int64(capacity), s.Available(), "%s: a panic leaked a permit", p)
				}
				v, err := p.Run(context.Background(), func(context.Context) (int, error) { return 7, nil })
				require.NoError(t, err, "the bulkhead still admits after the panics")
				assert.Equal(t, 7, v)
			})
		})
	}
}

// TestFailsafeGo134TimeoutCtxLeakComposed guards failsafe-go#134 (the
// timeout's child contexts stayed registered under the caller's ctx) when
// the timeout is composed with the policies that derive contexts of their
// own (hedge, pool, retry): after many calls on every path under one
// long-lived parent, no child is left registered under it.
func TestFailsafeGo134TimeoutCtxLeakComposed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		workers := pool.New(2, 4)
		defer func() { _, _ = workers.Close(context.Background()) }()
		parent := newCountingParent()
		var peak atomic.Int64 // children registered while calls run: the check is not vacuous
		for _, p := range []*policy.Pipeline[int]{
			policy.Compose(policy.Retry[int](policy.WithBackoff(policy.Constant(time.Millisecond))), policy.Timeout[int](5*time.Millisecond)),
			policy.Compose(policy.Timeout[int](5*time.Millisecond), policy.Hedge[int](time.Millisecond)),
			policy.Compose(policy.Hedge[int](time.Millisecond), policy.Timeout[int](5*time.Millisecond)),
			policy.Compose(pool.Policy[int](workers), policy.Timeout[int](5*time.Millisecond)),
			policy.Compose(policy.Timeout[int](5*time.Millisecond), pool.Policy[int](workers)),
			policy.Compose(policy.Timeout[int](5*time.Millisecond, policy.WithAbandon()), policy.Retry[int](policy.WithBackoff(policy.Constant(0)))),
		} {
			for i := range 30 {
				run(parent, p, func(ctx context.Context) (int, error) {
					if n := int64(parent.live()); n > peak.Load() {
						peak.Store(n)
					}
					switch i % 4 {
					case 0:
						return 1, nil
					case 1:
						return 0, errInjected
					case 2:
						<-ctx.Done() // until a timeout or a hedge's winner ends it
						return 0, ctx.Err()
					}
					panic(errPanicked)
				})
			}
			time.Sleep(10 * time.Millisecond) // abandoned calls end by themselves
			assert.Zero(t, parent.live(), "%s: contexts stay registered under the caller's ctx", p)
		}
		assert.Positive(t, peak.Load(), "the policies' contexts register under the parent while calls run")
	})
}

// countingParent is a long-lived ctx that counts the children registered
// under it through context.AfterFunc, the way every context.With* child of
// a custom Context registers for its cancellation.
type countingParent struct {
	context.Context
	n    chan int      // a one-slot semaphore holding the count
	done chan struct{} // never closed; made in the bubble, so waiting on it is durably blocking
}

func newCountingParent() *countingParent {
	p := &countingParent{Context: context.Background(), n: make(chan int, 1), done: make(chan struct{})}
	p.n <- 0
	return p
}

func (p *countingParent) add(d int) { p.n <- <-p.n + d }

func (p *countingParent) live() int {
	n := <-p.n
	p.n <- n
	return n
}

// Done returns a channel that is never closed but is not nil, so that
// children derived from p must register to learn of its end.
func (p *countingParent) Done() <-chan struct{} { return p.done }

// AfterFunc is what the context package calls to register a child of a
// Context that is not its own; stop unregisters it.
func (p *countingParent) AfterFunc(f func()) (stop func() bool) {
	p.add(1)
	var stopped atomic.Bool
	return func() bool {
		if !stopped.CompareAndSwap(false, true) {
			return false
		}
		p.add(-1)
		return true
	}
}

// TestSeedMultiTierNonAtomicChargingThroughPolicy guards the seed's
// multi-tier limiter, which charged the tiers one by one and never refunded
// a tier when a later one refused, through limit.Policy and a composed
// pipeline: calls refused by the user tier, retried, leave the global tier
// untouched, so other users are still admitted.
func TestSeedMultiTierNonAtomicChargingThroughPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New(
			httplimit.WithTier(httplimit.Global, limit.PerHour(1), 4),
			httplimit.WithTier(httplimit.Route, limit.Inf, 0),
			httplimit.WithTier(httplimit.Resource, limit.Inf, 0),
			httplimit.WithTier(httplimit.User, limit.PerHour(1), 1),
		)
		type userKey struct{}
		lim := limit.Policy[int](m.By(func(ctx context.Context) httplimit.Request {
			return httplimit.Request{Method: "GET", Path: "/a", UserID: ctx.Value(userKey{}).(string)}
		}))
		p := policy.Compose(policy.Retry[int](policy.WithAttempts(3), policy.WithMaxDuration(time.Second)), lim)
		ok := func(context.Context) (int, error) { return 1, nil }
		greedy := context.WithValue(context.Background(), userKey{}, "greedy")
		_, err := p.Run(greedy, ok)
		require.NoError(t, err, "the first call of the greedy user is admitted")
		for range 5 {
			_, err := p.Run(greedy, ok)
			require.ErrorIs(t, err, limit.ErrLimited, "the user tier refuses the greedy user")
			var le *limit.LimitedError
			require.True(t, errors.As(err, &le))
			assert.Equal(t, "user", le.Tier)
		}
		for _, u := range []string{"a", "b", "c"} {
			_, err := p.Run(context.WithValue(context.Background(), userKey{}, u), ok)
			require.NoError(t, err, "user %s: the refused calls must not have charged the global tier", u)
		}
		_, err = p.Run(context.WithValue(context.Background(), userKey{}, "d"), ok)
		require.ErrorIs(t, err, limit.ErrLimited, "the global tier's 4 are spent, by admitted calls only")
	})
}
