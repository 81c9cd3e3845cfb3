package policy

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// FallbackLayer is the policy built by [Fallback] and [FallbackFunc]: it
// replaces a failed call's result. A FallbackLayer is safe for concurrent
// use by multiple goroutines.
type FallbackLayer[T any] struct {
	v    T
	fn   func(ctx context.Context, err error) (T, error) // nil for a value fallback
	desc string
	err  error

	obs        observer
	mFallbacks observe.Counter
}

type fallbackConfig struct{ common }

// Fallback returns a policy that answers v, with a nil error, in place of a
// call that failed: a [Failure] outcome (as decided by [Next.Classify] with
// the pipeline's classifier) or a rejection by an inner policy (an error
// matching ion.ErrRejected: breaker open, rate limited, bulkhead or pool
// full), whatever the classifier says about it. It never replaces the
// caller's own cancellation ([Ignored]) nor a [Success].
//
// The failed result it replaces is handed to the pipeline's discard hook
// ([Next.Discard], [Pipeline.WithDiscard]; by default an [io.Closer] is
// closed) before the fallback answers.
//
// Place it outermost, so it sees the final outcome of everything inside it.
// The call runs on the caller's goroutine; a panic propagates unchanged. A
// call that succeeds costs no allocation.
func Fallback[T any](v T, opts ...FallbackOption) *FallbackLayer[T] {
	return newFallback(v, nil, false, opts)
}

// FallbackFunc returns a policy that, in place of a call that failed (as
// for [Fallback]), returns what fn returns. fn receives the caller's ctx and
// the failed call's error (nil when the result was a failure without an
// error); it runs on the caller's goroutine. A nil fn makes every call fail
// with an error matching ion.ErrInvalidConfig ([FallbackLayer.Err]).
func FallbackFunc[T any](fn func(ctx context.Context, err error) (T, error), opts ...FallbackOption) *FallbackLayer[T] {
	var zero T
	return newFallback(zero, fn, true, opts)
}

func newFallback[T any](v T, fn func(context.Context, error) (T, error), isFunc bool, opts []FallbackOption) *FallbackLayer[T] {
	var c fallbackConfig
	if isFunc && fn == nil {
		c.fail(ion.NewConfigError("policy", "FallbackFunc fn", "nil function"))
	}
	for i, o := range opts {
		if o == nil {
			c.nilOption(i)
			continue
		}
		o.applyFallback(&c)
	}
	f := &FallbackLayer[T]{v: v, fn: fn, err: c.err, obs: newObserver("fallback", &c.common)}
	switch {
	case f.err != nil:
		f.desc = "fallback(invalid: " + f.err.Error() + ")"
	case f.obs.named():
		f.desc = "fallback(" + f.obs.name + ")"
	case isFunc:
		f.desc = "fallback(func)"
	default:
		f.desc = "fallback(value)"
	}
	f.obs.span = f.desc
	f.mFallbacks = f.obs.counter("ion_policy_fallbacks_total")
	return f
}

// Err returns the configuration error that makes f fail closed, or nil.
func (f *FallbackLayer[T]) Err() error { return f.err }

// String describes the policy: "fallback(value)", "fallback(func)", or
// "fallback(<name>)" when named.
func (f *FallbackLayer[T]) String() string { return f.desc }

// Execute implements [Policy]. See [Fallback] for the behaviour.
func (f *FallbackLayer[T]) Execute(ctx context.Context, next Next[T]) (T, error) {
	if f.err != nil {
		var zero T
		return zero, f.err
	}
	if f.obs.tracer != nil {
		return traced(ctx, &f.obs, next, f.run)
	}
	return f.run(ctx, next)
}

func (f *FallbackLayer[T]) run(ctx context.Context, next Next[T]) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	v, err := next.Call(ctx)
	switch next.Classify(ctx, v, err) {
	case Success:
		if err == nil || !errors.Is(err, ion.ErrRejected) {
			return v, err
		}
	case Ignored:
		if !rejected(ctx, err) {
			return v, err
		}
	}
	add(f.mFallbacks)
	// The failed result is replaced: hand it to the discard hook first, so
	// that a failed response is closed even when the fallback answers.
	next.Discard(v)
	if f.fn == nil {
		return f.v, nil
	}
	fv, ferr := f.fn(ctx, err)
	if ferr != nil {
		f.obs.log(ctx, slog.LevelWarn, "fallback function failed", slog.String("error", ferr.Error()))
	}
	return fv, ferr
}
