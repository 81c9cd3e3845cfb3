package bench_test

import (
	"testing"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/adaptivethrottler"

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

// The adaptive limiters start at a limit of 100, more than the callers of
// any benchmark, and may move between 1 and 1000: each call is admitted at
// once and completes, so the figures are the admit path plus the sample
// each completion records. The throttlers see only successes and never
// reject.

func ionAdaptive() *policy.Pipeline[int] {
	return policy.Compose(adaptive.Policy[int](adaptive.NewLimiter(adaptive.WithLimits(1, 1000), adaptive.WithInitialLimit(capacity))))
}

func fsAdaptive() failsafe.Executor[int] {
	return failsafe.With[int](adaptivelimiter.NewBuilder[int]().WithLimits(1, 1000, capacity).Build())
}

// AdaptiveLimiter: a call through an adaptive concurrency limiter alone
// (adaptive.Policy in a pipeline, failsafe-go's AdaptiveLimiter).
var adaptiveLimiterBench = register("AdaptiveLimiter",
	impl{"ion", func(b *testing.B) {
		p := ionAdaptive()
		for b.Loop() {
			if _, err := p.Run(bg, ionCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := fsAdaptive()
		for b.Loop() {
			if _, err := ex.Get(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkAdaptiveLimiter(b *testing.B) { adaptiveLimiterBench.run(b) }

var adaptiveLimiterParallel = register("AdaptiveLimiterParallel",
	impl{"ion", func(b *testing.B) {
		p := ionAdaptive()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Run(bg, ionCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := fsAdaptive()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ex.Get(fsCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
)

func BenchmarkAdaptiveLimiterParallel(b *testing.B) { adaptiveLimiterParallel.run(b) }

// AdaptiveThrottler: a call through client-side adaptive throttling alone
// (adaptive.ThrottlerPolicy in a pipeline, failsafe-go's
// AdaptiveThrottler).
var adaptiveThrottlerBench = register("AdaptiveThrottler",
	impl{"ion", func(b *testing.B) {
		p := policy.Compose(adaptive.ThrottlerPolicy[int](adaptive.NewThrottler()))
		for b.Loop() {
			if _, err := p.Run(bg, ionCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](adaptivethrottler.NewWithDefaults[int]())
		for b.Loop() {
			if _, err := ex.Get(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkAdaptiveThrottler(b *testing.B) { adaptiveThrottlerBench.run(b) }
