package breaker

import (
	"context"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/spans"
	"github.com/ionkit/ion/policy"
)

// Policy returns the [policy.Policy] that runs calls through b: it asks b
// for permission, runs the rest of the pipeline on the caller's goroutine,
// and reports the outcome as classified by the pipeline ([policy.Next.Classify]).
// Classify on the result as well as the error by installing a classifier on
// the pipeline:
//
//	p := policy.Compose(breaker.Policy[*http.Response](cb)).WithClassifier(is5xx)
//
// The caller's own cancellation is Ignored: it neither counts as a failure
// nor keeps a half-open probe slot. A rejected call returns the breaker's
// rejection (see [Breaker.Allow]) without calling next; an already-done ctx
// returns ctx.Err() without asking the breaker. A panic in next, or in the
// pipeline's classifier, is recorded as a Failure, frees the probe slot and
// propagates unchanged.
//
// In the closed state with the consecutive-failure rule and no sinks, a
// success through policy.Run adds no allocation and no clock read. With a
// tracer, each execution is one span named "breaker(<name>)". A nil b, or a
// zero Breaker, gives a policy whose every call returns an error matching
// ion.ErrInvalidConfig.
func Policy[T any](b *Breaker) policy.Policy[T] { return breakerPolicy[T]{b: b} }

// breakerPolicy is one pointer, so converting it to policy.Policy[T] does
// not allocate.
type breakerPolicy[T any] struct{ b *Breaker }

var errNilBreaker = ion.NewConfigError("breaker", "b", "nil *Breaker")

// Err returns the breaker's configuration error (or the nil-breaker
// error), or nil, so that policy.Pipeline.Err can report a misconfigured
// breaker at startup.
func (p breakerPolicy[T]) Err() error {
	if p.b == nil {
		return errNilBreaker
	}
	return p.b.Err()
}

// Execute implements policy.Policy.
func (p breakerPolicy[T]) Execute(ctx context.Context, next policy.Next[T]) (v T, err error) {
	b := p.b
	if b == nil {
		return v, errNilBreaker
	}
	// The closed path without the slow-call rule or a tracer comes first:
	// Allow's closed path written out (Allow is over the inlining budget),
	// without a Ticket, which would hold g alone. Loading g asks nothing of
	// the breaker, so ctx may be checked after it.
	if g := b.cur.Load(); g != nil && g.fast.Load() && b.tracer == nil {
		if err := ctx.Err(); err != nil {
			return v, err
		}
		// The deferred call records the outcome on every path: a success
		// pays for one call, where recording after Classify and deferring
		// a check of a flag would make two. o is still Failure when next or
		// the pipeline's classifier panics (or calls runtime.Goexit): the
		// call counts as a failure, and the panic goes on unchanged, with
		// its original stack, since nothing recovers it. Both deferred
		// calls in Execute are open-coded.
		o := policy.Failure
		defer func() {
			if o != policy.Success || !g.b.closedSuccess(g) {
				g.b.done(&Ticket{g: g}, g, o)
			}
		}()
		v, err = next.Call(ctx)
		o = next.Classify(ctx, v, err)
		return v, err
	}
	if err := ctx.Err(); err != nil {
		return v, err
	}
	if b.tracer != nil {
		return p.traced(ctx, next)
	}
	t, err := b.allowSlow()
	if err != nil {
		return v, err
	}
	// The flag, not recover, spots a panic (or runtime.Goexit) in next or
	// in the pipeline's classifier: the panic keeps its original stack.
	returned := false
	defer func() {
		if !returned {
			t.Done(policy.Failure)
		}
	}()
	v, err = next.Call(ctx)
	o := next.Classify(ctx, v, err)
	returned = true
	t.Done(o)
	return v, err
}

// traced is Execute with one span per execution.
func (p breakerPolicy[T]) traced(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	b := p.b
	ctx, span := b.tracer.Start(ctx, b.spanName)
	t, err := b.Allow()
	if err != nil {
		span.End("rejected", err)
		return zero, err
	}
	returned := false
	defer func() {
		if !returned {
			t.Done(policy.Failure)
		}
	}()
	defer spans.EndIfPanicked(span, &returned)
	v, err := next.Call(ctx)
	o := next.Classify(ctx, v, err)
	returned = true
	t.Done(o)
	span.End(o.String(), err)
	return v, err
}

// String returns "breaker(<name>)".
func (p breakerPolicy[T]) String() string {
	if p.b == nil {
		return "breaker(nil)"
	}
	return p.b.spanName
}
