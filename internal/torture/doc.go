// Package torture holds Ion's cross-package reliability tests and nothing
// else: it exports nothing and has no code outside its tests.
//
// The tests compose every Ion policy (timeout, retry, breaker, limiter,
// bulkhead, pool, fallback, hedge) in several orders and drive the pipelines
// with a thousand goroutines while faults are injected: errors, panics,
// latency spikes, calls that ignore their ctx, callers that cancel mid-call,
// ctx deadlines, SetRate and Resize mid-flight, and a Close of the pool
// mid-flight. After every run they check that nothing was lost or leaked:
// every permit is back, every task the pool accepted is accounted for, the
// breaker counted exactly the outcomes it saw, no goroutine is left, and every
// caller got a result or an error that errors.Is can classify.
//
// The package also holds fuzz targets for the public entry points that the
// packages do not fuzz themselves, and regression tests named after real bugs
// that span packages.
//
// By default every scenario runs once, briefly, so CI stays fast. The flag
// -torture.soak runs the same scenarios repeatedly, with fresh seeds, for as
// long as asked:
//
//	go test -race -run=TestSoak -timeout=0 ./internal/torture -torture.soak=10m
//
// (The package comes before the -torture flags: go test hands everything
// after an unknown flag to the test binary.)
//
// A failure prints the seed that reproduces it (-torture.seed).
package torture
