package chaos

import (
	"fmt"
	"math/rand/v2"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

// Option configures an [Injector].
type Option interface{ apply(*config) }

type config struct {
	name    string
	seed    uint64
	enabled bool
	metrics observe.Metrics
	err     error // the first configuration error
}

func newConfig(opts []Option) config {
	c := config{seed: rand.Uint64(), enabled: true}
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
// into the same calls (by arrival order) every time. Without it the seed is
// random.
func WithSeed(seed uint64) Option {
	return optionFunc(func(c *config) { c.seed = seed })
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
