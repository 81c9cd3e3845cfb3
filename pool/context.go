package pool

import "context"

// taskContext returns the context a task runs with and the function that
// releases it (nil when there is nothing to release). See the package doc,
// "Task context", for the rules.
//
// The common case, a task submitted with context.Background() (or TODO, or the
// base context itself), runs with the pool's shared run context and costs no
// allocation. Reusing one context object per worker was rejected: a task
// that keeps its ctx after returning (a goroutine it started, a stored
// request) would silently see the values and deadline of later tasks.
func (p *Pool) taskContext(it *item) (context.Context, context.CancelFunc) {
	sub := it.ctx
	if it.attached {
		// A Policy call: it.ctx is already the task ctx, derived from the
		// caller's ctx and cancelled by the caller, with p.marked's values
		// behind the caller's (see adapter.execute); pool cancellation
		// reaches it through the caller too.
		return sub, nil
	}
	if sub == nil || sub == context.TODO() || (p.baseCmp && sub == p.cfg.base) {
		return p.runCtx, nil
	}
	if d, ok := sub.Deadline(); ok {
		ctx, cancel := context.WithDeadline(p.runCtx, d)
		return &valuesContext{Context: ctx, more: sub}, cancel
	}
	return &valuesContext{Context: p.runCtx, more: sub}, nil
}

// valuesContext is the embedded Context (deadline, cancellation, and the
// values of its own chain) with more's values added behind it. Value looks
// in the embedded chain first so that the context package's internal lookups
// (context.Cause, the parent search of WithCancel) find the embedded
// cancellation, never more's: more's cancellation is deliberately not part
// of the task context.
type valuesContext struct {
	context.Context
	more context.Context
}

func (c *valuesContext) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.more.Value(key)
}

func (c *valuesContext) String() string { return "pool.taskContext" }

// ownerKey{p} marks the contexts of p's tasks: p.marked, the base context
// with this value, is the parent of every task ctx (for a Policy call, it is
// the ctx's second source of values). Close, Drain and Wait look it up to
// tell a call from one of p's own tasks, which must not wait for itself.
//
// Go gives goroutines no identity on purpose; parsing runtime.Stack for one
// was the alternative, and was rejected as fragile and slow. The cost of the
// ctx is that a task must pass its own ctx (or one derived from it) to be
// recognised. The key holds p so that a task of one pool calling Close on
// another is told apart.
type ownerKey struct{ p *Pool }

// ownsCtx reports whether ctx is (or is derived from) the ctx of one of p's
// tasks.
func (p *Pool) ownsCtx(ctx context.Context) bool {
	return ctx.Value(ownerKey{p}) != nil
}
