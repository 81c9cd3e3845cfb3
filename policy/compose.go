package policy

import (
	"context"
	"fmt"
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
	layers   []Policy[T]
	classify Classifier[T]
	err      error // set by Compose for a nil layer; every call returns it
}

// Compose returns the pipeline that runs a call through layers, the first
// outermost: Compose(a, b, c) runs fn as a(b(c(fn))). Compose() with no
// layers is a pass-through. A layer that is itself a Pipeline without its own
// classifier is flattened into the new one.
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
			if x.classify == nil {
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
func (p *Pipeline[T]) WithClassifier(c Classifier[T]) *Pipeline[T] {
	q := *p
	q.classify = c
	return &q
}

// Err returns the configuration error that makes p fail closed, or nil.
func (p *Pipeline[T]) Err() error { return p.err }

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
	return Next[T]{layers: p.layers, fn: fn, classify: p.classify}.Call(ctx)
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
	_, err := Next[T]{layers: p.layers, efn: fn, classify: p.classify}.Call(ctx)
	return err
}

// Execute implements [Policy], so a pipeline can be a layer of another
// policy. When next is the bare function (the usual case) it adds no
// allocation; when next still has layers of its own, the two layer lists are
// joined per call, which allocates.
func (p *Pipeline[T]) Execute(ctx context.Context, next Next[T]) (T, error) {
	if p.err != nil {
		var zero T
		return zero, p.err
	}
	inner := next
	if len(next.layers) == 0 {
		inner.layers = p.layers
	} else {
		inner.layers = append(append(make([]Policy[T], 0, len(p.layers)+len(next.layers)), p.layers...), next.layers...)
	}
	if p.classify != nil {
		inner.classify = p.classify
	}
	return inner.Call(ctx)
}

// Layers describes the pipeline's layers, outermost first: each layer's
// String method if it has one (every Ion policy does), else its type.
func (p *Pipeline[T]) Layers() []string {
	out := make([]string, len(p.layers))
	for i, l := range p.layers {
		if s, ok := l.(fmt.Stringer); ok {
			out[i] = s.String()
		} else {
			out[i] = fmt.Sprintf("%T", l)
		}
	}
	return out
}

// String returns the layers joined by " → ", ending in "fn", for example
// "retry(attempts=3) → breaker(payments) → fn".
func (p *Pipeline[T]) String() string {
	if p.err != nil {
		return "invalid pipeline: " + p.err.Error()
	}
	return strings.Join(append(p.Layers(), "fn"), " → ")
}
