package stream

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/ionkit/ion"
)

// Option configures a stage: Map, Filter, FlatMap, Sink, Batch and the
// windows take them; the options that do not apply to a stage (Concurrency
// for Batch) are documented as ignored there.
type Option interface{ apply(*stageConfig) }

// DefaultBuffer is a stage's output buffer when [Buffer] is not given.
const DefaultBuffer = 16

type errorMode int

const (
	failFast errorMode = iota
	skip
	deadLetter
)

type stageConfig struct {
	name        string
	concurrency int
	buffer      int
	unordered   bool
	mode        errorMode
	dead        func(ctx context.Context, e *ItemError)
	skipped     *atomic.Int64
	err         error // the first configuration error
}

func newStageConfig(kind string, n int, opts []Option) stageConfig {
	c := stageConfig{name: fmt.Sprintf("%s#%d", kind, n), concurrency: 1, buffer: DefaultBuffer}
	for i, o := range opts {
		if o == nil {
			c.fail(ion.NewConfigError("stream", fmt.Sprintf("%s option %d", c.name, i), "nil option"))
			continue
		}
		o.apply(&c)
	}
	return c
}

func (c *stageConfig) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

type optionFunc func(*stageConfig)

func (f optionFunc) apply(c *stageConfig) { f(c) }

// Named names the stage in its errors ([ItemError.Stage]); by default a
// stage is named for its kind and the order it was built in ("map#2").
func Named(name string) Option {
	return optionFunc(func(c *stageConfig) { c.name = name })
}

// Concurrency runs the stage function on up to n items at once (default 1).
// An n below 1 fails the pipeline with an error matching
// ion.ErrInvalidConfig.
func Concurrency(n int) Option {
	return optionFunc(func(c *stageConfig) {
		if n < 1 {
			c.fail(ion.NewConfigError("stream", "Concurrency", "%d is below 1", n))
			return
		}
		c.concurrency = n
	})
}

// Buffer bounds the stage's output to n items waiting for the next stage
// (default [DefaultBuffer]); an ordered concurrent stage also keeps at most
// n results waiting behind a slower item. 0 makes every hand-off
// synchronous. A negative n fails the pipeline with an error matching
// ion.ErrInvalidConfig.
func Buffer(n int) Option {
	return optionFunc(func(c *stageConfig) {
		if n < 0 {
			c.fail(ion.NewConfigError("stream", "Buffer", "%d is negative", n))
			return
		}
		c.buffer = n
	})
}

// Unordered sends each result of a concurrent stage as soon as it is ready
// instead of in input order.
func Unordered() Option {
	return optionFunc(func(c *stageConfig) { c.unordered = true })
}

// Skip drops an item whose function failed (or panicked) and goes on; the
// count of dropped items is added to *skipped when skipped is not nil.
func Skip(skipped *atomic.Int64) Option {
	return optionFunc(func(c *stageConfig) { c.mode, c.skipped = skip, skipped })
}

// DeadLetter drops an item whose function failed (or panicked), hands it to
// fn with its error, and goes on. fn runs on the stage's goroutine, so a
// slow fn slows the stage. A nil fn fails the pipeline with an error
// matching ion.ErrInvalidConfig.
func DeadLetter(fn func(ctx context.Context, e *ItemError)) Option {
	return optionFunc(func(c *stageConfig) {
		if fn == nil {
			c.fail(ion.NewConfigError("stream", "DeadLetter", "nil function"))
			return
		}
		c.mode, c.dead = deadLetter, fn
	})
}

// handle applies the stage's error policy to item's error and returns the
// error that must stop the pipeline, or nil to go on.
func (c *stageConfig) handle(ctx context.Context, item any, err error) error {
	e := &ItemError{Stage: c.name, Item: item, Err: err}
	switch c.mode {
	case skip:
		if c.skipped != nil {
			c.skipped.Add(1)
		}
		return nil
	case deadLetter:
		c.dead(ctx, e)
		return nil
	}
	return e
}
