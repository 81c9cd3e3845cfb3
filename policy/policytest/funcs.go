package policytest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// Result is one scripted result of a [Sequence]: the value and error a call
// returns.
type Result[T any] struct {
	Value T
	Err   error
}

// Ok returns the Result (v, nil).
func Ok[T any](v T) Result[T] { return Result[T]{Value: v} }

// Fail returns the Result (zero, err). Write the type, as in
// Fail[string](errBusy), since it cannot be inferred from err.
func Fail[T any](err error) Result[T] { return Result[T]{Err: err} }

// ErrExhausted is returned by a [Sequence] called more times than it has
// results.
var ErrExhausted = errors.New("policytest: sequence exhausted")

// FailTimes returns a Func whose first n calls return (zero, err) and whose
// later calls all return (v, nil): the dependency that recovers. With n <= 0
// every call succeeds. A nil err makes the failing calls return an error
// matching ion.ErrInvalidConfig, so a test can never mistake them for
// successes.
//
// The Func counts calls with an atomic counter, so it is safe for concurrent
// use: exactly n calls fail, whichever goroutines make them. It does not
// block and ignores ctx.
func FailTimes[T any](n int, err error, v T) policy.Func[T] {
	if err == nil {
		err = ion.NewConfigError("policytest", "err", "nil error for FailTimes")
	}
	var calls atomic.Int64
	return func(context.Context) (T, error) {
		if calls.Add(1) <= int64(n) {
			var zero T
			return zero, err
		}
		return v, nil
	}
}

// Sequence returns a Func whose i-th call returns results[i-1]. Calls beyond
// the last result return an error matching [ErrExhausted] rather than
// repeating the last result: calling a dependency more often than the test
// planned is a bug the test should see. For "fail, then succeed forever" use
// [FailTimes].
//
// The Func takes its index from an atomic counter, so it is safe for
// concurrent use: each result is returned exactly once, to whichever call
// claims it. It does not block and ignores ctx.
func Sequence[T any](results ...Result[T]) policy.Func[T] {
	results = append([]Result[T](nil), results...) // the caller may reuse its slice
	var calls atomic.Int64
	return func(context.Context) (T, error) {
		i := calls.Add(1) - 1
		if i >= int64(len(results)) {
			var zero T
			return zero, fmt.Errorf("call %d of a sequence of %d: %w", i+1, len(results), ErrExhausted)
		}
		return results[i].Value, results[i].Err
	}
}

// Latency returns a Func that takes d to return (v, nil): the slow but
// healthy dependency. It is shorthand for Delay(d, func(ctx) (T, error) {
// return v, nil }); see [Delay] for how it honours ctx.
func Latency[T any](d time.Duration, v T) policy.Func[T] {
	return Delay(d, func(context.Context) (T, error) { return v, nil })
}

// Delay returns a Func that waits d and then calls fn with the same ctx: a
// slow dependency with any behaviour (Delay(d, FailTimes(...)) is slow and
// flaky).
//
// Delay blocks on a timer, never a sleep, so inside a testing/synctest bubble
// the wait takes no real time and ends exactly d later in the bubble's
// clock. It honours ctx: when ctx ends first it stops the timer and returns
// (zero, error) without calling fn, with an error that wraps ctx.Err() and,
// when it differs, context.Cause(ctx), so errors.Is matches
// context.DeadlineExceeded or context.Canceled and also the cause a policy
// gave (such as a timeout sentinel). A ctx that is already done wins, and
// so does a deadline at the same instant as the end of the wait (in a bubble
// the two timers are due together; the outcome must not depend on which one
// runs first). With d <= 0 fn is called at once (unless ctx is done). A nil fn makes every call return an error
// matching ion.ErrInvalidConfig. It is safe for concurrent use when fn is.
func Delay[T any](d time.Duration, fn policy.Func[T]) policy.Func[T] {
	return func(ctx context.Context) (T, error) {
		var zero T
		if fn == nil {
			return zero, ion.NewConfigError("policytest", "fn", "nil function for Delay")
		}
		if err := ctxError(ctx, 0); err != nil {
			return zero, err
		}
		if d > 0 {
			timer := time.NewTimer(d)
			defer timer.Stop() // stopped on every path, so no timer outlives a synctest bubble
			start := time.Now()
			select {
			case <-timer.C:
				// A deadline at the same instant wins, so the result does not
				// depend on which of two due timers ran first: once the
				// deadline has passed, ctx is being cancelled by its own timer,
				// so waiting for Done cannot block for long.
				if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
					<-ctx.Done()
				}
				if err := ctxError(ctx, d); err != nil {
					return zero, err
				}
			case <-ctx.Done():
				return zero, ctxError(ctx, time.Since(start))
			}
		}
		return fn(ctx)
	}
}

// ctxError returns nil if ctx is not done, else an error wrapping ctx.Err()
// and its cause.
func ctxError(ctx context.Context, waited time.Duration) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("policytest: delay interrupted after %v: %w (cause: %w)", waited, err, cause)
	}
	return fmt.Errorf("policytest: delay interrupted after %v: %w", waited, err)
}

// Panics returns a Func that panics with v on every call: the dependency
// that crashes. Use it to check that a policy releases what it holds and
// re-panics (on the caller's goroutine) or returns an *ion.PanicError (on
// its own goroutines). A nil v panics with a *runtime.PanicNilError, as
// panic(nil) does since Go 1.21.
func Panics[T any](v any) policy.Func[T] {
	return func(context.Context) (T, error) { panic(v) }
}
