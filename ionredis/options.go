package ionredis

import (
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/sem"
)

// LimiterOption configures [NewLimiter].
type LimiterOption interface {
	applyLimiter(*limiterConfig)
}

// SemaphoreOption configures [NewSemaphore].
type SemaphoreOption interface {
	applySemaphore(*semConfig)
}

// Option configures both constructors: it is a [LimiterOption] and a
// [SemaphoreOption].
type Option interface {
	LimiterOption
	SemaphoreOption
}

// DefaultTimeout bounds each round trip to Redis unless [WithTimeout] says
// otherwise: a slow Redis costs a call at most this much before the failure
// mode decides.
const DefaultTimeout = 50 * time.Millisecond

// common is the configuration both constructors share.
type common struct {
	timeout  time.Duration
	breaker  *breaker.Breaker
	metrics  observe.Metrics
	failOpen bool
	err      error // the first invalid option
}

func (c *common) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

type limiterConfig struct {
	common
	extra    []Window
	fallback limit.Limiter
	readable bool
	batch    int
	batchAge time.Duration
}

type semConfig struct {
	common
	ttl      time.Duration
	fallback *sem.Weighted
}

type commonOption func(*common)

func (f commonOption) applyLimiter(c *limiterConfig) { f(&c.common) }
func (f commonOption) applySemaphore(c *semConfig)   { f(&c.common) }

type limiterOption func(*limiterConfig)

func (f limiterOption) applyLimiter(c *limiterConfig) { f(c) }

type semOption func(*semConfig)

func (f semOption) applySemaphore(c *semConfig) { f(c) }

// WithTimeout bounds each round trip to Redis (default [DefaultTimeout]).
// A round trip that takes longer counts as a backend failure, handled by
// the failure mode. A zero or negative d makes the primitive fail closed
// with an error matching ion.ErrInvalidConfig.
func WithTimeout(d time.Duration) Option {
	return commonOption(func(c *common) {
		if d <= 0 {
			c.fail(configError("WithTimeout", "must be positive, got %v", d))
			return
		}
		c.timeout = d
	})
}

// WithBreaker puts b in front of Redis: every round trip is reported to b
// (a timeout or an error as a failure), and while b is open no round trip is
// made at all, the call going straight to the failure mode. The fail-closed
// rejection then wraps b's open error, so ion.RetryAfter reports when b
// will probe again. One breaker may guard several primitives that share a
// Redis. A nil b makes the primitive fail closed.
func WithBreaker(b *breaker.Breaker) Option {
	return commonOption(func(c *common) {
		if b == nil {
			c.fail(configError("WithBreaker", "nil *breaker.Breaker"))
			return
		}
		c.breaker = b
	})
}

// WithMetrics records the primitive's metrics into m; see the package doc
// for the list. A nil m makes the primitive fail closed.
func WithMetrics(m observe.Metrics) Option {
	return commonOption(func(c *common) {
		if m == nil {
			c.fail(configError("WithMetrics", "nil observe.Metrics"))
			return
		}
		c.metrics = m
	})
}

// WithFailOpen makes a Redis failure admit the call: a limiter admits it
// unlimited, a semaphore runs it without a permit (its lease reports token
// 0). The default is to fail closed, rejecting with a [*BackendError].
// Failing open keeps a service up when Redis is down, at the price of no
// shared limit meanwhile; [WithFallback] is the middle ground.
func WithFailOpen() Option {
	return commonOption(func(c *common) { c.failOpen = true })
}

// WithWindow adds a window to the limiter: a request is admitted only if
// every window admits it, and then charges every window; a refusal by any
// charges none. All windows of one key are checked in the same round trip,
// atomically. Invalid values make the limiter fail closed, naming
// "WithWindow.Rate" or "WithWindow.Burst".
func WithWindow(w Window) LimiterOption {
	return limiterOption(func(c *limiterConfig) { c.extra = append(c.extra, w) })
}

// WithFallback makes a Redis failure ask lim instead: a local Ion limiter,
// typically the shared rate divided by the number of replicas, such as
// limit.NewTokenBucket(limit.PerSecond(100.0/3), 10). It is asked for one
// admission per call, whatever the call's n, through lim.Admit with the
// call's ctx (so a limit.Keyed's By view keeps per-key limits). A nil lim
// makes the limiter fail closed; so does giving both WithFallback and
// WithFailOpen, which contradict each other.
func WithFallback(lim limit.Limiter) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		if lim == nil {
			c.fail(configError("WithFallback", "nil limit.Limiter"))
			return
		}
		c.fallback = lim
	})
}

// WithReadableKeys writes the keys of calls in clear in Redis key names
// (escaped; keys longer than 64 bytes once escaped are still hashed), which
// helps debugging. By default every key is hashed (SHA-256), so a secret
// used as a key, such as an API key, never appears in a key name. Use this
// option only when keys are not secret.
func WithReadableKeys() LimiterOption {
	return limiterOption(func(c *limiterConfig) { c.readable = true })
}

// WithTTL sets the lease of a semaphore permit (default 10s): a holder
// renews it every third of d while the call runs, and a permit whose holder
// crashed returns to the pool at most d after its last renewal. A d below
// 10ms makes the semaphore fail closed.
func WithTTL(d time.Duration) SemaphoreOption {
	return semOption(func(c *semConfig) {
		if d < 10*time.Millisecond {
			c.fail(configError("WithTTL", "must be at least 10ms, got %v", d))
			return
		}
		c.ttl = d
	})
}

// WithLocalSemaphore makes a Redis failure take a permit of s instead: a
// local Ion semaphore, typically the shared capacity divided by the number
// of replicas. A nil s makes the semaphore fail closed; so does giving both
// WithLocalSemaphore and WithFailOpen.
func WithLocalSemaphore(s *sem.Weighted) SemaphoreOption {
	return semOption(func(c *semConfig) {
		if s == nil {
			c.fail(configError("WithLocalSemaphore", "nil *sem.Weighted"))
			return
		}
		c.fallback = s
	})
}
