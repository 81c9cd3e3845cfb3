package ionredis

import (
	"context"
	"time"

	"github.com/ionkit/ion/policy"
)

// PolicyOption configures the bulkhead built by [Policy].
type PolicyOption interface {
	applyPolicy(*policyConfig)
}

type policyConfig struct {
	maxWait time.Duration
	err     error
}

type policyOptionFunc func(*policyConfig)

func (f policyOptionFunc) applyPolicy(c *policyConfig) { f(c) }

// WithMaxWait lets a call wait up to d for a permit (see
// [Semaphore.Acquire]) before it is rejected with an error matching
// [ErrFull], ion.ErrRejected and context.DeadlineExceeded. The caller's ctx
// still bounds the wait. d bounds the waiting for a free permit, not a
// round trip: each is bounded by the backend timeout, so a Redis that fails
// or hangs is answered by the failure mode (with WithLocalSemaphore, a
// wait for the local permit up to the same d), never taken for a full
// semaphore. The default 0 does not wait. A negative d makes
// the bulkhead fail closed with an error matching ion.ErrInvalidConfig.
func WithMaxWait(d time.Duration) PolicyOption {
	return policyOptionFunc(func(c *policyConfig) {
		if d < 0 && c.err == nil {
			c.err = configError("WithMaxWait", "must not be negative, got %v", d)
		}
		c.maxWait = d
	})
}

// Policy returns the fleet-wide bulkhead: a policy.Policy that runs each
// call holding a permit of s, so that at most s's capacity calls run at
// once in every replica together. It composes like sem.Policy.
//
// A call that finds no permit is rejected without running: at once by
// default, with a [*FullError] (matching [ErrFull] and ion.ErrRejected);
// with [WithMaxWait] after waiting that long. A Redis failure is handled
// by s's failure mode (a [*BackendError] by default).
//
// The call runs with a ctx that carries the lease's fencing token (see
// [FencingToken]) and that is cancelled, with cause [ErrLeaseLost], if the
// lease is lost while the call runs (Redis unreachable for a whole TTL):
// the permit may then be another's, so the call should stop. The permit is
// released when the call returns, on every path: a panic releases it too
// and continues up the stack.
//
// An already-done ctx fails the call before it asks Redis. A nil s, a
// fail-closed s or an invalid option gives a bulkhead whose every call
// returns an error matching ion.ErrInvalidConfig. Each call costs one round
// trip to acquire (more while waiting) and one to release.
func Policy[T any](s *Semaphore, opts ...PolicyOption) policy.Policy[T] {
	var c policyConfig
	for _, o := range opts {
		if o == nil {
			if c.err == nil {
				c.err = configError("opts", "nil PolicyOption")
			}
			continue
		}
		o.applyPolicy(&c)
	}
	b := &bulkhead[T]{s: s, maxWait: c.maxWait, err: c.err}
	switch {
	case b.err != nil:
	case s == nil:
		b.err = configError("s", "nil *Semaphore")
	case s.err != nil:
		b.err = s.err
	}
	return b
}

type bulkhead[T any] struct {
	s       *Semaphore
	maxWait time.Duration
	err     error
}

type tokenKey struct{}

// FencingToken returns the fencing token of the lease that [Policy] holds
// for the call running with ctx, and false outside such a call or when the
// permit was granted by the failure mode without Redis.
func FencingToken(ctx context.Context) (int64, bool) {
	tok, ok := ctx.Value(tokenKey{}).(int64)
	return tok, ok
}

// Execute implements policy.Policy.
func (b *bulkhead[T]) Execute(ctx context.Context, next policy.Next[T]) (v T, err error) {
	if b.err != nil {
		return v, b.err
	}
	l, err := b.acquire(ctx)
	if err != nil {
		return v, err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	if !l.local {
		cctx = context.WithValue(cctx, tokenKey{}, l.token)
		l.setOnLost(func() { cancel(ErrLeaseLost) })
	}
	// Deferred, so a panic in next releases the permit too (and goes on).
	defer func() {
		cancel(nil)
		_ = l.Release(ctx) // a failed release expires with the TTL
	}()
	return next.Call(cctx)
}

func (b *bulkhead[T]) acquire(ctx context.Context) (*Lease, error) {
	if ctx == nil {
		return nil, errNilCtx
	}
	if b.maxWait == 0 {
		return b.s.TryAcquire(ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b.s.acquireUntil(ctx, time.Now().Add(b.maxWait))
}

// String describes the bulkhead, as in
// "redis-bulkhead(redis-sem(db) capacity 5 ttl 10s, no wait)".
func (b *bulkhead[T]) String() string {
	if b.err != nil {
		return "redis-bulkhead(invalid: " + b.err.Error() + ")"
	}
	w := "no wait"
	if b.maxWait > 0 {
		w = "max wait " + b.maxWait.String()
	}
	return "redis-bulkhead(" + b.s.String() + ", " + w + ")"
}
