// Package adaptive provides limits that learn their value from what the
// calls through them observe: an adaptive concurrency limiter, client-side
// adaptive throttling, and call priorities that decide who is shed first.
//
// A fixed bulkhead or rate needs a number that is wrong most of the time:
// too low while the dependency is healthy, too high when it slows down. The
// [Limiter] is a bulkhead whose capacity moves: it grows while latency stays
// near the no-load RTT and shrinks when latency shows queueing or calls
// fail. The [Throttler] rejects locally what the backend has been refusing
// anyway. Both are stateful primitives shared by any number of calls, and
// both act as a policy.Policy through [Policy] and [ThrottlerPolicy].
//
// This is its own package, not part of sem or limit, because it is the one
// place where a limit is an output, not an input: the latency and outcome
// estimators, the sample window and the priority machinery are shared by
// the limiter and the throttler and by nothing else. The core packages stay
// as simple as their fixed numbers.
//
// # The limiter
//
// At most Limit calls run at once. Each call's completion is a sample: the
// pipeline's classifier makes it a success (its RTT is measured), a drop (a
// Failure, a timeout included) or ignored (the caller's own cancellation, an
// inner rejection). Samples gather in a sample window ([WithSampleWindow]);
// when a window closes, the limit moves once:
//
//   - a window with a drop multiplies the limit by the backoff (0.9 by
//     default): AIMD's multiplicative decrease, for every algorithm;
//   - otherwise the [Algorithm] decides from the window's mean RTT and the
//     no-load RTT estimate (the lowest window mean seen, drifting up slowly
//     in windows that did not reach the limit, so that a dependency that
//     became slower for good is relearnt): [Vegas] (the default) and
//     [Gradient] shrink when queueing shows and grow when it does not;
//     [AIMD] adds one;
//   - the limit never grows while fewer than half of it were in use, and
//     stays within [WithLimits].
//
// The update runs inline in the release of the call that closes the window:
// the limiter starts no goroutine and keeps no timer, so it works unchanged
// in a testing/synctest bubble. [Limiter.Stats] shows the limit, the calls in
// flight and queued, and the RTT estimates.
//
// # Waiting, CoDel and adaptive LIFO
//
// By default a call that finds the limit reached is rejected at once with
// [ErrLimited]: shedding is the point. With [WithMaxWait] it waits in a
// bounded queue ([WithMaxQueue]) served by priority, highest first. Two
// opt-in disciplines keep that queue useful under overload: [WithCoDel]
// drops waiters that waited longer than a target while the queue has been
// standing for a whole interval, and [WithAdaptiveLIFO] serves the newest
// waiter first while the queue is long. The queue serves only this
// limiter's waiters; sem and pool keep their own queues.
//
// # Priorities
//
// A call's [Priority] travels in its ctx ([ContextWithPriority],
// [PriorityFromContext]); the default is [Normal]. Under pressure the lowest
// priorities go first. In the limiter, waiters are served highest priority
// first, and a call that finds the queue full evicts the newest waiter of
// the lowest priority below its own; so priorities matter when calls may
// wait. In the throttler, the share of calls to reject is taken from the
// lowest priorities first. Both report where shedding happens now with
// Shedding. [ParsePriority] and [Priority.String] give the text form for
// headers and metadata.
//
// # Changing the parameters live
//
// [Limiter.Reconfigure] and [Throttler.Reconfigure] take the options of
// their constructor and put the parameters they describe in force without
// replacing the primitive. The limiter keeps the limit it has learned
// (clamped into the new bounds), its RTT estimates, its open sample window,
// its calls in flight and its waiters, each of which keeps the max wait it
// started with; a raised limit serves waiters at once. The throttler keeps
// its window, whose counts roll out at the new pace. Options that only the
// constructor takes (the name, the sinks, the initial limit) are refused
// with an error matching ion.ErrInvalidConfig, and an invalid option
// changes nothing.
//
// # Errors and bad input
//
// Rejections match [ErrLimited] or [ErrThrottled], and ion.ErrRejected; a
// wait that ends without a permit also matches context.DeadlineExceeded. The
// caller's own ctx ending is reported wrapped, never replaced. Constructors
// never panic: an invalid option (min above max, a non-positive window, a
// NaN factor) makes the primitive fail closed: every call returns an
// *ion.ConfigError naming the option.
//
// # Observability
//
// [WithMetrics] records, with a "name" label from [WithName]:
//
//   - ion_adaptive_calls_total{result}: calls through a limiter, by result
//     (admitted, rejected, canceled);
//   - ion_adaptive_limit, ion_adaptive_rtt_seconds and
//     ion_adaptive_no_load_rtt_seconds: gauges of the limit and the RTT
//     estimates, set when a sample window closes;
//   - ion_adaptive_throttler_calls_total{result}: calls through a
//     throttler, by result (sent, throttled).
//
// [WithTracer] gives each call through a policy one span. Sinks are called
// outside the locks, and recording does not allocate.
//
// # Cost
//
// A call admitted at once takes the limiter's lock twice (admit and
// release) and reads the clock twice, and does not allocate; a call that
// waits allocates its place in the queue and a timer. The throttler takes
// its lock twice per call and does not allocate.
package adaptive
