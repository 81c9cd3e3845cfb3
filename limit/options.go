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

// KeyedOption configures [NewKeyed]: [WithMaxKeys], [WithIdleTTL] and
// every [Option].
type KeyedOption interface{ applyKeyed(*config) }

// Option is an option that every constructor of the package accepts:
// [WithName], [WithLogger], [WithMetrics] and [WithTracer].
type Option interface {
	BucketOption
	KeyedOption
}

// commonOption implements Option; keyedOption KeyedOption alone.
type (
	commonOption func(*config)
	keyedOption  func(*config)
)

func (f commonOption) applyBucket(c *config) { f(c) }
func (f commonOption) applyKeyed(c *config)  { f(c) }
func (f keyedOption) applyKeyed(c *config)   { f(c) }

type config struct {
	name    string
	logger  observe.Logger
	metrics observe.Metrics
	tracer  observe.Tracer
	err     error // the first invalid option

	idleTTL time.Duration // 0: forget a key once idle for its refill time
	maxKeys int
}

// defaultMaxKeys bounds the keys of a Keyed limiter when WithMaxKeys is not
// given.
const defaultMaxKeys = 10_000

// newConfig returns the configuration of a limiter of kind built with opts;
// apply applies one option (the constructor's option interface).
func newConfig[O comparable](kind string, opts []O, apply func(O, *config)) *config {
	c := &config{name: kind, maxKeys: defaultMaxKeys}
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

// WithMaxKeys bounds the number of keys a [Keyed] limiter remembers:
// inserting a key beyond n evicts the least recently used one that no call
// is using. The default is 10,000. A value below 1 makes the limiter fail
// closed.
func WithMaxKeys(n int) KeyedOption {
	return keyedOption(func(c *config) {
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
// makes the limiter fail closed; 0 keeps the default.
func WithIdleTTL(d time.Duration) KeyedOption {
	return keyedOption(func(c *config) {
		if d < 0 {
			c.fail(configError("WithIdleTTL", "must not be negative, got %v", d))
			return
		}
		c.idleTTL = d
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
