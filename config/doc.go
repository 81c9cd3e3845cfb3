// Package config provides Ion's pipelines from configuration: a [Document]
// of named primitives and pipelines, decoded from JSON (or YAML, with a
// library of the user's), validated with every error at once, built into
// typed pipelines, and re-applied live without losing the primitives'
// state.
//
// # Model
//
// A Document has two parts. Named primitives, the stateful parts that
// several pipelines may share: breakers ([BreakerConfig]), rate limiters
// ([LimiterConfig]: token bucket, leaky bucket, or "all" of several),
// bulkheads ([BulkheadConfig]), pools ([PoolConfig]), adaptive limiters
// ([AdaptiveConfig]), client-side throttlers ([ThrottlerConfig]) and retry
// budgets ([BudgetConfig]). And named
// pipelines ([PipelineConfig]) that use primitives by name, so one breaker
// guards several pipelines as it would in code, and declare their own
// stateless policies inline: retry, hedge, timeout, fallback and chaos.
//
//	{
//	  "breakers":  {"payments": {"consecutive_failures": 3, "open_duration": "10s"}},
//	  "limiters":  {"api": {"rate": "50/s", "burst": 10}},
//	  "pipelines": {
//	    "payments": {
//	      "retry":   {"attempts": 3, "backoff": {"initial": "100ms", "max": "2s"}},
//	      "breaker": "payments",
//	      "limiter": {"use": "api", "max_wait": "50ms"},
//	      "timeout": {"after": "2s"}
//	    }
//	  }
//	}
//
// Every configuration type has exported fields with json and yaml tags and
// maps one-to-one onto the options of its primitive or policy; a zero field
// means the option's default, documented on the field. Durations are
// strings ("250ms", [Duration]) and rates are "count/period" ("50/s",
// [Rate]).
//
// # Layer order
//
// A pipeline holds at most one layer of each kind, composed in the order
// Ion recommends, outermost first:
//
//	fallback → retry → hedge → breaker → throttler → adaptive → limiter → bulkhead → pool → timeout → chaos → fn
//
// A pipeline that needs another order lists its layers in
// [PipelineConfig.Order]. Fixed slots were chosen over a free list of layers
// so that the common case needs no order at all, so that a field path names
// a layer by its kind (pipelines.payments.retry.backoff.max), and so that a
// document cannot compose, by accident, a retry inside the breaker it
// should feed. Several limits on one pipeline are one "all" limiter.
//
// # Validation
//
// [Document.Validate] and each part's Validate return every error at once,
// joined with errors.Join; each is an *ion.ConfigError matching
// ion.ErrInvalidConfig whose parameter is the field's path:
//
//	config: invalid configuration: pipelines.payments.retry.backoff.max: must be ≥ initial (1s), got 500ms
//
// Validation mirrors the rules of each primitive with messages in the
// document's terms; a part that passes them is then built and asked for its
// own error (its Err method), so a valid document never builds a primitive
// or a policy that fails closed, whatever rule a primitive adds later. The
// registry asks again for everything it builds, and refuses the document if
// anything fails. Nothing is half-built: a document is applied whole or not
// at all.
//
// # Types and bindings
//
// A document is untyped; pipelines are typed. [Pipeline] builds a named
// pipeline for the T the caller asks for, as a [Live] value:
//
//	payments := config.Pipeline[Receipt](reg, "payments",
//		config.FallbackValue("declined", Receipt{Declined: true}),
//		config.Classifier("http", classify))
//	receipt, err := payments.Run(ctx, charge)
//
// What a document cannot express, values and functions of type T, the
// program binds by name: a fallback ([FallbackFunc], [FallbackValue]) and a
// classifier ([Classifier]). A document names them (fallback: {use:
// declined}); a name not bound for the pipeline's type is an error, at
// Pipeline and at every later Apply. Binding by name keeps the document
// declarative and the code type-checked, with no reflection and no type
// assertion on T.
//
// # Live reload
//
// [Registry.Apply] puts a new document in force. Primitives are identified
// by kind and name: one with the same identity keeps its state (a breaker's
// state and window, a limiter's tokens, an adaptive limiter's learned
// limit, a throttler's and a budget's windows, a bulkhead's permits in use
// and waiters, a pool's workers and queued tasks) and takes its new
// parameters in place: a breaker's rules and durations, an adaptive
// limiter's bounds and tuning (clamping its limit), a throttler's K and
// window, a budget's ratio and floor, a bucket's rate and burst, every field
// of a bulkhead (its capacity, fairness, acquire timeout and queue
// management) and of a pool (its size, queue size, idle timeout and queue
// settings). Only a limiter of another kind is replaced, and its state
// starts afresh; Apply's doc says what each change does.
//
// Each [Live] pipeline holds its current policy.Pipeline in an atomic
// pointer, replaced by Apply after the whole document was built and
// checked: a call loads the pointer once, so it runs from start to end
// under one configuration, primitives included, while calls that start
// after Apply run under the new one. An invalid document, or one that
// would break a pipeline in use, changes nothing and reports why.
//
// # Observing
//
// [WithMetrics], [WithLogger] and [WithTracer] give sinks to every primitive
// and policy the registry builds, each named by its name in the document
// (a pipeline's own policies by the pipeline's name).
// [Registry.Snapshot] reports each primitive's state, counts, limits and
// use as a JSON-encodable value, and the [Registry] is an http.Handler that
// serves it, for health and debug pages.
//
// # Not configurable
//
// Options whose value is code have no field: a breaker's trip function and
// listeners, a retry's RetryIf, AbortIf and OnRetry, a pool's handlers and
// task policy, a fallback's function (bound by name instead). Keyed limiters,
// keyed layers, caches and request coalescing take a key function of the
// call, and outcome and behaviour injection take a value or function of T.
// Build those in code and compose them with a Live pipeline, which is itself
// a policy.Policy.
package config
