package sem

import (
	"context"
	"strconv"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/spans"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// PolicyOption configures the bulkhead built by [Policy].
type PolicyOption interface {
	applyPolicy(*policyConfig)
}

type policyConfig struct {
	weight  int64
	maxWait time.Duration
	err     error
}

type policyOptionFunc func(*policyConfig)

func (f policyOptionFunc) applyPolicy(c *policyConfig) { f(c) }

// WithWeight sets the permits each call holds while it runs; the default is
// 1. A weight below 1 or above the semaphore's capacity makes the bulkhead
// fail closed with an error matching ion.ErrInvalidConfig. If a
// [Weighted.SetCapacity] later puts the capacity below the weight, calls
// that find no permit fail with [ErrWeightExceedsCapacity] until it grows
// back.
func WithWeight(n int64) PolicyOption {
	return policyOptionFunc(func(c *policyConfig) { c.weight = n })
}

// WithMaxWait lets a call wait up to d for its permits, in the semaphore's
// queue and under its [Fairness], before it is rejected with an error
// matching [ErrFull], ion.ErrRejected and context.DeadlineExceeded. The
// caller's ctx still bounds the wait. The default 0 does not wait: a call
// that cannot be served at once is rejected with [ErrFull] (see [Policy]). A
// negative d makes the bulkhead fail closed with an error matching
// ion.ErrInvalidConfig.
func WithMaxWait(d time.Duration) PolicyOption {
	return policyOptionFunc(func(c *policyConfig) {
		if d < 0 && c.err == nil {
			c.err = ion.NewConfigError("sem", "WithMaxWait", "must not be negative, got %v", d)
		}
		c.maxWait = d
	})
}

// Policy returns the bulkhead: a [policy.Policy] that bounds the calls
// running through it (and through every other policy or caller sharing s)
// by the semaphore's capacity, each call holding the permits of its weight
// ([WithWeight], default 1) while it runs.
//
// A call that finds no permit is rejected without running: by default at
// once, with [ErrFull], because a bulkhead's job is to shed load, not to
// queue it (queueing there would only move the overload into waiting
// goroutines); with [WithMaxWait] after waiting up to that long, with an
// error matching ErrFull and context.DeadlineExceeded, or earlier, shed by
// the semaphore's [WithCoDel], with an error matching [ErrShed]. All match
// ion.ErrRejected. The max wait replaces the semaphore's
// [WithAcquireTimeout]. Under FIFO a call never takes permits ahead of
// callers already waiting, even with no wait of its own.
//
// An already-done ctx fails the call before it takes a permit, with an error
// wrapping ctx.Err(); so does a ctx that ends while the call waits. The
// permits are released when the call returns, on every path: a panic in the
// call releases them too (and is recorded as a failure on the span) before
// it continues up the stack, never swallowed. With a Tracer ([WithTracer]
// on s) each call gets one span, ended with "success", "failure", "ignored"
// or "rejected".
//
// A nil s, a fail-closed or zero s, or an invalid option gives a bulkhead
// whose every call returns an error matching ion.ErrInvalidConfig without
// running. A call served at once adds no allocation; the bulkhead's String
// describes it, as in "bulkhead(db, capacity 10, FIFO, weight 1, no wait)";
// the span name is that description as the bulkhead was built.
func Policy[T any](s *Weighted, opts ...PolicyOption) policy.Policy[T] {
	c := policyConfig{weight: 1}
	for i, o := range opts {
		if o == nil {
			if c.err == nil {
				c.err = ion.NewConfigError("sem", "opts", "nil PolicyOption at position %d", i)
			}
			continue
		}
		o.applyPolicy(&c)
	}
	b := &bulkhead[T]{s: s, weight: c.weight, maxWait: c.maxWait, err: c.err}
	switch {
	case s == nil:
		b.err = ion.NewConfigError("sem", "Policy", "nil *Weighted")
	case s.Err() != nil: // fail closed, or a zero Weighted
		b.err = s.Err()
	case b.err != nil:
	case c.weight < 1 || c.weight > s.Capacity():
		b.err = ion.NewConfigError("sem", "WithWeight", "must be in 1..%d (the capacity), got %d", s.Capacity(), c.weight)
	}
	if b.err == nil {
		// Read before describing: a change in between makes String
		// describe afresh, never miss it.
		b.descCap, b.descGen = s.Capacity(), s.reconfigs.Load()
	}
	b.desc = b.describe()
	return b
}

// bulkhead is the policy returned by Policy.
type bulkhead[T any] struct {
	s       *Weighted
	weight  int64
	maxWait time.Duration
	desc    string // String and the span name, built once
	descCap int64  // the capacity desc names
	descGen uint64 // the count of Reconfigures of s that desc follows
	err     error  // non-nil: every call returns it
}

// Err returns the configuration error that makes every call fail, or nil,
// so that policy.Pipeline.Err can report a misconfigured bulkhead at
// startup.
func (b *bulkhead[T]) Err() error { return b.err }

// Execute implements policy.Policy.
func (b *bulkhead[T]) Execute(ctx context.Context, next policy.Next[T]) (v T, err error) {
	if b.err != nil {
		return v, b.err
	}
	if ctx == nil {
		return v, errNilCtx
	}
	s := b.s
	var span observe.Span
	if s.tracer != nil {
		ctx, span = s.tracer.Start(ctx, b.desc)
	}
	if err = b.acquire(ctx); err != nil {
		if span != nil {
			outcome := "rejected" // full, shed, or too heavy for a shrunk capacity
			if _, isCtx := err.(*ctxError); isCtx {
				outcome = policy.Ignored.String() // the caller's own ctx ended
			}
			span.End(outcome, err)
		}
		return v, err
	}

	// The deferred release runs on every path. Without it a panic in next
	// would leak the permits for good (failsafe-go's bulkhead does). A
	// panic or runtime.Goexit goes on unchanged; with a span, the panic is
	// recorded on it first.
	returned := false
	defer func() {
		// The bulkhead releases exactly what it acquired, so an
		// over-release here can only report someone else's double release;
		// the semaphore has logged and counted it, and the call's own
		// result is what the caller needs.
		_ = s.Release(b.weight)
	}()
	if span != nil {
		defer spans.EndIfPanicked(span, &returned)
	}
	v, err = next.Call(ctx)
	returned = true
	if span != nil {
		span.End(next.Classify(ctx, v, err).String(), err)
	}
	return v, err
}

// acquire takes the call's permits or returns why it cannot.
func (b *bulkhead[T]) acquire(ctx context.Context) error {
	s := b.s
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return s.fail(ctxErr(ctx), resCanceled)
		default:
		}
	}
	if s.tryTake(b.weight, true) {
		return nil
	}
	if b.maxWait == 0 {
		if b.weight > s.capacity.Load() { // a SetCapacity shrank it below the weight
			return s.fail(ErrWeightExceedsCapacity, resInvalid)
		}
		return s.fail(ErrFull, resRejected)
	}
	return s.wait(ctx, done, b.weight, b.maxWait)
}

// String describes the bulkhead, as in
// "bulkhead(db, capacity 10, FIFO, weight 1, no wait)", with the
// semaphore's current capacity and queue settings.
func (b *bulkhead[T]) String() string {
	if b.err == nil && (b.s.Capacity() != b.descCap || b.s.reconfigs.Load() != b.descGen) {
		return b.describe() // SetCapacity or Reconfigure changed s since Policy
	}
	return b.desc
}

func (b *bulkhead[T]) describe() string {
	if b.err != nil {
		return "bulkhead(invalid: " + b.err.Error() + ")"
	}
	d := "bulkhead("
	if b.s.name != "" {
		d += b.s.name + ", "
	}
	d += "capacity " + strconv.FormatInt(b.s.Capacity(), 10) + ", " + b.s.describeQueue()
	d += ", weight " + strconv.FormatInt(b.weight, 10)
	if b.maxWait > 0 {
		d += ", max wait " + b.maxWait.String()
	} else {
		d += ", no wait"
	}
	return d + ")"
}

// describeQueue describes the queue settings in force, as in
// "FIFO, adaptive LIFO from 4, CoDel 5ms/100ms". It takes s.mu briefly.
func (s *Weighted) describeQueue() string {
	s.mu.Lock()
	f, lifoAt, target, interval := s.fairness, s.lifoAt, s.codel.Target, s.codel.Interval
	s.mu.Unlock()
	d := f.String()
	if lifoAt > 0 {
		d += ", adaptive LIFO from " + strconv.Itoa(lifoAt)
	}
	if target > 0 {
		d += ", CoDel " + target.String() + "/" + interval.String()
	}
	return d
}
