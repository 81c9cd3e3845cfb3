// Package breaker provides a circuit breaker: it stops calls to a
// dependency that keeps failing, lets a few probes through after a while,
// and resumes when they succeed. Its closed path takes no lock unless cores
// contend for it, and with the default rule it does not read the clock.
//
// # Use
//
// Build one [Breaker] per dependency with [New] and share it. Run calls
// through it as a layer of a pipeline with [Policy] (the same adapter name
// as every Ion package), or, in middleware that cannot wrap a function, ask
// with [Breaker.Allow] and report with [Ticket.Done]:
//
//	cb := breaker.New("payments", breaker.WithConsecutiveFailures(3))
//	v, err := policy.Run(ctx, breaker.Policy[Receipt](cb), charge)
//
// A Breaker is not generic: one breaker can guard calls of any result type.
//
// # States
//
// A breaker is [Closed] (calls run and their outcomes count against the trip
// rule), [Open] (calls are rejected with an [*OpenError] until the open
// duration has elapsed) or [HalfOpen] (at most WithHalfOpenMaxCalls probes
// run at once, others are rejected with [ErrHalfOpenBusy]; after
// WithSuccessThreshold probe successes the breaker closes, and one probe
// failure opens it again with a fresh open duration). Two manual states sit
// beside them: [ForcedOpen] ([Breaker.Trip], rejects with [ErrOpen] until
// [Breaker.Reset]) and [Disabled] ([Breaker.Disable], lets everything
// through and never trips until [Breaker.Enable] or Reset).
//
// There is no timer and no goroutine: an open breaker becomes half-open at
// its deadline exactly, as observed by the next [Breaker.State],
// [Breaker.Allow] or [Breaker.Snapshot]. Every transition (and a Reset of a
// closed breaker) starts a new generation with its own [Counts]: requests,
// successes, failures and the current run of consecutive successes or
// failures, as gobreaker's Counts, exact under concurrency. A result
// reported for a call that started in an earlier generation counts in the
// totals since New but neither in the current Counts nor in the state, so a
// late success never closes a breaker that a probe failure re-opened.
//
// The defaults adapt to the options given: WithHalfOpenMaxCalls(1) alone
// means one probe whose success closes the breaker. Only a combination
// written explicitly can be invalid (WithHalfOpenMaxCalls(1) with
// WithSuccessThreshold(2)), and it makes the breaker fail closed.
//
// # Trip rules
//
// The failure rule is one of:
//
//   - consecutive failures in the closed state ([WithConsecutiveFailures],
//     the default, 5);
//   - a failure rate ([WithFailureRate]) over a window: the last N calls
//     ([WithCountWindow]) or a rolling time window of buckets
//     ([WithTimeWindow]), applied once the window holds a minimum number of
//     calls;
//   - a burst: N failures within a rolling time d ([WithFailuresWithin]),
//     however many successes came between them;
//   - a function of the current [Counts] ([WithTripFunc], as gobreaker's
//     ReadyToTrip), called after each failure with no lock held.
//
// The last failure-rule option wins. The
// slow-call rule ([WithSlowCalls]) combines with either: a call that takes
// at least a threshold is slow, and the breaker trips when the share of slow
// calls in the window reaches a rate. A window option alone turns on a
// failure rate of 0.5; a rate rule alone uses the last 100 calls with a
// minimum of 100. Only a window option or a failure-rule option changes the
// failure rule: the slow-call rule alone keeps 5 consecutive failures.
//
// The open duration (WithOpenDuration, default 30 s) can grow on repeated
// openings without a close in between ([WithOpenBackoff]) and be spread
// with seeded jitter ([WithJitter]). The presets [QuickFailover],
// [Conservative] and [Aggressive] are tuned starting points that can be
// refined by options after them.
//
// # Changing the rules live
//
// [Breaker.Reconfigure] takes the same options as New and puts the rules
// they describe in force without replacing the breaker: its state, its
// current [Counts] (the run of consecutive outcomes included), its totals
// and its window stay, and the new rules judge the results reported after
// it; Reconfigure itself never changes the state. A window of the same kind
// and geometry keeps its calls, a count window of another size its newest
// calls, and any other window starts empty. An open breaker's deadline
// follows a new open duration, counted from the opening. Options that only
// New takes (listeners and sinks) are refused with an error matching
// ion.ErrInvalidConfig, and an invalid option changes nothing.
//
// # Outcomes
//
// [Policy] classifies each result with the pipeline's classifier
// ([policy.Next.Classify]): by default a nil error is a success and any
// other error a failure, and the caller's own cancellation is always
// ignored: it neither counts nor keeps a half-open slot. To decide on the
// result as well, install a classifier on the pipeline:
//
//	p := policy.Compose(breaker.Policy[*http.Response](cb)).
//		WithClassifier(func(r *http.Response, err error) policy.Outcome { ... })
//
// A panic in the call counts as a failure, frees its probe slot and
// propagates unchanged.
//
// # Errors
//
// Every rejection matches ion.ErrRejected. An open breaker returns an
// [*OpenError] that matches [ErrOpen], and ion.RetryAfter returns the time
// left until it lets probes through, so policy.Retry waits for it. A
// forced-open breaker returns ErrOpen itself; a half-open breaker with every
// probe slot busy returns [ErrHalfOpenBusy], which does not match ErrOpen.
// An invalid option makes the breaker fail closed: every call returns a
// *ion.ConfigError that names the option ([Breaker.Err]). So does a zero
// Breaker, whose error says to use [New]; nothing panics.
//
// # Listeners and observability
//
// Listeners ([WithListener], several allowed) get each [Transition] once,
// in transition order, with no lock held; they may call back into the
// breaker. [Breaker.Snapshot] gives the state, since when (and until when,
// while open), the [Counts] of the current generation, the totals since New, the
// failure and slow-call rates, and [Snapshot.IsHealthy].
//
// With [WithMetrics] the breaker records, each with a name label:
//
//	ion_breaker_state{name}                       gauge: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled
//	ion_breaker_transitions_total{name,from,to}   counter
//	ion_breaker_calls_total{name,outcome}         counter: outcome=success|failure|ignored
//	ion_breaker_rejections_total{name}            counter
//
// [WithLogger] logs each transition (Warn when opening, Info otherwise), and
// [WithTracer] makes Policy start one span per execution, named
// "breaker(<name>)", ended with the outcome ("success", "failure",
// "ignored" or "rejected").
//
// # Cost
//
// In the closed state with the consecutive-failure rule, a success through
// policy.Run is a few atomic loads (the current generation, two flags that
// Reconfigure may flip, which are plain loads on amd64 and arm64, and the
// generation's result word) and one compare-and-swap on that word (see
// [Counts]), with no lock, no clock read and no allocation. Concurrent
// successes share that word's cache line: two cores counting at once would
// pass it back and forth on every success. So a success that loses its
// compare-and-swap to another result turns the breaker to a contended mode
// in which successes are counted under the breaker's lock, one core running
// a batch while the other sleeps on the lock (at most one caller at a time
// sleeps for it; the others count without it). The mode ends by itself once
// the lock has been found free many times in a row. With two cores calling
// at once a success then costs under twice what it costs alone.
// BenchmarkClosedSuccess and BenchmarkAllowDone measure it. The burst and trip-function rules keep
// successes on this path; their failures take a short lock or call the
// function.
//
// A rate rule adds one short lock per result (and a clock read for a time
// window or the slow-call rule), which contended callers queue on.
// Transitions, half-open probes and open rejections take a short lock or
// read the clock; an open rejection allocates its *OpenError.
//
// With [WithMetrics], every result also calls the sink's Counter.Add for
// ion_breaker_calls_total. The breaker does not batch these adds (a batch
// could only be flushed by a later call or a Snapshot, so a quiet breaker's
// counter would lag forever), so the counter is exact whenever it is read;
// their cost and any contention are the sink's. A sink whose counter is one
// shared atomic, like observe.Recorder's, brings the shared cache line back:
// BenchmarkClosedSuccess/metrics measures about 34 ns serially and 83 ns per
// call with two goroutines; a sink that stripes its counters scales.
package breaker
