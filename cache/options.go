package cache

import (
	"fmt"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

// Option configures a [Cache].
type Option interface{ apply(*config) }

// DefaultMaxEntries is the bound of the in-memory store when
// [WithMaxEntries] is not given.
const DefaultMaxEntries = 10_000

type config struct {
	name           string
	maxEntries     int
	swr, sie       time.Duration // stale-while-revalidate and stale-if-error windows; 0 is off
	negTTL         time.Duration // how long a failure is cached; 0 is off
	refreshTimeout time.Duration // bound of a background refresh; 0 means the TTL
	metrics        observe.Metrics
	err            error // the first configuration error
}

func newConfig(opts []Option) config {
	c := config{maxEntries: DefaultMaxEntries}
	for i, o := range opts {
		if o == nil {
			c.fail(ion.NewConfigError("cache", fmt.Sprintf("option %d", i), "nil option"))
			continue
		}
		o.apply(&c)
	}
	return c
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// nonNegative records a configuration error for a negative d.
func (c *config) nonNegative(option string, d time.Duration) bool {
	if d < 0 {
		c.fail(ion.NewConfigError("cache", option, "%v is negative", d))
		return false
	}
	return true
}

// WithName names the Cache in its description and in the name label of its
// metrics.
func WithName(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// WithMaxEntries bounds the in-memory store of [New] to n entries (default
// [DefaultMaxEntries]); the least recently used entry is evicted to make
// room. An n below 1 makes every call fail with an error matching
// ion.ErrInvalidConfig.
func WithMaxEntries(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail(ion.NewConfigError("cache", "WithMaxEntries", "%d is below 1", n))
			return
		}
		c.maxEntries = n
	})
}

// WithStaleWhileRevalidate answers calls with an expired value for d after
// it expired, while one background refresh per key fetches a new one. A
// negative d makes every call fail with an error matching
// ion.ErrInvalidConfig; 0 (the default) turns it off.
func WithStaleWhileRevalidate(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if c.nonNegative("WithStaleWhileRevalidate", d) {
			c.swr = d
		}
	})
}

// WithStaleIfError answers a call whose run failed with the expired value,
// for d after it expired. A negative d makes every call fail with an error
// matching ion.ErrInvalidConfig; 0 (the default) turns it off.
func WithStaleIfError(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if c.nonNegative("WithStaleIfError", d) {
			c.sie = d
		}
	})
}

// WithNegativeTTL caches failures (results the pipeline's classifier calls
// a Failure) for d, so a failing key is not retried on every call. A
// negative d makes every call fail with an error matching
// ion.ErrInvalidConfig; 0 (the default) caches no failure.
func WithNegativeTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if c.nonNegative("WithNegativeTTL", d) {
			c.negTTL = d
		}
	})
}

// WithRefreshTimeout bounds each background refresh of
// [WithStaleWhileRevalidate] to d (default: the TTL). A d that is not
// positive makes every call fail with an error matching ion.ErrInvalidConfig.
func WithRefreshTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail(ion.NewConfigError("cache", "WithRefreshTimeout", "%v is not positive", d))
			return
		}
		c.refreshTimeout = d
	})
}

// WithMetrics records the Cache's metrics (see the package doc) in m. A nil
// m makes every call fail with an error matching ion.ErrInvalidConfig.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) {
		if err := sink.Set(&c.metrics, m, "cache", "WithMetrics"); err != nil {
			c.fail(err)
		}
	})
}
