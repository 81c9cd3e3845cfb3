package pool

import (
	"context"
	"fmt"

	"github.com/ionkit/ion/policy"
)

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
// an error matching [ErrShed], an error matching ErrClosed if a forced Close discarded it, or one
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
