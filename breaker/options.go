package breaker

import (
	"math"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

// Option configures a [Breaker] built by [New]. Options apply in order; a
// later option overrides an earlier one that sets the same value, so a
// preset can be refined by the options after it.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults: 5 consecutive failures trip the breaker, it stays
// open for 30 s, then lets 3 probes run at once and closes after 2 successes.
const (
	defaultThreshold        = 5
	defaultOpenDuration     = 30 * time.Second
	defaultHalfOpenMaxCalls = 3
	defaultSuccessThreshold = 2
	defaultWindowSize       = 100
	defaultWindowMinCalls   = 100
	defaultFailureRate      = 0.5
)

type windowKind uint8

const (
	windowNone windowKind = iota
	windowCount
	windowTime
)

type config struct {
	logger    observe.Logger
	metrics   observe.Metrics
	tracer    observe.Tracer
	listeners []func(Transition)

	// The failure rule, exactly one of: threshold > 0 for consecutive
	// failures, failureRate > 0 for a failure rate over the window,
	// burstWithin > 0 for burst failures within burstWithin, or tripFunc.
	threshold   int
	failureRate float64
	burst       int
	burstWithin time.Duration
	tripFunc    func(Counts) bool
	ruleSet     bool // the failure rule was chosen by an option or preset

	// The slow-call rule, off when slowDuration is 0.
	slowDuration time.Duration
	slowRate     float64

	// The window of the rate rules.
	window     windowKind
	windowSize int           // count window: the last windowSize calls
	windowLen  time.Duration // time window: its length
	buckets    int           // time window: its buckets
	minCalls   int

	openDuration  time.Duration
	backoffFactor float64       // 1 = no growth
	backoffMax    time.Duration // 0 = no growth
	jitter        float64
	seed          uint64

	halfOpenMaxCalls int
	successThreshold int
	successSet       bool // WithSuccessThreshold was given

	err error // the first invalid value (a *ion.ConfigError); the breaker fails closed
	// fixed names the first option given that only New takes (a sink or a
	// listener); Reconfigure refuses it.
	fixed string
}

func newConfig(opts []Option) config {
	c := config{
		threshold:        defaultThreshold,
		openDuration:     defaultOpenDuration,
		backoffFactor:    1,
		halfOpenMaxCalls: defaultHalfOpenMaxCalls,
		successThreshold: defaultSuccessThreshold,
	}
	for i, o := range opts {
		if o == nil {
			c.fail("opts", "option %d is nil", i)
			continue
		}
		o.apply(&c)
	}
	if c.err != nil {
		return c
	}
	// Only a window the user asked for may change the failure rule: a
	// window option without a failure rule turns on the default failure
	// rate. The default window that a rate rule gets below is not a window
	// the user asked for, so the slow-call rule alone keeps the default
	// consecutive-failure rule.
	if c.window != windowNone && !c.ruleSet {
		c.threshold, c.failureRate = 0, defaultFailureRate
	}
	if (c.failureRate > 0 || c.slowDuration > 0) && c.window == windowNone {
		c.window, c.windowSize, c.minCalls = windowCount, defaultWindowSize, defaultWindowMinCalls
	}
	// A default adapts to the options given: the success threshold the user
	// did not choose is at most the probes allowed. Only a combination the
	// user wrote is invalid.
	if !c.successSet {
		c.successThreshold = min(c.successThreshold, c.halfOpenMaxCalls)
	}
	switch {
	case c.successThreshold > c.halfOpenMaxCalls:
		c.fail("WithSuccessThreshold", "must be at most the half-open max calls %d, got %d (the breaker could never close)",
			c.halfOpenMaxCalls, c.successThreshold)
	case c.window == windowCount && c.minCalls > c.windowSize:
		c.fail("WithCountWindow", "minCalls must be at most the window size %d, got %d (the breaker could never trip)",
			c.windowSize, c.minCalls)
	case c.backoffMax > 0 && c.backoffMax < c.openDuration:
		c.fail("WithOpenBackoff", "limit must be at least the open duration %v, got %v", c.openDuration, c.backoffMax)
	}
	return c
}

// fail records the first configuration error.
func (c *config) fail(param, format string, args ...any) {
	c.setErr(ion.NewConfigError("breaker", param, format, args...))
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

func validRate(r float64) bool { return r > 0 && r <= 1 } // false for NaN

// WithConsecutiveFailures sets the failure rule to n consecutive failures in
// the closed state (the default rule, n = 5). It replaces the failure rule
// set by an earlier option ([WithFailureRate], [WithFailuresWithin],
// [WithTripFunc]). An n below 1 makes the breaker fail closed.
//
// This rule keeps the closed path lock-free and clock-free unless
// [WithSlowCalls] is also set.
func WithConsecutiveFailures(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > math.MaxInt32 {
			c.fail("WithConsecutiveFailures", "must be in [1, %d], got %d", math.MaxInt32, n)
			return
		}
		c.setRule()
		c.threshold = n
	})
}

// setRule clears the failure rule before an option sets a new one: the last
// failure-rule option wins.
func (c *config) setRule() {
	c.threshold, c.failureRate, c.burst, c.burstWithin, c.tripFunc = 0, 0, 0, 0, nil
	c.ruleSet = true
}

// WithFailuresWithin sets the failure rule to a burst of failures: the
// breaker trips when n failures happened in the closed state within d of
// each other (the n-th within d of the first), however many successes came
// between them. It replaces the other failure rules and keeps the closed
// path's successes lock-free; each failure takes a short lock and reads the
// clock. The breaker keeps the times of the last n failures (8n bytes). An n
// outside [1, 65536] or a d that is not positive makes the breaker fail
// closed.
func WithFailuresWithin(n int, d time.Duration) Option {
	return optionFunc(func(c *config) {
		switch {
		case n < 1 || n > 1<<16:
			c.fail("WithFailuresWithin", "n must be in [1, %d], got %d", 1<<16, n)
		case d <= 0:
			c.fail("WithFailuresWithin", "d must be positive, got %v", d)
		default:
			c.setRule()
			c.burst, c.burstWithin = n, d
		}
	})
}

// WithTripFunc sets the failure rule to f, as gobreaker's ReadyToTrip: after
// each failure in the closed state, the breaker calls f with the [Counts] of
// the current generation (that failure included) and trips if f returns
// true. f is called with no lock held, on the goroutine that reported the
// failure, possibly by several goroutines at once; it must be fast and must
// not block. A panic in f propagates to that goroutine; the failure is
// already counted. If another result changes the state while f runs, its
// verdict is dropped. It replaces the other failure rules. A nil f makes the
// breaker fail closed.
func WithTripFunc(f func(Counts) bool) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			c.fail("WithTripFunc", "nil function")
			return
		}
		c.setRule()
		c.tripFunc = f
	})
}

// WithFailureRate sets the failure rule to a failure rate: the breaker trips
// when at least the window's minimum number of calls were recorded and the
// share of failures among them reaches rate. It replaces the failure rule
// set by an earlier option. The window is set by [WithCountWindow] or
// [WithTimeWindow]; without either it is the last 100 calls with a minimum of
// 100. A rate outside (0, 1] makes the breaker fail closed.
func WithFailureRate(rate float64) Option {
	return optionFunc(func(c *config) {
		if !validRate(rate) {
			c.fail("WithFailureRate", "must be in (0, 1], got %v", rate)
			return
		}
		c.setRule()
		c.failureRate = rate
	})
}

// WithSlowCalls adds the slow-call rule: a call that takes at least threshold
// (from [Breaker.Allow] to [Ticket.Done]) is slow, and the breaker trips when
// at least the window's minimum number of calls were recorded and the share
// of slow ones reaches rate. It combines with either failure rule: whichever
// rule is met first trips the breaker. In the half-open state a slow probe
// is a failure even if the call succeeded: it re-opens the breaker, and it is
// counted as a failure (and a slow call) in the [Snapshot] and as
// outcome="failure" in ion_breaker_calls_total. The window is that of
// [WithFailureRate]. The slow-call rule does not change the failure rule:
// alone, it keeps the default of 5 consecutive failures.
//
// A threshold that is not positive or a rate outside (0, 1] makes the
// breaker fail closed. With this rule the breaker reads the clock twice per
// call.
func WithSlowCalls(threshold time.Duration, rate float64) Option {
	return optionFunc(func(c *config) {
		switch {
		case threshold <= 0:
			c.fail("WithSlowCalls", "threshold must be positive, got %v", threshold)
		case !validRate(rate):
			c.fail("WithSlowCalls", "rate must be in (0, 1], got %v", rate)
		default:
			c.slowDuration, c.slowRate = threshold, rate
		}
	})
}

// WithCountWindow makes the rate rules ([WithFailureRate], [WithSlowCalls])
// count over the last size calls, once at least minCalls calls were
// recorded. Ignored outcomes are not recorded. Unless an option or preset
// chose the failure rule, it turns on the failure rate with its default of
// 0.5 in place of the consecutive-failure rule. A size or minCalls below 1, or minCalls above
// size, makes the breaker fail closed.
//
// The window costs size bytes and one short lock per recorded call.
func WithCountWindow(size, minCalls int) Option {
	return optionFunc(func(c *config) {
		switch {
		case size < 1 || size > 1<<24:
			c.fail("WithCountWindow", "size must be in [1, %d], got %d", 1<<24, size)
		case minCalls < 1:
			c.fail("WithCountWindow", "minCalls must be at least 1, got %d", minCalls)
		default:
			c.window, c.windowSize, c.minCalls = windowCount, size, minCalls
		}
	})
}

// WithTimeWindow makes the rate rules ([WithFailureRate], [WithSlowCalls])
// count over a rolling window of length split into buckets: the calls of the
// current bucket and the buckets-1 before it, so the window covers between
// length-length/buckets and length of the most recent time. They apply once at
// least minCalls calls were recorded in the window (the minimum throughput).
// Unless an option or preset chose the failure rule, it turns on the
// failure rate with its default of 0.5 in place of the consecutive-failure
// rule.
//
// A length that is not positive, buckets below 1 or above length in
// nanoseconds, or minCalls below 1 makes the breaker fail closed. The window
// costs 24 bytes per bucket, one short lock and one clock read per recorded
// call.
func WithTimeWindow(length time.Duration, buckets, minCalls int) Option {
	return optionFunc(func(c *config) {
		switch {
		case length <= 0:
			c.fail("WithTimeWindow", "length must be positive, got %v", length)
		case buckets < 1 || buckets > 1<<16 || int64(buckets) > int64(length):
			c.fail("WithTimeWindow", "buckets must be in [1, min(%d, length in ns)], got %d", 1<<16, buckets)
		case minCalls < 1:
			c.fail("WithTimeWindow", "minCalls must be at least 1, got %d", minCalls)
		default:
			c.window, c.windowLen, c.buckets, c.minCalls = windowTime, length, buckets, minCalls
		}
	})
}

// WithOpenDuration sets how long the breaker stays open before it lets
// probes through (default 30 s). A duration that is not positive makes the
// breaker fail closed.
func WithOpenDuration(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("WithOpenDuration", "must be positive, got %v", d)
			return
		}
		c.openDuration = d
	})
}

// WithOpenBackoff makes the open duration grow when the breaker opens again
// without having closed in between (a failed probe): the n-th consecutive
// opening lasts the open duration times factor^(n-1), never longer than limit.
// Closing the breaker resets the growth. A factor below 1 (or NaN or
// infinite), or a limit below the open duration, makes the breaker fail closed.
func WithOpenBackoff(factor float64, limit time.Duration) Option {
	return optionFunc(func(c *config) {
		if !(factor >= 1) || math.IsInf(factor, 0) {
			c.fail("WithOpenBackoff", "factor must be finite and at least 1, got %v", factor)
			return
		}
		if limit <= 0 {
			c.fail("WithOpenBackoff", "limit must be positive, got %v", limit)
			return
		}
		c.backoffFactor, c.backoffMax = factor, limit
	})
}

// WithJitter spreads each open duration uniformly over
// [d·(1-fraction), d·(1+fraction)] (but never above the backoff limit), so
// breakers that opened together do not probe together. The random source is
// seeded with seed, so a run is reproducible; pass a varying seed for
// variety across processes. A fraction outside [0, 1] makes the breaker fail
// closed.
func WithJitter(fraction float64, seed uint64) Option {
	return optionFunc(func(c *config) {
		if !(fraction >= 0 && fraction <= 1) {
			c.fail("WithJitter", "fraction must be in [0, 1], got %v", fraction)
			return
		}
		c.jitter, c.seed = fraction, seed
	})
}

// WithHalfOpenMaxCalls sets how many probe calls may run at once in the
// half-open state (default 3). Further calls are rejected with
// [ErrHalfOpenBusy] until a probe finishes. Unless [WithSuccessThreshold]
// is given too, the success threshold becomes at most n, so
// WithHalfOpenMaxCalls(1) alone means one probe that closes the breaker. An
// n below 1 makes the breaker fail closed.
func WithHalfOpenMaxCalls(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > math.MaxInt32 {
			c.fail("WithHalfOpenMaxCalls", "must be in [1, %d], got %d", math.MaxInt32, n)
			return
		}
		c.halfOpenMaxCalls = n
	})
}

// WithSuccessThreshold sets how many probe successes close a half-open
// breaker (default 2, or the half-open max calls if fewer). An n below 1, or
// above the half-open max calls, makes the breaker fail closed: the breaker
// could never close.
func WithSuccessThreshold(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("WithSuccessThreshold", "must be at least 1, got %d", n)
			return
		}
		c.successThreshold, c.successSet = n, true
	})
}

// WithListener adds a listener that is called once per state transition, in
// transition order, with no lock held; it may call any method of the
// breaker. Several listeners may be added; they run in the order added. A
// listener runs on the goroutine that made the transition or on one that is
// delivering an earlier transition, possibly after the call that caused the
// transition has returned; a slow listener delays later notifications, not
// calls. A listener that panics propagates the panic to that goroutine;
// undelivered transitions are delivered with the next one. A nil f makes
// the breaker fail closed.
func WithListener(f func(Transition)) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			c.fail("WithListener", "nil listener")
			return
		}
		c.listeners = append(c.listeners, f)
		c.setFixed("WithListener")
	})
}

// WithLogger sets the logger for state changes (Info, Warn when opening). A
// nil l makes the breaker fail closed.
func WithLogger(l observe.Logger) Option {
	return optionFunc(func(c *config) {
		c.setErr(sink.Set(&c.logger, l, "breaker", "WithLogger"))
		c.setFixed("WithLogger")
	})
}

// WithMetrics sets the metrics sink; the instruments are resolved once, in
// [New] (see the package doc for the names). A nil m makes the breaker fail
// closed.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) {
		c.setErr(sink.Set(&c.metrics, m, "breaker", "WithMetrics"))
		c.setFixed("WithMetrics")
	})
}

// WithTracer sets the tracer: [Policy] starts one span per execution, named
// "breaker(<name>)", and ends it with the outcome ("success", "failure",
// "ignored" or "rejected"). A nil t makes the breaker fail closed.
func WithTracer(t observe.Tracer) Option {
	return optionFunc(func(c *config) {
		c.setErr(sink.Set(&c.tracer, t, "breaker", "WithTracer"))
		c.setFixed("WithTracer")
	})
}

// preset returns one of the presets as one Option.
func preset(threshold int, open time.Duration, maxCalls, successes int) Option {
	return optionFunc(func(c *config) {
		c.setRule()
		c.threshold = threshold
		c.openDuration = open
		c.halfOpenMaxCalls, c.successThreshold = maxCalls, successes
	})
}

// QuickFailover returns the preset for failing over fast and probing soon: 3
// consecutive failures, 10 s open, 2 half-open probes, 1 success to close.
// Options after it override its values.
func QuickFailover() Option { return preset(3, 10*time.Second, 2, 1) }

// Conservative returns the preset for tolerating noise: 10 consecutive
// failures, 60 s open, 5 half-open probes, 3 successes to close. Options
// after it override its values.
func Conservative() Option { return preset(10, 60*time.Second, 5, 3) }

// Aggressive returns the preset for protecting a fragile dependency: 2
// consecutive failures, 45 s open, 1 half-open probe, 1 success to close.
// Options after it override its values.
func Aggressive() Option { return preset(2, 45*time.Second, 1, 1) }
