package stream

import (
	"context"
	"iter"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// From returns a stream of the items of seq. The iteration runs on a
// goroutine of p and stops early (seq's yield returns false) when p stops.
// Each item is passed on as soon as it is yielded, in a chunk with the
// items yielded since the next stage last took one. A nil p or seq makes
// the pipeline fail with an error matching ion.ErrInvalidConfig.
func From[T any](p *Pipeline, seq iter.Seq[T], opts ...Option) *Stream[T] {
	if p == nil || p.cancel == nil {
		return nil
	}
	c := newStageConfig("from", p.nextStage(), opts)
	out := newStream[T](p, c.name, c.buffer)
	if seq == nil {
		c.fail(ion.NewConfigError("stream", c.name, "nil iter.Seq"))
	}
	if c.err != nil {
		p.start(func(context.Context) error { close(out.ch); return c.err })
		return out
	}
	// The iterator may block between items, so it runs apart from the
	// chunker, which never holds an item back to fill a chunk. They share
	// a ring rather than a channel: an item costs the iterator one atomic
	// store, and the chunker takes every item that is there at once.
	h := newHandoff[T](out.k)
	p.start(func(ctx context.Context) error {
		defer h.close()
		for v := range seq {
			if !h.put(ctx, v) {
				return nil
			}
		}
		return nil
	})
	p.start(func(ctx context.Context) error {
		defer close(out.ch)
		for {
			buf, more := h.take(ctx, out.get())
			if len(buf) > 0 && !send(ctx, out.ch, buf) {
				return nil
			}
			if !more {
				return nil
			}
		}
	})
	return out
}

// handoff passes items from an iterator's goroutine to its chunker through
// a ring of k slots with one writer and one reader: the iterator publishes
// an item with an atomic store, and the chunker takes every published item
// at once. Each side blocks on a channel only when it must wait (an empty
// ring, a full one), after announcing it in a flag that the other side
// reads after its own store, so no wake-up is lost: with sequentially
// consistent atomics, either the waiter sees the other's store when it
// looks again, or the other sees the flag and wakes it.
type handoff[T any] struct {
	k     uint64
	buf   []T           // the ring: slot i%k
	ready chan struct{} // one slot: wakes the chunker
	space chan struct{} // one slot: wakes the iterator

	head    atomic.Uint64 // items taken by the chunker
	tail    atomic.Uint64 // items published by the iterator
	done    atomic.Bool   // the iterator ended: no item follows
	hungry  atomic.Bool   // the chunker waits for an item
	blocked atomic.Bool   // the iterator waits for a free slot
}

func newHandoff[T any](k int) *handoff[T] {
	return &handoff[T]{k: uint64(k), buf: make([]T, k), ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// put publishes v, waiting while the ring is full; false means ctx ended.
func (h *handoff[T]) put(ctx context.Context, v T) bool {
	t := h.tail.Load()
	for t-h.head.Load() >= h.k {
		h.blocked.Store(true)
		if t-h.head.Load() < h.k {
			h.blocked.Store(false)
			break
		}
		select {
		case <-h.space:
		case <-ctx.Done():
			h.blocked.Store(false)
			return false
		}
		h.blocked.Store(false)
	}
	h.buf[t%h.k] = v
	h.tail.Store(t + 1)
	if h.hungry.Load() {
		wake(h.ready)
	}
	return true
}

// close tells the chunker that no item will follow.
func (h *handoff[T]) close() {
	h.done.Store(true)
	if h.hungry.Load() {
		wake(h.ready)
	}
}

// take appends every published item to into, waiting for one if there is
// none; more is false when the iterator has ended and nothing is left, or
// ctx ended.
func (h *handoff[T]) take(ctx context.Context, into []T) (items []T, more bool) {
	hd := h.head.Load()
	for {
		t := h.tail.Load()
		if t > hd {
			var zero T
			for i := hd; i < t; i++ {
				into = append(into, h.buf[i%h.k])
				h.buf[i%h.k] = zero // drop the reference, for the garbage collector
			}
			h.head.Store(t)
			if h.blocked.Load() {
				wake(h.space)
			}
			return into, true
		}
		if h.done.Load() {
			if h.tail.Load() > hd {
				continue // published before done
			}
			return into, false
		}
		h.hungry.Store(true)
		if h.tail.Load() > hd || h.done.Load() {
			h.hungry.Store(false)
			continue
		}
		select {
		case <-h.ready:
		case <-ctx.Done():
			h.hungry.Store(false)
			return into, false
		}
		h.hungry.Store(false)
	}
}

// FromChan returns a stream of the items received from ch until ch is
// closed or p stops, passed on as [From] does: each item at once, with the
// items that are ready behind it. A nil ch makes the pipeline
// fail with an error matching ion.ErrInvalidConfig.
func FromChan[T any](p *Pipeline, ch <-chan T, opts ...Option) *Stream[T] {
	if p == nil || p.cancel == nil {
		return nil
	}
	c := newStageConfig("fromchan", p.nextStage(), opts)
	out := newStream[T](p, c.name, c.buffer)
	if ch == nil {
		c.fail(ion.NewConfigError("stream", c.name, "nil channel"))
	}
	p.start(func(ctx context.Context) error {
		if c.err != nil {
			close(out.ch)
			return c.err
		}
		return chunk(ctx, ch, out)
	})
	return out
}

// chunk moves the items of ch to out: it waits for one, takes those that
// are ready behind it (up to a chunk) without waiting, and sends them.
func chunk[T any](ctx context.Context, ch <-chan T, out *Stream[T]) error {
	defer close(out.ch)
	for {
		v, ok := recvOne(ctx, ch)
		if !ok {
			return nil
		}
		buf := append(out.get(), v)
	more:
		for len(buf) < out.k {
			select {
			case v, ok := <-ch:
				if !ok {
					break more
				}
				buf = append(buf, v)
			default:
				break more
			}
		}
		if !send(ctx, out.ch, buf) {
			return nil
		}
	}
}

// Map returns a stream of fn applied to each item of in. fn runs with the
// pipeline's ctx on up to [Concurrency] items at once, in input order unless
// [Unordered]. An error or panic in fn follows the stage's error policy
// (fail fast by default). A nil in or fn makes the pipeline fail with an
// error matching ion.ErrInvalidConfig.
func Map[In, Out any](in *Stream[In], fn func(ctx context.Context, v In) (Out, error), opts ...Option) *Stream[Out] {
	var run func(context.Context, In) (result[Out], error)
	if fn != nil {
		run = func(ctx context.Context, v In) (result[Out], error) {
			out, err := fn(ctx, v)
			return result[Out]{one: out, keep: true}, err
		}
	}
	return process(in, "map", run, opts)
}

// Filter returns a stream of the items of in for which keep returns true,
// in the same way as [Map].
func Filter[T any](in *Stream[T], keep func(ctx context.Context, v T) (bool, error), opts ...Option) *Stream[T] {
	var run func(context.Context, T) (result[T], error)
	if keep != nil {
		run = func(ctx context.Context, v T) (result[T], error) {
			ok, err := keep(ctx, v)
			return result[T]{one: v, keep: ok}, err
		}
	}
	return process(in, "filter", run, opts)
}

// FlatMap returns a stream of the items of every slice fn returns for the
// items of in, in the same way as [Map].
func FlatMap[In, Out any](in *Stream[In], fn func(ctx context.Context, v In) ([]Out, error), opts ...Option) *Stream[Out] {
	var run func(context.Context, In) (result[Out], error)
	if fn != nil {
		run = func(ctx context.Context, v In) (result[Out], error) {
			out, err := fn(ctx, v)
			return result[Out]{many: out, isMany: true}, err
		}
	}
	return process(in, "flatmap", run, opts)
}

// Sink runs fn on every item of in, in the same way as [Map], and ends the
// stream. Pipeline.Wait returns when every sink has seen every item that
// reached it.
func Sink[T any](in *Stream[T], fn func(ctx context.Context, v T) error, opts ...Option) {
	var run func(context.Context, T) (result[struct{}], error)
	if fn != nil {
		run = func(ctx context.Context, v T) (result[struct{}], error) {
			return result[struct{}]{}, fn(ctx, v)
		}
	}
	out := process(in, "sink", run, append(opts, Buffer(0)))
	if out != nil {
		out.drainIfUnconsumed()
	}
}

// Collect appends every item of in to *dst, in order, and ends the stream.
// Read *dst only after Pipeline.Wait has returned. A nil dst makes the
// pipeline fail with an error matching ion.ErrInvalidConfig.
func Collect[T any](in *Stream[T], dst *[]T) {
	var fn func(context.Context, T) error
	if dst != nil {
		fn = func(_ context.Context, v T) error { *dst = append(*dst, v); return nil }
	}
	Sink(in, fn, Named("collect"))
}

// Through returns fn run through the policy p for each item: a retry
// around a flaky call, a limiter for an API's quota, a breaker, a bulkhead,
// or a pool's policy to run the calls on the pool's workers. Each call
// allocates one closure for the item.
func Through[In, Out any](p policy.Policy[Out], fn func(ctx context.Context, v In) (Out, error)) func(ctx context.Context, v In) (Out, error) {
	return func(ctx context.Context, v In) (Out, error) {
		return policy.Run(ctx, p, func(ctx context.Context) (Out, error) { return fn(ctx, v) })
	}
}

// result is what a stage function made of one item.
type result[T any] struct {
	one    T
	keep   bool // one is emitted
	many   []T
	isMany bool // many is emitted instead of one
}

// addTo adds r's items to w; false means the ctx ended.
func (r result[T]) addTo(ctx context.Context, w *writer[T]) bool {
	if r.isMany {
		for _, v := range r.many {
			if !w.add(ctx, v) {
				return false
			}
		}
		return true
	}
	return !r.keep || w.add(ctx, r.one)
}

// appendTo appends r's items to out.
func (r result[T]) appendTo(out []T) []T {
	if r.isMany {
		return append(out, r.many...)
	}
	if r.keep {
		return append(out, r.one)
	}
	return out
}

// call runs fn on v, turning a panic or runtime.Goexit into an
// *ion.PanicError.
func call[In, Out any](ctx context.Context, fn func(context.Context, In) (result[Out], error), v In) (r result[Out], err error) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if p := recover(); p != nil {
			err = ion.NewPanicError(p)
		} else {
			err = &ion.PanicError{Value: "runtime.Goexit", Stack: debug.Stack()}
		}
		r = result[Out]{}
	}()
	r, err = fn(ctx, v)
	returned = true
	return r, err
}

// stage is what a stage over one input starts from: its input, its
// pipeline, its configuration and its output.
type stage[In, Out any] struct {
	src *Stream[In]
	p   *Pipeline
	c   stageConfig
	out *Stream[Out]
}

// newStage takes in for a stage of kind and makes the stage's output. It
// returns nil when in is nil: there is no pipeline to report to.
func newStage[In, Out any](in *Stream[In], kind string, opts []Option) *stage[In, Out] {
	src, p, ok := in.take(kind)
	if p == nil {
		return nil
	}
	st := &stage[In, Out]{src: src, p: p, c: newStageConfig(kind, p.nextStage(), opts)}
	st.out = newStream[Out](p, st.c.name, st.c.buffer)
	st.check(ok, "", "no input")
	return st
}

// check records a configuration error naming the stage's param unless ok.
func (st *stage[In, Out]) check(ok bool, param, format string, args ...any) {
	if !ok {
		name := st.c.name
		if param != "" {
			name += " " + param
		}
		st.c.fail(ion.NewConfigError("stream", name, format, args...))
	}
}

// run starts f as the stage's goroutine, writing to the stage's output,
// which is closed when f returns. A configuration error fails the
// pipeline instead, without calling f.
func (st *stage[In, Out]) run(f func(ctx context.Context, w *writer[Out]) error) {
	st.p.start(func(ctx context.Context) error {
		defer close(st.out.ch)
		if st.c.err != nil {
			return st.c.err
		}
		return f(ctx, &writer[Out]{s: st.out})
	})
}

// process builds a stage that applies fn to every item of in.
func process[In, Out any](in *Stream[In], kind string, fn func(context.Context, In) (result[Out], error), opts []Option) *Stream[Out] {
	st := newStage[In, Out](in, kind, opts)
	if st == nil {
		return nil
	}
	st.check(fn != nil, "", "nil function")
	if st.c.err != nil || st.c.concurrency == 1 {
		st.run(func(ctx context.Context, w *writer[Out]) error { return serial(ctx, st.src, w, fn, &st.c) })
	} else {
		concurrent(st.p, st.src, st.out, fn, &st.c)
	}
	return st.out
}

// serial applies fn to the items of src one at a time, sending what it made
// of each input chunk as one output chunk.
func serial[In, Out any](ctx context.Context, src *Stream[In], w *writer[Out], fn func(context.Context, In) (result[Out], error), c *stageConfig) error {
	for {
		chunk, ok := recv(ctx, src.ch)
		if !ok {
			return nil
		}
		for rest := chunk; len(rest) > 0; {
			n, err, live := applyAll(ctx, rest, fn, w)
			if !live {
				return nil
			}
			if err == nil {
				break
			}
			if err := c.handle(ctx, rest[n], err); err != nil {
				return err
			}
			rest = rest[n+1:]
		}
		src.put(chunk)
		if !w.flush(ctx) {
			return nil
		}
	}
}

// applyAll applies fn to items in order, adding the results to w, until
// one fails: it returns the index of the failed item and its error (a
// panic as an *ion.PanicError), or len(items) and nil. live is false when
// the ctx ended while sending. One deferred recover covers the whole
// chunk, so an item costs no defer of its own.
func applyAll[In, Out any](ctx context.Context, items []In, fn func(context.Context, In) (result[Out], error), w *writer[Out]) (n int, err error, live bool) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if p := recover(); p != nil {
			err = ion.NewPanicError(p)
		} else {
			err = &ion.PanicError{Value: "runtime.Goexit", Stack: debug.Stack()}
		}
		live = true
	}()
	for n = 0; n < len(items); n++ {
		r, err := fn(ctx, items[n])
		if err != nil {
			returned = true
			return n, err, true
		}
		if !r.addTo(ctx, w) {
			returned = true
			return n, nil, false
		}
	}
	returned = true
	return n, nil, true
}

// slot is one piece of an input chunk on its way through a concurrent
// stage: its items, what the stage made of them, and their errors.
type slot[In, Out any] struct {
	items []In
	out   []Out
	errs  []failed[In]
	done  chan struct{} // closed when out and errs are set (ordered stages)
}

type failed[In any] struct {
	v   In
	err error
}

// concurrent runs a dispatcher that splits each input chunk into up to
// c.concurrency pieces, so that every worker has items to work on, and
// c.concurrency workers that apply fn to the pieces. In an ordered stage
// the dispatcher also queues the pieces in input order, up to
// c.concurrency+c.buffer pieces ahead of the emitter, and the emitter sends
// their results in that order; in an
// unordered stage each worker sends its results itself.
func concurrent[In, Out any](p *Pipeline, src *Stream[In], out *Stream[Out], fn func(context.Context, In) (result[Out], error), c *stageConfig) {
	var queue chan *slot[In, Out] // ordered: pieces in input order, owned by the emitter
	if !c.unordered {
		// Room for every worker's piece and buffer more behind a slow one.
		queue = make(chan *slot[In, Out], c.concurrency+c.buffer)
	}
	work := make(chan *slot[In, Out]) // pieces to work on, closed by the dispatcher
	p.start(func(ctx context.Context) error {
		defer close(work)
		if queue != nil {
			defer close(queue)
		}
		for {
			chunk, ok := recv(ctx, src.ch)
			if !ok {
				return nil
			}
			// The pieces are views of the chunk, which the workers read
			// concurrently, so it is not handed back for reuse.
			per := (len(chunk) + c.concurrency - 1) / c.concurrency
			for i := 0; i < len(chunk); i += per {
				s := &slot[In, Out]{items: chunk[i:min(i+per, len(chunk))]}
				if queue != nil {
					s.done = make(chan struct{})
					if !sendOne(ctx, queue, s) {
						return nil
					}
				}
				if !sendOne(ctx, work, s) {
					return nil
				}
			}
		}
	})
	var live sync.WaitGroup
	live.Add(c.concurrency)
	for range c.concurrency {
		p.start(func(ctx context.Context) error {
			defer live.Done()
			for s := range work {
				for _, v := range s.items {
					r, err := call(ctx, fn, v)
					if err != nil {
						s.errs = append(s.errs, failed[In]{v, err})
						continue
					}
					s.out = r.appendTo(s.out)
				}
				if queue != nil {
					close(s.done)
					continue
				}
				for _, f := range s.errs {
					if err := c.handle(ctx, f.v, f.err); err != nil {
						return err
					}
				}
				if !out.sendAll(ctx, s.out) {
					return nil
				}
			}
			return nil
		})
	}
	if queue == nil {
		p.start(func(context.Context) error {
			live.Wait()
			close(out.ch)
			return nil
		})
		return
	}
	p.start(func(ctx context.Context) error {
		defer close(out.ch)
		drain := func() {
			// Let the dispatcher and the workers end.
			for range queue {
			}
		}
		for s := range queue {
			select {
			case <-s.done:
			case <-ctx.Done():
				drain()
				return nil
			}
			for _, f := range s.errs {
				if err := c.handle(ctx, f.v, f.err); err != nil {
					// Stop the pipeline before draining, so the dispatcher
					// stops reading its input.
					p.fail(err)
					drain()
					return nil
				}
			}
			if !out.sendAll(ctx, s.out) {
				drain()
				return nil
			}
		}
		return nil
	})
}
