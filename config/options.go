package config

import (
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/chaos"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/sem"
)

// Option configures New: the observability sinks given to every primitive
// and policy the registry builds, named after their names in the document.
type Option interface {
	apply(*sinks)
}

// sinks are the observability sinks of a registry; fixed by New.
type sinks struct {
	metrics observe.Metrics
	logger  observe.Logger
	tracer  observe.Tracer
	// bad names the first option given a nil sink.
	bad string
}

type optionFunc func(*sinks)

func (f optionFunc) apply(s *sinks) { f(s) }

// WithMetrics records the metrics of every primitive and policy the
// registry builds (each package's WithMetrics, with the "name" label set to
// the name in the document, a pipeline's name for its own policies) in m.
// A nil m makes New fail.
func WithMetrics(m observe.Metrics) Option {
	return optionFunc(func(s *sinks) {
		if m == nil && s.bad == "" {
			s.bad = "WithMetrics"
		}
		s.metrics = m
	})
}

// WithLogger sends the rare events of every primitive and policy the
// registry builds to l (each package's WithLogger; adaptive limiters and
// chaos injectors have none). A nil l makes New fail.
func WithLogger(l observe.Logger) Option {
	return optionFunc(func(s *sinks) {
		if l == nil && s.bad == "" {
			s.bad = "WithLogger"
		}
		s.logger = l
	})
}

// WithTracer makes every primitive and policy the registry builds start
// spans in t (each package's WithTracer; pools, budgets and chaos injectors
// have none). A nil t makes New fail.
func WithTracer(t observe.Tracer) Option {
	return optionFunc(func(s *sinks) {
		if t == nil && s.bad == "" {
			s.bad = "WithTracer"
		}
		s.tracer = t
	})
}

func (s *sinks) breaker() []breaker.Option {
	var o []breaker.Option
	if s.metrics != nil {
		o = append(o, breaker.WithMetrics(s.metrics))
	}
	if s.logger != nil {
		o = append(o, breaker.WithLogger(s.logger))
	}
	if s.tracer != nil {
		o = append(o, breaker.WithTracer(s.tracer))
	}
	return o
}

func (s *sinks) limit() []limit.BucketOption {
	var o []limit.BucketOption
	if s.metrics != nil {
		o = append(o, limit.WithMetrics(s.metrics))
	}
	if s.logger != nil {
		o = append(o, limit.WithLogger(s.logger))
	}
	if s.tracer != nil {
		o = append(o, limit.WithTracer(s.tracer))
	}
	return o
}

func (s *sinks) sem() []sem.Option {
	var o []sem.Option
	if s.metrics != nil {
		o = append(o, sem.WithMetrics(s.metrics))
	}
	if s.logger != nil {
		o = append(o, sem.WithLogger(s.logger))
	}
	if s.tracer != nil {
		o = append(o, sem.WithTracer(s.tracer))
	}
	return o
}

func (s *sinks) pool() []pool.Option {
	var o []pool.Option
	if s.metrics != nil {
		o = append(o, pool.WithMetrics(s.metrics))
	}
	if s.logger != nil {
		o = append(o, pool.WithLogger(s.logger))
	}
	if s.tracer != nil {
		o = append(o, pool.WithTracer(s.tracer))
	}
	return o
}

// adaptive returns options that every adaptive constructor takes.
func (s *sinks) adaptive() []adaptive.Option {
	var o []adaptive.Option
	if s.metrics != nil {
		o = append(o, adaptive.WithMetrics(s.metrics))
	}
	if s.tracer != nil {
		o = append(o, adaptive.WithTracer(s.tracer))
	}
	return o
}

// policy returns the options shared by Retry, Timeout, Fallback and Hedge.
func (s *sinks) policy() []policy.Option {
	var o []policy.Option
	if s.metrics != nil {
		o = append(o, policy.WithMetrics(s.metrics))
	}
	if s.logger != nil {
		o = append(o, policy.WithLogger(s.logger))
	}
	if s.tracer != nil {
		o = append(o, policy.WithTracer(s.tracer))
	}
	return o
}

func (s *sinks) chaos() []chaos.Option {
	var o []chaos.Option
	if s.metrics != nil {
		o = append(o, chaos.WithMetrics(s.metrics))
	}
	return o
}
