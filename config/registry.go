package config

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/sem"
)

// ErrClosed is returned by [Registry.Apply] after [Registry.Close].
var ErrClosed = errors.New("config: registry closed")

// Registry holds the primitives of the document in force and the pipelines
// built from it, and swaps both when a new document is applied. Build one
// with [New]; ask it for typed pipelines with [Pipeline]; apply a new
// document with [Registry.Apply]; serve its [Snapshot] with
// [Registry.ServeHTTP]; release its pools with [Registry.Close].
//
// The zero value is an empty registry, without sinks, ready for Apply.
// A Registry is safe for concurrent use by multiple goroutines.
type Registry struct {
	// sinks are given to every primitive and policy built; set by New.
	sinks sinks

	// cur is the generation in force: replaced whole by Apply, read by
	// Snapshot and Document without a lock.
	cur atomic.Pointer[generation]

	// mu guards the fields below and serializes Apply, Pipeline and Close.
	mu sync.Mutex
	// handles are the pipelines handed out by Pipeline that work, each
	// rebuilt by every Apply; they live as long as the registry.
	handles []handle
	// retired are the pools that an Apply removed from the document; calls
	// that started under an older document may still use them. Closed by
	// Close.
	retired []*pool.Pool
	// closed is set by the first Close.
	closed bool
}

// generation is one applied document and the primitives built from it.
// It is immutable once stored in Registry.cur.
type generation struct {
	sinks      *sinks
	seq        uint64
	doc        Document
	breakers   map[string]*breaker.Breaker
	limiters   map[string]*limiterEntry
	bulkheads  map[string]*sem.Weighted
	pools      map[string]*pool.Pool
	adaptive   map[string]*adaptive.Limiter
	throttlers map[string]*adaptive.Throttler
	budgets    map[string]*policy.Budget
}

// limiterEntry is a named limiter: a bucket, or an AllOf over buckets.
type limiterEntry struct {
	tb  *limit.TokenBucket
	lb  *limit.LeakyBucket
	all *limit.AllOf
}

// limiter returns the entry as a limit.Limiter.
func (e *limiterEntry) limiter() limit.Limiter {
	switch {
	case e.tb != nil:
		return e.tb
	case e.lb != nil:
		return e.lb
	}
	return e.all
}

// member returns a bucket entry as a limit.Member.
func (e *limiterEntry) member() limit.Member {
	if e.tb != nil {
		return e.tb
	}
	return e.lb
}

// err returns the limiter's configuration error.
func (e *limiterEntry) err() error {
	switch {
	case e.tb != nil:
		return e.tb.Err()
	case e.lb != nil:
		return e.lb.Err()
	}
	return e.all.Err()
}

// handle is a pipeline handed out by Pipeline, whatever its type: Apply
// prepares its pipeline for a new generation, then commits it.
type handle interface {
	// prepare builds the pipeline for g, to be installed by commit, or
	// returns why it cannot. It must be called with Registry.mu held.
	prepare(g *generation) error
	// commit installs what the last prepare built. It must be called with
	// Registry.mu held.
	commit()
}

// New returns a registry in force with doc, or nil and every error of doc
// (see [Document.Validate]) or of opts, each matching ion.ErrInvalidConfig.
// It builds every named primitive, with the observability sinks of opts;
// pools start no goroutine until they are used.
func New(doc Document, opts ...Option) (*Registry, error) {
	r := &Registry{}
	for _, o := range opts {
		if o != nil {
			o.apply(&r.sinks)
		}
	}
	if r.sinks.bad != "" {
		return nil, ion.NewConfigError("config", r.sinks.bad, "the sink is nil")
	}
	g, _, _, err := r.build(nil, doc)
	if err != nil {
		return nil, err
	}
	r.cur.Store(g)
	return r, nil
}

// Apply puts doc in force, or changes nothing and returns every reason why
// not: doc's validation errors, and the errors of pipelines handed out by
// [Pipeline] that doc would break (a pipeline removed, a fallback or
// classifier not bound for its type), each matching ion.ErrInvalidConfig.
//
// A primitive keeps its identity, and its state, when doc has one of the
// same kind and name: a breaker keeps its state, counts and window, a
// limiter its tokens, a bulkhead its permits in use and its waiters, a pool
// its workers, queued tasks and counters, an adaptive limiter the limit it
// has learned, a throttler and a budget their windows. Its parameters
// change in place:
//
//   - a breaker's, with breaker.Breaker.Reconfigure: its state (an open
//     breaker stays open, with a deadline that follows a new open duration),
//     its counts and, for a window of the same kind and size, its window;
//   - an adaptive limiter's, with adaptive.Limiter.Reconfigure: its learned
//     limit, clamped into new bounds, and its RTT estimates (initial_limit
//     applies only when the limiter is built);
//   - a throttler's, with adaptive.Throttler.Reconfigure: its window;
//   - a budget's, with policy.Budget.SetLimits: its window of calls and
//     extra attempts;
//   - a token or leaky bucket's rate and burst (or capacity): its tokens;
//   - a bulkhead's capacity, with sem.Weighted.SetCapacity, and its
//     fairness, acquire timeout, CoDel and adaptive LIFO, with
//     sem.Weighted.Reconfigure: its permits in use and its queue (a shrink
//     revokes no permit: callers are admitted again once the permits in use
//     fall below the new capacity; the waiters keep their place, and a new
//     fairness orders the grants from then on);
//   - a pool's size, with pool.Pool.Resize, its queue size, with
//     pool.Pool.SetQueueSize, and its idle timeout, max queue wait, queue
//     order, CoDel and adaptive LIFO, with pool.Pool.Reconfigure: its
//     workers, its queued tasks and its blocked submitters (a shrunk queue
//     keeps every task it holds and admits new ones once below its size).
//
// Such a change applies at once to every call that uses the primitive
// after it, including calls of older pipelines still waiting for it and
// calls in flight that report to it later (see each method for the
// details).
//
// Only a limiter whose kind changes is replaced by a new one, whose state
// starts afresh. A pool removed from doc stays open for the calls still
// using it until [Registry.Close].
//
// Each pipeline handed out by [Pipeline] switches to doc atomically, between
// calls: a call in flight finishes under the pipeline it started with,
// primitives included. The pipelines switch one after the other before
// Apply returns, so for an instant one may run doc while another still
// runs the document before it. Apply holds the registry's lock while it
// builds, never while a call runs: calls are not blocked by it. It returns
// ErrClosed after Close.
func (r *Registry) Apply(doc Document) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	old := r.current()
	g, changes, retired, err := r.build(old, doc)
	if err != nil {
		return err
	}
	var p problems
	for _, h := range r.handles {
		if err := h.prepare(g); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	if err := p.err(); err != nil {
		closeNew(old, g)
		return err
	}
	// Commit: nothing below can fail for a valid document, whose values
	// the setters accept.
	for _, change := range changes {
		if err := change(); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	for _, h := range r.handles {
		h.commit()
	}
	r.cur.Store(g)
	r.retired = append(r.retired, retired...)
	return p.err()
}

// build builds the generation after old for doc, reusing old's primitives
// where their identity is unchanged. It returns the generation, the in-place
// changes to make when it is committed, and the pools it retires; or the
// validation errors of doc, having built nothing that needs closing.
func (r *Registry) build(old *generation, doc Document) (*generation, []func() error, []*pool.Pool, error) {
	if err := doc.Validate(); err != nil {
		return nil, nil, nil, err
	}
	doc, err := doc.clone()
	if err != nil {
		return nil, nil, nil, err
	}
	if old == nil {
		old = &generation{}
	}
	g := &generation{
		sinks:      &r.sinks,
		seq:        old.seq + 1,
		doc:        doc,
		breakers:   map[string]*breaker.Breaker{},
		limiters:   map[string]*limiterEntry{},
		bulkheads:  map[string]*sem.Weighted{},
		pools:      map[string]*pool.Pool{},
		adaptive:   map[string]*adaptive.Limiter{},
		throttlers: map[string]*adaptive.Throttler{},
		budgets:    map[string]*policy.Budget{},
	}
	var (
		changes []func() error
		retired []*pool.Pool
		p       problems
	)
	for name, c := range doc.Breakers {
		if b, ok := old.breakers[name]; ok {
			g.breakers[name] = b
			if !reflect.DeepEqual(old.doc.Breakers[name], c) {
				opts := c.options()
				changes = append(changes, func() error { return b.Reconfigure(opts...) })
			}
			continue
		}
		g.breakers[name] = breaker.New(name, append(c.options(), (&r.sinks).breaker()...)...)
		p.merge(path("breakers", name), g.breakers[name].Err())
	}
	for name, c := range doc.Limiters {
		if c.kind() == kindAll {
			continue
		}
		prev, ok := old.limiters[name]
		oc := old.doc.Limiters[name]
		if !ok || oc.kind() != c.kind() {
			e := &limiterEntry{}
			if c.kind() == kindLeakyBucket {
				e.lb = limit.NewLeakyBucket(limit.Rate(*c.Rate), c.size(), append((&r.sinks).limit(), limit.WithName(name))...)
			} else {
				e.tb = limit.NewTokenBucket(limit.Rate(*c.Rate), c.size(), append((&r.sinks).limit(), limit.WithName(name))...)
			}
			g.limiters[name] = e
			p.merge(path("limiters", name), e.err())
			continue
		}
		g.limiters[name] = prev
		rate, size := limit.Rate(*c.Rate), c.size()
		if *oc.Rate != *c.Rate || oc.size() != size {
			if prev.tb != nil {
				changes = append(changes, func() error { return prev.tb.SetRate(rate) },
					func() error { return prev.tb.SetBurst(size) })
			} else {
				changes = append(changes, func() error { return prev.lb.SetRate(rate) },
					func() error { return prev.lb.SetCapacity(size) })
			}
		}
	}
	for name, c := range doc.Limiters {
		if c.kind() != kindAll {
			continue
		}
		members := make([]limit.Member, len(c.Members))
		for i, m := range c.Members {
			members[i] = g.limiters[m].member()
		}
		e := &limiterEntry{all: limit.All(members...)}
		g.limiters[name] = e
		p.merge(path("limiters", name), e.err())
	}
	for name, c := range doc.Bulkheads {
		s, ok := old.bulkheads[name]
		if !ok {
			g.bulkheads[name] = c.build(name, &r.sinks)
			p.merge(path("bulkheads", name), g.bulkheads[name].Err())
			continue
		}
		g.bulkheads[name] = s
		oc := old.doc.Bulkheads[name]
		if capacity := c.Capacity; capacity != oc.Capacity {
			changes = append(changes, func() error { return s.SetCapacity(capacity) })
		}
		if !c.sameSettings(oc) {
			opts := c.settings()
			changes = append(changes, func() error { return s.Reconfigure(opts...) })
		}
	}
	for name, c := range doc.Pools {
		prev, ok := old.pools[name]
		if !ok {
			g.pools[name] = c.build(name, &r.sinks)
			p.merge(path("pools", name), g.pools[name].Err())
			continue
		}
		g.pools[name] = prev
		oc := old.doc.Pools[name]
		if size := c.Size; size != oc.Size {
			changes = append(changes, func() error { return prev.Resize(size) })
		}
		if n := c.QueueSize; n != oc.QueueSize {
			changes = append(changes, func() error { return prev.SetQueueSize(n) })
		}
		if !c.sameSettings(oc) {
			opts := c.settings()
			changes = append(changes, func() error { return prev.Reconfigure(opts...) })
		}
	}
	for name, prev := range old.pools {
		if g.pools[name] != prev {
			retired = append(retired, prev)
		}
	}
	for name, c := range doc.Adaptive {
		if l, ok := old.adaptive[name]; ok {
			g.adaptive[name] = l
			if !reflect.DeepEqual(old.doc.Adaptive[name], c) {
				opts := c.tuning()
				changes = append(changes, func() error { return l.Reconfigure(opts...) })
			}
			continue
		}
		g.adaptive[name] = c.build(name, &r.sinks)
		p.merge(path("adaptive", name), g.adaptive[name].Err())
	}
	for name, c := range doc.Throttlers {
		if th, ok := old.throttlers[name]; ok {
			g.throttlers[name] = th
			if !reflect.DeepEqual(old.doc.Throttlers[name], c) {
				opts := c.tuning()
				changes = append(changes, func() error { return th.Reconfigure(opts...) })
			}
			continue
		}
		g.throttlers[name] = c.build(name, &r.sinks)
		p.merge(path("throttlers", name), g.throttlers[name].Err())
	}
	for name, c := range doc.Budgets {
		if b, ok := old.budgets[name]; ok {
			g.budgets[name] = b
			if !reflect.DeepEqual(old.doc.Budgets[name], c) {
				changes = append(changes, func() error { return b.SetLimits(c.Ratio, c.MinPerSecond) })
			}
			continue
		}
		g.budgets[name] = policy.NewBudget(c.Ratio, c.MinPerSecond)
		p.merge(path("budgets", name), g.budgets[name].Err())
	}
	if err := p.err(); err != nil {
		closeNew(old, g)
		return nil, nil, nil, err
	}
	return g, changes, retired, nil
}

// closeNew closes the pools of g that old does not have: they were built
// for a document that is not applied, and never used.
func closeNew(old, g *generation) {
	for name, pl := range g.pools {
		if old == nil || old.pools[name] != pl {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // never used: nothing to wait for
			pl.Close(ctx)
		}
	}
}

// Close closes every pool of the registry, those of the document in force
// and those that earlier Applies removed from the document, waiting for
// their tasks as pool.Pool.Close does, bounded by ctx; later Applies return
// ErrClosed. The other primitives need no closing. It returns the pools'
// errors joined.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for _, pl := range append(r.retired, mapValues(r.current().pools)...) {
		if _, err := pl.Close(ctx); err != nil && !errors.Is(err, pool.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Document returns a copy of the document in force.
func (r *Registry) Document() Document {
	d, _ := r.current().doc.clone() // it was cloned once already: it cannot fail
	return d
}

// empty is the generation of a zero Registry.
var empty = &generation{}

// current returns the generation in force.
func (r *Registry) current() *generation {
	if g := r.cur.Load(); g != nil {
		return g
	}
	return empty
}

// mapValues returns m's values.
func mapValues[V any](m map[string]V) []V {
	vs := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		vs = append(vs, m[k])
	}
	return vs
}

// errUnusable is the error of a pipeline whose registry is nil.
var errUnusable = ion.NewConfigError("config", "registry", "is nil: use New")
