// Package policy provides the core of Ion: [Func], [Policy], [Compose] and
// the [Pipeline], the shared outcome classification, and the call-shaping
// policies.
//
// # The model
//
// A [Func] is a call: func(ctx) (T, error). A [Policy] is a middleware that
// runs a call under one behaviour: a breaker, a limiter, a bulkhead, a retry,
// a timeout. Every Ion primitive has an adapter, named Policy in its package
// (breaker.Policy, limit.Policy, sem.Policy, pool.Policy), that returns a
// Policy over the shared, non-generic primitive, so one breaker can guard
// calls of several result types.
//
// # Composition
//
// Compose(a, b, c) runs fn as a(b(c(fn))): the first policy is the outermost.
// Compose once, at start-up; run per call with [Pipeline.Run]:
//
//	p := policy.Compose(
//		policy.Fallback("stale"),       // outermost: sees the final outcome
//		policy.Retry[string](...),      // every attempt passes the breaker
//		breaker.Policy[string](cb),     // counts each attempt
//		limit.Policy[string](lim),      // sheds load per attempt
//		policy.Timeout[string](time.Second), // innermost: bounds each attempt
//	)
//	v, err := p.Run(ctx, fetch)
//
// Running a call through a pipeline allocates nothing of its own: each layer
// receives the rest of the pipeline as a [Next] value and calls [Next.Call].
//
// # Outcomes
//
// Every result is a [Success], a [Failure] or [Ignored], decided by
// [Next.Classify]: the caller's own cancellation (an error while the ctx the
// policy received is done) is Ignored, and so is a rejection by an inner
// policy (an error matching ion.ErrRejected), so a breaker never trips on
// the shedding of a limiter inside it; otherwise the pipeline's [Classifier]
// decides, and by default a nil error is a Success and any error a Failure. A
// timeout fired by an inner Timeout is therefore a Failure for the policies
// outside it, while the caller giving up is not held against the dependency.
// A pipeline's classifier applies to its own layers only: nested in another
// pipeline, it does not change how the outer layers classify.
//
// # Discarded results
//
// A result that a policy throws away is handed to the pipeline's discard
// hook ([Pipeline.WithDiscard], called through [Next.Discard]): the failed
// attempts a Retry retries, the attempts a Hedge loses (late finishers
// included), the result of a call a Timeout with WithAbandon gave up on, and
// the failed result a Fallback replaces. By default the hook closes a result
// that is an io.Closer, so a discarded value never leaks; the value returned
// to the caller is never discarded. An *http.Response is not an io.Closer:
// a pipeline over responses sets a hook that drains and closes the body.
//
// # Errors
//
// Rejections match ion.ErrRejected; bad configuration makes a policy fail
// closed with an error matching ion.ErrInvalidConfig; context errors are
// wrapped, never replaced. See the ion package doc for the whole stance.
//
// # Call-shaping policies
//
// Four policies shape a single call. Each constructor returns a concrete
// pointer type that implements [Policy] and String; T is written once, at
// the constructor, because Go cannot infer it from a result ([Fallback]
// infers it from its value). Options are not generic: an [Option] (WithName,
// WithMetrics, WithLogger, WithTracer) fits all four, a [BudgetOption]
// fits Retry and Hedge, and each policy has options of its own. Settings
// that carry a T are methods that return a modified copy:
//
//	r := policy.Retry[string](
//		policy.WithAttempts(4),
//		policy.WithBackoff(policy.Exponential(100*time.Millisecond, 5*time.Second)),
//		policy.WithJitter(policy.FullJitter),
//		policy.WithBudget(budget),
//	).AbortIf(func(_ string, err error) bool { return errors.Is(err, errBadRequest) })
//
// [Retry] runs the call again while the outcome is a [Failure] (plus
// [RetryLayer.RetryIf], minus [RetryLayer.AbortIf]), waiting a [Backoff]
// (constant, linear, or exponential with a cap and any factor) with
// optional jitter ([Jitter]: full, equal, decorrelated;
// [WithProportionalJitter]; [WithAbsoluteJitter]; seedable with
// [WithSeed]). It never retries a rejection sooner than its ion.RetryAfter,
// and does not wait out a Retry-After longer than its own longest delay
// (or [WithMaxRetryAfter]): it fails fast with [ErrRetryAfterTooLong]. It
// never sleeps past the ctx deadline ([ErrRetryDeadline]), returns at once
// when the caller's ctx ends during a backoff, and gives up with a
// [*RetryError] that matches its reason ([ErrRetriesExhausted],
// [ErrRetryDeadline], [ErrRetryBudget], [ErrRetryAfterTooLong]) and the
// last attempt's error. Unlimited attempts must be asked for
// ([WithUnlimitedAttempts]) and bounded by [WithMaxDuration] or a ctx
// deadline.
//
// [Timeout] bounds a call with context.WithTimeoutCause: the call's ctx
// has a real Deadline and its cause is [ErrTimeout]. A timeout that fires
// is a Failure for the policies outside it; the caller's own cancellation
// stays Ignored. It waits for the call to return (cooperative) unless
// [WithAbandon] makes it return at the deadline and abandon, and count, the
// goroutine of a call that ignores ctx.
//
// [Fallback] and [FallbackFunc] replace a Failure or a rejection
// (ion.ErrRejected) with a value or a function's result, never the caller's
// cancellation.
//
// [Hedge] and [HedgeFunc] start extra concurrent attempts when the call is
// slow; the first Success wins, the others are cancelled and waited for, and
// a panic in any attempt becomes a *ion.PanicError.
//
// A [Budget] shared by Retry and Hedge policies caps their extra attempts
// at a ratio of the calls plus a floor per second, so a failing dependency
// never sees a retry storm. [Budget.SetLimits] changes both in place,
// keeping the calls and attempts it has counted.
//
// Where to put them: Fallback outermost, Retry outside the breaker and the
// limiters (so each attempt passes them and their Retry-After paces the
// retries), Hedge inside Retry, and Timeout innermost so that it bounds each
// attempt. Timeout outside Retry bounds the whole call instead; Retry then
// stops, without sleeping, when the deadline cannot fit its next delay.
//
// # Costs
//
// With no sink configured, a call that succeeds first time through Retry or
// Fallback allocates nothing; through Timeout it allocates only what
// context.WithTimeoutCause does; through Hedge it allocates a cancellable
// ctx, a timer and the call's state (see the benchmarks in each policy's
// _bench_test.go file). Sinks add counter increments, not allocations.
//
// # Metrics
//
// With [WithMetrics], the call-shaping policies record, each with the
// labels name (WithName, default the policy's kind) and policy ("retry",
// "timeout", "fallback", "hedge"):
//
//	ion_policy_attempts_total          counter: attempts made by Retry and Hedge (first ones included)
//	ion_policy_retries_total           counter: retries started by Retry
//	ion_policy_hedges_total            counter: hedges started by Hedge
//	ion_policy_budget_refused_total    counter: retries or hedges refused by the Budget
//	ion_policy_timeouts_total          counter: calls ended by this Timeout's deadline
//	ion_policy_timeout_abandoned       gauge:   goroutines abandoned by Timeout (WithAbandon) still running
//	ion_policy_fallbacks_total         counter: calls answered by Fallback
//
// [WithLogger] receives only rare events: a retry giving up (debug), an
// abandoned goroutine (warn), a failing fallback function (warn), a
// recovered panic (error). [WithTracer] starts one span per execution,
// ended with "success", "failure", "ignored" or "rejected" and the error.
package policy
