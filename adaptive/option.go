package adaptive

import (
	"math"
	"time"

	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

// LimiterOption configures a [Limiter] built by [NewLimiter].
type LimiterOption interface {
	applyLimiter(*limiterConfig)
}

// ThrottlerOption configures a [Throttler] built by [NewThrottler].
type ThrottlerOption interface {
	applyThrottler(*throttlerConfig)
}

// Option configures both a [Limiter] and a [Throttler].
type Option interface {
	LimiterOption
	ThrottlerOption
}

// errSetter records the first invalid option of a constructor, and the
// first option given that only the constructor takes (Reconfigure refuses
// it).
type errSetter struct {
	err   error
	fixed string
}

func (c *errSetter) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// setFixed records that the option named param, which only a constructor
// takes, was given.
func (c *errSetter) setFixed(param string) {
	if c.fixed == "" {
		c.fixed = param
	}
}

type limiterConfig struct {
	errSetter
	sinks
	name          string
	minLimit      int
	maxLimit      int
	initial       int // 0: default
	tuning        tuning
	window        time.Duration
	minSamples    int
	maxWait       time.Duration
	maxQueue      int // 0: the current limit
	codelTarget   time.Duration
	codelInterval time.Duration
	lifoAt        int // 0: never LIFO
}

type throttlerConfig struct {
	errSetter
	sinks
	name   string
	k      float64
	window time.Duration
	seed   uint64
	seeded bool
}

type limiterOption func(*limiterConfig)

func (f limiterOption) applyLimiter(c *limiterConfig) { f(c) }

type throttlerOption func(*throttlerConfig)

func (f throttlerOption) applyThrottler(c *throttlerConfig) { f(c) }

type nameOption string

func (o nameOption) applyLimiter(c *limiterConfig) {
	c.name = string(o)
	c.setFixed("WithName")
}

func (o nameOption) applyThrottler(c *throttlerConfig) {
	c.name = string(o)
	c.setFixed("WithName")
}

// WithName names the limiter or throttler in its metrics (the "name"
// label), its policy's String and its spans. The default is "".
func WithName(name string) Option { return nameOption(name) }

// sinks are the observability sinks shared by both constructors.
type sinks struct {
	metrics observe.Metrics
	tracer  observe.Tracer
}

type sinkOption func(*sinks, *errSetter)

func (f sinkOption) applyLimiter(c *limiterConfig)     { f(&c.sinks, &c.errSetter) }
func (f sinkOption) applyThrottler(c *throttlerConfig) { f(&c.sinks, &c.errSetter) }

// WithMetrics records the metrics listed in the package doc into m. The
// instruments are resolved once, here; recording does not allocate. A nil
// m makes the limiter or throttler fail closed naming WithMetrics.
func WithMetrics(m observe.Metrics) Option {
	return sinkOption(func(s *sinks, e *errSetter) {
		e.fail(sink.Set(&s.metrics, m, "adaptive", "WithMetrics"))
		e.setFixed("WithMetrics")
	})
}

// WithTracer makes the policy ([Policy], [ThrottlerPolicy]) start one span
// per call, ended with "success", "failure", "ignored" or "rejected". A nil
// t makes the limiter or throttler fail closed naming WithTracer.
func WithTracer(t observe.Tracer) Option {
	return sinkOption(func(s *sinks, e *errSetter) {
		e.fail(sink.Set(&s.tracer, t, "adaptive", "WithTracer"))
		e.setFixed("WithTracer")
	})
}

// WithLimits bounds the limit: it never goes below min nor above max. The
// defaults are 1 and 1000. A min below 1 or above max makes the limiter fail
// closed with an error matching ion.ErrInvalidConfig naming WithLimits.
func WithLimits(min, max int) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		switch {
		case min < 1:
			c.fail(configError("WithLimits", "min must be at least 1, got %d", min))
		case min > max:
			c.fail(configError("WithLimits", "min %d is greater than max %d", min, max))
		}
		c.minLimit, c.maxLimit = min, max
	})
}

// WithInitialLimit sets the limit the limiter starts from. The default is
// 20, or the nearest bound when [WithLimits] excludes 20. An n outside the
// limits makes the limiter fail closed with an error matching
// ion.ErrInvalidConfig naming WithInitialLimit.
func WithInitialLimit(n int) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if n < 1 {
			c.fail(configError("WithInitialLimit", "must be at least 1, got %d", n))
		}
		c.initial = n
		c.setFixed("WithInitialLimit")
	})
}

// WithAlgorithm sets the rule that moves the limit; the default is
// [Vegas]. An unknown value makes the limiter fail closed.
func WithAlgorithm(a Algorithm) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if a > AIMD {
			c.fail(configError("WithAlgorithm", "unknown algorithm %d", int(a)))
		}
		c.tuning.alg = a
	})
}

// WithSampleWindow sets how often the limit moves: a window closes at the
// first completion at least d after it opened that brings it to minSamples
// completions (successes and drops; ignored calls do not count), and the
// limit is then updated once from what the window saw. The defaults are one
// second and 20 samples. A d or minSamples that is not positive makes the
// limiter fail closed naming WithSampleWindow.
func WithSampleWindow(d time.Duration, minSamples int) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		switch {
		case d <= 0:
			c.fail(configError("WithSampleWindow", "duration must be positive, got %v", d))
		case minSamples < 1:
			c.fail(configError("WithSampleWindow", "minSamples must be at least 1, got %d", minSamples))
		}
		c.window, c.minSamples = d, minSamples
	})
}

// WithSmoothing sets the share of the [Gradient] rule's step taken per
// window, in (0, 1]: 1 jumps to the target, 0.2 moves a fifth of the way.
// The default is 0.5. A value outside (0, 1] or NaN makes the limiter fail
// closed naming WithSmoothing.
func WithSmoothing(f float64) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if !(f > 0 && f <= 1) {
			c.fail(configError("WithSmoothing", "must be in (0, 1], got %v", f))
		}
		c.tuning.smoothing = f
	})
}

// WithBackoff sets the factor, in (0, 1), that multiplies the limit after a
// window with drops, for every algorithm. The default is 0.9. A value
// outside (0, 1) or NaN makes the limiter fail closed naming WithBackoff.
func WithBackoff(f float64) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if !(f > 0 && f < 1) {
			c.fail(configError("WithBackoff", "must be in (0, 1), got %v", f))
		}
		c.tuning.backoff = f
	})
}

// WithTolerance sets how much the RTT may exceed the no-load RTT before the
// [Gradient] rule reads it as queueing: 1.5 tolerates 50 %. The default is
// 1.5. A value below 1, infinite or NaN makes the limiter fail closed naming
// WithTolerance.
func WithTolerance(f float64) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if !(f >= 1) || math.IsInf(f, 1) {
			c.fail(configError("WithTolerance", "must be at least 1 and finite, got %v", f))
		}
		c.tuning.tolerance = f
	})
}

// WithMaxWait lets a call that finds the limit reached wait up to d for a
// permit, in a queue served by priority ([Priority]), before it is rejected
// with an error matching [ErrLimited], ion.ErrRejected and
// context.DeadlineExceeded. The caller's ctx still bounds the wait. The
// default 0 does not wait: such a call is rejected at once. A negative d
// makes the limiter fail closed naming WithMaxWait.
func WithMaxWait(d time.Duration) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if d < 0 {
			c.fail(configError("WithMaxWait", "must not be negative, got %v", d))
		}
		c.maxWait = d
	})
}

// WithMaxQueue bounds the calls waiting for a permit (see [WithMaxWait]).
// When the queue is full, a call evicts the newest waiter of the lowest
// priority below its own, which is rejected with [ErrLimited]; with no such
// waiter the call itself is rejected. The default is the current limit. An
// n below 1 makes the limiter fail closed naming WithMaxQueue.
func WithMaxQueue(n int) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if n < 1 {
			c.fail(configError("WithMaxQueue", "must be at least 1, got %d", n))
		}
		c.maxQueue = n
	})
}

// WithCoDel turns on CoDel queue management for the calls waiting for a
// permit: when, over a whole interval, every call served from the queue had
// waited longer than target (the queue was standing, not absorbing a burst),
// waiters that have waited longer than target are rejected with
// [ErrLimited] when they reach the head of the queue instead of being
// served: they would most likely miss their deadline anyway, and serving
// them keeps the queue standing. Facebook's servers use 5 ms and 100 ms.
// Off by default. A target or interval that is not positive makes the
// limiter fail closed naming WithCoDel.
func WithCoDel(target, interval time.Duration) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if target <= 0 || interval <= 0 {
			c.fail(configError("WithCoDel", "target and interval must be positive, got %v and %v", target, interval))
		}
		c.codelTarget, c.codelInterval = target, interval
	})
}

// WithAdaptiveLIFO serves the newest waiter of a priority first while the
// queue holds at least n waiters: under a backlog the newest callers are the
// ones still likely to be waiting for the answer, while the oldest may have
// given up. Below n the queue is FIFO. Off by default. An n below 1 makes
// the limiter fail closed naming WithAdaptiveLIFO.
func WithAdaptiveLIFO(n int) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if n < 1 {
			c.fail(configError("WithAdaptiveLIFO", "must be at least 1, got %d", n))
		}
		c.lifoAt = n
	})
}

// WithK sets the throttler's multiplier K: it lets through up to K times as
// many requests as the backend accepted over the window, and rejects the
// excess with probability max(0, (requests − K·accepts) / (requests + 1)).
// A lower K throttles sooner; the SRE book's default, and Ion's, is 2. A K
// below 1, infinite or NaN makes the throttler fail closed naming WithK.
func WithK(k float64) ThrottlerOption {
	return throttlerOption(func(c *throttlerConfig) {
		if !(k >= 1) || math.IsInf(k, 1) {
			c.fail(configError("WithK", "must be at least 1 and finite, got %v", k))
		}
		c.k = k
	})
}

// WithWindow sets the rolling window over which the throttler counts
// requests and accepts, kept as 20 buckets of d/20. The default is two
// minutes. A d below 20 ns makes the throttler fail closed naming
// WithWindow.
func WithWindow(d time.Duration) ThrottlerOption {
	return throttlerOption(func(c *throttlerConfig) {
		if d < buckets {
			c.fail(configError("WithWindow", "must be at least %d ns, got %v", buckets, d))
		}
		c.window = d
	})
}

// WithSeed seeds the throttler's random choices, so that the same calls in
// the same order get the same verdicts: for tests and simulations. The
// default seed is random.
func WithSeed(seed uint64) ThrottlerOption {
	return throttlerOption(func(c *throttlerConfig) { c.seed, c.seeded = seed, true })
}
