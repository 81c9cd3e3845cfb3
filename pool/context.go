package pool

import (
	"context"
	"runtime"
)

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
		// caller's ctx and cancelled by the caller; pool cancellation reaches
		// it through the caller too (see policyOf.Execute).
		if p.baseVals {
			return &valuesContext{Context: sub, more: p.cfg.base}, nil
		}
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

// goid returns the id of the calling goroutine, parsed from the first line
// of its stack trace ("goroutine 42 [running]:"). Go deliberately exposes no
// goroutine identity; the pool needs one only to tell whether Close, Drain or
// Wait is being called from one of its own workers, which must not wait for
// itself. The context cannot tell: a task may call Close with any ctx. It
// runs once per worker start and once per Close, Drain or Wait, never per
// task.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	var id uint64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
