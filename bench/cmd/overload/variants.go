package main

import (
	"context"
	"errors"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// variants are compared on the same traffic. Every one bounds each call by
// the deadline with a timeout inside its limiter, so that a call that runs
// too long is abandoned and counted as a failure by the limiter.
func variants() []variant {
	return []variant{
		{name: "no limiter", build: func(c config) (caller, func() int) {
			p := policy.Compose(policy.Timeout[struct{}](c.deadline))
			return ionCaller(p), nil
		}},
		{name: "fixed bulkhead (C)", build: func(c config) (caller, func() int) {
			p := policy.Compose(sem.Policy[struct{}](sem.NewWeighted(int64(c.slots))), policy.Timeout[struct{}](c.deadline))
			return ionCaller(p), func() int { return c.slots }
		}},
		{name: "failsafe-go adaptive", build: func(c config) (caller, func() int) {
			lim := adaptivelimiter.NewBuilder[struct{}]().WithLimits(1, 200, 20).Build()
			exec := failsafe.With[struct{}](lim, timeout.New[struct{}](c.deadline))
			return func(ctx context.Context, call func(ctx context.Context) error) (bool, error) {
				_, err := exec.WithContext(ctx).GetWithExecution(func(e failsafe.Execution[struct{}]) (struct{}, error) {
					return struct{}{}, call(e.Context())
				})
				return !errors.Is(err, adaptivelimiter.ErrExceeded), err
			}, lim.Limit
		}},
		{name: "Ion adaptive", build: func(c config) (caller, func() int) {
			lim := adaptive.NewLimiter(ionTuning(c)...)
			p := policy.Compose(adaptive.Policy[struct{}](lim), policy.Timeout[struct{}](c.deadline))
			return ionCaller(p), func() int { return lim.Stats().Limit }
		}},
		{name: "Ion adaptive + priorities", build: func(c config) (caller, func() int) {
			// A caller may wait up to a fifth of its deadline for a
			// permit, served by priority; the attempt then gets the rest.
			wait := c.deadline / 5
			lim := adaptive.NewLimiter(append(ionTuning(c),
				adaptive.WithMaxWait(wait), adaptive.WithCoDel(c.base/2, 5*c.base))...)
			p := policy.Compose(adaptive.Policy[struct{}](lim), policy.Timeout[struct{}](c.deadline-wait))
			return ionCaller(p), func() int { return lim.Stats().Limit }
		}},
	}
}

// ionTuning is the configuration of Ion's limiter in the simulation: the
// defaults but for a sample window sized to the traffic.
func ionTuning(c config) []adaptive.LimiterOption {
	return []adaptive.LimiterOption{
		adaptive.WithLimits(1, 200),
		adaptive.WithSampleWindow(250*time.Millisecond, 20),
	}
}

func ionCaller(p *policy.Pipeline[struct{}]) caller {
	return func(ctx context.Context, call func(ctx context.Context) error) (bool, error) {
		err := p.Do(ctx, call)
		return !rejected(err), err
	}
}
