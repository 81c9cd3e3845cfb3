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
// policy received is done) is Ignored; otherwise the pipeline's [Classifier]
// decides, and by default a nil error is a Success and any error a Failure. A
// timeout fired by an inner Timeout is therefore a Failure for the policies
// outside it, while the caller giving up is not held against the dependency.
//
// # Errors
//
// Rejections match ion.ErrRejected; bad configuration makes a policy fail
// closed with an error matching ion.ErrInvalidConfig; context errors are
// wrapped, never replaced. See the ion package doc for the whole stance.
package policy
