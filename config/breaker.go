package config

import (
	"math"

	"github.com/ionkit/ion/breaker"
)

// BreakerConfig configures a [breaker.Breaker]; each field maps onto the
// option of the same name, and a zero field leaves the breaker's default.
// Presets apply first, fields after them override their values.
//
// Only one failure rule may be set: ConsecutiveFailures, FailureRate (with
// a window) or FailuresWithin.
type BreakerConfig struct {
	// Preset is "quick-failover", "conservative" or "aggressive"
	// (breaker.QuickFailover, Conservative, Aggressive), or empty for none.
	Preset string `json:"preset,omitempty" yaml:"preset,omitempty"`
	// ConsecutiveFailures trips the breaker after that many failures in a
	// row, in [1, 2^31-1] (WithConsecutiveFailures). Default 5, the
	// default rule.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty" yaml:"consecutive_failures,omitempty"`
	// FailureRate trips the breaker when the share of failures in the window
	// reaches it, in (0, 1] (WithFailureRate). Default: off; 0.5 when a
	// window is set without it.
	FailureRate float64 `json:"failure_rate,omitempty" yaml:"failure_rate,omitempty"`
	// CountWindow counts the rate rules over the last calls (WithCountWindow).
	CountWindow *CountWindowConfig `json:"count_window,omitempty" yaml:"count_window,omitempty"`
	// TimeWindow counts the rate rules over a rolling time (WithTimeWindow).
	TimeWindow *TimeWindowConfig `json:"time_window,omitempty" yaml:"time_window,omitempty"`
	// FailuresWithin trips on a burst of failures (WithFailuresWithin).
	FailuresWithin *FailuresWithinConfig `json:"failures_within,omitempty" yaml:"failures_within,omitempty"`
	// SlowCalls adds the slow-call rule (WithSlowCalls).
	SlowCalls *SlowCallsConfig `json:"slow_calls,omitempty" yaml:"slow_calls,omitempty"`
	// OpenDuration is how long the breaker stays open (WithOpenDuration).
	// Default 30s.
	OpenDuration Duration `json:"open_duration,omitempty" yaml:"open_duration,omitempty"`
	// OpenBackoff grows the open duration on repeated openings
	// (WithOpenBackoff). Default: off.
	OpenBackoff *OpenBackoffConfig `json:"open_backoff,omitempty" yaml:"open_backoff,omitempty"`
	// Jitter spreads the open duration (WithJitter). Default: off.
	Jitter *BreakerJitterConfig `json:"jitter,omitempty" yaml:"jitter,omitempty"`
	// HalfOpenMaxCalls is the number of probes at once in the half-open
	// state, in [1, 2^31-1] (WithHalfOpenMaxCalls). Default 3.
	HalfOpenMaxCalls int `json:"half_open_max_calls,omitempty" yaml:"half_open_max_calls,omitempty"`
	// SuccessThreshold is the number of probe successes that close the
	// breaker (WithSuccessThreshold). Default 2, or HalfOpenMaxCalls if fewer.
	SuccessThreshold int `json:"success_threshold,omitempty" yaml:"success_threshold,omitempty"`
}

// maxWindow bounds the calls of a count window, which the breaker
// allocates up front (a byte each): a document must not be able to exhaust
// memory by a typo. maxBuckets is the breaker's own bound on the buckets of
// a time window.
const (
	maxWindow  = 1 << 20
	maxBuckets = 1 << 16
)

// CountWindowConfig is the window of breaker.WithCountWindow.
type CountWindowConfig struct {
	Size     int `json:"size" yaml:"size"`           // calls in the window, in [1, 2^20].
	MinCalls int `json:"min_calls" yaml:"min_calls"` // calls before the rate applies, in [1, size].
}

// TimeWindowConfig is the window of breaker.WithTimeWindow.
type TimeWindowConfig struct {
	Length   Duration `json:"length" yaml:"length"`       // the window's length, > 0.
	Buckets  int      `json:"buckets" yaml:"buckets"`     // buckets, in [1, 2^16]. Default 10.
	MinCalls int      `json:"min_calls" yaml:"min_calls"` // calls before the rate applies, ≥ 1.
}

// FailuresWithinConfig is the rule of breaker.WithFailuresWithin.
type FailuresWithinConfig struct {
	Failures int      `json:"failures" yaml:"failures"` // failures, in [1, 65536].
	Within   Duration `json:"within" yaml:"within"`     // of each other, > 0.
}

// SlowCallsConfig is the rule of breaker.WithSlowCalls.
type SlowCallsConfig struct {
	Threshold Duration `json:"threshold" yaml:"threshold"` // a call this long is slow, > 0.
	Rate      float64  `json:"rate" yaml:"rate"`           // share of slow calls that trips, in (0, 1].
}

// OpenBackoffConfig is the growth of breaker.WithOpenBackoff.
type OpenBackoffConfig struct {
	Factor float64  `json:"factor" yaml:"factor"` // ≥ 1.
	Limit  Duration `json:"limit" yaml:"limit"`   // ≥ the open duration.
}

// BreakerJitterConfig is the spread of breaker.WithJitter.
type BreakerJitterConfig struct {
	Fraction float64 `json:"fraction" yaml:"fraction"` // in [0, 1].
	Seed     uint64  `json:"seed,omitempty" yaml:"seed,omitempty"`
}

// breakerPresets holds the values of each preset that validation needs:
// the open duration, the half-open probes and the success threshold.
var breakerPresets = map[string]struct {
	open             Duration
	halfOpen, closes int
	opt              func() breaker.Option
}{
	"quick-failover": {Duration(10e9), 2, 1, breaker.QuickFailover},
	"conservative":   {Duration(60e9), 5, 3, breaker.Conservative},
	"aggressive":     {Duration(45e9), 1, 1, breaker.Aggressive},
}

// Validate reports every invalid field, each as an error matching
// ion.ErrInvalidConfig whose parameter is the field's path, joined with
// errors.Join; nil when the configuration is valid.
func (c BreakerConfig) Validate() error {
	var p problems
	preset, hasPreset := breakerPresets[c.Preset]
	if c.Preset != "" && !hasPreset {
		p.addf("preset", "must be quick-failover, conservative or aggressive, got %q", c.Preset)
	}
	rules := 0
	if c.ConsecutiveFailures != 0 {
		rules++
		if c.ConsecutiveFailures < 1 || int64(c.ConsecutiveFailures) > math.MaxInt32 {
			p.addf("consecutive_failures", "must be in [1, 2^31-1], got %d", c.ConsecutiveFailures)
		}
	}
	if c.FailureRate != 0 {
		rules++
		if !(c.FailureRate > 0 && c.FailureRate <= 1) {
			p.addf("failure_rate", "must be in (0, 1], got %v", c.FailureRate)
		}
	}
	if w := c.FailuresWithin; w != nil {
		rules++
		if w.Failures < 1 || w.Failures > 65536 {
			p.addf("failures_within.failures", "must be in [1, 65536], got %d", w.Failures)
		}
		if w.Within <= 0 {
			p.addf("failures_within.within", "must be > 0, got %v", w.Within)
		}
	}
	if rules > 1 {
		p.addf("", "set one failure rule of consecutive_failures, failure_rate and failures_within, got %d", rules)
	}
	if c.CountWindow != nil && c.TimeWindow != nil {
		p.addf("", "set one window of count_window and time_window, not both")
	}
	if w := c.CountWindow; w != nil {
		if w.Size < 1 || w.Size > maxWindow {
			p.addf("count_window.size", "must be in [1, %d], got %d", maxWindow, w.Size)
		}
		if w.MinCalls < 1 || w.MinCalls > max(w.Size, 1) {
			p.addf("count_window.min_calls", "must be in [1, size], got %d", w.MinCalls)
		}
	}
	if w := c.TimeWindow; w != nil {
		if w.Length <= 0 {
			p.addf("time_window.length", "must be > 0, got %v", w.Length)
		}
		if w.Buckets < 0 || w.Buckets > maxBuckets || (w.Length > 0 && int64(w.Buckets) > int64(w.Length)) {
			p.addf("time_window.buckets", "must be in [1, %d] and at most the length in nanoseconds, got %d", maxBuckets, w.Buckets)
		}
		if w.MinCalls < 1 {
			p.addf("time_window.min_calls", "must be ≥ 1, got %d", w.MinCalls)
		}
	}
	if s := c.SlowCalls; s != nil {
		if s.Threshold <= 0 {
			p.addf("slow_calls.threshold", "must be > 0, got %v", s.Threshold)
		}
		if !(s.Rate > 0 && s.Rate <= 1) {
			p.addf("slow_calls.rate", "must be in (0, 1], got %v", s.Rate)
		}
	}
	open := Duration(30e9)
	if hasPreset {
		open = preset.open
	}
	if c.OpenDuration < 0 {
		p.addf("open_duration", "must be > 0, got %v", c.OpenDuration)
	} else if c.OpenDuration > 0 {
		open = c.OpenDuration
	}
	if b := c.OpenBackoff; b != nil {
		if !(b.Factor >= 1) || math.IsInf(b.Factor, 0) {
			p.addf("open_backoff.factor", "must be a finite number ≥ 1, got %v", b.Factor)
		}
		if b.Limit < open {
			p.addf("open_backoff.limit", "must be ≥ open_duration (%v), got %v", open, b.Limit)
		}
	}
	if j := c.Jitter; j != nil && !(j.Fraction >= 0 && j.Fraction <= 1) {
		p.addf("jitter.fraction", "must be in [0, 1], got %v", j.Fraction)
	}
	halfOpen := 3
	if hasPreset {
		halfOpen = preset.halfOpen
	}
	if c.HalfOpenMaxCalls < 0 || int64(c.HalfOpenMaxCalls) > math.MaxInt32 {
		p.addf("half_open_max_calls", "must be in [1, 2^31-1], got %d", c.HalfOpenMaxCalls)
	} else if c.HalfOpenMaxCalls > 0 {
		halfOpen = c.HalfOpenMaxCalls
	}
	if c.SuccessThreshold < 0 {
		p.addf("success_threshold", "must be ≥ 1, got %d", c.SuccessThreshold)
	} else if c.SuccessThreshold > halfOpen {
		p.addf("success_threshold", "must be ≤ half_open_max_calls (%d), got %d", halfOpen, c.SuccessThreshold)
	}
	if len(p.errs) == 0 {
		// The breaker's own word, in case its rules grew stricter than these.
		p.own("", breaker.New("validate", c.options()...).Err())
	}
	return p.err()
}

// options returns the breaker options c stands for, preset first.
// c must be valid.
func (c BreakerConfig) options() []breaker.Option {
	var opts []breaker.Option
	if pr, ok := breakerPresets[c.Preset]; ok {
		opts = append(opts, pr.opt())
	}
	if w := c.CountWindow; w != nil {
		opts = append(opts, breaker.WithCountWindow(w.Size, w.MinCalls))
	}
	if w := c.TimeWindow; w != nil {
		buckets := w.Buckets
		if buckets == 0 {
			buckets = min(10, int(max(int64(w.Length), 1)))
		}
		opts = append(opts, breaker.WithTimeWindow(w.Length.std(), buckets, w.MinCalls))
	}
	if c.ConsecutiveFailures > 0 {
		opts = append(opts, breaker.WithConsecutiveFailures(c.ConsecutiveFailures))
	}
	if c.FailureRate > 0 {
		opts = append(opts, breaker.WithFailureRate(c.FailureRate))
	}
	if w := c.FailuresWithin; w != nil {
		opts = append(opts, breaker.WithFailuresWithin(w.Failures, w.Within.std()))
	}
	if s := c.SlowCalls; s != nil {
		opts = append(opts, breaker.WithSlowCalls(s.Threshold.std(), s.Rate))
	}
	if c.OpenDuration > 0 {
		opts = append(opts, breaker.WithOpenDuration(c.OpenDuration.std()))
	}
	if b := c.OpenBackoff; b != nil {
		opts = append(opts, breaker.WithOpenBackoff(b.Factor, b.Limit.std()))
	}
	if j := c.Jitter; j != nil {
		opts = append(opts, breaker.WithJitter(j.Fraction, j.Seed))
	}
	if c.HalfOpenMaxCalls > 0 {
		opts = append(opts, breaker.WithHalfOpenMaxCalls(c.HalfOpenMaxCalls))
	}
	if c.SuccessThreshold > 0 {
		opts = append(opts, breaker.WithSuccessThreshold(c.SuccessThreshold))
	}
	return opts
}
