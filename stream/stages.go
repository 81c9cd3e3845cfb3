package stream

import (
	"context"
	"iter"
	"runtime/debug"
	"sync"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// From returns a stream of the items of seq, read on a goroutine of p. The
// iteration stops early (seq's yield returns false) when p stops. A nil p
// or seq makes the pipeline fail with an error matching ion.ErrInvalidConfig.
func From[T any](p *Pipeline, seq iter.Seq[T], opts ...Option) *Stream[T] {
	if p == nil || p.cancel == nil {
		return nil
	}
	c := newStageConfig("from", p.nextStage(), opts)
	out := newStream[T](p, c.name, c.buffer)
	if seq == nil {
		c.fail(ion.NewConfigError("stream", c.name, "nil iter.Seq"))
	}
	p.start(func(ctx context.Context) error {
		defer close(out.ch)
		if c.err != nil {
			return c.err
		}
		for v := range seq {
			if !send(ctx, out.ch, v) {
				return nil
			}
		}
		return nil
	})
	return out
}

// FromChan returns a stream of the items received from ch until ch is
// closed or p stops. A nil ch makes the pipeline fail with an error
// matching ion.ErrInvalidConfig.
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
		defer close(out.ch)
		if c.err != nil {
			return c.err
		}
		for {
			v, ok := recv(ctx, ch)
			if !ok || !send(ctx, out.ch, v) {
				return nil
			}
		}
	})
	return out
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

// emit sends r's items on out; false means the ctx ended.
func (r result[T]) emit(ctx context.Context, out chan<- T) bool {
	if r.isMany {
		for _, v := range r.many {
			if !send(ctx, out, v) {
				return false
			}
		}
		return true
	}
	return !r.keep || send(ctx, out, r.one)
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

// process builds a stage that applies fn to every item of in.
func process[In, Out any](in *Stream[In], kind string, fn func(context.Context, In) (result[Out], error), opts []Option) *Stream[Out] {
	src, p, ok := in.take(kind)
	if p == nil {
		return nil
	}
	c := newStageConfig(kind, p.nextStage(), opts)
	out := newStream[Out](p, c.name, c.buffer)
	switch {
	case fn == nil:
		c.fail(ion.NewConfigError("stream", c.name, "nil function"))
	case !ok:
		c.fail(ion.NewConfigError("stream", c.name, "no input"))
	}
	if c.err != nil {
		p.start(func(context.Context) error { close(out.ch); return c.err })
		return out
	}
	switch {
	case c.concurrency == 1:
		p.start(func(ctx context.Context) error {
			defer close(out.ch)
			for {
				v, ok := recv(ctx, src)
				if !ok {
					return nil
				}
				r, err := call(ctx, fn, v)
				if err != nil {
					if err := c.handle(ctx, v, err); err != nil {
						return err
					}
					continue
				}
				if !r.emit(ctx, out.ch) {
					return nil
				}
			}
		})
	case c.unordered:
		unordered(p, src, out.ch, fn, &c)
	default:
		ordered(p, src, out.ch, fn, &c)
	}
	return out
}

// unordered runs c.concurrency workers that each take an item, apply fn
// and send the result; a closer closes out once every worker has ended.
func unordered[In, Out any](p *Pipeline, src <-chan In, out chan Out, fn func(context.Context, In) (result[Out], error), c *stageConfig) {
	var live sync.WaitGroup
	live.Add(c.concurrency)
	for range c.concurrency {
		p.start(func(ctx context.Context) error {
			defer live.Done()
			for {
				v, ok := recv(ctx, src)
				if !ok {
					return nil
				}
				r, err := call(ctx, fn, v)
				if err != nil {
					if err := c.handle(ctx, v, err); err != nil {
						return err
					}
					continue
				}
				if !r.emit(ctx, out) {
					return nil
				}
			}
		})
	}
	p.start(func(context.Context) error {
		live.Wait()
		close(out)
		return nil
	})
}

// slot is one item's place in an ordered stage's output queue.
type slot[In, Out any] struct {
	v    In
	r    result[Out]
	err  error
	done chan struct{} // closed when r and err are set
}

// ordered runs a dispatcher that queues a slot per item in input order, up
// to c.buffer slots ahead of the emitter; c.concurrency workers fill the
// slots; the emitter sends the results in slot order.
func ordered[In, Out any](p *Pipeline, src <-chan In, out chan Out, fn func(context.Context, In) (result[Out], error), c *stageConfig) {
	queue := make(chan *slot[In, Out], max(c.buffer, 1)) // slots in input order, owned by the emitter
	work := make(chan *slot[In, Out])                    // slots to fill, closed by the dispatcher
	p.start(func(ctx context.Context) error {
		defer close(work)
		defer close(queue)
		for {
			v, ok := recv(ctx, src)
			if !ok {
				return nil
			}
			s := &slot[In, Out]{v: v, done: make(chan struct{})}
			if !send(ctx, queue, s) || !send(ctx, work, s) {
				return nil
			}
		}
	})
	for range c.concurrency {
		p.start(func(ctx context.Context) error {
			for s := range work {
				s.r, s.err = call(ctx, fn, s.v)
				close(s.done)
			}
			return nil
		})
	}
	p.start(func(ctx context.Context) error {
		defer close(out)
		for s := range queue {
			select {
			case <-s.done:
			case <-ctx.Done():
				// Let the dispatcher and workers end: drain the queue.
				for range queue {
				}
				return nil
			}
			if s.err != nil {
				if err := c.handle(ctx, s.v, s.err); err != nil {
					// Stop the pipeline before draining, so the dispatcher
					// stops reading its input.
					p.fail(err)
					for range queue {
					}
					return nil
				}
				continue
			}
			if !s.r.emit(ctx, out) {
				for range queue {
				}
				return nil
			}
		}
		return nil
	})
}
