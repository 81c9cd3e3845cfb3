package bench_test

import (
	"testing"
	"time"

	gres "github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/policy"
)

// Every breaker here is configured alike and stays closed: it would trip
// after 5 consecutive failures, stay open 30 s and close after 2 successful
// probes. Ion's defaults are those (with 3 probe slots); each peer is set to
// match.

func ionBreaker() *breaker.Breaker { return breaker.New("bench") }

func gobreakerSettings() gobreaker.Settings {
	return gobreaker.Settings{
		Name:        "bench",
		MaxRequests: 3,
		Timeout:     30 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
	}
}

func gresBreaker() *gres.Breaker { return gres.New(5, 2, 30*time.Second) }

func fsBreaker() circuitbreaker.CircuitBreaker[int] {
	return circuitbreaker.NewBuilder[int]().
		WithFailureThreshold(5).
		WithSuccessThreshold(2).
		WithDelay(30 * time.Second).
		Build()
}

func gresCall() error { return nil }

// Breaker: a successful call through a closed breaker (breaker.Policy in a
// pipeline, gobreaker's Execute, go-resiliency's Run, failsafe-go's
// CircuitBreaker).
var breakerBench = register("Breaker",
	impl{"ion", func(b *testing.B) {
		p := policy.Compose(breaker.Policy[int](ionBreaker()))
		for b.Loop() {
			if _, err := p.Run(bg, ionCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[int](gobreakerSettings())
		for b.Loop() {
			if _, err := cb.Execute(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"gres", func(b *testing.B) {
		cb := gresBreaker()
		for b.Loop() {
			if err := cb.Run(gresCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](fsBreaker())
		for b.Loop() {
			if _, err := ex.Get(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkBreaker(b *testing.B) { breakerBench.run(b) }

var breakerParallel = register("BreakerParallel",
	impl{"ion", func(b *testing.B) {
		p := policy.Compose(breaker.Policy[int](ionBreaker()))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Run(bg, ionCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[int](gobreakerSettings())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cb.Execute(fsCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"gres", func(b *testing.B) {
		cb := gresBreaker()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := cb.Run(gresCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](fsBreaker())
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

func BenchmarkBreakerParallel(b *testing.B) { breakerParallel.run(b) }

// BreakerTwoStep: the two-step form for middleware that cannot wrap a
// function: ask, then report a success (Breaker.Allow + Ticket.Done,
// gobreaker's TwoStepCircuitBreaker Allow + done).
var breakerTwoStep = register("BreakerTwoStep",
	impl{"ion", func(b *testing.B) {
		cb := ionBreaker()
		for b.Loop() {
			t, err := cb.Allow()
			if err != nil {
				b.Fatal(err)
			}
			t.Done(policy.Success)
		}
	}},
	impl{"gobreaker", func(b *testing.B) {
		cb := gobreaker.NewTwoStepCircuitBreaker[int](gobreakerSettings())
		for b.Loop() {
			done, err := cb.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	}},
)

func BenchmarkBreakerTwoStep(b *testing.B) { breakerTwoStep.run(b) }

var breakerTwoStepParallel = register("BreakerTwoStepParallel",
	impl{"ion", func(b *testing.B) {
		cb := ionBreaker()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t, err := cb.Allow()
				if err != nil {
					b.Error(err)
					return
				}
				t.Done(policy.Success)
			}
		})
	}},
	impl{"gobreaker", func(b *testing.B) {
		cb := gobreaker.NewTwoStepCircuitBreaker[int](gobreakerSettings())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				done, err := cb.Allow()
				if err != nil {
					b.Error(err)
					return
				}
				done(nil)
			}
		})
	}},
)

func BenchmarkBreakerTwoStepParallel(b *testing.B) { breakerTwoStepParallel.run(b) }
