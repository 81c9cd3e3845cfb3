package coalesce

import (
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

// Option configures a [Group].
type Option interface{ apply(*config) }

type config struct {
	name    string
	metrics observe.Metrics
	err     error // the first configuration error
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithName names the Group in its description and in the name label of its
// metrics.
func WithName(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// WithMetrics records the Group's metrics (see the package doc) in m. A nil m
// makes every call fail with an error matching ion.ErrInvalidConfig.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) {
		if err := sink.Set(&c.metrics, m, "coalesce", "WithMetrics"); err != nil {
			c.fail(err)
		}
	})
}
