package config

import (
	"reflect"

	"github.com/ionkit/ion/sem"
)

// BulkheadConfig configures a bulkhead, a [sem.Weighted] used through
// [sem.Policy]: at most Capacity permits are held at once. Every field
// changes in place on reload: the semaphore keeps its permits in use and its
// waiters.
type BulkheadConfig struct {
	// Capacity is the number of permits, ≥ 1. Required. It changes in
	// place on reload (sem.Weighted.SetCapacity): a shrink revokes no
	// permit.
	Capacity int64 `json:"capacity" yaml:"capacity"`
	// Fairness is "fifo" (the default), "lifo" or "none" (sem.WithFairness).
	// It changes in place on reload (sem.Weighted.Reconfigure), for the
	// grants made from then on.
	Fairness string `json:"fairness,omitempty" yaml:"fairness,omitempty"`
	// AcquireTimeout bounds a queued Acquire (sem.WithAcquireTimeout), ≥ 0.
	// Default 0: as long as ctx allows. It changes in place on reload, for
	// the Acquires that queue after it; a bulkhead's calls wait for their
	// pipeline's max_wait instead.
	AcquireTimeout Duration `json:"acquire_timeout,omitempty" yaml:"acquire_timeout,omitempty"`
	// CoDel sheds the waiters of a standing queue (sem.WithCoDel).
	// Default: off. It changes in place on reload: turned on, it starts
	// afresh; a new target or interval keeps its state.
	CoDel *CoDelConfig `json:"codel,omitempty" yaml:"codel,omitempty"`
	// AdaptiveLIFO serves the newest waiter first from that many waiters on
	// (sem.WithAdaptiveLIFO), ≥ 1. Default 0: off. It changes in place on
	// reload, from the next grant.
	AdaptiveLIFO int `json:"adaptive_lifo,omitempty" yaml:"adaptive_lifo,omitempty"`
}

var fairness = map[string]sem.Fairness{"": sem.FIFO, "fifo": sem.FIFO, "lifo": sem.LIFO, "none": sem.None}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c BulkheadConfig) Validate() error {
	var p problems
	if c.Capacity < 1 {
		p.addf("capacity", "must be ≥ 1, got %d", c.Capacity)
	}
	if _, ok := fairness[c.Fairness]; !ok {
		p.addf("fairness", "must be fifo, lifo or none, got %q", c.Fairness)
	}
	if c.AcquireTimeout < 0 {
		p.addf("acquire_timeout", "must be ≥ 0, got %v", c.AcquireTimeout)
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

// build returns the semaphore c describes. c must be valid.
func (c BulkheadConfig) build(name string, s *sinks) *sem.Weighted {
	opts := append(s.sem(), sem.WithName(name))
	return sem.NewWeighted(c.Capacity, append(opts, c.settings()...)...)
}

// settings returns the options of c that sem.Weighted.Reconfigure changes:
// every field but the capacity, each given, so that they are the whole
// queue configuration.
func (c BulkheadConfig) settings() []sem.Option {
	opts := []sem.Option{sem.WithFairness(fairness[c.Fairness]), sem.WithAcquireTimeout(c.AcquireTimeout.std())}
	if d := c.CoDel; d != nil {
		opts = append(opts, sem.WithCoDel(d.Target.std(), d.Interval.std()))
	}
	if c.AdaptiveLIFO > 0 {
		opts = append(opts, sem.WithAdaptiveLIFO(c.AdaptiveLIFO))
	}
	return opts
}

// sameSettings reports whether c and o agree on every field but the
// capacity, which a reload changes on its own.
func (c BulkheadConfig) sameSettings(o BulkheadConfig) bool {
	c.Capacity = o.Capacity
	return reflect.DeepEqual(c, o)
}

// BulkheadUse is a pipeline's use of a named bulkhead, with the options of
// [sem.Policy].
type BulkheadUse struct {
	// Use names a bulkhead of the document. Required.
	Use string `json:"use" yaml:"use"`
	// MaxWait is how long a call may wait for its permits (sem.WithMaxWait),
	// ≥ 0. Default 0: a call is rejected at once when the bulkhead is full.
	MaxWait Duration `json:"max_wait,omitempty" yaml:"max_wait,omitempty"`
	// Weight is the permits each call holds (sem.WithWeight), in
	// [1, capacity]. Default 1.
	Weight int64 `json:"weight,omitempty" yaml:"weight,omitempty"`
}

// Validate reports every invalid field; the name and the weight are checked
// against the document by [Document.Validate].
func (u BulkheadUse) Validate() error {
	var p problems
	if u.Use == "" {
		p.addf("use", "must name a bulkhead")
	}
	if u.MaxWait < 0 {
		p.addf("max_wait", "must be ≥ 0, got %v", u.MaxWait)
	}
	if u.Weight < 0 {
		p.addf("weight", "must be ≥ 1, got %d", u.Weight)
	}
	return p.err()
}

// weight returns u.Weight with its default.
func (u BulkheadUse) weight() int64 {
	if u.Weight == 0 {
		return 1
	}
	return u.Weight
}
