package torture

import (
	"context"
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

// rejecter builds, inside a synctest bubble, a policy of another package
// that rejects every call, and returns it with a function that releases
// what it holds.
type rejecter struct {
	name  string
	build func(t *testing.T) (policy.Policy[int], func())
}

var rejecters = []rejecter{
	{"limiter empty", func(*testing.T) (policy.Policy[int], func()) {
		lim := limit.NewTokenBucket(0, 1)
		lim.Allow()
		return limit.Policy[int](lim), func() {}
	}},
	{"limiter wait beyond max wait", func(*testing.T) (policy.Policy[int], func()) {
		lim := limit.NewTokenBucket(limit.Every(time.Hour), 1)
		lim.Allow()
		return limit.Policy[int](lim, limit.WithMaxWait(time.Millisecond)), func() {}
	}},
	{"keyed limiter", func(*testing.T) (policy.Policy[int], func()) {
		lim := limit.NewKeyed[string](limit.Every(time.Hour), 1)
		lim.Allow("tenant")
		return limit.Policy[int](lim.By(func(context.Context) string { return "tenant" })), func() {}
	}},
	{"multi-tier paused", func(*testing.T) (policy.Policy[int], func()) {
		m := httplimit.New()
		m.PauseFor(time.Hour)
		return limit.Policy[int](m.By(func(context.Context) httplimit.Request {
			return httplimit.Request{Method: "GET", Path: "/users/42", UserID: "u"}
		})), func() {}
	}},
	{"bulkhead full", func(t *testing.T) (policy.Policy[int], func()) {
		s := sem.NewWeighted(1)
		s.TryAcquire(1)
		return sem.Policy[int](s), func() { require.NoError(t, s.Release(1)) }
	}},
	{"bulkhead full after its max wait", func(t *testing.T) (policy.Policy[int], func()) {
		s := sem.NewWeighted(2)
		s.TryAcquire(2)
		return sem.Policy[int](s, sem.WithMaxWait(time.Millisecond)), func() { require.NoError(t, s.Release(2)) }
	}},
	{"pool closed", func(*testing.T) (policy.Policy[int], func()) {
		p := pool.New(1, 1)
		_, _ = p.Close(context.Background())
		return pool.Policy[int](p), func() {}
	}},
	{"pool queue wait expired", func(t *testing.T) (policy.Policy[int], func()) {
		p := pool.New(1, 1, pool.WithMaxQueueWait(time.Millisecond))
		inner := pool.Policy[int](p)
		// Each call first occupies the only worker for 2ms, so that the
		// call waits in the queue past its 1ms limit. Concurrent calls (a
		// hedge's) take turns, through a channel so that a waiting turn is
		// durably blocked in the bubble.
		turn := make(chan struct{}, 1)
		busy := policy.New("busy worker", func(ctx context.Context, next policy.Next[int]) (int, error) {
			turn <- struct{}{}
			defer func() { <-turn }()
			require.NoError(t, p.Submit(ctx, func(context.Context) error { time.Sleep(2 * time.Millisecond); return nil }))
			return inner.Execute(ctx, next)
		})
		return busy, func() { _, _ = p.Close(context.Background()) }
	}},
	{"inner breaker open", func(*testing.T) (policy.Policy[int], func()) {
		cb := breaker.New("inner", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Hour))
		tk, _ := cb.Allow()
		tk.Done(policy.Failure)
		return breaker.Policy[int](cb), func() {}
	}},
	{"inner breaker forced open", func(*testing.T) (policy.Policy[int], func()) {
		cb := breaker.New("inner")
		cb.Trip()
		return breaker.Policy[int](cb), func() {}
	}},
	{"inner breaker half-open busy", func(*testing.T) (policy.Policy[int], func()) {
		cb := breaker.New("inner", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Millisecond),
			breaker.WithHalfOpenMaxCalls(1), breaker.WithSuccessThreshold(1))
		tk, _ := cb.Allow()
		tk.Done(policy.Failure)
		time.Sleep(time.Millisecond)
		probe, err := cb.Allow() // holds the only probe slot
		if err != nil {
			panic(err)
		}
		return breaker.Policy[int](cb), func() { probe.Done(policy.Ignored) }
	}},
}

// wrapper is what sits between the outer breaker and the rejecting policy.
type wrapper struct {
	name string
	wrap func(x policy.Policy[int]) []policy.Policy[int]
}

var wrappers = []wrapper{
	{"directly", func(x policy.Policy[int]) []policy.Policy[int] { return []policy.Policy[int]{x} }},
	{"through a retry", func(x policy.Policy[int]) []policy.Policy[int] {
		return []policy.Policy[int]{policy.Retry[int](policy.WithAttempts(3),
			policy.WithBackoff(policy.Constant(time.Millisecond)), policy.WithMaxDuration(10*time.Millisecond)), x}
	}},
	{"through a timeout", func(x policy.Policy[int]) []policy.Policy[int] {
		return []policy.Policy[int]{policy.Timeout[int](time.Second), x}
	}},
	{"through a hedge", func(x policy.Policy[int]) []policy.Policy[int] {
		return []policy.Policy[int]{policy.Hedge[int](0), x}
	}},
	{"through a nested pipeline", func(x policy.Policy[int]) []policy.Policy[int] {
		return []policy.Policy[int]{policy.Compose(policy.Timeout[int](time.Second), x)}
	}},
}

// TestBreakerIgnoresInnerRejections checks, across packages, the reason for
// the recommended order: a breaker composed outside a limiter, a bulkhead, a
// pool or another breaker never trips on their rejections, however they reach
// it (directly, wrapped by a retry's error, through a timeout, a hedge or a
// nested pipeline, or from a pool's worker), because policy.Next.Classify
// calls an error matching ion.ErrRejected Ignored. The dependency is never
// called, and the outer breaker counts each call as ignored.
func TestBreakerIgnoresInnerRejections(t *testing.T) {
	const calls = 5
	for _, wr := range wrappers {
		for _, rj := range rejecters {
			t.Run(wr.name+"/"+rj.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					x, release := rj.build(t)
					defer release()
					cb := breaker.New("outer", breaker.WithConsecutiveFailures(1))
					p := policy.Compose(append([]policy.Policy[int]{breaker.Policy[int](cb)}, wr.wrap(x)...)...)
					var called atomic.Int64
					for range calls {
						_, err := p.Run(context.Background(), func(context.Context) (int, error) {
							called.Add(1)
							return 0, errInjected
						})
						require.ErrorIs(t, err, ion.ErrRejected, "%s: every call is rejected", p)
						require.Equal(t, breaker.Closed, cb.State(), "%s: the outer breaker tripped on a rejection: %v", p, err)
					}
					assert.Zero(t, called.Load(), "a rejected call never reaches the dependency")
					s := cb.Snapshot()
					assert.Equal(t, int64(calls), s.Ignored, "%s: each rejection is ignored by the outer breaker", p)
					assert.Zero(t, s.Failures+s.Successes+s.Rejected)
				})
			})
		}
		// The control: the same wrapper does pass a real failure on, so the
		// breaker trips after one, and the rows above are not vacuous.
		t.Run(wr.name+"/control", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cb := breaker.New("outer", breaker.WithConsecutiveFailures(1))
				pass := policy.New("pass", func(ctx context.Context, next policy.Next[int]) (int, error) { return next.Call(ctx) })
				p := policy.Compose(append([]policy.Policy[int]{breaker.Policy[int](cb)}, wr.wrap(pass)...)...)
				_, err := p.Run(context.Background(), func(context.Context) (int, error) { return 0, errInjected })
				require.ErrorIs(t, err, errInjected)
				assert.Equal(t, breaker.Open, cb.State(), "%s: a failure of the dependency trips the breaker", p)
			})
		})
	}
}

// TestBreakerIgnoresInnerRejectionsFromAWorker puts the rejecting policies
// on a pool's worker, between the outer breaker and the dependency: the
// rejection travels back through pool.Policy and is still ignored.
func TestBreakerIgnoresInnerRejectionsFromAWorker(t *testing.T) {
	for _, rj := range rejecters {
		if rj.name == "pool queue wait expired" {
			continue // it would submit to its own pool from the worker
		}
		t.Run(rj.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				x, release := rj.build(t)
				defer release()
				workers := pool.New(2, 2)
				defer func() { _, _ = workers.Close(context.Background()) }()
				cb := breaker.New("outer", breaker.WithConsecutiveFailures(1))
				p := policy.Compose(breaker.Policy[int](cb), pool.Policy[int](workers), x)
				for range 3 {
					_, err := p.Run(context.Background(), func(context.Context) (int, error) { return 0, errInjected })
					require.ErrorIs(t, err, ion.ErrRejected)
				}
				assert.Equal(t, breaker.Closed, cb.State())
				assert.Equal(t, int64(3), cb.Snapshot().Ignored)
				synctest.Wait() // the worker accounts a call after handing its result over
				assert.Equal(t, uint64(3), workers.Snapshot().Failed, "the worker saw the rejection as the call's error")
			})
		})
	}
}
