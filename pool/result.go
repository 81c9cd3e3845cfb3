package pool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

var errNilPool = ion.NewConfigError("pool", "p", "nil pool")

// runner is an accepted task: a [Task], a [Future] of Go or a call of the
// Policy adapter. The pool calls finish exactly once per accepted runner:
// after exec, or instead of it when the call expires or is discarded.
type runner interface {
	// exec runs the call once on the worker with ctx, under pol when pol is
	// not nil, and keeps its value for finish. It reports whether the
	// function it handed to pol panicked (pol may have recovered the panic
	// on a goroutine of its own and returned it as an error).
	exec(ctx context.Context, pol policy.Policy[any]) (fnPanicked bool, err error)
	// finish reports the call's final error; it is called last.
	finish(err error)
}

// errTaskPolicyType is returned when the task policy replaces a call's
// value with one of another type (a Fallback of the wrong type).
var errTaskPolicyType = ion.NewConfigError("pool", "WithTaskPolicy", "the task policy returned a value of another type than the call's")

// underPolicy runs fn under pol and returns the value and error that pol
// returns. The function handed to pol only returns fn's result: it writes
// nothing the caller reads except, once fn has panicked, the fact (a policy
// such as Hedge or an abandoning Timeout recovers the panic on its own
// goroutine). So a policy that runs fn several times (Hedge, Retry) or lets
// it outlive the call (Timeout with WithAbandon) cannot change the result
// after pol has returned it: the winner's value goes with the winner's
// error.
func underPolicy[T any](ctx context.Context, pol policy.Policy[any], fn policy.Func[T]) (v T, fnPanicked bool, err error) {
	var panicked atomic.Bool
	r, err := policy.Run(ctx, pol, func(ctx context.Context) (any, error) {
		returned := false
		defer func() {
			if !returned {
				panicked.Store(true)
			}
		}()
		v, err := fn(ctx)
		returned = true
		return v, err
	})
	if r != nil {
		var ok bool
		if v, ok = r.(T); !ok && err == nil {
			err = errTaskPolicyType
		}
	}
	return v, panicked.Load(), err
}

// Future is the result of a call started by [Go]: it becomes ready when the
// call has returned on a worker, or will never run.
type Future[T any] struct {
	fn   policy.Func[T]
	v    T
	err  error         // written before done is closed
	done chan struct{} // closed by finish
}

// Go runs fn on a worker of p and returns a [Future] for its result. It
// admits fn like [Pool.Submit]: it blocks while the queue is full until there
// is room, ctx ends (an error wrapping ctx.Err()) or p closes ([ErrClosed]),
// and fn's context carries ctx's values and deadline but not its
// cancellation. Once Go has returned a Future, the Future always becomes
// ready: with fn's result, a [*ion.PanicError] if fn panicked, [ErrExpired],
// an error matching ErrClosed if a forced Close discarded it, or one
// matching [ErrNotStarted] if its ctx (which carries ctx's deadline) was done
// when a worker took it.
//
// A nil p, fn or ctx returns an error matching ion.ErrInvalidConfig (for fn,
// [ErrNilTask]). Go allocates the Future (two allocations).
func Go[T any](ctx context.Context, p *Pool, fn policy.Func[T]) (*Future[T], error) {
	switch {
	case p == nil:
		return nil, errNilPool
	case fn == nil:
		return nil, ErrNilTask
	case ctx == nil:
		return nil, errNilCtx
	case !p.ok:
		return nil, p.Err()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pool: submit: %w", err)
	}
	f := &Future[T]{fn: fn, done: make(chan struct{})}
	if err := p.submit(ctx, item{ctx: ctx, r: f}, true); err != nil {
		return nil, err
	}
	return f, nil
}

// exec writes f.v once, on the worker, after fn (or the task policy) has
// returned: never from inside the function handed to the task policy.
func (f *Future[T]) exec(ctx context.Context, pol policy.Policy[any]) (fnPanicked bool, err error) {
	if pol == nil {
		f.v, err = f.fn(ctx)
		return false, err
	}
	f.v, fnPanicked, err = underPolicy(ctx, pol, f.fn)
	return fnPanicked, err
}

func (f *Future[T]) finish(err error) {
	f.err = err
	close(f.done)
}

// errZeroFuture is the result of a Future not returned by Go.
var errZeroFuture = ion.NewConfigError("pool", "Future", "zero value: use Go")

// closed is a closed channel: the Done of a zero Future.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done returns a channel that is closed when the result is ready. The zero
// Future is ready at once with an error matching ion.ErrInvalidConfig.
func (f *Future[T]) Done() <-chan struct{} {
	if f.done == nil {
		return closed
	}
	return f.done
}

// Wait blocks until the result is ready and returns it, or until ctx ends,
// returning an error wrapping ctx.Err(); the call itself is not affected by
// ctx. A ready result is returned even if ctx is done. Wait may be called any
// number of times, from any goroutine.
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	var zero T
	switch {
	case f.done == nil:
		return zero, errZeroFuture
	case ctx == nil:
		return zero, errNilCtx
	}
	select {
	case <-f.done:
		return f.v, f.err
	default:
	}
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		return zero, fmt.Errorf("pool: wait for result: %w", ctx.Err())
	}
}

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
// outcome ("rejected" for ErrClosed and ErrExpired). Each call allocates its
// result slot and a cancellable context (four allocations) and costs two
// goroutine hand-offs, about 1µs (BenchmarkResult/Policy).
func Policy[T any](p *Pool) policy.Policy[T] {
	return &adapter[T]{p: p}
}

type adapter[T any] struct{ p *Pool }

// call is one execution of the adapter: next, run on a worker, and its
// result.
type call[T any] struct {
	next policy.Next[T]
	v    T
	err  error         // written before done is closed
	ran  bool          // a worker ran next; written before done is closed
	done chan struct{} // closed by finish
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
	if err := p.submit(ctx, item{ctx: tctx, r: c, attached: true}, true); err != nil {
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
// returned by itself, when no worker ran next (c was discarded or expired,
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
	var now int64
	if p.stamp {
		now = p.now()
	}
	p.mu.Lock()
	var expired []item
	ok := p.queue.removeCall(c)
	if ok {
		p.refillLocked(now)
	} else if ok = p.ready.removeCall(c); ok {
		p.releaseReservationLocked(now, &expired)
	}
	if ok {
		p.discarded++
	}
	queued := p.queue.len() + p.ready.len()
	p.mu.Unlock()
	p.flushExpired(expired)
	if ok && p.inst != nil {
		p.inst.discarded.Add(1)
		p.gaugeQueued(queued)
	}
	return ok
}
