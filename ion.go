// Package ion is the root of Ion, a library of concurrency and resilience
// primitives in which every primitive and every call-shaping behaviour is a
// [policy.Policy]: a middleware around func(ctx) (T, error) that composes
// with every other.
//
// This package holds only what every other package shares: the sentinels
// [ErrRejected] and [ErrInvalidConfig], the typed errors [ConfigError] and
// [PanicError], and the helper [RetryAfter]. It imports no other Ion package.
//
// # Packages
//
//   - policy: Func, Policy, Compose and the pipeline; the call-shaping
//     policies Retry, Timeout, Fallback and Hedge; Keyed, a policy per key;
//     the shared outcome classification (Success, Failure, Ignored) and
//     the discard hook for results a policy throws away.
//   - policy/policytest: scripted functions, recorders and assertions for
//     unit-testing policies and the code that uses them.
//   - limit: token bucket, leaky bucket and keyed rate limiters, and All,
//     several limits at once, all-or-nothing. limit/httplimit: the
//     multi-tier limiter of an HTTP API client.
//   - sem: a weighted semaphore with FIFO, LIFO or no fairness; its policy
//     is the bulkhead.
//   - breaker: a circuit breaker with consecutive, count-window,
//     time-window, burst, slow-call and custom trip rules.
//   - pool: a bounded worker pool that accounts for every accepted task;
//     futures and an errgroup-style Group.
//   - adaptive: an adaptive concurrency limiter, client-side throttling and
//     priority load shedding.
//   - cache, coalesce, chaos: result caching, request coalescing and fault
//     injection as policies.
//   - stream: typed concurrent data pipelines with bounded memory whose
//     stages run through policies. schedule: jobs on timers and cron
//     expressions, through policies, on a pool.
//   - config: pipelines from a configuration document, with live reload.
//   - ionhttp: a net/http client transport and server middleware.
//   - observe: Logger, Metrics and Tracer interfaces, the catalog of every
//     metric Ion records, a log/slog adapter and an in-memory recorder.
//
// Side modules, each with its own go.mod and the one dependency it adapts:
// ionredis (limits, bulkheads and breaker state shared on Redis), iongrpc
// (gRPC interceptors), ionprom (Prometheus) and ionotel (OpenTelemetry).
//
// # Composition order
//
// policy.Compose(a, b, c) runs a call as a(b(c(fn))): the first policy is the
// outermost. The recommended order, outermost first, is
//
//	Fallback → Retry → Breaker → Limiter / Bulkhead → Timeout → fn
//
// Fallback is outermost so that it sees the final outcome of everything inside
// it, including rejections, and answers once per call. Retry wraps the
// breaker so that every attempt is counted by the breaker and an open
// breaker's Retry-After paces the retries, up to the longest delay the
// Retry would wait on its own (its backoff's maximum, or
// policy.WithMaxRetryAfter): a longer one ends the retry at once with the
// breaker's rejection, so callers fail fast instead of stalling. The breaker sits outside the
// limiter and bulkhead so that a rejection caused by our own load shedding is
// not mistaken for a sick dependency. The limiter and bulkhead guard the
// dependency per attempt, so a retry storm still obeys them. Timeout is
// innermost: it bounds each attempt, and a timeout it fires reaches the
// breaker and the retry as a Failure.
//
// # Errors, bad input and panics
//
// This is the one stance of the whole module:
//
//   - Every rejection matches its package's sentinel and [ErrRejected] with
//     errors.Is. A rejection that knows when to come back (a limiter, an open
//     breaker) carries the delay; [RetryAfter] returns it, and policy.Retry
//     never retries such a rejection sooner (and gives up at once on one
//     longer than it would wait on its own).
//   - Context errors are wrapped with %w, never replaced, so
//     errors.Is(err, context.DeadlineExceeded) keeps working.
//   - Constructors never panic. A value with an obvious documented default is
//     defaulted; a value with none (a NaN or negative rate, a negative
//     capacity, a nil function or sink) makes the primitive fail closed:
//     every call returns a [*ConfigError] that matches [ErrInvalidConfig] and
//     names the parameter. Nothing ever fails open. The zero value of every
//     type either works or fails closed the same way ("use New"), and
//     policy's Pipeline.Err reports a misconfigured layer at startup.
//   - A remote dependency failing (Redis, in ionredis) is an outcome with a
//     failure mode the user chooses (fail closed by default, fail open, or
//     a local fallback), and every call to it is bounded by a timeout.
//   - Per-call bad input (a negative count, a weight above capacity) returns
//     its sentinel at once, without blocking and without changing state.
//   - A release of more than is held never raises the free count past the
//     capacity: the excess is ignored, and the release returns an error
//     saying so (sem.ErrOverRelease), also reported to the primitive's Logger.
//     A semaphore does not track its holders, so a double release is caught
//     only when it would pass the capacity; until then more callers than the
//     capacity may hold permits.
//   - A panic in user code on the caller's goroutine is never swallowed: the
//     policy releases what it holds, records a Failure and re-panics. Where
//     Ion's own goroutines run user code (pool workers, hedge attempts,
//     coalesced calls, stream stages, scheduled jobs) the panic becomes a
//     [*PanicError] returned to the caller.
package ion

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrRejected is matched by every error a policy returns when it refuses to
// run a call (rate limited, bulkhead full, breaker open, pool closed, ...).
// Test for it with errors.Is.
var ErrRejected = errors.New("ion: rejected")

// ErrInvalidConfig is matched by every error caused by bad configuration: a
// constructor argument or option with no sensible default, a nil policy or a
// nil function. Primitives built from such configuration fail closed: every
// call returns the error. Test for it with errors.Is; errors.As with a
// [*ConfigError] gives the parameter.
var ErrInvalidConfig = errors.New("ion: invalid configuration")

// ConfigError reports an invalid configuration value. It matches
// [ErrInvalidConfig] with errors.Is.
type ConfigError struct {
	Pkg    string // the package that rejected the value, such as "limit".
	Param  string // the parameter or option, such as "burst".
	Reason string // why it was rejected, such as "must not be negative, got -1".
}

// Error returns "<pkg>: invalid configuration: <param>: <reason>".
func (e *ConfigError) Error() string {
	return e.Pkg + ": invalid configuration: " + e.Param + ": " + e.Reason
}

// Is reports whether target is [ErrInvalidConfig].
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// NewConfigError returns a [*ConfigError] for pkg and param whose reason is
// formatted from format and args. It is meant for Ion's packages and for
// users who write their own policies.
func NewConfigError(pkg, param, format string, args ...any) *ConfigError {
	return &ConfigError{Pkg: pkg, Param: param, Reason: fmt.Sprintf(format, args...)}
}

// PanicError is returned when user code panics on a goroutine that Ion owns
// (a pool worker, a hedge attempt): the panic is recovered there and handed
// to the caller as this error, so it can never crash the process.
type PanicError struct {
	Value any    // the value passed to panic.
	Stack []byte // the stack of the panicking goroutine, from runtime/debug.Stack.
}

// NewPanicError returns a [*PanicError] for v with the current goroutine's
// stack. Call it from the deferred function that recovered v.
func NewPanicError(v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// Error returns "ion: panic: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("ion: panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error, so errors.Is sees through
// a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// RetryAfter reports how long the rejection err asks the caller to wait
// before trying again. It finds the first error in err's chain with a method
// RetryAfter() time.Duration (limit.LimitedError, breaker.OpenError, ...) and
// returns its value and true; otherwise it returns 0 and false. A negative
// value is reported as 0. It does not allocate.
func RetryAfter(err error) (time.Duration, bool) {
	for err != nil {
		if ra, ok := err.(interface{ RetryAfter() time.Duration }); ok {
			return max(ra.RetryAfter(), 0), true
		}
		switch x := err.(type) {
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				if d, ok := RetryAfter(e); ok {
					return d, true
				}
			}
			return 0, false
		default:
			return 0, false
		}
	}
	return 0, false
}
