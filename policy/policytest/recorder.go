package policytest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// Call is what a [Recorder] saw of one call.
type Call struct {
	// Attempt is policy.Attempt(ctx): 1 for a first attempt, 2 for the first
	// retry, and so on.
	Attempt int
	// Start is time.Now() when the call began. Inside a testing/synctest
	// bubble it is the bubble's clock, so the spacing of calls is exact.
	Start time.Time
	// Deadline is ctx's deadline, or the zero Time when ctx had none.
	// Deadline.Sub(Start) is the time the call was given.
	Deadline time.Time
}

// Recorder wraps a Func and records every call made through [Recorder.Func]:
// its attempt number, start time and deadline, in the order the calls
// started, and how many calls ran at once.
//
// Pass the method value rec.Func wherever a [policy.Func] is wanted. The
// accessors return copies and may be called at any time, also while calls
// are running. A Recorder is safe for concurrent use by multiple goroutines;
// a call is recorded before the wrapped Func runs and counted as running
// until it returns or panics. Recording takes a short lock and appends to
// the history, so it allocates: wrap a Recorder around calls whose count and
// timing you check, not around calls whose allocations you measure. The zero
// value behaves like Record(nil); call [Record].
type Recorder[T any] struct {
	fn      policy.Func[T]
	created time.Time // when Record was called; zero for a zero Recorder

	running atomic.Int64 // calls in the wrapped Func now
	peak    atomic.Int64 // the high-water mark of running

	// mu guards the fields below.
	mu    sync.Mutex
	calls []Call // appended by Func, in start order
}

// Record returns a Recorder that runs calls with fn. A nil fn makes every
// call return an error matching ion.ErrInvalidConfig (the call is still
// recorded).
func Record[T any](fn policy.Func[T]) *Recorder[T] {
	return &Recorder[T]{fn: fn, created: time.Now()}
}

// Func records the call and runs the wrapped Func with ctx, returning its
// result. It blocks for as long as the wrapped Func does and passes on its
// panics.
func (r *Recorder[T]) Func(ctx context.Context) (T, error) {
	c := Call{Attempt: policy.Attempt(ctx), Start: time.Now()}
	c.Deadline, _ = ctx.Deadline()
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()

	n := r.running.Add(1)
	defer r.running.Add(-1) // also when fn panics, so the count stays true
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if r.fn == nil {
		var zero T
		return zero, ion.NewConfigError("policytest", "fn", "nil function for Record")
	}
	return r.fn(ctx)
}

// Count returns the number of calls started so far.
func (r *Recorder[T]) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Calls returns a copy of the calls started so far, oldest first.
func (r *Recorder[T]) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Attempts returns the attempt number of each call so far, oldest first:
// [1 2 3] for a call that a retry ran three times.
func (r *Recorder[T]) Attempts() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, len(r.calls))
	for i, c := range r.calls {
		out[i] = c.Attempt
	}
	return out
}

// Starts returns when each call so far started, oldest first, as the time
// since [Record] returned the Recorder (since the first call for a zero
// Recorder): [0s 100ms 300ms] for a retry that waited 100ms, then 200ms.
// Inside a testing/synctest bubble the times are exact.
func (r *Recorder[T]) Starts() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, len(r.calls))
	origin := r.created
	if origin.IsZero() && len(r.calls) > 0 {
		origin = r.calls[0].Start
	}
	for i, c := range r.calls {
		out[i] = c.Start.Sub(origin)
	}
	return out
}

// Gaps returns the time between the starts of consecutive calls so far,
// oldest first: for the calls of one retried call, the backoff it waited
// before each retry. It returns nil for fewer than two calls.
func (r *Recorder[T]) Gaps() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(r.calls); i++ {
		out = append(out, r.calls[i].Start.Sub(r.calls[i-1].Start))
	}
	return out
}

// Running returns the number of calls in the wrapped Func now.
func (r *Recorder[T]) Running() int { return int(r.running.Load()) }

// MaxConcurrent returns the largest number of calls that were in the wrapped
// Func at the same time: what a bulkhead must bound.
func (r *Recorder[T]) MaxConcurrent() int { return int(r.peak.Load()) }
