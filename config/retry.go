package config

import (
	"math"

	"github.com/ionkit/ion/policy"
)

// RetryConfig configures a [policy.Retry]; each field maps onto the option
// of the same name, and a zero field leaves the policy's default.
type RetryConfig struct {
	// Attempts is the maximum number of attempts, the first included
	// (policy.WithAttempts), ≥ 1. Default 3.
	Attempts int `json:"attempts,omitempty" yaml:"attempts,omitempty"`
	// Unlimited makes as many attempts as the other bounds allow
	// (policy.WithUnlimitedAttempts); not with Attempts.
	Unlimited bool `json:"unlimited,omitempty" yaml:"unlimited,omitempty"`
	// Backoff is the schedule of delays between attempts
	// (policy.WithBackoff). Default: exponential from 100ms to 10s.
	Backoff *BackoffConfig `json:"backoff,omitempty" yaml:"backoff,omitempty"`
	// Jitter is "none" (the default), "full", "equal" or "decorrelated"
	// (policy.WithJitter); not with ProportionalJitter.
	Jitter string `json:"jitter,omitempty" yaml:"jitter,omitempty"`
	// ProportionalJitter randomizes each delay by ± that fraction of it,
	// in [0, 1] (policy.WithProportionalJitter). Default 0.
	ProportionalJitter float64 `json:"proportional_jitter,omitempty" yaml:"proportional_jitter,omitempty"`
	// AbsoluteJitter adds up to that much to each delay, ≥ 0
	// (policy.WithAbsoluteJitter). Default 0.
	AbsoluteJitter Duration `json:"absolute_jitter,omitempty" yaml:"absolute_jitter,omitempty"`
	// MaxDuration bounds the whole call's retries, ≥ 0
	// (policy.WithMaxDuration). Default 0: no bound.
	MaxDuration Duration `json:"max_duration,omitempty" yaml:"max_duration,omitempty"`
	// MaxRetryAfter is the longest Retry-After waited out, ≥ 0
	// (policy.WithMaxRetryAfter); 0 waits out none. Default: the longest
	// delay the retry would wait on its own.
	MaxRetryAfter *Duration `json:"max_retry_after,omitempty" yaml:"max_retry_after,omitempty"`
	// Seed makes the jitter deterministic (policy.WithSeed). Default 0:
	// a fresh seed per call.
	Seed uint64 `json:"seed,omitempty" yaml:"seed,omitempty"`
	// Budget names a budget of the document that limits the retries
	// (policy.WithBudget). Default: none.
	Budget string `json:"budget,omitempty" yaml:"budget,omitempty"`
}

// BackoffConfig configures a [policy.Backoff].
type BackoffConfig struct {
	// Kind is "exponential" (the default), "linear" or "constant".
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Initial is the delay before the first retry, ≥ 0; a constant
	// backoff waits it before every retry. Default 100ms.
	Initial *Duration `json:"initial,omitempty" yaml:"initial,omitempty"`
	// Step is what a linear backoff adds per retry, ≥ 0. Default 0.
	Step Duration `json:"step,omitempty" yaml:"step,omitempty"`
	// Max caps the delay of a linear or exponential backoff, ≥ initial.
	// Default 10s.
	Max Duration `json:"max,omitempty" yaml:"max,omitempty"`
	// Factor multiplies an exponential backoff's delay per retry, a finite
	// number ≥ 1. Default 2.
	Factor float64 `json:"factor,omitempty" yaml:"factor,omitempty"`
}

var jitters = map[string]policy.Jitter{"": policy.NoJitter, "none": policy.NoJitter, "full": policy.FullJitter,
	"equal": policy.EqualJitter, "decorrelated": policy.DecorrelatedJitter}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
// The budget's name is checked against the document by [Document.Validate].
func (c RetryConfig) Validate() error {
	var p problems
	if c.Attempts < 0 {
		p.addf("attempts", "must be ≥ 1, got %d", c.Attempts)
	}
	if c.Unlimited && c.Attempts != 0 {
		p.addf("unlimited", "set attempts or unlimited, not both")
	}
	if c.Backoff != nil {
		p.merge("backoff", c.Backoff.Validate())
	}
	if _, ok := jitters[c.Jitter]; !ok {
		p.addf("jitter", "must be none, full, equal or decorrelated, got %q", c.Jitter)
	}
	if !(c.ProportionalJitter >= 0 && c.ProportionalJitter <= 1) {
		p.addf("proportional_jitter", "must be in [0, 1], got %v", c.ProportionalJitter)
	} else if c.ProportionalJitter != 0 && c.Jitter != "" && c.Jitter != "none" {
		p.addf("proportional_jitter", "set jitter or proportional_jitter, not both")
	}
	if c.AbsoluteJitter < 0 {
		p.addf("absolute_jitter", "must be ≥ 0, got %v", c.AbsoluteJitter)
	}
	if c.MaxDuration < 0 {
		p.addf("max_duration", "must be ≥ 0, got %v", c.MaxDuration)
	}
	if c.MaxRetryAfter != nil && *c.MaxRetryAfter < 0 {
		p.addf("max_retry_after", "must be ≥ 0, got %v", *c.MaxRetryAfter)
	}
	if len(p.errs) == 0 {
		c.Budget = "" // a name of the document, checked by Document.Validate
		p.own("", policy.Retry[struct{}](c.options("validate", &sinks{}, nil)...).Err())
	}
	return p.err()
}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c BackoffConfig) Validate() error {
	var p problems
	switch c.Kind {
	case "", "exponential", "linear", "constant":
	default:
		p.addf("kind", "must be exponential, linear or constant, got %q", c.Kind)
	}
	initial := c.initial()
	if initial < 0 {
		p.addf("initial", "must be ≥ 0, got %v", initial)
	}
	if c.Kind == "constant" {
		if c.Step != 0 || c.Max != 0 || c.Factor != 0 {
			p.addf("", "a constant backoff takes initial only")
		}
		return p.err()
	}
	if c.Step < 0 {
		p.addf("step", "must be ≥ 0, got %v", c.Step)
	} else if c.Step != 0 && c.Kind != "linear" {
		p.addf("step", "only a linear backoff has a step")
	}
	if c.Factor != 0 && c.Kind == "linear" {
		p.addf("factor", "only an exponential backoff has a factor")
	} else if c.Factor != 0 && (!(c.Factor >= 1) || math.IsInf(c.Factor, 1)) {
		p.addf("factor", "must be a finite number ≥ 1, got %v", c.Factor)
	}
	if m := c.max(); m < initial {
		p.addf("max", "must be ≥ initial (%v), got %v", initial, m)
	}
	return p.err()
}

// initial returns c.Initial with its default.
func (c BackoffConfig) initial() Duration {
	if c.Initial == nil {
		return Duration(100e6)
	}
	return *c.Initial
}

// max returns c.Max with its default.
func (c BackoffConfig) max() Duration {
	if c.Max == 0 {
		return Duration(10e9)
	}
	return c.Max
}

// backoff returns the schedule c describes. c must be valid.
func (c BackoffConfig) backoff() policy.Backoff {
	switch c.Kind {
	case "constant":
		return policy.Constant(c.initial().std())
	case "linear":
		return policy.Linear(c.initial().std(), c.Step.std(), c.max().std())
	}
	if c.Factor != 0 {
		return policy.ExponentialFactor(c.initial().std(), c.max().std(), c.Factor)
	}
	return policy.Exponential(c.initial().std(), c.max().std())
}

// options returns the retry options c stands for, with the budget looked
// up in budgets. c must be valid.
func (c RetryConfig) options(name string, s *sinks, budgets map[string]*policy.Budget) []policy.RetryOption {
	opts := []policy.RetryOption{policy.WithName(name)}
	for _, o := range s.policy() {
		opts = append(opts, o)
	}
	if c.Attempts != 0 {
		opts = append(opts, policy.WithAttempts(c.Attempts))
	}
	if c.Unlimited {
		opts = append(opts, policy.WithUnlimitedAttempts())
	}
	if c.Backoff != nil {
		opts = append(opts, policy.WithBackoff(c.Backoff.backoff()))
	}
	if j := jitters[c.Jitter]; j != policy.NoJitter {
		opts = append(opts, policy.WithJitter(j))
	}
	if c.ProportionalJitter != 0 {
		opts = append(opts, policy.WithProportionalJitter(c.ProportionalJitter))
	}
	if c.AbsoluteJitter != 0 {
		opts = append(opts, policy.WithAbsoluteJitter(c.AbsoluteJitter.std()))
	}
	if c.MaxDuration != 0 {
		opts = append(opts, policy.WithMaxDuration(c.MaxDuration.std()))
	}
	if c.MaxRetryAfter != nil {
		opts = append(opts, policy.WithMaxRetryAfter(c.MaxRetryAfter.std()))
	}
	if c.Seed != 0 {
		opts = append(opts, policy.WithSeed(c.Seed))
	}
	if c.Budget != "" {
		opts = append(opts, policy.WithBudget(budgets[c.Budget]))
	}
	return opts
}

// BudgetConfig configures a retry budget ([policy.Budget]) shared by the
// retries and hedges that name it.
type BudgetConfig struct {
	// Ratio is the extra attempts allowed per call over 10 s, a finite
	// number ≥ 0 (0.1: one retry per ten calls). Default 0.
	Ratio float64 `json:"ratio,omitempty" yaml:"ratio,omitempty"`
	// MinPerSecond is the extra attempts allowed in every second on top,
	// ≥ 0. Default 0.
	MinPerSecond int `json:"min_per_second,omitempty" yaml:"min_per_second,omitempty"`
}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c BudgetConfig) Validate() error {
	var p problems
	if !(c.Ratio >= 0) || math.IsInf(c.Ratio, 1) {
		p.addf("ratio", "must be a finite number ≥ 0, got %v", c.Ratio)
	}
	if c.MinPerSecond < 0 {
		p.addf("min_per_second", "must be ≥ 0, got %d", c.MinPerSecond)
	}
	if len(p.errs) == 0 {
		p.own("", policy.NewBudget(c.Ratio, c.MinPerSecond).Err())
	}
	return p.err()
}
