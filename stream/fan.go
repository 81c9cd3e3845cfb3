package stream

import (
	"context"
	"sync"

	"github.com/ionkit/ion"
)

// Merge returns one stream of the items of every input, in the order they
// arrive (fan-in). It ends when every input has ended. Only [Named] and
// [Buffer] apply. Merging no stream, or a nil one, fails the pipeline with
// an error matching ion.ErrInvalidConfig; the inputs must belong to one
// Pipeline.
func Merge[T any](ins []*Stream[T], opts ...Option) *Stream[T] {
	var p *Pipeline
	for _, in := range ins {
		if in != nil && in.p != nil {
			p = in.p
			break
		}
	}
	if p == nil {
		return nil
	}
	c := newStageConfig("merge", p.nextStage(), opts)
	out := newStream[T](p, c.name, c.buffer)
	var srcs []*Stream[T]
	for i, in := range ins {
		src, ip, ok := in.take(c.name)
		switch {
		case !ok:
			c.fail(ion.NewConfigError("stream", c.name, "input %d is nil or already consumed", i))
		case ip != p:
			c.fail(ion.NewConfigError("stream", c.name, "input %d belongs to another Pipeline", i))
		default:
			srcs = append(srcs, src)
		}
	}
	if c.err != nil {
		p.start(func(context.Context) error { close(out.ch); return c.err })
		return out
	}
	var live sync.WaitGroup
	live.Add(len(srcs))
	for _, src := range srcs {
		p.start(func(ctx context.Context) error {
			defer live.Done()
			for {
				// Chunks pass through whole; the consumer hands them back
				// to out, which reuses those of its own chunk size.
				chunk, ok := recv(ctx, src.ch)
				if !ok || !send(ctx, out.ch, chunk) {
					return nil
				}
			}
		})
	}
	p.start(func(context.Context) error {
		live.Wait()
		close(out.ch)
		return nil
	})
	return out
}

// Tee returns n streams that each carry every item of in (fan-out), in
// order. Items are shared, not copied. The slowest output paces all of
// them: an item is read from in only when every output has taken the one
// before (each has its own [Buffer]). Only [Named] and [Buffer] apply. An n
// below 1 fails the pipeline with an error matching ion.ErrInvalidConfig.
func Tee[T any](in *Stream[T], n int, opts ...Option) []*Stream[T] {
	src, p, ok := in.take("tee")
	if p == nil {
		return nil
	}
	c := newStageConfig("tee", p.nextStage(), opts)
	switch {
	case !ok:
		c.fail(ion.NewConfigError("stream", c.name, "no input"))
	case n < 1:
		c.fail(ion.NewConfigError("stream", c.name+" n", "%d is below 1", n))
		n = 0
	}
	outs := make([]*Stream[T], n)
	for i := range outs {
		outs[i] = newStream[T](p, c.name, c.buffer)
	}
	p.start(func(ctx context.Context) error {
		defer func() {
			for _, o := range outs {
				close(o.ch)
			}
		}()
		if c.err != nil {
			return c.err
		}
		for {
			chunk, ok := recv(ctx, src.ch)
			if !ok {
				return nil
			}
			// Each output gets its own copy of the chunk: its consumer may
			// reuse the chunk's memory.
			for _, o := range outs {
				cp := append(o.get(), chunk...)
				if !o.sendAll(ctx, cp) {
					return nil
				}
			}
			src.put(chunk)
		}
	})
	return outs
}
