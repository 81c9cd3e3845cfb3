// Package observe provides the pluggable observability of Ion: the [Logger],
// [Metrics] and [Tracer] roles, an adapter over log/slog, a [Recorder] that
// implements all three in memory for tests, and the [Catalog] of every
// metric Ion records.
//
// # Cost model
//
// Every Ion primitive takes its sinks by option (WithLogger, WithMetrics,
// WithTracer in each package). With none configured the cost is nil: the
// primitive holds nil instruments and skips them with a nil check, with no
// allocation and no interface call on the hot path.
//
// With a [Metrics] sink configured, a primitive resolves its instruments once,
// at construction, as OpenTelemetry and Prometheus do: [Metrics.Counter],
// [Metrics.Gauge] and [Metrics.Histogram] are called with the metric name and
// its fixed labels and return a [Counter], [Gauge] or [Histogram]. Per call,
// the primitive only calls Add, Set or Observe with a number, so the success
// path does not allocate (no ...any boxing). Logging happens only on rare
// events (state changes, panics, misuse). Tracing starts one span per policy
// execution and ends it with the outcome and the error; its cost is the
// tracer's own.
//
// # Adapters
//
// The side modules github.com/ionkit/ion/ionprom (Prometheus) and
// github.com/ionkit/ion/ionotel (OpenTelemetry metrics and traces) implement
// these roles. A sink that can be built broken (a nil registerer or meter)
// reports it with an Err() error method: every Ion option (WithMetrics,
// WithTracer, WithLogger) refuses such a sink as it refuses a nil one, so
// the primitive fails closed with an error that names the cause.
//
// # Metrics
//
// Names are uniform: ion_<package>_<what>, with a "name" label carrying the
// primitive's name (WithName). Counters end in _total; durations are
// histograms in seconds ending in _seconds. Every metric an Ion package
// records is in the [Catalog], with its kind, its label keys, its help text
// and, for histograms, its bucket boundaries; adapters register metrics from
// it ([Lookup]). A test drives every package through a scripted workload and
// fails if the packages and this table disagree:
//
//	ion_adaptive_calls_total{name,result} counter:           Calls through the adaptive concurrency limiter, by result (admitted, rejected, canceled).
//	ion_adaptive_limit{name} gauge:                          Concurrency limit of the adaptive limiter, set when a sample window closes.
//	ion_adaptive_no_load_rtt_seconds{name} gauge:            Round-trip time the adaptive limiter estimates without load, in seconds, set when a sample window closes.
//	ion_adaptive_rtt_seconds{name} gauge:                    Round-trip time the adaptive limiter measured over its last sample window, in seconds.
//	ion_adaptive_throttler_calls_total{name,result} counter: Calls through the adaptive throttler, by result (sent, throttled).
//	ion_breaker_calls_total{name,outcome} counter:           Calls through the circuit breaker, by outcome (success, failure, ignored).
//	ion_breaker_rejections_total{name} counter:              Calls refused by the circuit breaker (open, or half-open with every probe slot busy).
//	ion_breaker_state{name} gauge:                           State of the circuit breaker: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled.
//	ion_breaker_transitions_total{name,from,to} counter:     State transitions of the circuit breaker, by state left and state entered.
//	ion_cache_refreshing{name} gauge:                        Background refreshes of the cache in flight.
//	ion_cache_requests_total{name,result} counter:           Lookups of the cache, by result (hit, stale, miss).
//	ion_chaos_injections_total{name,kind} counter:           Injections of the chaos injector, by kind (fault, latency, outcome, behavior).
//	ion_coalesce_calls_total{name,result} counter:           Calls to the coalescing group, by result (executed, shared).
//	ion_coalesce_running{name} gauge:                        Shared executions of the coalescing group in flight.
//	ion_limit_evictions_total{name,tier,reason} counter:     Keys forgotten by a keyed or multi-tier rate limiter, by reason (idle, capacity).
//	ion_limit_keys{name,tier} gauge:                         Keys remembered by a keyed rate limiter, or by one tier of a multi-tier rate limiter.
//	ion_limit_pauses_total{name} counter:                    Pauses of a multi-tier rate limiter (Pause, or a server's rate-limit headers).
//	ion_limit_requests_total{name,result} counter:           Requests to the rate limiter, by result (allowed, limited).
//	ion_limit_tier_limited_total{name,tier} counter:         Requests refused by a multi-tier rate limiter, by the tier that refused.
//	ion_limit_wait_seconds{name} histogram:                  Time an admitted Wait or Admit waited for the rate limiter, in seconds.
//	ion_policy_attempts_total{name,policy} counter:          Attempts made by a retry or hedge policy, first attempts included.
//	ion_policy_budget_refused_total{name,policy} counter:    Retries or hedges refused by the retry budget.
//	ion_policy_fallbacks_total{name,policy} counter:         Calls answered by the fallback.
//	ion_policy_hedges_total{name,policy} counter:            Hedged attempts started by the hedge policy.
//	ion_policy_retries_total{name,policy} counter:           Retries started by the retry policy.
//	ion_policy_timeout_abandoned{name,policy} gauge:         Calls abandoned by the timeout policy (WithAbandon) that are still running.
//	ion_policy_timeouts_total{name,policy} counter:          Calls ended by the timeout policy's deadline.
//	ion_pool_queue_wait_seconds{name} histogram:             Time a task waited in the worker pool's queue, from acceptance to start, in seconds.
//	ion_pool_queued{name} gauge:                             Tasks waiting in the worker pool's queue.
//	ion_pool_running{name} gauge:                            Tasks running on the worker pool's workers.
//	ion_pool_size{name} gauge:                               Target number of workers of the worker pool.
//	ion_pool_tasks_total{name,result} counter:               Tasks of the worker pool, by result (completed, failed, panicked, rejected, expired, shed, discarded).
//	ion_redis_backend_errors_total{name,kind} counter:       Failed round trips to Redis, by primitive kind (limit, sem).
//	ion_redis_backend_seconds{name,kind} histogram:          Latency of round trips to Redis, by primitive kind (limit, sem), in seconds.
//	ion_redis_degraded_total{name,kind,mode} counter:        Calls decided by the failure mode while Redis failed, by primitive kind and mode (open, closed, local).
//	ion_redis_limit_requests_total{name,result} counter:     Decisions of the Redis rate limiter, by result (allowed, limited).
//	ion_redis_sem_acquire_total{name,result} counter:        Acquisitions of the Redis semaphore, by result (acquired, full).
//	ion_redis_sem_leases_lost_total{name} counter:           Leases of the Redis semaphore that expired while held.
//	ion_schedule_next_run_timestamp_seconds{name} gauge:     Next due time of the scheduled job, in Unix seconds (0 for none).
//	ion_schedule_run_duration_seconds{name} histogram:       Run time of the scheduled job, its policy included, in seconds.
//	ion_schedule_running{name} gauge:                        Runs of the scheduled job in progress.
//	ion_schedule_runs_total{name,result} counter:            Runs of the scheduled job, by result (completed, failed, panicked, skipped, rejected, discarded).
//	ion_sem_acquire_total{name,result} counter:              Acquisitions of the semaphore or bulkhead, by result (acquired, rejected, timeout, canceled, invalid, shed).
//	ion_sem_in_use{name} gauge:                              Permits of the semaphore or bulkhead held.
//	ion_sem_over_released_total{name} counter:               Permits released beyond the semaphore's capacity, and ignored.
//	ion_sem_wait_seconds{name} histogram:                    Time a caller waited in the semaphore's queue, in seconds.
//	ion_sem_waiting{name} gauge:                             Callers waiting in the semaphore's queue.
//
// A label a primitive does not set is absent: ion_limit_keys carries tier
// only for a multi-tier limiter. Adapters that need one set of keys per
// metric (Prometheus) register every key of the table and give a missing
// one the empty value. Every histogram has the same buckets, in seconds:
// 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
// 0.25, 0.5, 1, 2.5, 5 and 10.
package observe
