package limit

import (
	"context"
	"github.com/ionkit/ion/internal/sink"
	"log/slog"
	"time"

	"github.com/ionkit/ion/observe"
)

// Each constructor has its own option interface, so that an option that
// does not apply to it does not compile. An option given an invalid value
// (a nil sink, a negative bound) makes the limiter fail closed: every call
// returns an error matching ion.ErrInvalidConfig that names the option.

// BucketOption configures [NewTokenBucket] and [NewLeakyBucket]: every
// [Option].
type BucketOption interface{ applyBucket(*config) }

// KeyedOption configures [NewKeyed]: every [KeysOption] ([WithMaxKeys],
// [WithIdleTTL]) and every [Option].
type KeyedOption interface{ applyKeyed(*config) }

// MultiTierOption configures [NewMultiTier]: [WithTier], [WithRoute],
// [WithMajorParams], every [KeysOption] and every [Option].
type MultiTierOption interface{ applyMultiTier(*config) }

// Option is an option that every constructor of the package accepts:
// [WithName], [WithLogger], [WithMetrics] and [WithTracer].
type Option interface {
	BucketOption
	KeyedOption
	MultiTierOption
}

// KeysOption is an option of the limiters that remember keys ([NewKeyed]
// and [NewMultiTier]): [WithMaxKeys] and [WithIdleTTL].
type KeysOption interface {
	KeyedOption
	MultiTierOption
}

// commonOption implements Option; keysOption KeysOption; multiTierOption
// MultiTierOption alone.
type (
	commonOption    func(*config)
	keysOption      func(*config)
	multiTierOption func(*config)
)

func (f commonOption) applyBucket(c *config)       { f(c) }
func (f commonOption) applyKeyed(c *config)        { f(c) }
func (f commonOption) applyMultiTier(c *config)    { f(c) }
func (f keysOption) applyKeyed(c *config)          { f(c) }
func (f keysOption) applyMultiTier(c *config)      { f(c) }
func (f multiTierOption) applyMultiTier(c *config) { f(c) }

// tierSpec is the rate and burst of one tier of a MultiTier.
type tierSpec struct {
	set   bool
	rate  Rate
	burst int
}

// routeSpec is a route pattern of a MultiTier with its own limit.
type routeSpec struct {
	pattern string
	rate    Rate
	burst   int
}

type config struct {
	name    string
	logger  observe.Logger
	metrics observe.Metrics
	tracer  observe.Tracer
	err     error // the first invalid option

	idleTTL time.Duration // 0: the time the bucket takes to refill
	maxKeys int

	tiers  [scopeCount]tierSpec
	routes []routeSpec
	majors []string
}

// defaultMaxKeys bounds the keys of a Keyed limiter and of each keyed tier
// of a MultiTier when WithMaxKeys is not given.
const defaultMaxKeys = 10_000

// newConfig returns the configuration of a limiter of kind built with opts;
// apply applies one option (the constructor's option interface).
func newConfig[O comparable](kind string, opts []O, apply func(O, *config)) *config {
	c := &config{name: kind, maxKeys: defaultMaxKeys}
	c.tiers[Global] = tierSpec{set: true, rate: 100, burst: 100}
	c.tiers[Route] = tierSpec{set: true, rate: 50, burst: 50}
	c.tiers[Resource] = tierSpec{set: true, rate: 20, burst: 20}
	var none O
	for _, o := range opts {
		if o == none {
			c.fail(configError("opts", "nil option"))
			continue
		}
		apply(o, c)
	}
	return c
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// logConfigError reports a construction that failed closed, once.
func (c *config) logConfigError(err error) {
	if c.logger != nil && err != nil {
		c.logger.Log(context.Background(), slog.LevelError, "limit: invalid configuration, failing closed",
			slog.String("name", c.name), slog.String("error", err.Error()))
	}
}

// WithName names the limiter in its String form, its metrics (the "name"
// label), its logs and its spans. The default is the kind of limiter, such
// as "token-bucket". Every constructor takes it.
func WithName(name string) Option {
	return commonOption(func(c *config) {
		if name != "" {
			c.name = name
		}
	})
}

// WithLogger sends the limiter's rare events (a construction that fails
// closed, a global pause learnt from headers) to l. A nil l makes the
// limiter fail closed. Every constructor takes it.
func WithLogger(l observe.Logger) Option {
	return commonOption(func(c *config) { c.fail(sink.Set(&c.logger, l, "limit", "WithLogger")) })
}

// WithMetrics records the limiter's metrics (see the package doc) in m. The
// instruments are resolved once, at construction; recording does not
// allocate. A nil m makes the limiter fail closed. Every constructor takes
// it.
func WithMetrics(m observe.Metrics) Option {
	return commonOption(func(c *config) { c.fail(sink.Set(&c.metrics, m, "limit", "WithMetrics")) })
}

// WithTracer makes [Policy] start one span per execution through this
// limiter with t. A nil t makes the limiter fail closed. Every constructor
// takes it.
func WithTracer(t observe.Tracer) Option {
	return commonOption(func(c *config) { c.fail(sink.Set(&c.tracer, t, "limit", "WithTracer")) })
}

// WithMaxKeys bounds the number of keys a [Keyed] limiter (or each keyed
// tier of a [MultiTier]) remembers: inserting a key beyond n evicts the
// least recently used one. The default is 10,000. A value below 1 makes the
// limiter fail closed. NewKeyed and NewMultiTier take it.
func WithMaxKeys(n int) KeysOption {
	return keysOption(func(c *config) {
		if n < 1 {
			c.fail(configError("WithMaxKeys", "must be at least 1, got %d", n))
			return
		}
		c.maxKeys = n
	})
}

// WithIdleTTL forgets a key that has not been used for d. By default a key
// is forgotten once it has been idle for the time its bucket takes to refill
// from empty (and its bucket is full), which loses nothing (a full bucket is
// what a new key gets); a shorter d saves memory at the price of forgetting
// a partly drained bucket, a longer one keeps keys longer. A negative d
// makes the limiter fail closed; 0 keeps the default. NewKeyed and
// NewMultiTier take it.
func WithIdleTTL(d time.Duration) KeysOption {
	return keysOption(func(c *config) {
		if d < 0 {
			c.fail(configError("WithIdleTTL", "must not be negative, got %v", d))
			return
		}
		c.idleTTL = d
	})
}

// WithTier sets the rate and burst of one tier of a [MultiTier]: the global
// bucket, the default of the route buckets, or the per-id buckets of the
// resource, sub-resource and user tiers. A rate of [Inf] disables the tier.
// The defaults are Global 100/s burst 100, Route 50/s burst 50, Resource
// 20/s burst 20, and no SubResource or User tier. An invalid rate or burst
// (see [NewTokenBucket]) makes the limiter fail closed. NewMultiTier uses
// it.
func WithTier(s Scope, rate Rate, burst int) MultiTierOption {
	return multiTierOption(func(c *config) {
		if s >= scopeCount {
			c.fail(configError("WithTier", "unknown scope %d", int(s)))
			return
		}
		if err := checkLimits(rate, burst, "WithTier("+s.String()+") ", "burst"); err != nil {
			c.fail(err)
			return
		}
		c.tiers[s] = tierSpec{set: !rate.isInf(), rate: rate, burst: burst}
	})
}

// WithRoute gives the routes matching pattern their own rate and burst in a
// [MultiTier], instead of the Route tier's default. A pattern is an optional
// method and a path, as in "GET /api/v1/users/{id}"; a {name} segment
// matches any one segment of a request path. See [MultiTier] for how
// patterns are matched. A malformed pattern or an invalid rate or burst
// makes the limiter fail closed. Only NewMultiTier takes it.
func WithRoute(pattern string, rate Rate, burst int) MultiTierOption {
	return multiTierOption(func(c *config) {
		if err := checkLimits(rate, burst, "WithRoute("+pattern+") ", "burst"); err != nil {
			c.fail(err)
			return
		}
		c.routes = append(c.routes, routeSpec{pattern: pattern, rate: rate, burst: burst})
	})
}

// WithMajorParams names the route parameters whose values split a route
// into separate buckets in a [MultiTier], as Discord's "major parameters"
// do: with WithMajorParams("channel") and the pattern
// "POST /channels/{channel}/messages", every channel gets its own route
// bucket, while other parameters share one. Only NewMultiTier takes it.
func WithMajorParams(names ...string) MultiTierOption {
	return multiTierOption(func(c *config) {
		c.majors = append(c.majors, names...)
	})
}

// instruments are the metric instruments of one limiter, resolved once.
// A nil *instruments records nothing.
type instruments struct {
	allowed, limited observe.Counter
	wait             observe.Histogram
}

func newInstruments(c *config) *instruments {
	if c.metrics == nil {
		return nil
	}
	name := observe.L("name", c.name)
	return &instruments{
		allowed: c.metrics.Counter("ion_limit_requests_total", name, observe.L("result", "allowed")),
		limited: c.metrics.Counter("ion_limit_requests_total", name, observe.L("result", "limited")),
		wait:    c.metrics.Histogram("ion_limit_wait_seconds", name),
	}
}

func (m *instruments) record(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.allowed.Add(1)
	} else {
		m.limited.Add(1)
	}
}

func (m *instruments) waited(d time.Duration) {
	if m != nil {
		m.wait.Observe(d.Seconds())
	}
}
