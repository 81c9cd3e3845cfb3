package sem

import (
	"github.com/ionkit/ion/internal/sink"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// Option configures a [Weighted] built by [NewWeighted].
type Option interface {
	apply(*config)
}

type config struct {
	name     string
	fairness Fairness
	timeout  time.Duration // 0: wait as long as ctx allows
	logger   observe.Logger
	metrics  observe.Metrics
	tracer   observe.Tracer
	err      error // the first invalid option; the semaphore fails closed
}

// newConfig returns the defaults (FIFO, no acquire timeout, no sinks) with
// opts applied in order.
func newConfig(opts []Option) config {
	c := config{fairness: FIFO}
	for i, o := range opts {
		if o == nil {
			c.fail(ion.NewConfigError("sem", "opts", "nil Option at position %d", i))
			continue
		}
		o.apply(&c)
	}
	return c
}

// fail records err unless an earlier option already failed.
func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithName names the semaphore in metrics (the "name" label), logs and the
// bulkhead's String and spans. The default is "".
func WithName(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// WithFairness sets the order in which callers are served: [FIFO] (the
// default), [LIFO] or [None]. An unknown value makes the semaphore fail
// closed with an error matching ion.ErrInvalidConfig.
func WithFairness(f Fairness) Option {
	return optionFunc(func(c *config) {
		if f < FIFO || f > None {
			c.fail(ion.NewConfigError("sem", "WithFairness", "unknown fairness %d", int(f)))
			return
		}
		c.fairness = f
	})
}

// WithAcquireTimeout bounds how long [Weighted.Acquire] waits in the queue.
// A wait that reaches d fails with an error matching [ErrFull],
// ion.ErrRejected and context.DeadlineExceeded, holding nothing. The timer
// starts only when a caller has to queue, so an Acquire that is served at
// once costs nothing extra. The default 0 waits as long as ctx allows; a
// negative d makes the semaphore fail closed with an error matching
// ion.ErrInvalidConfig.
func WithAcquireTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail(ion.NewConfigError("sem", "WithAcquireTimeout", "must not be negative, got %v", d))
			return
		}
		c.timeout = d
	})
}

// WithLogger sends the semaphore's rare events (a release of more than is
// held, a negative release) to l. A nil l makes the semaphore fail closed.
func WithLogger(l observe.Logger) Option {
	return optionFunc(func(c *config) { c.fail(sink.Set(&c.logger, l, "sem", "WithLogger")) })
}

// WithMetrics records the metrics listed in the package doc into m. The
// instruments are resolved once, here; recording does not allocate. A nil m
// makes the semaphore fail closed.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) { c.fail(sink.Set(&c.metrics, m, "sem", "WithMetrics")) })
}

// WithTracer makes the bulkhead ([Policy]) start one span per call. Acquire,
// TryAcquire and Release do not trace. A nil t makes the semaphore fail
// closed.
func WithTracer(t observe.Tracer) Option {
	return optionFunc(func(c *config) { c.fail(sink.Set(&c.tracer, t, "sem", "WithTracer")) })
}
