// Package limit provides rate limiters: a token bucket, a leaky bucket, a
// keyed limiter with bounded memory, [All], which combines limiters
// all-or-nothing, and [Policy], which puts any of them in front of a call as
// a policy.Policy. The multi-tier limiter for HTTP APIs (routes, rate-limit
// headers, per-resource and per-user tiers) is package
// github.com/ionkit/ion/limit/httplimit, built on this package's Keyed and
// All.
//
// # Limiters
//
//   - [TokenBucket]: a bucket of burst tokens refilled at a [Rate]; it
//     starts full. The one most callers want.
//   - [LeakyBucket]: the same limiter seen as a meter, a bucket of some
//     capacity that each request fills and that leaks at a rate; it starts
//     empty.
//   - [Keyed]: a token bucket per key (tenant, client IP, host), with at most
//     WithMaxKeys keys and lazy expiry of idle ones.
//   - [All]: several limits at once, all-or-nothing, such as "10 per second
//     and 1,000 per hour" (per key with [Keyed.Key] or [Keyed.By]); an
//     [AllOf] is itself a limiter.
//
// Rates are built with [PerSecond], [PerMinute], [PerHour], [Per] and
// [Every]; [Inf] is unlimited.
//
// # The model
//
// Every limiter runs the same engine, GCRA (the generic cell rate
// algorithm), the virtual-scheduling form of a token bucket: its state is
// one number, the time at which the bucket would be full again. Allow is
// one monotonic clock read, integer arithmetic, an atomic add and a
// compare-and-swap of that number, with no lock and no allocation, and so
// are Wait and Admit when the tokens are there at once (or cannot come in
// time): a goroutine descheduled in the middle delays no other caller. A
// lost compare-and-swap is retried at once, a few times, and then the
// caller takes the bucket's mutex, which reservations that wait, refunds
// and limit changes hold for a few arithmetic operations; nothing
// busy-waits. Time is fixed-point with 30 significant bits per token
// interval, so rates from 1e-10 to 1e12 per second are exact to about one
// part in a billion, nothing overflows, and the arithmetic never drifts
// (the truncation and overflow bugs of golang.org/x/time/rate, golang/go
// #34861, #39984 and #71154, cannot happen).
//
// # Waiting and reservations
//
// Wait and WaitN take tokens through reservations: each waiter is given its
// time when it calls, so waiters are served in order and a large request is
// not starved by small ones. A wait that cannot end before the ctx deadline
// (or would never end, at a zero rate) fails at once with a [*LimitedError]
// and consumes nothing; a wait whose ctx ends gives its tokens back, all of
// them unless later reservations count on them, measured in tokens, so a
// change of the rate in between (SetRate, SetTemporaryLimit) changes
// nothing. ReserveN
// returns a [Reservation] for callers that schedule the work themselves. A
// refused request (n above the burst, a wait that does not fit) never
// changes the limiter's state (golang/go #52584).
//
// # Time and tests
//
// Methods that take a now time.Time (AllowN, ReserveN, TokensAt, ...) use
// it instead of the clock: they are the seam for table tests, and TokensAt
// reads a bucket at any instant without changing it. A now earlier than a
// previous one mints no tokens. The other methods read time.Now (through
// time.Since); they start no goroutine, and the only timer (a wait's) is
// stopped on every path, so every limiter works inside a testing/synctest
// bubble. Temporary limits end lazily, at the first use after their
// end, without any timer. A limiter should be used within the bubble
// (or outside any bubble) where it was built.
//
// # As a policy
//
// [Policy] adapts any [Limiter]: [*TokenBucket], [*LeakyBucket] and
// [*AllOf] are Limiters, and [Keyed.By] derives a key from each call's
// ctx.
//
// Policy rejects by default: without [WithMaxWait], a call the limiter does
// not admit at once is not run and fails at once with a [*LimitedError]. It
// matches [ErrLimited] and ion.ErrRejected, and ion.RetryAfter returns when
// to come back, which policy.Retry honours. That is what a server shedding
// load wants. A client that should pace its calls instead (the usual wish
// for an outgoing limiter) passes WithMaxWait: the call then waits for
// admission, up to that bound and strictly before its ctx deadline:
//
//	shed := limit.Policy[T](lim)                                  // refuse at once when over the rate
//	pace := limit.Policy[T](lim, limit.WithMaxWait(time.Second)) // wait up to 1s for a token
//
// # Bad input
//
// The zero value of every limiter fails closed: every call refuses, and
// those that return an error return a *ion.ConfigError saying which
// constructor to use.
//
// A NaN, negative or -Inf rate, a negative burst, a zero burst with a finite
// non-zero rate, a nil sink and the like make a limiter fail closed: every
// call refuses and returns a *ion.ConfigError that names the parameter
// (Err reports it). Per call, a negative n returns [ErrNegativeN] and an n
// above the burst [ErrExceedsBurst], at once and without changing state;
// n = 0 is admitted and changes nothing.
//
// # Metrics
//
// With WithMetrics, the limiters record:
//
//	ion_limit_requests_total{name,result}     counter: result=allowed|limited; Allow, Wait and Admit
//	                                          decisions (a wait ended by its ctx is not counted)
//	ion_limit_wait_seconds{name}              histogram: the wait of each admitted Wait or Admit
//	ion_limit_keys{name}                      gauge: keys remembered (Keyed)
//	ion_limit_evictions_total{name,reason}    counter: reason=idle|capacity (Keyed)
//
// The instruments are resolved once, at construction; recording does not
// allocate, and without WithMetrics it costs a nil check.
//
// # Decisions
//
// Where the design left room, this package chose:
//
//   - A LeakyBucket is the GCRA meter, not a queue: it admits exactly what a
//     token bucket of the same rate and capacity admits, and reports its
//     level instead of its tokens; its limit changes keep the level.
//   - DrainTo only lowers the tokens; setters (SetRate, SetBurst) return an
//     error for invalid values and change nothing then; while a temporary
//     limit is in force they change the limits restored when it ends.
//   - A zero rate is valid: the burst is admitted once, then nothing, and a
//     wait for more fails at once with a LimitedError whose Delay is the
//     maximum Duration.
//   - Keyed is not a Limiter itself: a key must come from somewhere, so By
//     takes a function of the call's ctx, and Key fixes one.
//   - All charges every member as of the time the request will run (the
//     latest of the members' free slots), not when it starts waiting.
//   - Keyed forgets a key by default once it has been idle for its refill
//     time, full again (losslessly), and never a key in use or one with a
//     burst of its own (SetBurst); WithIdleTTL trades accuracy for memory.
//   - Explicit times more than 146 years from the process start are served
//     as that bound.
package limit
