package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/fallback"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// Pipelines are built once and run per op, outermost policy first, in the
// same order on both sides: Ion's policy.Compose(a, b, c) and failsafe-go's
// failsafe.With(a, b, c) both run fn as a(b(c(fn))). Limiters never deny,
// bulkheads are never full, breakers stay closed, calls succeed first time.

// callTimeout is the Timeout policies' limit; no call comes near it.
const callTimeout = time.Second

// ionComposed is limit + bulkhead + breaker, then extra layers inside.
func ionComposed(extra ...policy.Policy[int]) *policy.Pipeline[int] {
	layers := []policy.Policy[int]{
		limit.Policy[int](ionBucket()),
		sem.Policy[int](ionSem()),
		breaker.Policy[int](ionBreaker()),
	}
	return policy.Compose(append(layers, extra...)...)
}

// fsComposed is failsafe-go's RateLimiter + Bulkhead + CircuitBreaker, then
// extra policies inside.
func fsComposed(extra ...failsafe.Policy[int]) failsafe.Executor[int] {
	ps := []failsafe.Policy[int]{fsLimiter(), bulkhead.New[int](capacity), fsBreaker()}
	return failsafe.With(append(ps, extra...)...)
}

// ionSerial runs p per op; ionParallel does so from every P.
func ionSerial(p *policy.Pipeline[int]) func(*testing.B) {
	return func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Run(bg, ionCall); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func ionParallel(p *policy.Pipeline[int]) func(*testing.B) {
	return func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Run(bg, ionCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
}

// fsSerial runs ex per op; fsParallel does so from every P.
func fsSerial(ex failsafe.Executor[int]) func(*testing.B) {
	return func(b *testing.B) {
		for b.Loop() {
			if _, err := ex.Get(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func fsParallel(ex failsafe.Executor[int]) func(*testing.B) {
	return func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ex.Get(fsCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
}

// lazy builds a benchmark's fixture only when the benchmark runs, so that
// registering a group builds nothing.
func lazy[P any](build func() P, run func(P) func(*testing.B)) func(*testing.B) {
	return func(b *testing.B) { run(build())(b) }
}

// withTimeoutCause is what the Timeout bars allow Ion to allocate: one
// context.WithTimeoutCause and its cancel.
func withTimeoutCause(b *testing.B) {
	for b.Loop() {
		ctx, cancel := context.WithTimeoutCause(bg, callTimeout, errBoom)
		if _, err := ionCall(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// Composed: RateLimiter + Bulkhead + CircuitBreaker.
var composed = register("Composed",
	impl{"ion", lazy(func() *policy.Pipeline[int] { return ionComposed() }, ionSerial)},
	impl{"failsafe", lazy(func() failsafe.Executor[int] { return fsComposed() }, fsSerial)},
)

func BenchmarkComposed(b *testing.B) { composed.run(b) }

var composedParallel = register("ComposedParallel",
	impl{"ion", lazy(func() *policy.Pipeline[int] { return ionComposed() }, ionParallel)},
	impl{"failsafe", lazy(func() failsafe.Executor[int] { return fsComposed() }, fsParallel)},
)

func BenchmarkComposedParallel(b *testing.B) { composedParallel.run(b) }

// ComposedTimeout: RateLimiter + Bulkhead + CircuitBreaker + Timeout.
var composedTimeout = register("ComposedTimeout",
	impl{"ion", lazy(func() *policy.Pipeline[int] { return ionComposed(policy.Timeout[int](callTimeout)) }, ionSerial)},
	impl{"failsafe", lazy(func() failsafe.Executor[int] { return fsComposed(timeout.New[int](callTimeout)) }, fsSerial)},
	impl{"baseline-withtimeoutcause", withTimeoutCause},
)

func BenchmarkComposedTimeout(b *testing.B) { composedTimeout.run(b) }

var composedTimeoutParallel = register("ComposedTimeoutParallel",
	impl{"ion", lazy(func() *policy.Pipeline[int] { return ionComposed(policy.Timeout[int](callTimeout)) }, ionParallel)},
	impl{"failsafe", lazy(func() failsafe.Executor[int] { return fsComposed(timeout.New[int](callTimeout)) }, fsParallel)},
)

func BenchmarkComposedTimeoutParallel(b *testing.B) { composedTimeoutParallel.run(b) }

// RetryBreaker: Retry (3 attempts) around a CircuitBreaker.
func ionRetryBreaker() *policy.Pipeline[int] {
	return policy.Compose(policy.Retry[int](), breaker.Policy[int](ionBreaker()))
}

func fsRetryBreaker() failsafe.Executor[int] {
	return failsafe.With[int](retrypolicy.NewWithDefaults[int](), fsBreaker())
}

var retryBreaker = register("RetryBreaker",
	impl{"ion", lazy(ionRetryBreaker, ionSerial)},
	impl{"failsafe", lazy(fsRetryBreaker, fsSerial)},
)

func BenchmarkRetryBreaker(b *testing.B) { retryBreaker.run(b) }

var retryBreakerParallel = register("RetryBreakerParallel",
	impl{"ion", lazy(ionRetryBreaker, ionParallel)},
	impl{"failsafe", lazy(fsRetryBreaker, fsParallel)},
)

func BenchmarkRetryBreakerParallel(b *testing.B) { retryBreakerParallel.run(b) }

// Single call-shaping policies: Timeout, Retry, Fallback.
var timeoutBench = register("Timeout",
	impl{"ion", lazy(func() *policy.Pipeline[int] { return policy.Compose[int](policy.Timeout[int](callTimeout)) }, ionSerial)},
	impl{"failsafe", lazy(func() failsafe.Executor[int] { return failsafe.With[int](timeout.New[int](callTimeout)) }, fsSerial)},
	impl{"baseline-withtimeoutcause", withTimeoutCause},
)

func BenchmarkTimeout(b *testing.B) { timeoutBench.run(b) }

var retryBench = register("Retry",
	impl{"ion", lazy(func() *policy.Pipeline[int] { return policy.Compose[int](policy.Retry[int]()) }, ionSerial)},
	impl{"failsafe", lazy(func() failsafe.Executor[int] { return failsafe.With[int](retrypolicy.NewWithDefaults[int]()) }, fsSerial)},
)

func BenchmarkRetry(b *testing.B) { retryBench.run(b) }

var fallbackBench = register("Fallback",
	impl{"ion", lazy(func() *policy.Pipeline[int] { return policy.Compose[int](policy.Fallback(0)) }, ionSerial)},
	impl{"failsafe", lazy(func() failsafe.Executor[int] { return failsafe.With[int](fallback.NewWithResult(0)) }, fsSerial)},
)

func BenchmarkFallback(b *testing.B) { fallbackBench.run(b) }
