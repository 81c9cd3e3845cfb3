package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// Group runs a set of calls on a [Pool] and collects their results: at most
// a limit of them at once ([Group.SetLimit]), typed results in the order the
// calls were made, and the first error cancels the rest. It is
// golang.org/x/sync/errgroup's Group with SetLimit, and sourcegraph/conc's
// ResultPool, on the pool's workers: no goroutine is started per call, a
// panic becomes a [*ion.PanicError] error instead of crashing the process,
// and each call can run through a pipeline ([Group.SetPolicy]).
//
// Make a Group with [NewGroup], set its limit and policy, call [Group.Go]
// once per call and [Group.Wait] once at the end. Every call runs with the
// Group's ctx (which NewGroup returns too), cancelled by the first error,
// by Wait, by the end of NewGroup's ctx and by a forced Close of the pool;
// it carries the pool's base context's values behind its own. A call whose
// ctx is done before it starts is not run (see [ErrNotStarted]).
//
// The zero Group fails closed: Wait returns an error matching
// ion.ErrInvalidConfig that says to use NewGroup, and no call runs. A Group
// is safe for concurrent use by multiple goroutines; Go must not be called
// after Wait has begun.
type Group[T any] struct {
	p      *Pool
	ctx    context.Context         // the calls' ctx, cancelled by the first error and by Wait
	tctx   *valuesContext          // ctx with the pool's marked base context behind it: the task ctx of every call
	cancel context.CancelCauseFunc // cancels ctx
	stop   func() bool             // stops the propagation of the pool's run context to ctx
	wg     sync.WaitGroup          // counts calls made and not finished

	// mu guards the fields below.
	mu     sync.Mutex
	err    error            // the first error: a call's, or the configuration's
	sem    chan struct{}    // holds a token per call in flight; nil without a limit; set before the first Go
	pol    policy.Policy[T] // each call runs through it when not nil; set before the first Go
	calls  []*groupCall[T]  // every call made, in order
	waited bool             // Wait has begun
}

// groupCall is one call of a Group: a runner whose result is kept for Wait.
type groupCall[T any] struct {
	g   *Group[T]
	fn  policy.Func[T]
	pol policy.Policy[T]
	sem chan struct{}
	v   T     // written by exec on the worker, before finish
	err error // written by finish
}

// NewGroup returns a Group that runs its calls on p, and the ctx its calls
// run with: derived from ctx, it is cancelled (with the error as its cause)
// when a call first returns an error, when Wait returns, and when p's base
// context ends or a forced Close cancels p's tasks.
//
// A nil ctx or p, or a p that fails closed, gives a Group that fails
// closed: Wait returns the error (matching ion.ErrInvalidConfig), no call
// runs, and the ctx returned is already cancelled with the error as its
// cause. NewGroup starts no goroutine.
func NewGroup[T any](ctx context.Context, p *Pool) (*Group[T], context.Context) {
	var err error
	switch {
	case ctx == nil:
		err = errNilCtx
	case p == nil:
		err = errNilPool
	default:
		err = p.Err()
	}
	if err != nil {
		dead, cancel := context.WithCancelCause(context.Background())
		cancel(err)
		return &Group[T]{err: err}, dead
	}
	g := &Group[T]{p: p}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.tctx = &valuesContext{Context: g.ctx, more: p.marked}
	// The calls run with g.ctx, not with a ctx of p's, so p's own
	// cancellation reaches them through this (as for Policy calls, whose
	// callers watch it). AfterFunc starts no goroutine unless p.runCtx ends.
	g.stop = context.AfterFunc(p.runCtx, func() { g.cancel(context.Cause(p.runCtx)) })
	return g, g.ctx
}

// SetLimit limits the number of calls in flight (queued on the pool or
// running) to n: Go blocks while n calls are in flight. A negative n means
// no limit but the pool's own (its size and queue). It must be called before
// the first Go. An n of 0, or a call after the first Go, returns an error
// matching ion.ErrInvalidConfig and changes nothing.
func (g *Group[T]) SetLimit(n int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.p == nil:
		return g.configErr()
	case n == 0:
		return ion.NewConfigError("pool", "SetLimit", "a limit of 0 would run nothing; use a negative n for no limit")
	case g.calls != nil:
		return ion.NewConfigError("pool", "SetLimit", "called after the first Go")
	case n < 0:
		g.sem = nil
	default:
		g.sem = make(chan struct{}, n)
	}
	return nil
}

// SetPolicy makes every call run through pol, on the worker, inside the
// pool's own task policy if it has one: a retry, a per-call timeout, a
// breaker or a limiter shared with other code. It must be called before the
// first Go. A nil pol, or a call after the first Go, returns an error
// matching ion.ErrInvalidConfig and changes nothing.
func (g *Group[T]) SetPolicy(pol policy.Policy[T]) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.p == nil:
		return g.configErr()
	case pol == nil:
		return ion.NewConfigError("pool", "SetPolicy", "nil policy")
	case g.calls != nil:
		return ion.NewConfigError("pool", "SetPolicy", "called after the first Go")
	}
	g.pol = pol
	return nil
}

// Go runs fn on a worker of the pool, with the Group's ctx. It blocks while
// the Group's limit of calls are in flight, and while the pool's queue is
// full, until there is room or the Group's ctx ends. Go does not return an
// error: a call that cannot be run (the Group's ctx has ended, the pool is
// closed or fails closed, fn is nil) is recorded with its error as the
// call's result, and Wait reports the first error. fn's result is kept for
// Wait; its error, a panic (as a [*ion.PanicError]) or a runtime.Goexit
// cancels the Group's ctx if it is the first.
//
// Go called after Wait has begun runs nothing: the call is recorded with an
// error matching ion.ErrInvalidConfig, which a later Wait reports. A call
// made from a call of the same Group can deadlock when the limit is
// reached, as with errgroup; use a Group per level of nesting. Go allocates
// the call's state (one allocation, plus the policy's).
func (g *Group[T]) Go(fn policy.Func[T]) {
	c := &groupCall[T]{g: g, fn: fn}
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make([]*groupCall[T], 0, 8)
	}
	g.calls = append(g.calls, c)
	if g.waited {
		// Not run, and recorded without the WaitGroup (which Wait may be
		// waiting on with a count of 0): a later Wait reports it.
		c.err = errGoAfterWait
		if g.err == nil {
			g.err = errGoAfterWait
		}
		g.mu.Unlock()
		return
	}
	c.sem, c.pol = g.sem, g.pol
	cfgErr := g.configErr()
	g.wg.Add(1)
	g.mu.Unlock()

	switch {
	case g.p == nil:
		c.finish(cfgErr)
		return
	case fn == nil:
		c.finish(ErrNilTask)
		return
	}
	if c.sem != nil {
		select {
		case c.sem <- struct{}{}:
		case <-g.ctx.Done():
			c.sem = nil // no token taken
			c.finish(notRun(g.ctx))
			return
		}
	}
	if err := g.ctx.Err(); err != nil {
		c.finish(notRun(g.ctx))
		return
	}
	if err := g.p.submit(g.ctx, item{ctx: g.tctx, r: c, attached: true}, true); err != nil {
		c.finish(err)
	}
}

// Wait blocks until every call made by Go has returned or has been reported
// as not run, cancels the Group's ctx, and returns the results of the calls,
// one per Go in the order Go was called (a call that did not run, or whose
// result was discarded by the first error, holds what it returned, or T's
// zero value), and the first error: a call's error, unchanged, a
// [*ion.PanicError], or an error wrapping the Group's ctx's (matching
// [ErrNotStarted]) or the pool's (ErrClosed). A call that failed after the
// Group's ctx had ended for another reason is reported with that reason
// (the ctx's cause) wrapped in too. Wait may be called more than
// once and returns the same each time.
func (g *Group[T]) Wait() ([]T, error) {
	g.mu.Lock()
	g.waited = true
	g.mu.Unlock()
	g.wg.Wait()
	if g.cancel != nil {
		g.cancel(context.Canceled)
		g.stop()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.p == nil && g.err == nil {
		return nil, errZeroGroup
	}
	out := make([]T, len(g.calls))
	for i, c := range g.calls {
		out[i] = c.v
	}
	return out, g.err
}

// configErr returns the error of a Group that fails closed. Must be called
// with g.mu held.
func (g *Group[T]) configErr() error {
	if g.err != nil {
		return g.err
	}
	return errZeroGroup
}

// fail records err as the Group's error if it is the first, and cancels the
// Group's ctx with it as the cause. A call that failed because the Group's
// ctx had already ended (its parent, or the pool's forced Close) is
// recorded with the ctx's cause too, so that the first error says why.
func (g *Group[T]) fail(err error) {
	if g.ctx != nil && g.ctx.Err() != nil {
		if cause := context.Cause(g.ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", err, cause)
		}
	}
	g.mu.Lock()
	first := g.err == nil
	if first {
		g.err = err
	}
	g.mu.Unlock()
	if first && g.cancel != nil {
		g.cancel(err)
	}
}

// exec runs the call on the worker, through the Group's policy if any and
// inside the pool's task policy if any, and keeps its value for Wait. As
// for Go's Future, c.v is written once, after everything has returned.
func (c *groupCall[T]) exec(ctx context.Context, pol policy.Policy[any]) (fnPanicked bool, err error) {
	fn := c.fn
	if c.pol != nil {
		gpol, inner := c.pol, c.fn
		fn = func(ctx context.Context) (T, error) { return policy.Run(ctx, gpol, inner) }
	}
	if pol == nil {
		c.v, err = fn(ctx)
		return false, err
	}
	c.v, fnPanicked, err = underPolicy(ctx, pol, fn)
	return fnPanicked, err
}

// finish records the call's error, frees its place under the limit and
// counts it done. The pool calls it once per accepted call; Go calls it for
// a call it could not submit.
func (c *groupCall[T]) finish(err error) {
	c.err = err
	g := c.g
	if err != nil {
		g.fail(err)
	}
	if c.sem != nil {
		<-c.sem
	}
	g.wg.Done()
}
