package schedule

import (
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// Option configures a [Scheduler]; [New] takes them.
type Option interface{ apply(*config) }

type config struct {
	pool      *pool.Pool
	metrics   observe.Metrics
	logger    observe.Logger
	tracer    observe.Tracer
	onDiscard func(name string, runs int, err error)
	err       error // the first invalid option; makes the scheduler fail closed
}

func (c *config) setErr(err error) {
	if c.err == nil {
		c.err = err
	}
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPool runs every job on p instead of the scheduler's own pool. The
// scheduler submits each run with [pool.Pool.TrySubmit], so it never blocks
// on a busy pool: a run p refuses (queue full, closed) is not run, counts as
// rejected and is reported (see [WithDiscardHandler]). Stop does not close
// p. A nil p makes the scheduler fail closed.
//
// Without WithPool the scheduler runs jobs on a pool of its own whose size
// does not limit them (workers start on demand and idle out), closed by
// [Scheduler.Stop]: the overlap policies bound each job's concurrency.
func WithPool(p *pool.Pool) Option {
	return optionFunc(func(c *config) {
		if p == nil {
			c.setErr(ion.NewConfigError("schedule", "WithPool", "nil *pool.Pool"))
			return
		}
		c.pool = p
	})
}

// WithMetrics sets the Metrics sink; each job's instruments are resolved
// once, by [Scheduler.Add]. The package doc lists the metrics. A nil sink
// makes the scheduler fail closed.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) { c.setErr(sink.Set(&c.metrics, m, "schedule", "WithMetrics")) })
}

// WithLogger sets the Logger for rare events: a job's panic (Error), runs a
// pool refused (Warn), runs discarded by Stop or Remove (Warn), and a panic
// in the discard handler (Error). A nil logger makes the scheduler fail
// closed.
func WithLogger(l observe.Logger) Option {
	return optionFunc(func(c *config) { c.setErr(sink.Set(&c.logger, l, "schedule", "WithLogger")) })
}

// WithTracer sets the Tracer: each run is one span "schedule.run", started
// on the pool worker before the job's policy and ended with "success" or
// "failure" (a panic included) and the run's error; the job's ctx carries
// it. A nil tracer makes the scheduler fail closed.
func WithTracer(tr observe.Tracer) Option {
	return optionFunc(func(c *config) { c.setErr(sink.Set(&c.tracer, tr, "schedule", "WithTracer")) })
}

// WithDiscardHandler sets a function called for runs that were due and
// will not run, with the job's name, how many runs, and why: an error
// matching [ErrMissed] (the missed-run policy dropped them), [ErrOverlap]
// (the overlap policy dropped them), [ErrStopped] (Stop or Remove discarded
// them before they started), or the pool's error (pool.ErrQueueFull,
// pool.ErrClosed). fn runs without any lock held, on the scheduler's
// goroutine or a pool worker; a panic in fn is recovered and logged. A nil
// fn makes the scheduler fail closed.
func WithDiscardHandler(fn func(name string, runs int, err error)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.setErr(ion.NewConfigError("schedule", "WithDiscardHandler", "nil function"))
			return
		}
		c.onDiscard = fn
	})
}

// JobOption configures one job; [Scheduler.Add] takes them. A later option
// of the same kind replaces an earlier one.
type JobOption interface{ applyJob(*jobConfig) }

type missedMode uint8

const (
	missedOnce missedMode = iota
	missedSkip
	missedAll
)

type jobConfig struct {
	pol     policy.Policy[struct{}]
	jitter  time.Duration
	missed  Missed
	overlap Overlap
	err     error
}

func (c *jobConfig) setErr(err error) {
	if c.err == nil {
		c.err = err
	}
}

type jobOptionFunc func(*jobConfig)

func (f jobOptionFunc) applyJob(c *jobConfig) { f(c) }

// WithPolicy runs each run of the job through pol: a retry with backoff,
// a breaker, a timeout, or a pipeline of them (policy.Compose). The run's
// result is pol's: a run retried to success counts as one successful run.
// A nil pol makes Add fail with an error matching ion.ErrInvalidConfig.
func WithPolicy(pol policy.Policy[struct{}]) JobOption {
	return jobOptionFunc(func(c *jobConfig) {
		if pol == nil {
			c.setErr(ion.NewConfigError("schedule", "WithPolicy", "nil policy"))
			return
		}
		c.pol = pol
	})
}

// WithJitter delays each run by a random duration in [0, d), drawn anew for
// each due time, so that many jobs due at the same time (every instance of
// a service at the top of the hour) do not all start at once. Due times are
// not shifted: jitter never accumulates. A negative d makes Add fail with an
// error matching ion.ErrInvalidConfig.
func WithJitter(d time.Duration) JobOption {
	return jobOptionFunc(func(c *jobConfig) {
		if d < 0 {
			c.setErr(ion.NewConfigError("schedule", "WithJitter", "must not be negative, got %v", d))
			return
		}
		c.jitter = d
	})
}

// Missed is a missed-run policy: what a job does when the scheduler finds
// due times of it in the past (the process was suspended, the machine
// slept, the clock jumped). Set it with [WithMissed]. The zero Missed is
// [RunMissedOnce], the default.
type Missed struct {
	mode  missedMode
	max   int           // runs of a catch-up, for missedAll
	grace time.Duration // for missedSkip
	err   error
}

// RunMissedOnce is the default missed-run policy: when the scheduler finds
// several due times of the job in the past, it runs the job once for all
// of them and counts the others as skipped ([ErrMissed]).
func RunMissedOnce() Missed { return Missed{mode: missedOnce} }

// SkipMissed is the missed-run policy that never runs late: a due time
// found more than grace in the past is skipped ([ErrMissed]), and the job
// waits for its next due time; a run within grace of its due time runs.
// A grace of zero or less makes Add fail with an error matching
// ion.ErrInvalidConfig (timers always fire a little late).
func SkipMissed(grace time.Duration) Missed {
	if grace <= 0 {
		return Missed{err: ion.NewConfigError("schedule", "SkipMissed", "grace must be positive, got %v", grace)}
	}
	return Missed{mode: missedSkip, grace: grace}
}

// RunMissed is the missed-run policy that catches up: when the scheduler
// finds several due times in the past it runs the job once for each of the
// latest max of them, one after another as the overlap policy allows, and
// counts the older ones as skipped ([ErrMissed]). RunMissed(1) is
// [RunMissedOnce]. A max below 1 makes Add fail with an error matching
// ion.ErrInvalidConfig.
func RunMissed(max int) Missed {
	if max < 1 {
		return Missed{err: ion.NewConfigError("schedule", "RunMissed", "max must be at least 1, got %d", max)}
	}
	return Missed{mode: missedAll, max: max}
}

// WithMissed sets the job's missed-run policy; the default is
// [RunMissedOnce].
func WithMissed(m Missed) JobOption {
	return jobOptionFunc(func(c *jobConfig) {
		c.setErr(m.err)
		c.missed = m
	})
}

// Overlap is an overlap policy: what happens to a run that falls due while
// earlier runs of the same job still run. Set it with [WithOverlap]. The
// zero Overlap is [SkipIfRunning], the default.
type Overlap struct {
	maxConc int // runs at once; 0 means 1
	queue   int // runs waiting for a free slot
	err     error
}

// SkipIfRunning is the default overlap policy: a run that falls due while
// the previous one still runs is skipped ([ErrOverlap]).
func SkipIfRunning() Overlap { return Overlap{maxConc: 1} }

// QueueOne is the overlap policy that keeps one run waiting: a run that
// falls due while the previous one still runs starts when it ends; further
// runs due meanwhile are skipped ([ErrOverlap]).
func QueueOne() Overlap { return Overlap{maxConc: 1, queue: 1} }

// AllowConcurrent is the overlap policy that lets up to n runs of the job
// run at once; a run that falls due while n run is skipped ([ErrOverlap]).
// AllowConcurrent(1) is [SkipIfRunning]. An n below 1 makes Add fail with an
// error matching ion.ErrInvalidConfig.
func AllowConcurrent(n int) Overlap {
	if n < 1 {
		return Overlap{err: ion.NewConfigError("schedule", "AllowConcurrent", "n must be at least 1, got %d", n)}
	}
	return Overlap{maxConc: n}
}

// WithOverlap sets the job's overlap policy; the default is
// [SkipIfRunning].
func WithOverlap(o Overlap) JobOption {
	return jobOptionFunc(func(c *jobConfig) {
		c.setErr(o.err)
		c.overlap = o
	})
}
