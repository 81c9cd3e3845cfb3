package adaptive

import (
	"context"
	"errors"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/spans"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Policy returns a [policy.Policy] that runs each call under l: the call
// takes a permit (see [Limiter]), runs, and gives the permit back with its
// sample. The pipeline's classifier ([policy.Next.Classify]) decides what the
// call says about the dependency: a Success is timed and its RTT feeds the
// latency rule; a Failure, a timeout fired by policy.Timeout included, is a
// drop and backs the limit off; an Ignored call (the caller's own
// cancellation, a rejection by an inner policy) only returns its permit.
// Place the limiter outside a policy.Timeout so timeouts count as drops.
//
// The call's priority is read from its ctx ([PriorityFromContext]). A call
// that is not admitted returns without running, with an error matching
// [ErrLimited] and ion.ErrRejected; one whose ctx ends while it waits
// returns an error wrapping ctx.Err(). An already-done ctx fails the call
// before it takes a permit.
//
// The permit is returned on every path: a panic in the call returns it,
// counted as a drop, and goes on up the stack, never swallowed. A nil l or a
// fail-closed l gives a policy whose every call returns an error matching
// ion.ErrInvalidConfig. With a Tracer ([WithTracer]) each call gets one
// span, ended with "success", "failure", "ignored" or "rejected". A call
// admitted at once adds no allocation of its own.
func Policy[T any](l *Limiter) policy.Policy[T] {
	p := &limiterPolicy[T]{l: l}
	switch {
	case l == nil:
		p.err = configError("Policy", "nil *Limiter")
	case l.err != nil:
		p.err = l.err
	}
	if p.err != nil {
		p.invalid = "adaptive limiter(invalid: " + p.err.Error() + ")"
	}
	return p
}

type limiterPolicy[T any] struct {
	l       *Limiter
	err     error  // non-nil: every call returns it
	invalid string // String when err is set; otherwise l.describe()
}

// Err returns the configuration error that makes every call fail, or nil,
// so that policy.Pipeline.Err can report a misconfigured limiter at startup.
func (p *limiterPolicy[T]) Err() error { return p.err }

// Execute implements policy.Policy.
func (p *limiterPolicy[T]) Execute(ctx context.Context, next policy.Next[T]) (v T, err error) {
	if p.err != nil {
		return v, p.err
	}
	if ctx == nil {
		return v, errNilCtx
	}
	l := p.l
	var span observe.Span
	if l.tracer != nil {
		ctx, span = l.tracer.Start(ctx, l.describe())
	}
	pm, err := l.acquire(ctx, PriorityFromContext(ctx))
	if err != nil {
		if span != nil {
			span.End(rejectedOutcome(err), err)
		}
		return v, err
	}
	// The deferred release runs on every path that does not return
	// normally: a panic or runtime.Goexit, which go on unchanged (with a
	// span, the panic is recorded on it first). Without it a panic would
	// leak the permit for good.
	returned := false
	defer func() {
		if !returned {
			l.release(pm, sampleDrop)
		}
	}()
	if span != nil {
		defer spans.EndIfPanicked(span, &returned)
	}
	v, err = next.Call(ctx)
	returned = true
	outcome := next.Classify(ctx, v, err)
	l.release(pm, toSample(outcome))
	if span != nil {
		span.End(outcome.String(), err)
	}
	return v, err
}

// rejectedOutcome is the span outcome of a call that was not admitted:
// "rejected" when shed, "ignored" when the caller's own ctx ended.
func rejectedOutcome(err error) string {
	if errors.Is(err, ion.ErrRejected) {
		return "rejected"
	}
	return policy.Ignored.String()
}

func toSample(o policy.Outcome) sample {
	switch o {
	case policy.Success:
		return sampleSuccess
	case policy.Failure:
		return sampleDrop
	}
	return sampleIgnored
}

// String describes the policy, as in "adaptive limiter(db, vegas)", with
// the algorithm in force.
func (p *limiterPolicy[T]) String() string {
	if p.err != nil {
		return p.invalid
	}
	return p.l.describe()
}
