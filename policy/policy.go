package policy

import (
	"context"
	"errors"

	"github.com/ionkit/ion"
)

// Func is a call that a policy runs: it takes the ctx the policy hands it and
// returns a result and an error. It should honour ctx.
type Func[T any] func(ctx context.Context) (T, error)

// Policy runs calls under one behaviour: it decides whether, when, how often
// and with which ctx to call next, and what to return.
//
// Execute runs next (zero, one or several times) and returns the result the
// caller gets. An implementation must return without calling next when it
// rejects the call, with an error that matches ion.ErrRejected. It must call
// next on the caller's goroutine unless its doc says otherwise, must not keep
// next after it returns, and must be safe for concurrent use: one Policy
// value serves every call through it.
//
// Every Ion primitive and call-shaping policy implements Policy; users write
// their own with [New] or by implementing Execute.
type Policy[T any] interface {
	Execute(ctx context.Context, next Next[T]) (T, error)
}

// Next is the rest of a pipeline as seen from one policy: the inner policies
// and, innermost, the user's function. It is a small value passed by value,
// so running a pipeline allocates nothing of its own. The zero Next returns
// an error matching ion.ErrInvalidConfig when called.
//
// A Next may be called any number of times (Retry), concurrently (Hedge) or
// from another goroutine (pool), but only until the Execute it was passed to
// returns.
type Next[T any] struct {
	layers []Policy[T]                 // the inner policies, outermost first
	fn     Func[T]                     // the user's function, or nil when efn is set
	efn    func(context.Context) error // the user's function for Do
	h      *hooks[T]                   // the pipeline's hooks, or nil for the defaults
	_      [0]func()                   // not comparable
}

// hooks are what a pipeline adds to its calls besides its layers. They sit
// behind one pointer so that a Next is six words: with the ctx and the
// policy's receiver it is then passed in registers, not copied through
// memory, at each layer's Execute.
type hooks[T any] struct {
	classify func(v T, err error) Outcome // the pipeline's classifier, or nil for the default
	discard  func(v T)                    // the pipeline's discard hook, or nil for the default
	rest     *Next[T]                     // what runs after layers when a nested pipeline scopes its own hooks; fn and efn are then nil
}

// Call runs the rest of the pipeline with ctx and returns its result.
func (n Next[T]) Call(ctx context.Context) (T, error) {
	// Kept small enough to inline into each layer, so a layer costs one
	// interface call.
	if len(n.layers) > 0 {
		l := n.layers[0]
		n.layers = n.layers[1:]
		return l.Execute(ctx, n)
	}
	return n.callFunc(ctx)
}

// callFunc runs the user's function at the bottom of the pipeline.
func (n Next[T]) callFunc(ctx context.Context) (T, error) {
	switch {
	case n.fn != nil:
		return n.fn(ctx)
	case n.h != nil && n.h.rest != nil:
		// The end of a nested pipeline's layers: the rest of the outer
		// pipeline runs with the outer classifier and discard hook.
		return n.h.rest.Call(ctx)
	case n.efn != nil:
		var zero T
		return zero, n.efn(ctx)
	}
	var zero T
	return zero, errNilFunc
}

// Classify returns the outcome of a call that returned (v, err) for a policy
// that received ctx, using the pipeline's classifier (see [Classifier] and
// [Pipeline.WithClassifier]). Two rules come first and no classifier can
// change them:
//
//   - The caller's own cancellation is [Ignored]: when err is non-nil and
//     ctx is done, the outcome is Ignored.
//   - A rejection by a policy inside this one (err matches ion.ErrRejected:
//     a limiter, a bulkhead, an inner breaker, a closed pool) is Ignored: it
//     says nothing about the dependency, so a breaker outside a limiter
//     never trips on our own load shedding. Retry and Fallback still act on
//     rejections; see their docs.
//
// Otherwise, without a classifier, a nil error is [Success] and any other
// error a [Failure]. Classify does not allocate.
func (n Next[T]) Classify(ctx context.Context, v T, err error) Outcome {
	if err != nil && (ctx.Err() != nil || errors.Is(err, ion.ErrRejected)) {
		return Ignored
	}
	if n.h != nil && n.h.classify != nil {
		return n.h.classify(v, err)
	}
	if err != nil {
		return Failure
	}
	return Success
}

// rejected reports whether err is a rejection by an inner policy rather than
// the caller's own cancellation: what Retry and Fallback act on although its
// outcome is Ignored.
func rejected(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && errors.Is(err, ion.ErrRejected)
}

var (
	errNilFunc = ion.NewConfigError("policy", "fn", "nil function")
	errNilCtx  = ion.NewConfigError("policy", "ctx", "nil context")
)

// Run runs fn through p with ctx and returns its result. It is the way to
// call a single policy; a [Pipeline] has the same method.
//
// An already-done ctx fails the call with ctx.Err() before any policy runs.
// A nil p, fn or ctx returns an error matching ion.ErrInvalidConfig; Run never
// panics on bad input. Run adds no allocation of its own.
func Run[T any](ctx context.Context, p Policy[T], fn Func[T]) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errNilCtx
	case p == nil:
		return zero, errNilPolicy
	case fn == nil:
		return zero, errNilFunc
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	return p.Execute(ctx, Next[T]{fn: fn})
}

// Do runs fn, a call with no result, through p with ctx and returns its
// error. Any T works; struct{} is the natural choice for a pipeline that only
// guards calls without results. Do behaves like [Run] otherwise.
func Do[T any](ctx context.Context, p Policy[T], fn func(ctx context.Context) error) error {
	switch {
	case ctx == nil:
		return errNilCtx
	case p == nil:
		return errNilPolicy
	case fn == nil:
		return errNilFunc
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := p.Execute(ctx, Next[T]{efn: fn})
	return err
}

var errNilPolicy = ion.NewConfigError("policy", "p", "nil policy")

// New returns a Policy named name whose Execute is fn. It is the quickest way
// to write a policy of your own:
//
//	logging := policy.New("log", func(ctx context.Context, next policy.Next[string]) (string, error) {
//		v, err := next.Call(ctx)
//		log.Printf("call: %v", err)
//		return v, err
//	})
//
// A nil fn gives a policy whose every call returns an error matching
// ion.ErrInvalidConfig. The policy's String method returns name.
func New[T any](name string, fn func(ctx context.Context, next Next[T]) (T, error)) Policy[T] {
	return &funcPolicy[T]{name: name, fn: fn}
}

type funcPolicy[T any] struct {
	name string
	fn   func(ctx context.Context, next Next[T]) (T, error)
}

func (p *funcPolicy[T]) Execute(ctx context.Context, next Next[T]) (T, error) {
	if p.fn == nil {
		var zero T
		return zero, ion.NewConfigError("policy", "fn", "nil function for policy %q", p.name)
	}
	return p.fn(ctx, next)
}

func (p *funcPolicy[T]) String() string { return p.name }
