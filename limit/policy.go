package limit

import (
	"context"
	"fmt"
	"time"

	"github.com/ionkit/ion/internal/spans"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// PolicyOption configures [Policy].
type PolicyOption interface {
	applyPolicy(*policyConfig)
}

type policyConfig struct {
	maxWait time.Duration
	err     error
}

type policyOptionFunc func(*policyConfig)

func (f policyOptionFunc) applyPolicy(c *policyConfig) { f(c) }

// WithMaxWait makes [Policy] wait up to d for the limiter to admit a call,
// instead of rejecting it at once. The wait also ends strictly before the
// call's ctx deadline; a call whose wait could not fit is rejected at once,
// consuming nothing. A negative d makes the policy fail closed with an error
// matching ion.ErrInvalidConfig; 0 keeps the default, reject at once.
func WithMaxWait(d time.Duration) PolicyOption {
	return policyOptionFunc(func(c *policyConfig) {
		if d < 0 {
			if c.err == nil {
				c.err = configError("WithMaxWait", "must not be negative, got %v", d)
			}
			return
		}
		c.maxWait = d
	})
}

// Policy returns a policy.Policy that admits each call through lim before
// running it.
//
// It rejects by default, it does not wait: without [WithMaxWait] a call the
// limiter does not admit at once is rejected, without running, with a
// [*LimitedError]: it matches [ErrLimited] and ion.ErrRejected, and
// ion.RetryAfter returns how long to wait (so an outer policy.Retry waits
// that long). To pace calls instead, as most clients of a rate-limited
// service want, pass [WithMaxWait]: the policy then waits for admission, up
// to the max wait and strictly before the ctx deadline; see [Limiter.Admit]
// and the Policy example, which shows both forms.
//
// An already-done ctx fails the call with ctx.Err() before lim is asked. A
// rate limiter holds nothing once a call is admitted, so a panic in the
// call has nothing to release: it propagates unchanged (ending the span, if
// any, as a failure). With a limiter of this package built with WithTracer
// (or any Limiter with a method Tracer() observe.Tracer that returns a
// non-nil Tracer), each execution is one span named after the policy, ended
// with "rejected" or the call's outcome. The admission of a TokenBucket or LeakyBucket adds
// no allocation. A nil lim or an invalid option makes every call fail with
// an error matching ion.ErrInvalidConfig.
func Policy[T any](lim Limiter, opts ...PolicyOption) policy.Policy[T] {
	var c policyConfig
	for _, o := range opts {
		if o == nil {
			if c.err == nil {
				c.err = configError("opts", "nil PolicyOption")
			}
			continue
		}
		o.applyPolicy(&c)
	}
	p := &limitPolicy[T]{lim: lim, maxWait: c.maxWait, err: c.err, name: "limit"}
	switch {
	case lim == nil:
		if p.err == nil {
			p.err = configError("lim", "nil Limiter")
		}
	default:
		if s, ok := lim.(fmt.Stringer); ok {
			p.name = "limit(" + s.String() + ")"
		}
		switch t := lim.(type) {
		case tracerOf:
			p.tr = t.tracer()
		case interface{ Tracer() observe.Tracer }:
			p.tr = t.Tracer()
		}
	}
	return p
}

type limitPolicy[T any] struct {
	lim     Limiter
	maxWait time.Duration
	err     error
	name    string
	tr      observe.Tracer
}

// Err returns the policy's or its limiter's configuration error, or nil,
// so that policy.Pipeline.Err can report a misconfigured limiter at
// startup.
func (p *limitPolicy[T]) Err() error {
	if p.err != nil {
		return p.err
	}
	if r, ok := p.lim.(interface{ Err() error }); ok {
		return r.Err()
	}
	return nil
}

func (p *limitPolicy[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	if p.err != nil {
		return zero, p.err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if p.tr != nil {
		return p.traced(ctx, next)
	}
	if err := p.lim.Admit(ctx, p.maxWait); err != nil {
		return zero, err
	}
	return next.Call(ctx)
}

// traced is Execute with a span.
func (p *limitPolicy[T]) traced(ctx context.Context, next policy.Next[T]) (v T, err error) {
	ctx, span := p.tr.Start(ctx, p.name)
	if err := p.lim.Admit(ctx, p.maxWait); err != nil {
		outcome := "rejected"
		if ctx.Err() != nil {
			outcome = policy.Ignored.String()
		}
		span.End(outcome, err)
		var zero T
		return zero, err
	}
	ended := false
	defer spans.EndIfPanicked(span, &ended)
	v, err = next.Call(ctx)
	ended = true
	span.End(next.Classify(ctx, v, err).String(), err)
	return v, err
}

// String returns "limit(<the limiter's String>)", such as
// "limit(token-bucket 10/s burst 20)", or "limit" for a limiter without a
// String method.
func (p *limitPolicy[T]) String() string {
	if s, ok := p.lim.(fmt.Stringer); ok {
		return "limit(" + s.String() + ")"
	}
	return "limit"
}
