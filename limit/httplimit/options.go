package httplimit

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
)

// Option configures [New], the package's one constructor. An option given
// an invalid value (a nil sink, a negative bound, an invalid rate) makes
// the limiter fail closed: every call returns an error matching
// ion.ErrInvalidConfig that names the option.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// kind is the default name of a MultiTier.
const kind = "multi-tier"

// tierSpec is the rate and burst of one tier.
type tierSpec struct {
	set   bool
	rate  limit.Rate
	burst int
}

// routeSpec is a route pattern with its own limit.
type routeSpec struct {
	pattern string
	rate    limit.Rate
	burst   int
}

type config struct {
	name    string
	logger  observe.Logger
	metrics observe.Metrics
	tracer  observe.Tracer
	err     error // the first invalid option

	idleTTL time.Duration // 0: limit.Keyed's default
	maxKeys int           // 0: limit.Keyed's default

	tiers  [scopeCount]tierSpec
	routes []routeSpec
	majors []string
}

// defaultMaxKeys is limit.Keyed's default bound, which also bounds what
// headers taught.
const defaultMaxKeys = 10_000

func newConfig(opts []Option) *config {
	c := &config{name: kind}
	c.tiers[Global] = tierSpec{set: true, rate: 100, burst: 100}
	c.tiers[Route] = tierSpec{set: true, rate: 50, burst: 50}
	c.tiers[Resource] = tierSpec{set: true, rate: 20, burst: 20}
	for _, o := range opts {
		if o == nil {
			c.fail(configError("opts", "nil Option"))
			continue
		}
		o.apply(c)
	}
	return c
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// bound returns the bound of each keyed tier.
func (c *config) bound() int {
	if c.maxKeys > 0 {
		return c.maxKeys
	}
	return defaultMaxKeys
}

// logConfigError reports a construction that failed closed, once.
func (c *config) logConfigError(err error) {
	if c.logger != nil && err != nil {
		c.logger.Log(context.Background(), slog.LevelError, "httplimit: invalid configuration, failing closed",
			slog.String("name", c.name), slog.String("error", err.Error()))
	}
}

func configError(param, format string, args ...any) error {
	return ion.NewConfigError("httplimit", param, format, args...)
}

// checkLimits validates a rate and a burst as limit.NewTokenBucket does,
// naming them prefix+"rate" and prefix+"burst".
func checkLimits(rate limit.Rate, burst int, prefix string) error {
	err := limit.NewTokenBucket(rate, burst).Err()
	var ce *ion.ConfigError
	if errors.As(err, &ce) {
		return configError(prefix+ce.Param, "%s", ce.Reason)
	}
	return err
}

// WithName names the limiter in its String form, its metrics (the "name"
// label), its logs and its spans. The default is "multi-tier".
func WithName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.name = name
		}
	})
}

// WithLogger sends the limiter's rare events (a construction that fails
// closed, a global pause learnt from headers) to l. A nil l makes the
// limiter fail closed.
func WithLogger(l observe.Logger) Option {
	return optionFunc(func(c *config) { c.fail(sink.Set(&c.logger, l, "httplimit", "WithLogger")) })
}

// WithMetrics records the limiter's metrics (see the package doc) in m. The
// instruments are resolved once, at construction. A nil m makes the limiter
// fail closed.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) { c.fail(sink.Set(&c.metrics, m, "httplimit", "WithMetrics")) })
}

// WithTracer makes limit.Policy, over [MultiTier.By], start one span per
// execution with t. A nil t makes the limiter fail closed.
func WithTracer(t observe.Tracer) Option {
	return optionFunc(func(c *config) { c.fail(sink.Set(&c.tracer, t, "httplimit", "WithTracer")) })
}

// WithMaxKeys bounds the number of keys each keyed tier remembers (see
// limit.WithMaxKeys; the default is 10,000); it also bounds the routes
// whose headers the limiter remembers. A value below 1 makes the limiter
// fail closed.
func WithMaxKeys(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail(configError("WithMaxKeys", "must be at least 1, got %d", n))
			return
		}
		c.maxKeys = n
	})
}

// WithIdleTTL forgets a key of a keyed tier that has not been used for d
// (see limit.WithIdleTTL; by default a key is forgotten once idle for its
// refill time, which loses nothing). A negative d makes the limiter fail
// closed; 0 keeps the default.
func WithIdleTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail(configError("WithIdleTTL", "must not be negative, got %v", d))
			return
		}
		c.idleTTL = d
	})
}

// WithTier sets the rate and burst of one tier: the global bucket, the
// default of the route buckets, or the per-id buckets of the resource,
// sub-resource and user tiers. A rate of limit.Inf disables the tier. The
// defaults are Global 100/s burst 100, Route 50/s burst 50, Resource 20/s
// burst 20, and no SubResource or User tier. An invalid rate or burst (see
// limit.NewTokenBucket) makes the limiter fail closed.
func WithTier(s Scope, rate limit.Rate, burst int) Option {
	return optionFunc(func(c *config) {
		if s >= scopeCount {
			c.fail(configError("WithTier", "unknown scope %d", int(s)))
			return
		}
		if err := checkLimits(rate, burst, "WithTier("+s.String()+") "); err != nil {
			c.fail(err)
			return
		}
		c.tiers[s] = tierSpec{set: !isInf(rate), rate: rate, burst: burst}
	})
}

// WithRoute gives the routes matching pattern their own rate and burst,
// instead of the Route tier's default. A pattern is an optional method and
// a path, as in "GET /api/v1/users/{id}"; a {name} segment matches any one
// segment of a request path. See [MultiTier] for how patterns are matched.
// A malformed pattern or an invalid rate or burst makes the limiter fail
// closed.
func WithRoute(pattern string, rate limit.Rate, burst int) Option {
	return optionFunc(func(c *config) {
		if err := checkLimits(rate, burst, "WithRoute("+pattern+") "); err != nil {
			c.fail(err)
			return
		}
		c.routes = append(c.routes, routeSpec{pattern: pattern, rate: rate, burst: burst})
	})
}

// WithMajorParams names the route parameters whose values split a route
// into separate buckets, as Discord's "major parameters" do: with
// WithMajorParams("channel") and the pattern
// "POST /channels/{channel}/messages", every channel gets its own route
// bucket, while other parameters share one.
func WithMajorParams(names ...string) Option {
	return optionFunc(func(c *config) {
		c.majors = append(c.majors, names...)
	})
}
