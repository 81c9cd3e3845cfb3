package bench_test

import (
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"go.uber.org/ratelimit"
	"golang.org/x/time/rate"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

// Every limiter here admits 1e9 calls per second with a burst of 1e9, so no
// call is ever denied or delayed: the benchmarks measure the admission path.

func ionBucket() *limit.TokenBucket {
	return limit.NewTokenBucket(limit.PerSecond(rateNever), burstNever)
}
func xrateLimiter() *rate.Limiter    { return rate.NewLimiter(rate.Limit(rateNever), burstNever) }
func uberLimiter() ratelimit.Limiter { return ratelimit.New(int(rateNever)) }
func fsLimiter() ratelimiter.RateLimiter[int] {
	return ratelimiter.NewBursty[int](uint(rateNever), time.Second)
}

// Allow: take one token now or be refused (TokenBucket.Allow, rate.Limiter.Allow).
var allow = register("Allow",
	impl{"ion", func(b *testing.B) {
		lim := ionBucket()
		for b.Loop() {
			if !lim.Allow() {
				b.Fatal("denied")
			}
		}
	}},
	impl{"xrate", func(b *testing.B) {
		lim := xrateLimiter()
		for b.Loop() {
			if !lim.Allow() {
				b.Fatal("denied")
			}
		}
	}},
)

func BenchmarkAllow(b *testing.B) { allow.run(b) }

var allowParallel = register("AllowParallel",
	impl{"ion", func(b *testing.B) {
		lim := ionBucket()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !lim.Allow() {
					b.Error("denied")
					return
				}
			}
		})
	}},
	impl{"xrate", func(b *testing.B) {
		lim := xrateLimiter()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !lim.Allow() {
					b.Error("denied")
					return
				}
			}
		})
	}},
)

func BenchmarkAllowParallel(b *testing.B) { allowParallel.run(b) }

// Wait: block until a token is the caller's (TokenBucket.Wait,
// rate.Limiter.Wait, ratelimit.Limiter.Take); never blocks here.
var wait = register("Wait",
	impl{"ion", func(b *testing.B) {
		lim := ionBucket()
		for b.Loop() {
			if err := lim.Wait(bg); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"xrate", func(b *testing.B) {
		lim := xrateLimiter()
		for b.Loop() {
			if err := lim.Wait(bg); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"uber", func(b *testing.B) {
		lim := uberLimiter()
		for b.Loop() {
			lim.Take()
		}
	}},
)

func BenchmarkWait(b *testing.B) { wait.run(b) }

var waitParallel = register("WaitParallel",
	impl{"ion", func(b *testing.B) {
		lim := ionBucket()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := lim.Wait(bg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"xrate", func(b *testing.B) {
		lim := xrateLimiter()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := lim.Wait(bg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"uber", func(b *testing.B) {
		lim := uberLimiter()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lim.Take()
			}
		})
	}},
)

func BenchmarkWaitParallel(b *testing.B) { waitParallel.run(b) }

// LimitPolicy: a call through a rate-limiting policy alone
// (limit.Policy in a pipeline, failsafe-go's bursty RateLimiter).
var limitPolicy = register("LimitPolicy",
	impl{"ion", func(b *testing.B) {
		p := policy.Compose(limit.Policy[int](ionBucket()))
		for b.Loop() {
			if _, err := p.Run(bg, ionCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](fsLimiter())
		for b.Loop() {
			if _, err := ex.Get(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkLimitPolicy(b *testing.B) { limitPolicy.run(b) }

var limitPolicyParallel = register("LimitPolicyParallel",
	impl{"ion", func(b *testing.B) {
		p := policy.Compose(limit.Policy[int](ionBucket()))
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
		ex := failsafe.With[int](fsLimiter())
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

func BenchmarkLimitPolicyParallel(b *testing.B) { limitPolicyParallel.run(b) }
