package sem

import (
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

// Option configures a [Weighted] built by [NewWeighted].
type Option interface {
	apply(*config)
}

type config struct {
	name                       string
	fairness                   Fairness
	timeout                    time.Duration // 0: wait as long as ctx allows
	lifoAt                     int           // WithAdaptiveLIFO; 0: never
	codelTarget, codelInterval time.Duration // WithCoDel; 0: off
	logger                     observe.Logger
	metrics                    observe.Metrics
	tracer                     observe.Tracer
	err                        error // the first invalid option; the semaphore fails closed
	// fixed names the first option given that only NewWeighted takes (the
	// name or a sink); Reconfigure refuses it.
	fixed string
}

// newConfig returns the defaults (FIFO, no acquire timeout, no queue
// management, no sinks) with opts applied in order.
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

// setFixed records that the option named param, which only NewWeighted
// takes, was given.
func (c *config) setFixed(param string) {
	if c.fixed == "" {
		c.fixed = param
	}
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithName names the semaphore in metrics (the "name" label), logs and the
// bulkhead's String and spans. The default is "". Only [NewWeighted] takes
// it: [Weighted.Reconfigure] refuses it.
func WithName(name string) Option {
	return optionFunc(func(c *config) {
		c.name = name
		c.setFixed("WithName")
	})
}

// WithFairness sets the order in which callers are served: [FIFO] (the
// default), [LIFO] or [None]. An unknown value makes the semaphore fail
// closed with an error matching ion.ErrInvalidConfig. [Weighted.Reconfigure]
// changes it in place, for the grants made from then on.
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
// ion.ErrInvalidConfig. [Weighted.Reconfigure] changes it in place for the
// Acquires that queue after it; waiters keep the bound they queued with.
func WithAcquireTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail(ion.NewConfigError("sem", "WithAcquireTimeout", "must not be negative, got %v", d))
			return
		}
		c.timeout = d
	})
}

// WithCoDel turns on CoDel queue management for the callers waiting in
// [Weighted.Acquire] (and in a bulkhead with [WithMaxWait]). When permits
// are about to be granted to a waiter, the semaphore notes how long it
// waited; when the shortest of those waits stayed above target for a whole
// interval, the queue is standing (a backlog that does not drain, not a
// burst being absorbed), and a waiter that has waited longer than target is
// shed instead of served: its Acquire returns an error matching [ErrShed]
// and ion.ErrRejected, holding nothing, and the permits go to the next
// waiter in the [Fairness] order. Such callers would most likely miss their
// deadlines anyway, and serving them keeps the queue standing. A burst that
// drains within an interval loses nobody. Facebook's servers use 5ms and
// 100ms for their request queues.
//
// Callers served without waiting, TryAcquire and bulkhead calls without a
// max wait are never shed. The cost is a clock read by each caller that
// takes the slow path to queue, and one by each release (or departure, or
// SetCapacity) that hands permits to waiters; the fast paths read no clock. Off by default; a target or interval that is not positive
// makes the semaphore fail closed with an error matching
// ion.ErrInvalidConfig that names WithCoDel. [Weighted.Reconfigure] turns it
// on or off, or changes target and interval, in place.
func WithCoDel(target, interval time.Duration) Option {
	return optionFunc(func(c *config) {
		if target <= 0 || interval <= 0 {
			c.fail(ion.NewConfigError("sem", "WithCoDel", "target and interval must be positive, got %v and %v", target, interval))
			return
		}
		c.codelTarget, c.codelInterval = target, interval
	})
}

// WithAdaptiveLIFO serves the newest waiter first while at least n callers
// wait: under a backlog the newest callers are the ones most likely still
// waiting for the answer, while the oldest may have given up. While fewer
// than n wait, the semaphore serves them in its [Fairness] order.
//
// With [FIFO] (the default), from n waiters on the queue is served from
// its newest end, which blocks those older than it until it fits, as under
// [LIFO]; and a new Acquire, which would be the newest waiter, takes free
// permits at once when they fit. TryAcquire and bulkhead calls without a
// max wait never queue, so they keep FIFO's rule and take nothing while
// anyone waits. With LIFO it changes nothing. With [None], a release's pass
// over the queue starts from the newest waiter instead of the oldest while
// at least n wait. Off by default; an n below 1 makes the semaphore fail
// closed with an error matching ion.ErrInvalidConfig that names
// WithAdaptiveLIFO. [Weighted.Reconfigure] changes it in place, from the
// next grant on.
func WithAdaptiveLIFO(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail(ion.NewConfigError("sem", "WithAdaptiveLIFO", "must be at least 1, got %d", n))
			return
		}
		c.lifoAt = n
	})
}

// WithLogger sends the semaphore's rare events (a release of more than is
// held, a negative release) to l. A nil l makes the semaphore fail closed.
// Only [NewWeighted] takes it: [Weighted.Reconfigure] refuses it.
func WithLogger(l observe.Logger) Option {
	return optionFunc(func(c *config) {
		c.fail(sink.Set(&c.logger, l, "sem", "WithLogger"))
		c.setFixed("WithLogger")
	})
}

// WithMetrics records the metrics listed in the package doc into m. The
// instruments are resolved once, here; recording does not allocate. A nil m
// makes the semaphore fail closed. Only [NewWeighted] takes it:
// [Weighted.Reconfigure] refuses it.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) {
		c.fail(sink.Set(&c.metrics, m, "sem", "WithMetrics"))
		c.setFixed("WithMetrics")
	})
}

// WithTracer makes the bulkhead ([Policy]) start one span per call. Acquire,
// TryAcquire and Release do not trace. A nil t makes the semaphore fail
// closed. Only [NewWeighted] takes it: [Weighted.Reconfigure] refuses it.
func WithTracer(t observe.Tracer) Option {
	return optionFunc(func(c *config) {
		c.fail(sink.Set(&c.tracer, t, "sem", "WithTracer"))
		c.setFixed("WithTracer")
	})
}
