package config

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/sem"
)

// Binding gives a pipeline of type T what a document cannot hold: a
// fallback or a classifier, under the name the document uses. Make one
// with [FallbackFunc], [FallbackValue] or [Classifier] and pass it to
// [Pipeline].
type Binding[T any] struct {
	name       string
	classifies bool // a classifier binding, else a fallback one
	fallback   func(ctx context.Context, err error) (T, error)
	classifier policy.Classifier[T]
}

// FallbackFunc binds fn as the fallback named name: a pipeline whose
// document says fallback: {use: name} answers a failed call with what fn
// returns (policy.FallbackFunc). A nil fn makes the pipeline fail closed.
func FallbackFunc[T any](name string, fn func(ctx context.Context, err error) (T, error)) Binding[T] {
	return Binding[T]{name: name, fallback: fn}
}

// FallbackValue binds v as the fallback named name: a pipeline whose
// document says fallback: {use: name} answers a failed call with v and a
// nil error (policy.Fallback).
func FallbackValue[T any](name string, v T) Binding[T] {
	return FallbackFunc(name, func(context.Context, error) (T, error) { return v, nil })
}

// Classifier binds c as the classifier named name: a pipeline whose
// document says classifier: name classifies its outcomes with c
// (policy.Pipeline.WithClassifier). A nil c binds the default classifier.
func Classifier[T any](name string, c policy.Classifier[T]) Binding[T] {
	return Binding[T]{name: name, classifies: true, classifier: c}
}

// Live is a pipeline of type T that follows its registry's document: every
// [Registry.Apply] swaps the pipeline it runs, atomically, and a call runs
// from start to end under the pipeline that was in force when it began.
// It is a [policy.Policy], so it nests in other pipelines.
//
// A Live costs one atomic load per call over the pipeline it runs.
// It is safe for concurrent use by multiple goroutines.
type Live[T any] struct {
	name        string
	fallbacks   map[string]func(ctx context.Context, err error) (T, error)
	classifiers map[string]policy.Classifier[T]
	// err is why Pipeline could not build the pipeline; set once, by
	// Pipeline, for a Live that fails closed for good.
	err error

	// cur is the pipeline in force, replaced by commit.
	cur atomic.Pointer[policy.Pipeline[T]]
	// next is the pipeline prepare built; guarded by the registry's mu.
	next *policy.Pipeline[T]
}

// Pipeline returns the pipeline named name in r's document, built for the
// type T with the given bindings (a fallback or classifier the document
// names must be bound; a binding the document does not use is ignored), and
// kept up to date by every later [Registry.Apply].
//
// Call it once per pipeline and type, at start-up, and keep the result:
// each call builds a pipeline and registers it with r for as long as r
// lives. When the pipeline cannot be built (no such name, a missing
// binding, a nil r), the returned Live fails closed: every call returns the
// error, matching ion.ErrInvalidConfig with the field path, which
// [Live.Err] also reports, and it does not follow later documents.
func Pipeline[T any](r *Registry, name string, bindings ...Binding[T]) *Live[T] {
	l := &Live[T]{name: name, fallbacks: map[string]func(context.Context, error) (T, error){},
		classifiers: map[string]policy.Classifier[T]{}}
	for _, b := range bindings {
		if b.classifies {
			l.classifiers[b.name] = b.classifier
		} else {
			l.fallbacks[b.name] = b.fallback
		}
	}
	if r == nil {
		l.err = errUnusable
		l.cur.Store(failing[T](l.err))
		return l
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := l.prepare(r.current()); err != nil {
		l.err = err
		l.cur.Store(failing[T](err))
		return l
	}
	l.commit()
	if !r.closed {
		r.handles = append(r.handles, l)
	}
	return l
}

// failing returns a pipeline whose every call returns err.
func failing[T any](err error) *policy.Pipeline[T] {
	return policy.Compose(policy.New("config", func(context.Context, policy.Next[T]) (T, error) {
		var zero T
		return zero, err
	}))
}

// Run runs fn through the pipeline in force and returns its result; see
// policy.Pipeline.Run.
func (l *Live[T]) Run(ctx context.Context, fn policy.Func[T]) (T, error) {
	return l.cur.Load().Run(ctx, fn)
}

// Do runs fn, a call with no result, through the pipeline in force; see
// policy.Pipeline.Do.
func (l *Live[T]) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return l.cur.Load().Do(ctx, fn)
}

// Execute implements policy.Policy: it runs next under the pipeline in
// force.
func (l *Live[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	return l.cur.Load().Execute(ctx, next)
}

// Err returns the error that makes l fail closed, or nil.
func (l *Live[T]) Err() error {
	if l.err != nil {
		return l.err
	}
	return l.cur.Load().Err()
}

// String describes the pipeline in force, outermost first, as
// policy.Pipeline.String does.
func (l *Live[T]) String() string { return l.cur.Load().String() }

// prepare implements handle.
func (l *Live[T]) prepare(g *generation) error {
	p, err := buildPipeline(g, l.name, l.fallbacks, l.classifiers)
	l.next = p
	return err
}

// commit implements handle.
func (l *Live[T]) commit() {
	l.cur.Store(l.next)
	l.next = nil
}

// buildPipeline builds the pipeline named name of g for T, or returns
// every reason it cannot.
func buildPipeline[T any](g *generation, name string, fallbacks map[string]func(context.Context, error) (T, error),
	classifiers map[string]policy.Classifier[T]) (*policy.Pipeline[T], error) {
	at := path("pipelines", name)
	c, ok := g.doc.Pipelines[name]
	var p problems
	if !ok {
		p.addf(at, "no such pipeline in the document")
		return nil, p.err()
	}
	var layers []policy.Policy[T]
	for _, kind := range c.order() {
		switch kind {
		case "fallback":
			fn, ok := fallbacks[c.Fallback.Use]
			if !ok {
				p.addf(join(at, "fallback.use"), "no fallback named %q is bound for %s", c.Fallback.Use, typeName[T]())
				continue
			}
			opts := []policy.FallbackOption{policy.WithName(c.Fallback.Use)}
			for _, o := range g.sinks.policy() {
				opts = append(opts, o)
			}
			layers = append(layers, policy.FallbackFunc(fn, opts...))
		case "retry":
			layers = append(layers, policy.Retry[T](c.Retry.options(name, g.sinks, g.budgets)...))
		case "hedge":
			layers = append(layers, policy.Hedge[T](c.Hedge.Delay.std(), c.Hedge.options(name, g.sinks, g.budgets)...))
		case "breaker":
			layers = append(layers, breaker.Policy[T](g.breakers[c.Breaker]))
		case "throttler":
			layers = append(layers, adaptive.ThrottlerPolicy[T](g.throttlers[c.Throttler]))
		case "adaptive":
			layers = append(layers, adaptive.Policy[T](g.adaptive[c.Adaptive]))
		case "limiter":
			layers = append(layers, limit.Policy[T](g.limiters[c.Limiter.Use].limiter(), limit.WithMaxWait(c.Limiter.MaxWait.std())))
		case "bulkhead":
			layers = append(layers, sem.Policy[T](g.bulkheads[c.Bulkhead.Use],
				sem.WithMaxWait(c.Bulkhead.MaxWait.std()), sem.WithWeight(c.Bulkhead.weight())))
		case "pool":
			layers = append(layers, pool.Policy[T](g.pools[c.Pool]))
		case "timeout":
			opts := []policy.TimeoutOption{policy.WithName(name)}
			for _, o := range g.sinks.policy() {
				opts = append(opts, o)
			}
			if c.Timeout.Abandon {
				opts = append(opts, policy.WithAbandon())
			}
			layers = append(layers, policy.Timeout[T](c.Timeout.After.std(), opts...))
		case "chaos":
			layers = append(layers, chaosLayers[T](*c.Chaos, name, g.sinks)...)
		}
	}
	pl := policy.Compose(layers...)
	if c.Classifier != "" {
		cl, ok := classifiers[c.Classifier]
		if !ok {
			p.addf(join(at, "classifier"), "no classifier named %q is bound for %s", c.Classifier, typeName[T]())
		}
		pl = pl.WithClassifier(cl)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := pl.Err(); err != nil {
		p.addf(at, "%v", err)
		return nil, p.err()
	}
	return pl, nil
}

// typeName returns the name of T for error messages.
func typeName[T any]() string { return fmt.Sprintf("%T", (*T)(nil))[1:] }
