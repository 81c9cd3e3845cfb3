package config

import (
	"errors"
	"time"

	"github.com/ionkit/ion/chaos"
	"github.com/ionkit/ion/policy"
)

// TimeoutConfig configures a [policy.Timeout].
type TimeoutConfig struct {
	// After bounds each call, > 0. Required.
	After Duration `json:"after" yaml:"after"`
	// Abandon returns at the deadline even if the call has not returned
	// (policy.WithAbandon). Default false: cooperative.
	Abandon bool `json:"abandon,omitempty" yaml:"abandon,omitempty"`
}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c TimeoutConfig) Validate() error {
	var p problems
	if c.After <= 0 {
		p.addf("after", "must be > 0, got %v", c.After)
	}
	if len(p.errs) == 0 {
		p.own("", policy.Timeout[struct{}](c.After.std()).Err())
	}
	return p.err()
}

// HedgeConfig configures a [policy.Hedge].
type HedgeConfig struct {
	// Delay is the wait before each hedge, ≥ 0. Default 0: every attempt
	// starts at once.
	Delay Duration `json:"delay" yaml:"delay"`
	// Hedges is the most extra attempts per call (policy.WithHedges), ≥ 1.
	// Default 1.
	Hedges int `json:"hedges,omitempty" yaml:"hedges,omitempty"`
	// Budget names a budget of the document that limits the hedges
	// (policy.WithBudget). Default: none.
	Budget string `json:"budget,omitempty" yaml:"budget,omitempty"`
}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
// The budget's name is checked against the document by [Document.Validate].
func (c HedgeConfig) Validate() error {
	var p problems
	if c.Delay < 0 {
		p.addf("delay", "must be ≥ 0, got %v", c.Delay)
	}
	if c.Hedges < 0 {
		p.addf("hedges", "must be ≥ 1, got %d", c.Hedges)
	}
	if len(p.errs) == 0 {
		c.Budget = "" // a name of the document, checked by Document.Validate
		p.own("", policy.Hedge[struct{}](c.Delay.std(), c.options("validate", &sinks{}, nil)...).Err())
	}
	return p.err()
}

// options returns the hedge options c stands for. c must be valid.
func (c HedgeConfig) options(name string, s *sinks, budgets map[string]*policy.Budget) []policy.HedgeOption {
	opts := []policy.HedgeOption{policy.WithName(name)}
	for _, o := range s.policy() {
		opts = append(opts, o)
	}
	if c.Hedges != 0 {
		opts = append(opts, policy.WithHedges(c.Hedges))
	}
	if c.Budget != "" {
		opts = append(opts, policy.WithBudget(budgets[c.Budget]))
	}
	return opts
}

// FallbackConfig configures a [policy.FallbackFunc] whose function the
// program binds by name (see [FallbackFunc] and [FallbackValue]): a value
// or a function of type T cannot be written in a document.
type FallbackConfig struct {
	// Use names the fallback bound to the pipeline. Required.
	Use string `json:"use" yaml:"use"`
}

// Validate reports every invalid field; the binding is checked when a
// program asks for the pipeline with [Pipeline].
func (c FallbackConfig) Validate() error {
	var p problems
	if c.Use == "" {
		p.addf("use", "must name a fallback bound with FallbackFunc or FallbackValue")
	}
	return p.err()
}

// ChaosConfig configures fault injection ([chaos.Fault] and
// [chaos.Latency]) innermost in a pipeline, for game days and tests. Read
// the chaos package's warning before enabling it in production.
type ChaosConfig struct {
	// Fault returns an error instead of running a share of the calls.
	Fault *ChaosFaultConfig `json:"fault,omitempty" yaml:"fault,omitempty"`
	// Latency delays a share of the calls.
	Latency *ChaosLatencyConfig `json:"latency,omitempty" yaml:"latency,omitempty"`
	// Seed fixes which calls are chosen (chaos.WithSeed). Default 0:
	// random.
	Seed uint64 `json:"seed,omitempty" yaml:"seed,omitempty"`
}

// ChaosFaultConfig is the injector of chaos.Fault.
type ChaosFaultConfig struct {
	// Rate is the share of the calls that fail, in [0, 1].
	Rate float64 `json:"rate" yaml:"rate"`
	// Message is the injected error's text. Default "chaos: injected fault".
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
	// Enabled turns the injector on (chaos.WithEnabled). Default true.
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
}

// ChaosLatencyConfig is the injector of chaos.Latency.
type ChaosLatencyConfig struct {
	// Rate is the share of the calls that are delayed, in [0, 1].
	Rate float64 `json:"rate" yaml:"rate"`
	// Delay is the injected latency, ≥ 0.
	Delay Duration `json:"delay" yaml:"delay"`
	// Enabled turns the injector on (chaos.WithEnabled). Default true.
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c ChaosConfig) Validate() error {
	var p problems
	if c.Fault == nil && c.Latency == nil {
		p.addf("", "set fault, latency or both")
	}
	if f := c.Fault; f != nil && !(f.Rate >= 0 && f.Rate <= 1) {
		p.addf("fault.rate", "must be in [0, 1], got %v", f.Rate)
	}
	if l := c.Latency; l != nil {
		if !(l.Rate >= 0 && l.Rate <= 1) {
			p.addf("latency.rate", "must be in [0, 1], got %v", l.Rate)
		}
		if l.Delay < 0 {
			p.addf("latency.delay", "must be ≥ 0, got %v", l.Delay)
		}
	}
	if len(p.errs) == 0 {
		for _, in := range chaosLayers[struct{}](c, "validate", &sinks{}) {
			if r, ok := in.(policy.ErrReporter); ok {
				p.own("", r.Err())
			}
		}
	}
	return p.err()
}

// chaosLayers returns the injectors c describes, fault outermost.
// c must be valid.
func chaosLayers[T any](c ChaosConfig, name string, s *sinks) []policy.Policy[T] {
	opts := func(enabled *bool) []chaos.Option {
		o := append(s.chaos(), chaos.WithName(name))
		if c.Seed != 0 {
			o = append(o, chaos.WithSeed(c.Seed))
		}
		if enabled != nil {
			o = append(o, chaos.WithEnabled(*enabled))
		}
		return o
	}
	var layers []policy.Policy[T]
	if f := c.Fault; f != nil {
		msg := f.Message
		if msg == "" {
			msg = "chaos: injected fault"
		}
		layers = append(layers, chaos.Fault[T](errors.New(msg), f.Rate, opts(f.Enabled)...))
	}
	if l := c.Latency; l != nil {
		layers = append(layers, chaos.Latency[T](time.Duration(l.Delay), l.Rate, opts(l.Enabled)...))
	}
	return layers
}
