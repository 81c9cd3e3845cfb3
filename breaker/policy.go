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
func (p breakerPolicy[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	b := p.b
	if b == nil {
		return zero, errNilBreaker
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if b.tracer != nil {
		return p.traced(ctx, next)
	}
	// Allow's closed path, inlined by hand (Allow is over the inlining
	// budget); everything else goes through allowSlow.
	var t Ticket
	if g := b.cur.Load(); g != nil && g.fast.Load() {
		t = Ticket{g: g}
	} else {
		var err error
		if t, err = b.allowSlow(); err != nil {
			return zero, err
		}
	}
	// The flag, not recover, spots a panic (or runtime.Goexit) in next or
	// in the pipeline's classifier: the panic keeps its original stack, and
	// the deferred call is open-coded, so the success path pays a branch.
	returned := false
	defer func() {
		if !returned {
			t.Done(policy.Failure)
		}
	}()
	v, err := next.Call(ctx)
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
