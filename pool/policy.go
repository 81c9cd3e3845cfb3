package pool

import (
	"context"
	"errors"
	"fmt"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Policy returns the policy that runs each call on a worker of p: next runs
// on a worker with a context derived from the caller's ctx (its values,
// deadline and cancellation), and the caller waits for the result. The call
// is admitted like [Pool.Submit]: while the queue is full the caller blocks
// until there is room, its ctx ends, or p closes ([ErrClosed], a rejection).
//
// When the caller's ctx ends while the call waits in the queue, the call is
// withdrawn (it will never run; counted as discarded) and Execute returns an
// error wrapping ctx.Err(). When it ends while the call runs, Execute cancels
// the call's context and waits for next to return before returning its
// result: next is never used after Execute returns, as the policy.Next
// contract requires, so a call that ignores its context holds the caller. A
// forced Close acts the same way: a queued call reports an error matching
// ErrClosed; a running call's context is cancelled with cause ErrClosed, as a
// task's is, and an error next returns then is wrapped to match ErrClosed
// too (a rejection, which outer policies classify Ignored: a breaker outside
// the pool does not count the pool's shutdown as a failure of the
// dependency). A panic, a result with a nil error, and an error that the
// caller's own cancellation explains are returned unchanged. When the base
// context ends, a running call is cut the same way, with the base context's
// cause. A call made from a task of the same pool waits for a worker
// like any other: with every worker doing so, only the callers' contexts end
// the wait. A panic in next becomes a [*ion.PanicError] returned to the
// caller; it is not re-panicked, because it happened on the worker.
//
// An already-done ctx fails the call without submitting it. A nil p gives a
// policy whose every call returns an error matching ion.ErrInvalidConfig.
// With a Tracer, each execution is one span "pool.execute", ended with the
// outcome ("rejected" for ErrClosed, ErrExpired and ErrShed). Each call allocates its
// result slot and a cancellable context (four allocations) and costs two
// goroutine hand-offs, about 1µs (BenchmarkResult/Policy).
func Policy[T any](p *Pool) policy.Policy[T] {
	return &adapter[T]{p: p}
}

type adapter[T any] struct{ p *Pool }

// Err returns the pool's configuration error (or the nil-pool error), or
// nil, so that policy.Pipeline.Err can report a misconfigured pool at
// startup.
func (a *adapter[T]) Err() error {
	if a.p == nil {
		return errNilPool
	}
	return a.p.Err()
}

// call is one execution of the adapter: next, run on a worker, and its
// result.
type call[T any] struct {
	next policy.Next[T]
	v    T
	err  error         // written before done is closed
	ran  bool          // a worker ran next; written before done is closed
	done chan struct{} // closed by finish
	ctx  valuesContext // the task ctx: the caller's ctx, cancellable, with the pool's marked base context behind it
}

// exec writes c.v once, on the worker, after next (or the task policy) has
// returned, as Future.exec does.
func (c *call[T]) exec(ctx context.Context, pol policy.Policy[any]) (fnPanicked bool, err error) {
	c.ran = true
	if pol == nil {
		c.v, err = c.next.Call(ctx)
		return false, err
	}
	c.v, fnPanicked, err = underPolicy(ctx, pol, c.next.Call)
	return fnPanicked, err
}

func (c *call[T]) finish(err error) {
	c.err = err
	close(c.done)
}

// Execute implements policy.Policy.
func (a *adapter[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	p := a.p
	switch {
	case p == nil:
		return zero, errNilPool
	case ctx == nil:
		return zero, errNilCtx
	case !p.ok:
		return zero, p.Err()
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	var span observe.Span
	if p.cfg.tracer != nil {
		ctx, span = p.cfg.tracer.Start(ctx, "pool.execute")
	}
	v, err := a.execute(ctx, next)
	if span != nil {
		outcome := "rejected"
		if !errors.Is(err, ion.ErrRejected) {
			outcome = next.Classify(ctx, v, err).String()
		}
		span.End(outcome, err)
	}
	return v, err
}

func (a *adapter[T]) execute(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	p := a.p
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &call[T]{next: next, done: make(chan struct{})}
	c.ctx = valuesContext{Context: tctx, more: p.marked} // in c's allocation
	if err := p.submit(ctx, item{ctx: &c.ctx, r: c, attached: true}, true); err != nil {
		return zero, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		if p.withdraw(c) {
			return zero, fmt.Errorf("pool: call withdrawn before it ran: %w", ctx.Err())
		}
		cancel(nil)
		<-c.done // next must not outlive Execute
	case <-p.runCtx.Done():
		// A forced Close (which discards the call if still queued and
		// finishes it) or the base context ended.
		if p.withdraw(c) {
			return zero, fmt.Errorf("pool: base context done before the call ran: %w", context.Cause(p.runCtx))
		}
		return c.cut(ctx, p, cancel)
	}
	return c.v, c.err
}

// cut ends c, which a worker has taken (or which is being reported),
// because the pool's run context ended: a forced Close (cause ErrClosed) or
// the end of the base context. As for a task, it cancels c's ctx with that
// cause, and it waits for next to return. An error next returns after the
// cut is the pool's doing, not the dependency's: it is wrapped to match the
// cause, so that after a forced Close it matches ErrClosed, a rejection that
// outer policies classify Ignored. The error is returned unchanged when next
// returned by itself, when no worker ran next (c was discarded, expired or shed,
// and its error says so), when the caller's ctx ended too (the caller's own
// cancellation), when it matches the cause already, and when next panicked
// (a panic is next's own fault).
func (c *call[T]) cut(ctx context.Context, p *Pool, cancel context.CancelCauseFunc) (T, error) {
	select {
	case <-c.done:
		return c.v, c.err // returned as the run context ended
	default:
	}
	cause := context.Cause(p.runCtx)
	cancel(cause)
	<-c.done // next must not outlive Execute
	var pe *ion.PanicError
	if !c.ran || c.err == nil || ctx.Err() != nil || errors.Is(c.err, cause) || errors.As(c.err, &pe) {
		return c.v, c.err
	}
	return c.v, fmt.Errorf("%w while the call ran: %w", cause, c.err)
}

// String returns the pool's String, such as "pool(payments)".
func (a *adapter[T]) String() string {
	if a.p == nil {
		return "pool(nil)"
	}
	return a.p.String()
}

// withdraw removes the queued call c and reports whether it was still
// queued; if it was not, it has been taken by a worker or reported, and its
// finish will be (or has been) called.
func (p *Pool) withdraw(c runner) bool {
	now := p.lockStamped(false)
	var skip []skipped
	ok := p.queue.removeCall(c)
	if ok {
		p.refillLocked(now)
	} else if ok = p.ready.removeCall(c); ok {
		p.releaseReservationLocked(now, &skip)
	}
	if ok {
		p.discarded++
	}
	queued := p.queue.len() + p.ready.len()
	p.mu.Unlock()
	p.flushSkipped(skip)
	if ok && p.inst != nil {
		p.inst.discarded.Add(1)
		p.gaugeQueued(queued)
	}
	return ok
}
