package chaos

import (
	"fmt"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

// Option configures an [Injector].
type Option interface{ apply(*config) }

type config struct {
	name    string
	seed    uint64
	seeded  bool
	enabled bool
	metrics observe.Metrics
	err     error // the first configuration error
}

func newConfig(opts []Option) config {
	c := config{enabled: true}
	for i, o := range opts {
		if o == nil {
			c.fail(ion.NewConfigError("chaos", fmt.Sprintf("option %d", i), "nil option"))
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

// WithName names the Injector in its description and in the name label of
// its metrics.
func WithName(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// WithSeed fixes the sequence from which calls are chosen, so a run injects
// into the same calls (by arrival order) every time. The draws of a seeded
// Injector share one atomic counter, so under heavy contention it costs a
// little more than an unseeded one, which draws from the runtime's
// per-thread random source.
func WithSeed(seed uint64) Option {
	return optionFunc(func(c *config) { c.seed, c.seeded = seed, true })
}

// WithEnabled sets whether the Injector starts enabled (the default is
// true); [Injector.SetEnabled] changes it later.
func WithEnabled(on bool) Option {
	return optionFunc(func(c *config) { c.enabled = on })
}

// WithMetrics records ion_chaos_injections_total in m. A nil m makes every
// call fail with an error matching ion.ErrInvalidConfig.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(c *config) {
		if err := sink.Set(&c.metrics, m, "chaos", "WithMetrics"); err != nil {
			c.fail(err)
		}
	})
}
