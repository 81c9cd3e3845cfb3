package pool

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/codel"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Order is the order in which workers take queued tasks. The zero value is
// [FIFO].
type Order uint8

const (
	// FIFO runs the oldest queued task first. It is the default.
	FIFO Order = iota
	// LIFO runs the newest queued task first: under overload the freshest
	// work, whose caller is most likely still waiting, is served while older
	// tasks age out (pair it with [WithMaxQueueWait]). [WithAdaptiveLIFO]
	// does so only while the queue is long.
	LIFO
)

// String returns "FIFO", "LIFO" or "Order(n)".
func (o Order) String() string {
	switch o {
	case FIFO:
		return "FIFO"
	case LIFO:
		return "LIFO"
	}
	return "Order(" + strconv.Itoa(int(o)) + ")"
}

// Option configures a [Pool]. Options are applied in order by [New]; a
// later option of the same kind replaces an earlier one. [Pool.Reconfigure]
// takes the queue settings ([WithQueueOrder], [WithMaxQueueWait],
// [WithIdleTimeout], [WithCoDel], [WithAdaptiveLIFO]) and refuses the
// others, which only New takes.
type Option interface {
	apply(*config)
}

type config struct {
	name      string
	base      context.Context
	onPanic   func(*ion.PanicError)
	onDiscard func(ctx context.Context, task Task, err error)
	logger    observe.Logger
	metrics   observe.Metrics
	tracer    observe.Tracer
	taskPol   policy.Policy[any]
	order     Order
	lifoAt    int // adaptive LIFO: the queue length from which the newest task is taken first; 0 for off
	maxWait   time.Duration
	codel     codel.State   // WithCoDel's Target and Interval (Target 0 for off), copied by New into the pool's state
	idle      time.Duration // idle timeout; 0 keeps idle workers until Close
	startHook func()        // set only by tests (export_test.go): runs on a worker woken with a task before it counts itself started
	err       error         // the first invalid option; makes the pool fail closed
	// fixed names the first option given that only New takes (the name,
	// the base context, a handler, a sink or the task policy); Reconfigure
	// refuses it.
	fixed string
}

// stamps reports whether a pool of c stamps its items with their enqueue
// time: a max queue wait, CoDel and the wait histogram need it.
func (c *config) stamps() bool {
	return c.maxWait > 0 || c.codel.Target > 0 || c.metrics != nil
}

// takeNewestFrom returns the queue length from which workers take the
// newest task first. One comparison per take serves every order: LIFO takes
// the newest at any length, FIFO never, adaptive LIFO from its threshold.
func (c *config) takeNewestFrom() int {
	switch {
	case c.order == LIFO:
		return 1
	case c.lifoAt > 0:
		return c.lifoAt
	}
	return math.MaxInt
}

// DefaultIdleTimeout is how long a worker stays idle before it exits, unless
// [WithIdleTimeout] says otherwise: long enough that a pool under steady or
// bursty load keeps its workers warm (starting one costs about a
// microsecond), short enough that a burst's workers do not stay forever.
const DefaultIdleTimeout = 10 * time.Second

// newConfig returns the defaults with opts applied: no name, a Background
// base context, FIFO order, no queue-wait limit, no queue management, the
// default idle timeout, no hooks and no sinks.
func newConfig(opts []Option) config {
	c := config{base: context.Background(), idle: DefaultIdleTimeout}
	for _, o := range opts {
		if o == nil {
			c.fail("opts", "nil option")
			continue
		}
		o.apply(&c)
	}
	return c
}

func (c *config) fail(param, format string, args ...any) {
	c.setErr(ion.NewConfigError("pool", param, format, args...))
}

// setErr records err (if not nil) unless an earlier option failed.
func (c *config) setErr(err error) {
	if c.err == nil {
		c.err = err
	}
}

// setFixed records that the option named param, which only New takes, was
// given.
func (c *config) setFixed(param string) {
	if c.fixed == "" {
		c.fixed = param
	}
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// fixed returns an option that only New takes: it applies f and records
// name, for Reconfigure to refuse.
func fixed(name string, f func(*config)) Option {
	return optionFunc(func(c *config) {
		c.setFixed(name)
		f(c)
	})
}

// WithName names the pool. The name labels its metrics and log records and
// appears in the adapter's String ("pool(name)").
func WithName(name string) Option {
	return fixed("WithName", func(c *config) { c.name = name })
}

// WithBaseContext sets the context every task context is derived from: its
// values are visible to every task and its cancellation cancels every task's
// context (the pool itself keeps accepting tasks, and reports them). The default is
// context.Background(). A task still queued when ctx ends is not run (see
// [ErrNotStarted]). A nil ctx makes the pool fail closed.
func WithBaseContext(ctx context.Context) Option {
	return fixed("WithBaseContext", func(c *config) {
		if ctx == nil {
			c.fail("WithBaseContext", "nil context")
			return
		}
		c.base = ctx
	})
}

// WithPanicHandler sets a function called on the worker's goroutine with the
// [*ion.PanicError] of every task that panics or calls runtime.Goexit. It is
// called for calls of [Go] and [Policy] too, before their callers receive the
// same error. The task counts as panicked, never as completed. A panic in fn
// itself is recovered and logged. A nil fn makes the pool fail closed.
func WithPanicHandler(fn func(*ion.PanicError)) Option {
	return fixed("WithPanicHandler", func(c *config) {
		if fn == nil {
			c.fail("WithPanicHandler", "nil function")
			return
		}
		c.onPanic = fn
	})
}

// WithDiscardHandler sets a function called once for every accepted task of
// [Pool.Submit] or [Pool.TrySubmit] that will not run, with the ctx it was
// submitted with: err matches [ErrExpired] when its queue wait passed the
// limit of [WithMaxQueueWait], [ErrShed] when CoDel shed it ([WithCoDel]),
// [ErrClosed] (wrapping the ctx error of [Pool.Close]) when a forced Close
// discarded it, and [ErrNotStarted] (wrapping the ctx's error) when its ctx
// was done when a worker took it. Tasks of [Go] and [Policy]
// report the same errors to their callers instead. fn runs without any lock
// held, on the goroutine that discarded the task; a panic in fn is recovered
// and logged. A nil fn makes the pool fail closed.
func WithDiscardHandler(fn func(ctx context.Context, task Task, err error)) Option {
	return fixed("WithDiscardHandler", func(c *config) {
		if fn == nil {
			c.fail("WithDiscardHandler", "nil function")
			return
		}
		c.onDiscard = fn
	})
}

// WithLogger sets the Logger for rare events: task panics (Error), forced
// closes (Warn), resizes of the workers or the queue (Info) and panics in
// hooks (Error). A nil logger
// makes the pool fail closed.
func WithLogger(l observe.Logger) Option {
	return fixed("WithLogger", func(c *config) { c.setErr(sink.Set(&c.logger, l, "pool", "WithLogger")) })
}

// WithMetrics sets the Metrics sink; the instruments are resolved once, by
// [New]. The package doc lists the metrics. A nil sink makes the pool fail
// closed.
func WithMetrics(m observe.Metrics) Option {
	return fixed("WithMetrics", func(c *config) { c.setErr(sink.Set(&c.metrics, m, "pool", "WithMetrics")) })
}

// WithTracer sets the Tracer: one span "pool.task" per task run on a worker
// for [Pool.Submit], [Pool.TrySubmit] and [Go], and one span "pool.execute"
// per [Policy] execution on the caller's goroutine. A nil tracer makes the
// pool fail closed.
func WithTracer(t observe.Tracer) Option {
	return fixed("WithTracer", func(c *config) { c.setErr(sink.Set(&c.tracer, t, "pool", "WithTracer")) })
}

// WithTaskPolicy runs every task under pol, on the worker: a per-task
// timeout, a retry, a hedge, a limiter shared with other code. pol sees the
// task's context; what it returns is the task's result: its error is the
// task's error, and its value the value a [Go] or [Policy] call returns (a
// [Task] returns none). One pool runs calls of every result type, and
// options are not generic, so pol handles values as any (write
// policy.Hedge[any](d)); a classifier of a pipeline used as pol sees each
// call's own value. A pol that replaces a value with one of another type
// than the call's (a Fallback) makes that call fail with an error matching
// ion.ErrInvalidConfig.
//
// The result is taken once, when pol returns: a pol that runs the task
// several times (Retry, Hedge) or lets it outlive the call (Timeout with
// WithAbandon) cannot change it later. A panic of the task counts as a panic
// (and reaches the panic handler) also when pol recovers it on a goroutine
// of its own and returns it as a [*ion.PanicError]. A nil pol makes the pool
// fail closed.
func WithTaskPolicy(pol policy.Policy[any]) Option {
	return fixed("WithTaskPolicy", func(c *config) {
		if pol == nil {
			c.fail("WithTaskPolicy", "nil policy")
			return
		}
		c.taskPol = pol
	})
}

// WithQueueOrder sets the order in which workers take queued tasks; the
// default is [FIFO]. Submitters blocked on a full queue are always admitted
// in FIFO order. [WithAdaptiveLIFO] overrides FIFO while the queue is long.
// An unknown order makes the pool fail closed. [Pool.Reconfigure] changes it
// in place, from the next task taken.
func WithQueueOrder(o Order) Option {
	return optionFunc(func(c *config) {
		if o != FIFO && o != LIFO {
			c.fail("WithQueueOrder", "unknown order %d", int(o))
			return
		}
		c.order = o
	})
}

// WithMaxQueueWait bounds how long an accepted task may wait in the queue: a
// task still queued d after it was accepted is not run; it counts as expired
// and reports [ErrExpired] (to its caller, or to the discard handler). Expiry
// is checked when a worker takes a task and when a submitter finds the queue
// full, so an expired task is reported as soon as a worker or a submitter
// looks at the queue. 0, the default, means no limit; a negative d makes the
// pool fail closed. With a limit set, each submission reads the clock once.
// [Pool.Reconfigure] changes it in place, for the tasks already queued too.
func WithMaxQueueWait(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithMaxQueueWait", "must not be negative, got %v", d)
			return
		}
		c.maxWait = d
	})
}

// WithIdleTimeout sets how long a worker may stay idle before it exits:
// an idle worker exits after between d and 2d without a task (the pool checks
// its idle workers once per d, with one timer, and only while some are
// idle), and a later submission starts a new one. The default is
// [DefaultIdleTimeout]; 0 keeps idle workers until Close or a shrinking
// Resize; a negative d makes the pool fail closed. Retiring workers changes
// only Snapshot.Workers: the size, the queue and blocked submitters are
// unaffected. [Pool.Reconfigure] changes it in place, for the workers
// already idle too.
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithIdleTimeout", "must not be negative, got %v", d)
			return
		}
		c.idle = d
	})
}

// WithAdaptiveLIFO makes workers take the newest queued task first while the
// queue holds at least n tasks, and the oldest first (the order of
// [WithQueueOrder]) below n: a short queue is a burst being absorbed, served
// in order, while under a backlog the newest tasks are the ones whose
// callers are still waiting for them, and the oldest, whose callers may
// have given up, wait for the queue to shrink (bound that wait with
// [WithMaxQueueWait]). The length is the queue's as a worker takes a task,
// not counting tasks set aside for waking workers (see the package doc).
// With [WithQueueOrder](LIFO) the newest task is taken first at every
// length, so it changes nothing. It costs nothing per task beyond the
// comparison every take already makes. Off by default; an n below 1 makes
// the pool fail closed naming WithAdaptiveLIFO. [Pool.Reconfigure] changes
// it in place, from the next task taken.
func WithAdaptiveLIFO(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("WithAdaptiveLIFO", "must be at least 1, got %d", n)
			return
		}
		c.lifoAt = n
	})
}

// WithCoDel turns on CoDel queue management: the queue is standing when, over
// a whole interval, every task that workers took from it had waited longer
// than target (a backlog that does not drain, rather than a burst being
// absorbed). While it is standing, a task taken from the queue after waiting
// longer than target is shed instead of run, and the worker takes the next
// one: serving a backlog's oldest work first keeps every task late, while
// shedding it brings the waits back under target. Standing is judged at the
// end of each interval from that interval's waits, and a queue from which no
// task was taken for a whole interval starts afresh, not standing: an
// occasional burst runs even when its tasks wait longer than target, while
// a backlog that persists past an interval is shed. A shed task counts as
// shed ([Snapshot].Shed) and reports an error matching [ErrShed] (to its
// caller, or to the discard handler) that says how long it waited.
//
// CoDel judges the tasks workers take from the queue, in the order they take
// them: with LIFO ([WithQueueOrder], [WithAdaptiveLIFO]) those are the
// newest, whose waits are short, so the oldest are left to
// [WithMaxQueueWait]. Tasks set aside for waking workers and hand-offs of a
// zero-size queue are never shed. A task whose wait passed the limit of
// WithMaxQueueWait is expired, not shed. With CoDel on, each submission and
// each take of a task read the clock once (the reads WithMaxQueueWait makes
// too, shared when both are on), and a take costs a few comparisons more:
// about 50ns per task on a 2-core VM, mostly the clock
// (BenchmarkQueueManagement). Facebook's servers use 5ms and 100ms.
// Off by default; a target or interval that is not positive makes the pool
// fail closed naming WithCoDel. [Pool.Reconfigure] turns it on or off, or
// changes target and interval, in place.
func WithCoDel(target, interval time.Duration) Option {
	return optionFunc(func(c *config) {
		if target <= 0 || interval <= 0 {
			c.fail("WithCoDel", "target and interval must be positive, got %v and %v", target, interval)
			return
		}
		c.codel = codel.State{Target: target, Interval: interval}
	})
}
