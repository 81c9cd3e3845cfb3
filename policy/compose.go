package policy

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ionkit/ion"
)

// Pipeline is a composition of policies, built once by [Compose] and run per
// call with [Pipeline.Run] or [Pipeline.Do]. A Pipeline is itself a
// [Policy], so pipelines nest.
//
// Running a call through a pipeline adds no heap allocation of its own: the
// layers live in one slice built at composition, and each layer receives the
// rest of the pipeline as a [Next] value. A Pipeline is immutable and safe
// for concurrent use by multiple goroutines.
type Pipeline[T any] struct {
	layers []Policy[T]
	h      *hooks[T] // the classifier and discard hook; nil when both are the defaults
	err    error     // set by Compose for a nil layer; every call returns it
}

// Compose returns the pipeline that runs a call through layers, the first
// outermost: Compose(a, b, c) runs fn as a(b(c(fn))). Compose() with no
// layers is a pass-through. A layer that is itself a Pipeline without its own
// classifier or discard hook is flattened into the new one; one with either
// keeps them for its own layers only (see [Pipeline.WithClassifier]).
//
// A nil layer does not panic: the pipeline fails closed and every call
// returns an error matching ion.ErrInvalidConfig that names the position,
// also reported by [Pipeline.Err].
func Compose[T any](layers ...Policy[T]) *Pipeline[T] {
	p := &Pipeline[T]{layers: make([]Policy[T], 0, len(layers))}
	for i, l := range layers {
		switch x := l.(type) {
		case nil:
			p.err = ion.NewConfigError("policy", fmt.Sprintf("Compose layer %d", i), "nil policy")
			return p
		case *Pipeline[T]:
			if x == nil {
				p.err = ion.NewConfigError("policy", fmt.Sprintf("Compose layer %d", i), "nil *Pipeline")
				return p
			}
			if x.err != nil {
				p.err = x.err
				return p
			}
			if x.h == nil {
				p.layers = append(p.layers, x.layers...)
				continue
			}
		}
		p.layers = append(p.layers, l)
	}
	return p
}

// WithClassifier returns a copy of p whose policies classify outcomes with c
// (see [Classifier]). A nil c restores the default. p itself is unchanged.
//
// The classifier applies to p's own layers only: when p is nested in an
// outer pipeline, the outer layers (those before p and those after it) keep
// the outer pipeline's classifier.
func (p *Pipeline[T]) WithClassifier(c Classifier[T]) *Pipeline[T] {
	q := *p
	q.h = newHooks(c, p.h.discardHook())
	return &q
}

// WithDiscard returns a copy of p whose policies hand every result they
// throw away to fn (see [Next.Discard]): the failed attempts a [Retry]
// retries, the attempts a [Hedge] loses, the result of a call a [Timeout]
// with [WithAbandon] gave up on, the failed result a [Fallback] replaces.
// The result the caller gets is never discarded, and no value is discarded
// twice. A nil fn restores the default, which closes a result that is an
// [io.Closer]; func(T) {} discards nothing.
//
// fn receives every discarded value, including the zero value of an
// attempt that failed with an error (a nil *http.Response): it must handle
// it. fn runs on the goroutine of the discarding policy: the caller's for
// Retry and Fallback, the attempt's for Hedge (possibly after the winner
// was found, but always before Hedge returns), and the abandoned call's own
// goroutine for Timeout, possibly long after the Timeout returned. It must
// be safe for concurrent use. A panic in fn propagates on the caller's
// goroutine; on a goroutine of Hedge or Timeout it is recovered and logged.
// Like the classifier, the hook applies to p's own layers only.
func (p *Pipeline[T]) WithDiscard(fn func(v T)) *Pipeline[T] {
	q := *p
	q.h = newHooks(p.h.classifier(), fn)
	return &q
}

// Err reports whether p and its layers are configured correctly, so that an
// application can check its pipelines once at startup instead of learning
// from the first call that one fails closed:
//
//	if err := p.Err(); err != nil {
//		log.Fatal(err) // policy: layer 1 (retry): policy: invalid configuration: ...
//	}
//
// It returns the error of a nil layer given to [Compose], else a
// [*LayerError] for the first layer, outermost first, whose own Err method
// ([ErrReporter]) returns a non-nil error, else nil. The error matches what
// the layer's does (ion.ErrInvalidConfig for a bad parameter). A nested
// pipeline reports its own layers the same way, inside the LayerError of its
// position. Err calls each layer's Err method and allocates only for the
// error it returns.
func (p *Pipeline[T]) Err() error {
	if p.err != nil {
		return p.err
	}
	for i, l := range p.layers {
		r, ok := l.(ErrReporter)
		if !ok {
			continue
		}
		if err := r.Err(); err != nil {
			return &LayerError{Index: i, Layer: describe(l), Err: err}
		}
	}
	return nil
}

// ErrReporter is implemented by a layer that can report a configuration
// error that makes it fail closed. Every policy of this package implements
// it, and so should a policy adapter whose primitive can be misconfigured:
// [Pipeline.Err] asks each layer that does. Err returns nil when the layer
// is usable; it must be cheap and safe for concurrent use.
type ErrReporter interface {
	Err() error
}

// LayerError is the error [Pipeline.Err] returns for a layer that fails
// closed: its position and description, and its own error, which errors.Is
// and errors.As see through Unwrap.
type LayerError struct {
	// Index is the layer's position in [Pipeline.Layers], 0 for the
	// outermost.
	Index int
	// Layer is the layer's description, as in Pipeline.Layers.
	Layer string
	// Err is the layer's own error.
	Err error
}

// Error returns the position, the layer's kind (its description up to the
// first parenthesis) and the layer's error, for example "policy: layer 1
// (retry): policy: invalid configuration: WithAttempts: must be at least 1,
// got 0".
func (e *LayerError) Error() string {
	kind, _, _ := strings.Cut(e.Layer, "(")
	return "policy: layer " + strconv.Itoa(e.Index) + " (" + kind + "): " + e.Err.Error()
}

// Unwrap returns the layer's own error.
func (e *LayerError) Unwrap() error { return e.Err }

// Run runs fn through the pipeline with ctx and returns its result.
//
// An already-done ctx fails the call with ctx.Err() before any layer runs. A
// nil fn or ctx, or a pipeline composed with a nil layer, returns an error
// matching ion.ErrInvalidConfig. Run blocks for as long as its layers and fn
// do, and adds no allocation of its own.
func (p *Pipeline[T]) Run(ctx context.Context, fn Func[T]) (T, error) {
	var zero T
	switch {
	case p.err != nil:
		return zero, p.err
	case ctx == nil:
		return zero, errNilCtx
	case fn == nil:
		return zero, errNilFunc
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	return Next[T]{layers: p.layers, fn: fn, h: p.h}.Call(ctx)
}

// Do runs fn, a call with no result, through the pipeline and returns its
// error. It behaves like [Pipeline.Run] otherwise.
func (p *Pipeline[T]) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	switch {
	case p.err != nil:
		return p.err
	case ctx == nil:
		return errNilCtx
	case fn == nil:
		return errNilFunc
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := Next[T]{layers: p.layers, efn: fn, h: p.h}.Call(ctx)
	return err
}

// Execute implements [Policy], so a pipeline can be a layer of another
// policy. p's layers use p's classifier and discard hook, or next's when p
// has none; the layers of next keep next's. When next is the bare function
// (the usual case) Execute adds no allocation; when next still has layers
// of its own, it allocates once per call to keep the two scopes apart, and
// so it does when p and next each have a hook the other lacks.
func (p *Pipeline[T]) Execute(ctx context.Context, next Next[T]) (T, error) {
	if p.err != nil {
		var zero T
		return zero, p.err
	}
	inner := next
	inner.layers = p.layers
	if len(next.layers) > 0 {
		// p's hooks must not reach next's layers: run them after p's own
		// layers through rest, which keeps next (and its hooks) intact.
		s := &scope[T]{next: next}
		s.h = hooks[T]{classify: p.h.classifier(), discard: p.h.discardHook(), rest: &s.next}
		if s.h.classify == nil {
			s.h.classify = next.h.classifier()
		}
		if s.h.discard == nil {
			s.h.discard = next.h.discardHook()
		}
		return Next[T]{layers: p.layers, h: &s.h}.Call(ctx)
	}
	switch {
	case p.h == nil:
		// next's hooks, if any, apply.
	case next.h == nil || p.h.classify != nil && p.h.discard != nil:
		inner.h = p.h
	default:
		// Each pipeline has a hook the other lacks: combine them, at the
		// cost of one allocation.
		h := *p.h
		if h.classify == nil {
			h.classify = next.h.classify
		}
		if h.discard == nil {
			h.discard = next.h.discard
		}
		inner.h = &h
	}
	return inner.Call(ctx)
}

// scope is what a nested pipeline allocates, once per call, when the outer
// pipeline's layers go on after its own: its hooks, and the outer Next they
// hand over to.
type scope[T any] struct {
	h    hooks[T]
	next Next[T]
}

// newHooks returns hooks with the classifier c and the discard hook fn, or
// nil when both are nil (the defaults).
func newHooks[T any](c Classifier[T], fn func(v T)) *hooks[T] {
	if c == nil && fn == nil {
		return nil
	}
	return &hooks[T]{classify: c, discard: fn}
}

// classifier returns h's classifier; nil for nil hooks.
func (h *hooks[T]) classifier() Classifier[T] {
	if h == nil {
		return nil
	}
	return h.classify
}

// discardHook returns h's discard hook; nil for nil hooks.
func (h *hooks[T]) discardHook() func(v T) {
	if h == nil {
		return nil
	}
	return h.discard
}

// Layers describes the pipeline's layers, outermost first: each layer's
// String method if it has one (every Ion policy does), else its type.
func (p *Pipeline[T]) Layers() []string {
	out := make([]string, len(p.layers))
	for i, l := range p.layers {
		out[i] = describe(l)
	}
	return out
}

// describe returns l's String, or its type when it has none.
func describe[T any](l Policy[T]) string {
	if s, ok := l.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", l)
}

// String returns the layers joined by " → ", ending in "fn", for example
// "retry(attempts=3) → breaker(payments) → fn".
func (p *Pipeline[T]) String() string {
	if p.err != nil {
		return "invalid pipeline: " + p.err.Error()
	}
	return strings.Join(append(p.Layers(), "fn"), " → ")
}
