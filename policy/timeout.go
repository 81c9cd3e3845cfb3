package policy

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// ErrTimeout is the cause of the ctx a [Timeout] hands to the call when its
// deadline passes (context.Cause(ctx) == ErrTimeout inside the call), and is
// matched by the error the Timeout returns in that case. It also matches
// context.DeadlineExceeded, so code that checks for a deadline keeps
// working. A timeout is a Failure for the policies outside it, unlike the
// caller's own deadline, which is Ignored.
var ErrTimeout error = &timeoutSentinel{}

type timeoutSentinel struct{}

func (*timeoutSentinel) Error() string { return "policy: timeout" }

// Is reports whether target is context.DeadlineExceeded.
func (*timeoutSentinel) Is(target error) bool { return target == context.DeadlineExceeded }

// timeoutError is returned when a Timeout's own deadline ended the call. It
// matches ErrTimeout, context.DeadlineExceeded and the call's error.
type timeoutError struct {
	d   time.Duration
	err error // the call's error; nil when the call was abandoned
}

func (e *timeoutError) Error() string {
	// A call that returned the ctx's cause (net/http does) would only
	// repeat "policy: timeout".
	if e.err == nil || e.err == ErrTimeout {
		return "policy: timeout after " + e.d.String()
	}
	return "policy: timeout after " + e.d.String() + ": " + e.err.Error()
}

func (e *timeoutError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrTimeout}
	}
	return []error{ErrTimeout, e.err}
}

// TimeoutLayer is the policy built by [Timeout]: it bounds the time a call
// may take. A TimeoutLayer is safe for concurrent use by multiple
// goroutines.
type TimeoutLayer[T any] struct {
	d       time.Duration
	abandon bool
	desc    string
	err     error

	obs        observer
	mTimeouts  observe.Counter
	gAbandoned observe.Gauge
	abandoned  atomic.Int64 // goroutines abandoned and still running
}

type timeoutConfig struct {
	common
	abandon bool
}

type timeoutOption func(*timeoutConfig)

func (o timeoutOption) applyTimeout(c *timeoutConfig) { o(c) }

// WithAbandon makes the Timeout return at its deadline even when the call
// ignores its ctx. The call then runs on a goroutine of its own; at the
// deadline (or when the caller's ctx ends) the Timeout returns and abandons
// that goroutine: it keeps running until the function returns by itself,
// its result is handed to the pipeline's discard hook on that goroutine
// when it returns ([Next.Discard], [Pipeline.WithDiscard]; by default an
// [io.Closer] is closed), and it is counted by the
// ion_policy_timeout_abandoned gauge and [TimeoutLayer.Abandoned] until
// then. Every call costs a goroutine in this mode. A panic on that
// goroutine, or a call to runtime.Goexit, becomes a *ion.PanicError
// returned to the caller (or logged, if the caller has left); a Goexit's
// PanicError holds an error saying so.
//
// Concurrency limits do not see abandoned calls: a bulkhead (a sem or
// pool policy) composed outside Timeout(d, WithAbandon()) releases its
// permit when the Timeout returns, while the abandoned call still runs, so
// the calls actually running against the dependency can exceed the
// bulkhead's capacity (by up to [TimeoutLayer.Abandoned]). Compose the
// bulkhead inside the Timeout to bound them, at the price of holding the
// permit until the abandoned call ends.
//
// Prefer the default cooperative mode with functions that honour ctx: they
// return at the deadline anyway, and nothing outlives the call.
func WithAbandon() TimeoutOption {
	return timeoutOption(func(c *timeoutConfig) { c.abandon = true })
}

// Timeout returns a policy that bounds each call to d.
//
// The call runs with a ctx built by context.WithTimeoutCause(ctx, d,
// ErrTimeout): it has a real Deadline (so HTTP and gRPC clients pass it
// downstream), its Err is context.DeadlineExceeded when d passes, and
// context.Cause tells this timeout (ErrTimeout) apart from the caller's own
// cancellation or deadline. The child ctx is cancelled when the call
// returns, on every path, so nothing stays registered under a long-lived
// parent ctx. Whatever the call hands back that still uses that ctx (an
// HTTP response body, a database row cursor) must be consumed inside the
// call.
//
// By default (cooperative) Timeout returns when the call returns, which a
// function that honours ctx does at the deadline; see [WithAbandon] to
// return at the deadline regardless. When the call fails after this
// timeout fired, the error matches [ErrTimeout], context.DeadlineExceeded
// and the call's own error, and is a [Failure] for outer policies (a
// breaker counts it, a retry retries it). When the caller's ctx ended
// first, the call's error is returned unchanged and is [Ignored]. A result
// with a nil error is returned even if it arrived late.
//
// Cost: the allocations of context.WithTimeoutCause and nothing more. The
// call runs on the caller's goroutine (except with WithAbandon); a panic
// propagates after the child ctx is cancelled.
//
// A d <= 0 makes every call fail with an error matching
// ion.ErrInvalidConfig ([TimeoutLayer.Err]).
func Timeout[T any](d time.Duration, opts ...TimeoutOption) *TimeoutLayer[T] {
	var c timeoutConfig
	if d <= 0 {
		c.fail(ion.NewConfigError("policy", "Timeout d", "must be positive, got %v", d))
	}
	for i, o := range opts {
		if o == nil {
			c.nilOption(i)
			continue
		}
		o.applyTimeout(&c)
	}
	t := &TimeoutLayer[T]{d: d, abandon: c.abandon, err: c.err, obs: newObserver("timeout", &c.common)}
	switch {
	case t.err != nil:
		t.desc = "timeout(invalid: " + t.err.Error() + ")"
	case t.obs.named():
		t.desc = "timeout(" + t.obs.name + " " + d.String() + ")"
	default:
		t.desc = "timeout(" + d.String() + ")"
	}
	if t.abandon && t.err == nil {
		t.desc = t.desc[:len(t.desc)-1] + " abandon)"
	}
	t.obs.span = t.desc
	t.mTimeouts = t.obs.counter("ion_policy_timeouts_total")
	t.gAbandoned = t.obs.gauge("ion_policy_timeout_abandoned")
	return t
}

// Err returns the configuration error that makes t fail closed, or nil.
func (t *TimeoutLayer[T]) Err() error { return t.err }

// String describes the policy, for example "timeout(1s)".
func (t *TimeoutLayer[T]) String() string { return t.desc }

// Abandoned returns the number of goroutines that t abandoned at a deadline
// (see [WithAbandon]) and that are still running.
func (t *TimeoutLayer[T]) Abandoned() int { return int(t.abandoned.Load()) }

// Execute implements [Policy]. See [Timeout] for the behaviour.
func (t *TimeoutLayer[T]) Execute(ctx context.Context, next Next[T]) (T, error) {
	if t.err != nil {
		var zero T
		return zero, t.err
	}
	if t.obs.tracer != nil {
		return traced(ctx, &t.obs, next, t.run)
	}
	return t.run(ctx, next)
}

func (t *TimeoutLayer[T]) run(ctx context.Context, next Next[T]) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	if t.abandon {
		return t.runAbandon(ctx, next)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, t.d, ErrTimeout)
	defer cancel()
	v, err := next.Call(tctx)
	if err != nil && fired(ctx, tctx) {
		return v, t.timedOut(err)
	}
	return v, err
}

// fired reports whether tctx, derived from ctx, ended because of this
// timeout rather than because ctx ended. The cause is read before tctx is
// cancelled, while it still tells the two apart.
func fired(ctx, tctx context.Context) bool {
	return ctx.Err() == nil && tctx.Err() != nil && context.Cause(tctx) == ErrTimeout
}

// discard hands v, the result of an abandoned call, to the pipeline's
// discard hook, on the abandoned call's goroutine. A panic in the hook is
// recovered and logged: nobody is left to receive it.
func (t *TimeoutLayer[T]) discard(tctx context.Context, next Next[T], v T) {
	defer func() {
		if p := recover(); p != nil {
			t.obs.log(context.WithoutCancel(tctx), slog.LevelError, "timeout discard hook panicked", slog.Any("panic", p))
		}
	}()
	next.Discard(v)
}

func (t *TimeoutLayer[T]) timedOut(err error) error {
	add(t.mTimeouts)
	return &timeoutError{d: t.d, err: err}
}

// abandonable is one call run by a Timeout in abandon mode.
type abandonable[T any] struct {
	v     T
	err   error
	state atomic.Int32  // callRunning, then callReturned or callAbandoned
	done  chan struct{} // closed by the call's goroutine when the call returns
}

const (
	callRunning int32 = iota
	callReturned
	callAbandoned
)

func (t *TimeoutLayer[T]) runAbandon(ctx context.Context, next Next[T]) (T, error) {
	tctx, cancel := context.WithTimeoutCause(ctx, t.d, ErrTimeout)
	defer cancel()
	c := &abandonable[T]{done: make(chan struct{})}
	// Owner: this call. Exit: when next.Call returns, which a function that
	// ignores ctx may do long after the deadline. Join: the caller waits on
	// c.done, unless tctx ends first; then the caller abandons the goroutine,
	// which is counted in t.abandoned until it exits. Nothing the goroutine
	// touches after its call is owned by the caller.
	go func() {
		returned := false
		defer func() {
			if !returned {
				// A panic, or a runtime.Goexit (recover returns nil):
				// either way the call did not return a result.
				var zero T
				c.v, c.err = zero, panicError(recover())
			}
			if !c.state.CompareAndSwap(callRunning, callReturned) {
				if returned {
					t.discard(tctx, next, c.v)
				}
				t.abandoned.Add(-1)
				setGauge(t.gAbandoned, &t.abandoned)
				if pe, ok := c.err.(*ion.PanicError); ok {
					t.obs.log(context.WithoutCancel(tctx), slog.LevelError, "abandoned call panicked", slog.Any("panic", pe.Value))
				}
			}
			close(c.done)
		}()
		c.v, c.err = next.Call(tctx)
		returned = true
	}()
	select {
	case <-c.done:
	case <-tctx.Done():
		if c.state.CompareAndSwap(callRunning, callAbandoned) {
			t.abandoned.Add(1)
			setGauge(t.gAbandoned, &t.abandoned)
			var zero T
			if !fired(ctx, tctx) {
				return zero, ctx.Err()
			}
			t.obs.log(ctx, slog.LevelWarn, "timeout abandoned a call that ignores its ctx", slog.Duration("timeout", t.d))
			return zero, t.timedOut(nil)
		}
		// The call returned as the deadline passed: take its result.
		<-c.done
	}
	if c.err != nil && fired(ctx, tctx) {
		return c.v, t.timedOut(c.err)
	}
	return c.v, c.err
}
