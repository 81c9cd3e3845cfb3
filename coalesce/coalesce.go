// Package coalesce provides request coalescing as a policy: concurrent calls
// with the same key share one execution, and every caller gets its result.
//
// # Model
//
// A [Group] is a [policy.Policy]. The first call for a key (the leader)
// starts the shared execution; calls with the same key that arrive while it
// runs wait for it and get the same value and error. Once it has finished
// the key is free again: a later call starts a new execution. Results are
// never kept (compose with package cache for that) and never shared across
// keys.
//
// Unlike golang.org/x/sync/singleflight, every caller keeps control of its
// own wait:
//
//   - A caller whose ctx ends gets its ctx error at once, while the shared
//     execution goes on for the others. This holds for the leader too.
//   - The shared execution runs with a ctx of its own that carries the
//     leader's values (trace spans, request ids) but not its cancellation or
//     deadline. It is cancelled when every caller waiting for it has gone,
//     so a shared call that nobody wants any more stops.
//   - A panic in the shared execution reaches every waiter as an
//     *ion.PanicError; it never crashes the process and is never re-panicked
//     on a caller's goroutine (the panic happened on another goroutine).
//
// The shared execution therefore runs on a goroutine of the Group. It can
// outlive the leader's Execute while other callers wait for it, and, when
// the function ignores its ctx, outlive them all; ion_coalesce_running counts
// those goroutines.
//
// That goroutine yields the processor once (runtime.Gosched) before it
// calls the function: the callers of the same key that are already
// runnable, typically a burst of requests woken together, run first and
// join the execution instead of each starting one of their own after it.
// Measured with sixteen callers per core on one key, this shares each
// execution among fifteen to twenty callers where running it at once
// shares it among one to six. The price is that the execution starts one
// scheduling round later: negligible beside the calls worth coalescing (a
// cache fill, a database read), and bounded by the scheduler's fairness.
//
// The value is shared, not copied: callers that get a pointer, slice or map
// share it and must not mutate it.
//
// # Metrics
//
//	ion_coalesce_calls_total{name,result}   counter: result=executed|shared
//	ion_coalesce_running{name}              gauge: shared executions in flight
package coalesce

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Group coalesces concurrent calls with the same key into one execution. It
// is a [policy.Policy]; place it where a duplicate call would be wasted,
// usually outside the layers that guard the dependency (breaker, limiter,
// bulkhead), so the coalesced call counts once against them.
//
// The zero value is not usable: every call returns an error matching
// ion.ErrInvalidConfig; use [New]. A Group is safe for concurrent use by
// multiple goroutines.
type Group[T any] struct {
	key  func(ctx context.Context) string
	name string
	err  error // a configuration error; every call returns it

	mExecuted, mShared observe.Counter // nil without a Metrics sink
	mRunning           observe.Gauge

	// mu guards the fields below.
	mu      sync.Mutex
	calls   map[string]*call[T] // executions in flight by key; an entry is removed when its execution ends or its last waiter leaves
	running int                 // executions whose goroutine has not returned
}

// call is one shared execution.
type call[T any] struct {
	done    chan struct{}      // closed when v and err are set
	v       T                  // written before done is closed
	err     error              // written before done is closed
	cancel  context.CancelFunc // cancels the execution's ctx
	waiters int                // callers waiting; guarded by Group.mu
}

var errZero = ion.NewConfigError("coalesce", "Group", "zero value; use New")

// New returns a Group that coalesces calls by the key that key returns for
// the call's ctx (a request's identity travels in its ctx: a cache key, a
// user id, a URL). Calls with equal keys share an execution; the empty
// string is a key like any other.
//
// New never panics. A nil key, a nil option or a nil sink makes every call
// fail with an error matching ion.ErrInvalidConfig that names it.
func New[T any](key func(ctx context.Context) string, opts ...Option) *Group[T] {
	var c config
	for i, o := range opts {
		if o == nil {
			c.fail(ion.NewConfigError("coalesce", fmt.Sprintf("option %d", i), "nil option"))
			continue
		}
		o.apply(&c)
	}
	if key == nil {
		c.fail(ion.NewConfigError("coalesce", "key", "nil function"))
	}
	g := &Group[T]{key: key, name: c.name, err: c.err}
	if c.metrics != nil && c.err == nil {
		name := observe.L("name", c.name)
		g.mExecuted = c.metrics.Counter("ion_coalesce_calls_total", name, observe.L("result", "executed"))
		g.mShared = c.metrics.Counter("ion_coalesce_calls_total", name, observe.L("result", "shared"))
		g.mRunning = c.metrics.Gauge("ion_coalesce_running", name)
	}
	return g
}

// Err returns the configuration error that makes every call fail, or nil.
func (g *Group[T]) Err() error {
	if g.key == nil && g.err == nil {
		return errZero
	}
	return g.err
}

// String describes the Group for a pipeline's description.
func (g *Group[T]) String() string {
	if err := g.Err(); err != nil {
		return "coalesce(invalid: " + err.Error() + ")"
	}
	if g.name != "" {
		return "coalesce(" + g.name + ")"
	}
	return "coalesce"
}

// Execute runs next once for every set of concurrent calls with the same
// key, and returns its result to each of them.
//
// It blocks until the shared execution ends or ctx ends, whichever is
// first; when ctx ends first it returns ctx.Err() at once and the execution
// goes on for the other callers (it is cancelled when none is left). An
// already-done ctx returns ctx.Err() without joining or starting anything.
// A panic in the execution is returned to every caller as an
// *ion.PanicError.
//
// Cost: a call that joins an execution takes one lock; a call that starts
// one also starts a goroutine and allocates the shared state (about four
// allocations).
func (g *Group[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	if err := g.Err(); err != nil {
		return zero, err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	key := g.key(ctx)

	g.mu.Lock()
	c, joined := g.calls[key]
	if joined {
		c.waiters++
	} else {
		// The execution's ctx keeps the leader's values but not its
		// cancellation: the leader may leave while others still wait.
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[T]{done: make(chan struct{}), cancel: cancel, waiters: 1}
		if g.calls == nil {
			g.calls = make(map[string]*call[T])
		}
		g.calls[key] = c
		g.running++
		running := g.running
		g.mu.Unlock()
		// Owner: the Group. Exit: when next returns (it is cancelled when
		// the last waiter leaves). Join: c.done, which every waiter
		// selects on; nobody waits for a call whose waiters all left.
		go g.run(sctx, key, c, next)
		g.observe(g.mExecuted, running)
		return g.wait(ctx, key, c)
	}
	g.mu.Unlock()
	if g.mShared != nil {
		g.mShared.Add(1)
	}
	return g.wait(ctx, key, c)
}

// wait waits for c or for ctx, whichever ends first.
func (g *Group[T]) wait(ctx context.Context, key string, c *call[T]) (T, error) {
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
	}
	// Leave. The last waiter to leave cancels the execution and frees the
	// key, so a later call starts afresh instead of joining a cancelled
	// execution. The execution may have finished meanwhile: then it has
	// removed its own entry and the cancel is a no-op.
	g.mu.Lock()
	c.waiters--
	last := c.waiters == 0
	if last && g.calls[key] == c {
		delete(g.calls, key)
	}
	g.mu.Unlock()
	if last {
		c.cancel()
	}
	var zero T
	return zero, ctx.Err()
}

// run is the shared execution of c.
func (g *Group[T]) run(ctx context.Context, key string, c *call[T], next policy.Next[T]) {
	returned := false
	defer func() {
		if !returned {
			// A panic, or runtime.Goexit (recover returns nil then).
			if r := recover(); r != nil {
				c.err = ion.NewPanicError(r)
			} else {
				c.err = &ion.PanicError{Value: errGoexit, Stack: debug.Stack()}
			}
		}
		c.cancel()
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.running--
		running := g.running
		g.mu.Unlock()
		close(c.done)
		g.observe(nil, running)
	}()
	// Yield once before starting, so that the callers already runnable on
	// this P (a burst for the same key) join this execution instead of
	// starting their own after it: see the package doc, Model.
	runtime.Gosched()
	c.v, c.err = next.Call(ctx)
	returned = true
}

func (g *Group[T]) observe(ctr observe.Counter, running int) {
	if ctr != nil {
		ctr.Add(1)
	}
	if g.mRunning != nil {
		g.mRunning.Set(float64(running))
	}
}

var errGoexit = fmt.Errorf("coalesce: the shared call called runtime.Goexit")
