package config

import (
	"math"

	"github.com/ionkit/ion/adaptive"
)

// AdaptiveConfig configures an adaptive concurrency limiter
// ([adaptive.Limiter]); each field maps onto the option of the same name,
// and a zero field leaves the limiter's default.
type AdaptiveConfig struct {
	// Algorithm is "vegas" (the default), "gradient" or "aimd"
	// (adaptive.WithAlgorithm).
	Algorithm string `json:"algorithm,omitempty" yaml:"algorithm,omitempty"`
	// InitialLimit is the starting limit, within the bounds
	// (adaptive.WithInitialLimit). Default 20, or the nearest bound. It
	// applies when the limiter is built: a reload keeps the limit learned
	// since.
	InitialLimit int `json:"initial_limit,omitempty" yaml:"initial_limit,omitempty"`
	// MinLimit and MaxLimit bound the limit (adaptive.WithLimits), with
	// 1 ≤ min ≤ max. Defaults 1 and 1000.
	MinLimit int `json:"min_limit,omitempty" yaml:"min_limit,omitempty"`
	MaxLimit int `json:"max_limit,omitempty" yaml:"max_limit,omitempty"`
	// Backoff multiplies the limit after drops, in (0, 1)
	// (adaptive.WithBackoff). Default 0.9.
	Backoff float64 `json:"backoff,omitempty" yaml:"backoff,omitempty"`
	// Smoothing is the Gradient rule's step share, in (0, 1]
	// (adaptive.WithSmoothing). Default 0.5.
	Smoothing float64 `json:"smoothing,omitempty" yaml:"smoothing,omitempty"`
	// Tolerance is the RTT growth the Gradient rule tolerates, ≥ 1
	// (adaptive.WithTolerance). Default 1.5.
	Tolerance float64 `json:"tolerance,omitempty" yaml:"tolerance,omitempty"`
	// SampleWindow sets how often the limit moves
	// (adaptive.WithSampleWindow). Default 1s and 20 samples.
	SampleWindow *SampleWindowConfig `json:"sample_window,omitempty" yaml:"sample_window,omitempty"`
	// MaxWait lets a call wait for a permit (adaptive.WithMaxWait), ≥ 0.
	// Default 0: rejected at once.
	MaxWait Duration `json:"max_wait,omitempty" yaml:"max_wait,omitempty"`
	// MaxQueue bounds the waiting calls (adaptive.WithMaxQueue), ≥ 1.
	// Default: the current limit.
	MaxQueue int `json:"max_queue,omitempty" yaml:"max_queue,omitempty"`
	// CoDel turns on CoDel queue management (adaptive.WithCoDel).
	// Default: off.
	CoDel *CoDelConfig `json:"codel,omitempty" yaml:"codel,omitempty"`
	// AdaptiveLIFO serves the newest waiter first from that queue length on
	// (adaptive.WithAdaptiveLIFO), ≥ 1. Default 0: off.
	AdaptiveLIFO int `json:"adaptive_lifo,omitempty" yaml:"adaptive_lifo,omitempty"`
}

// SampleWindowConfig is the window of adaptive.WithSampleWindow.
type SampleWindowConfig struct {
	Length     Duration `json:"length" yaml:"length"`           // > 0.
	MinSamples int      `json:"min_samples" yaml:"min_samples"` // ≥ 1.
}

// CoDelConfig is CoDel queue management (adaptive.WithCoDel,
// sem.WithCoDel, pool.WithCoDel): a waiter that waited longer than Target
// while the queue has been standing for an Interval is shed.
type CoDelConfig struct {
	Target   Duration `json:"target" yaml:"target"`     // > 0.
	Interval Duration `json:"interval" yaml:"interval"` // > 0.
}

// validate adds the problems of d, if it is set, under "codel".
func (d *CoDelConfig) validate(p *problems) {
	if d == nil {
		return
	}
	if d.Target <= 0 {
		p.addf("codel.target", "must be > 0, got %v", d.Target)
	}
	if d.Interval <= 0 {
		p.addf("codel.interval", "must be > 0, got %v", d.Interval)
	}
}

var algorithms = map[string]adaptive.Algorithm{"": adaptive.Vegas, "vegas": adaptive.Vegas,
	"gradient": adaptive.Gradient, "aimd": adaptive.AIMD}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c AdaptiveConfig) Validate() error {
	var p problems
	if _, ok := algorithms[c.Algorithm]; !ok {
		p.addf("algorithm", "must be vegas, gradient or aimd, got %q", c.Algorithm)
	}
	lo, hi := 1, 1000
	if c.MinLimit != 0 || c.MaxLimit != 0 {
		lo, hi = c.MinLimit, c.MaxLimit
		if lo == 0 {
			lo = 1
		}
		if hi == 0 {
			hi = max(1000, lo)
		}
		if lo < 1 {
			p.addf("min_limit", "must be ≥ 1, got %d", c.MinLimit)
		}
		if hi < lo {
			p.addf("max_limit", "must be ≥ min_limit (%d), got %d", lo, hi)
		}
	}
	if c.InitialLimit != 0 && (c.InitialLimit < lo || c.InitialLimit > hi) {
		p.addf("initial_limit", "must be in [%d, %d], got %d", lo, hi, c.InitialLimit)
	}
	if c.Backoff != 0 && !(c.Backoff > 0 && c.Backoff < 1) {
		p.addf("backoff", "must be in (0, 1), got %v", c.Backoff)
	}
	if c.Smoothing != 0 && !(c.Smoothing > 0 && c.Smoothing <= 1) {
		p.addf("smoothing", "must be in (0, 1], got %v", c.Smoothing)
	}
	if c.Tolerance != 0 && !(c.Tolerance >= 1 && !math.IsInf(c.Tolerance, 1)) {
		p.addf("tolerance", "must be a finite number ≥ 1, got %v", c.Tolerance)
	}
	if w := c.SampleWindow; w != nil {
		if w.Length <= 0 {
			p.addf("sample_window.length", "must be > 0, got %v", w.Length)
		}
		if w.MinSamples < 1 {
			p.addf("sample_window.min_samples", "must be ≥ 1, got %d", w.MinSamples)
		}
	}
	if c.MaxWait < 0 {
		p.addf("max_wait", "must be ≥ 0, got %v", c.MaxWait)
	}
	if c.MaxQueue < 0 {
		p.addf("max_queue", "must be ≥ 1, got %d", c.MaxQueue)
	}
	c.CoDel.validate(&p)
	if c.AdaptiveLIFO < 0 {
		p.addf("adaptive_lifo", "must be ≥ 1, got %d", c.AdaptiveLIFO)
	}
	if len(p.errs) == 0 {
		p.own("", c.build("validate", &sinks{}).Err())
	}
	return p.err()
}

// build returns the limiter c describes. c must be valid.
func (c AdaptiveConfig) build(name string, s *sinks) *adaptive.Limiter {
	var opts []adaptive.LimiterOption
	for _, o := range s.adaptive() {
		opts = append(opts, o)
	}
	opts = append(opts, adaptive.WithName(name))
	if c.InitialLimit != 0 {
		opts = append(opts, adaptive.WithInitialLimit(c.InitialLimit))
	}
	return adaptive.NewLimiter(append(opts, c.tuning()...)...)
}

// tuning returns the options of c that a live limiter can change
// (adaptive.Limiter.Reconfigure): all but its name, sinks and initial
// limit. c must be valid.
func (c AdaptiveConfig) tuning() []adaptive.LimiterOption {
	opts := []adaptive.LimiterOption{adaptive.WithAlgorithm(algorithms[c.Algorithm])}
	if c.MinLimit != 0 || c.MaxLimit != 0 {
		lo, hi := max(c.MinLimit, 1), c.MaxLimit
		if hi == 0 {
			hi = max(1000, lo)
		}
		opts = append(opts, adaptive.WithLimits(lo, hi))
	}
	if c.Backoff != 0 {
		opts = append(opts, adaptive.WithBackoff(c.Backoff))
	}
	if c.Smoothing != 0 {
		opts = append(opts, adaptive.WithSmoothing(c.Smoothing))
	}
	if c.Tolerance != 0 {
		opts = append(opts, adaptive.WithTolerance(c.Tolerance))
	}
	if w := c.SampleWindow; w != nil {
		opts = append(opts, adaptive.WithSampleWindow(w.Length.std(), w.MinSamples))
	}
	if c.MaxWait != 0 {
		opts = append(opts, adaptive.WithMaxWait(c.MaxWait.std()))
	}
	if c.MaxQueue != 0 {
		opts = append(opts, adaptive.WithMaxQueue(c.MaxQueue))
	}
	if d := c.CoDel; d != nil {
		opts = append(opts, adaptive.WithCoDel(d.Target.std(), d.Interval.std()))
	}
	if c.AdaptiveLIFO != 0 {
		opts = append(opts, adaptive.WithAdaptiveLIFO(c.AdaptiveLIFO))
	}
	return opts
}

// ThrottlerConfig configures a client-side throttler ([adaptive.Throttler],
// used through [adaptive.ThrottlerPolicy]): it rejects locally a share of
// the calls to a backend that has been refusing them.
type ThrottlerConfig struct {
	// K lets through up to K times the requests the backend accepted, a
	// finite number ≥ 1 (adaptive.WithK). Default 2.
	K float64 `json:"k,omitempty" yaml:"k,omitempty"`
	// Window is the rolling window of the counts, ≥ 20ns
	// (adaptive.WithWindow). Default 2m.
	Window Duration `json:"window,omitempty" yaml:"window,omitempty"`
	// Seed fixes the random draws (adaptive.WithSeed). Default 0: random.
	// A reload with another seed reseeds them; one with 0 keeps them going.
	Seed uint64 `json:"seed,omitempty" yaml:"seed,omitempty"`
}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c ThrottlerConfig) Validate() error {
	var p problems
	if c.K != 0 && (!(c.K >= 1) || math.IsInf(c.K, 1)) {
		p.addf("k", "must be a finite number ≥ 1, got %v", c.K)
	}
	if c.Window != 0 && c.Window < 20 {
		p.addf("window", "must be ≥ 20ns, got %v", c.Window)
	}
	if len(p.errs) == 0 {
		p.own("", c.build("validate", &sinks{}).Err())
	}
	return p.err()
}

// build returns the throttler c describes. c must be valid.
func (c ThrottlerConfig) build(name string, s *sinks) *adaptive.Throttler {
	var opts []adaptive.ThrottlerOption
	for _, o := range s.adaptive() {
		opts = append(opts, o)
	}
	opts = append(opts, adaptive.WithName(name))
	return adaptive.NewThrottler(append(opts, c.tuning()...)...)
}

// tuning returns the options of c that a live throttler can change
// (adaptive.Throttler.Reconfigure): all but its name and sinks. c must be
// valid.
func (c ThrottlerConfig) tuning() []adaptive.ThrottlerOption {
	var opts []adaptive.ThrottlerOption
	if c.K != 0 {
		opts = append(opts, adaptive.WithK(c.K))
	}
	if c.Window != 0 {
		opts = append(opts, adaptive.WithWindow(c.Window.std()))
	}
	if c.Seed != 0 {
		opts = append(opts, adaptive.WithSeed(c.Seed))
	}
	return opts
}
