package observe

import "slices"

// Kind is the type of a metric: [KindCounter], [KindGauge] or
// [KindHistogram].
type Kind uint8

const (
	KindCounter   Kind = iota // resolved with Metrics.Counter
	KindGauge                 // resolved with Metrics.Gauge
	KindHistogram             // resolved with Metrics.Histogram
)

// String returns "counter", "gauge" or "histogram".
func (k Kind) String() string {
	switch k {
	case KindCounter:
		return "counter"
	case KindGauge:
		return "gauge"
	case KindHistogram:
		return "histogram"
	}
	return "unknown"
}

// Desc describes one metric that Ion records: what an adapter needs to
// register it (its kind, its full set of label keys, its help text and, for
// a histogram, its bucket boundaries) and which package records it.
type Desc struct {
	Name string // ion_<package>_<what>
	Kind Kind
	// Labels are every label key the metric can carry, "name" first. A
	// primitive always sets "name"; a key it does not set (tier, for a
	// Keyed limiter's ion_limit_keys) is to be registered with the empty
	// value, so that every series of one metric has the same keys.
	Labels []string
	// Help is the one-line meaning of the metric, the Prometheus HELP text
	// and the OpenTelemetry description.
	Help string
	// Buckets are the upper bounds of a histogram's buckets, in seconds,
	// increasing; nil for counters and gauges.
	Buckets []float64
	// Package is the Ion package that records the metric, as a path in
	// Ion's repository: "breaker", "limit/httplimit", or "ionredis" for a
	// side module.
	Package string
}

// latencyBuckets are the bucket boundaries of every Ion duration histogram,
// in seconds: waits for a permit, a token or a worker range from well under
// a millisecond (a contended fast path) to seconds (a limiter's pacing, a
// full queue), so the buckets step by about 2.5x from 100 µs to 10 s.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// catalog is every metric an Ion package records, sorted by name. Package
// observe's catalog test resolves the metrics of every package through a
// scripted workload and fails if this table and the packages disagree.
var catalog = []Desc{
	{"ion_adaptive_calls_total", KindCounter, []string{"name", "result"},
		"Calls through the adaptive concurrency limiter, by result (admitted, rejected, canceled).", nil, "adaptive"},
	{"ion_adaptive_limit", KindGauge, []string{"name"},
		"Concurrency limit of the adaptive limiter, set when a sample window closes.", nil, "adaptive"},
	{"ion_adaptive_no_load_rtt_seconds", KindGauge, []string{"name"},
		"Round-trip time the adaptive limiter estimates without load, in seconds, set when a sample window closes.", nil, "adaptive"},
	{"ion_adaptive_rtt_seconds", KindGauge, []string{"name"},
		"Round-trip time the adaptive limiter measured over its last sample window, in seconds.", nil, "adaptive"},
	{"ion_adaptive_throttler_calls_total", KindCounter, []string{"name", "result"},
		"Calls through the adaptive throttler, by result (sent, throttled).", nil, "adaptive"},

	{"ion_breaker_calls_total", KindCounter, []string{"name", "outcome"},
		"Calls through the circuit breaker, by outcome (success, failure, ignored).", nil, "breaker"},
	{"ion_breaker_rejections_total", KindCounter, []string{"name"},
		"Calls refused by the circuit breaker (open, or half-open with every probe slot busy).", nil, "breaker"},
	{"ion_breaker_state", KindGauge, []string{"name"},
		"State of the circuit breaker: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled.", nil, "breaker"},
	{"ion_breaker_transitions_total", KindCounter, []string{"name", "from", "to"},
		"State transitions of the circuit breaker, by state left and state entered.", nil, "breaker"},

	{"ion_cache_refreshing", KindGauge, []string{"name"},
		"Background refreshes of the cache in flight.", nil, "cache"},
	{"ion_cache_requests_total", KindCounter, []string{"name", "result"},
		"Lookups of the cache, by result (hit, stale, miss).", nil, "cache"},

	{"ion_chaos_injections_total", KindCounter, []string{"name", "kind"},
		"Injections of the chaos injector, by kind (fault, latency, outcome, behavior).", nil, "chaos"},

	{"ion_coalesce_calls_total", KindCounter, []string{"name", "result"},
		"Calls to the coalescing group, by result (executed, shared).", nil, "coalesce"},
	{"ion_coalesce_running", KindGauge, []string{"name"},
		"Shared executions of the coalescing group in flight.", nil, "coalesce"},

	{"ion_limit_evictions_total", KindCounter, []string{"name", "tier", "reason"},
		"Keys forgotten by a keyed or multi-tier rate limiter, by reason (idle, capacity).", nil, "limit"},
	{"ion_limit_keys", KindGauge, []string{"name", "tier"},
		"Keys remembered by a keyed rate limiter, or by one tier of a multi-tier rate limiter.", nil, "limit"},
	{"ion_limit_pauses_total", KindCounter, []string{"name"},
		"Pauses of a multi-tier rate limiter (Pause, or a server's rate-limit headers).", nil, "limit/httplimit"},
	{"ion_limit_requests_total", KindCounter, []string{"name", "result"},
		"Requests to the rate limiter, by result (allowed, limited).", nil, "limit"},
	{"ion_limit_tier_limited_total", KindCounter, []string{"name", "tier"},
		"Requests refused by a multi-tier rate limiter, by the tier that refused.", nil, "limit/httplimit"},
	{"ion_limit_wait_seconds", KindHistogram, []string{"name"},
		"Time an admitted Wait or Admit waited for the rate limiter, in seconds.", latencyBuckets, "limit"},

	{"ion_policy_attempts_total", KindCounter, []string{"name", "policy"},
		"Attempts made by a retry or hedge policy, first attempts included.", nil, "policy"},
	{"ion_policy_budget_refused_total", KindCounter, []string{"name", "policy"},
		"Retries or hedges refused by the retry budget.", nil, "policy"},
	{"ion_policy_fallbacks_total", KindCounter, []string{"name", "policy"},
		"Calls answered by the fallback.", nil, "policy"},
	{"ion_policy_hedges_total", KindCounter, []string{"name", "policy"},
		"Hedged attempts started by the hedge policy.", nil, "policy"},
	{"ion_policy_retries_total", KindCounter, []string{"name", "policy"},
		"Retries started by the retry policy.", nil, "policy"},
	{"ion_policy_timeout_abandoned", KindGauge, []string{"name", "policy"},
		"Calls abandoned by the timeout policy (WithAbandon) that are still running.", nil, "policy"},
	{"ion_policy_timeouts_total", KindCounter, []string{"name", "policy"},
		"Calls ended by the timeout policy's deadline.", nil, "policy"},

	{"ion_pool_queue_wait_seconds", KindHistogram, []string{"name"},
		"Time a task waited in the worker pool's queue, from acceptance to start, in seconds.", latencyBuckets, "pool"},
	{"ion_pool_queued", KindGauge, []string{"name"},
		"Tasks waiting in the worker pool's queue.", nil, "pool"},
	{"ion_pool_running", KindGauge, []string{"name"},
		"Tasks running on the worker pool's workers.", nil, "pool"},
	{"ion_pool_size", KindGauge, []string{"name"},
		"Target number of workers of the worker pool.", nil, "pool"},
	{"ion_pool_tasks_total", KindCounter, []string{"name", "result"},
		"Tasks of the worker pool, by result (completed, failed, panicked, rejected, expired, shed, discarded).", nil, "pool"},

	{"ion_redis_backend_errors_total", KindCounter, []string{"name", "kind"},
		"Failed round trips to Redis, by primitive kind (limit, sem).", nil, "ionredis"},
	{"ion_redis_backend_seconds", KindHistogram, []string{"name", "kind"},
		"Latency of round trips to Redis, by primitive kind (limit, sem), in seconds.", latencyBuckets, "ionredis"},
	{"ion_redis_degraded_total", KindCounter, []string{"name", "kind", "mode"},
		"Calls decided by the failure mode while Redis failed, by primitive kind and mode (open, closed, local).", nil, "ionredis"},
	{"ion_redis_limit_requests_total", KindCounter, []string{"name", "result"},
		"Decisions of the Redis rate limiter, by result (allowed, limited).", nil, "ionredis"},
	{"ion_redis_sem_acquire_total", KindCounter, []string{"name", "result"},
		"Acquisitions of the Redis semaphore, by result (acquired, full).", nil, "ionredis"},
	{"ion_redis_sem_leases_lost_total", KindCounter, []string{"name"},
		"Leases of the Redis semaphore that expired while held.", nil, "ionredis"},

	{"ion_schedule_next_run_timestamp_seconds", KindGauge, []string{"name"},
		"Next due time of the scheduled job, in Unix seconds (0 for none).", nil, "schedule"},
	{"ion_schedule_run_duration_seconds", KindHistogram, []string{"name"},
		"Run time of the scheduled job, its policy included, in seconds.", latencyBuckets, "schedule"},
	{"ion_schedule_running", KindGauge, []string{"name"},
		"Runs of the scheduled job in progress.", nil, "schedule"},
	{"ion_schedule_runs_total", KindCounter, []string{"name", "result"},
		"Runs of the scheduled job, by result (completed, failed, panicked, skipped, rejected, discarded).", nil, "schedule"},

	{"ion_sem_acquire_total", KindCounter, []string{"name", "result"},
		"Acquisitions of the semaphore or bulkhead, by result (acquired, rejected, timeout, canceled, invalid, shed).", nil, "sem"},
	{"ion_sem_in_use", KindGauge, []string{"name"},
		"Permits of the semaphore or bulkhead held.", nil, "sem"},
	{"ion_sem_over_released_total", KindCounter, []string{"name"},
		"Permits released beyond the semaphore's capacity, and ignored.", nil, "sem"},
	{"ion_sem_wait_seconds", KindHistogram, []string{"name"},
		"Time a caller waited in the semaphore's queue, in seconds.", latencyBuckets, "sem"},
	{"ion_sem_waiting", KindGauge, []string{"name"},
		"Callers waiting in the semaphore's queue.", nil, "sem"},
}

// Catalog returns every metric Ion records, sorted by name. The result is a
// copy the caller may keep and change. It allocates; adapters call it (or
// [Lookup]) when they resolve an instrument, never per call.
func Catalog() []Desc {
	out := make([]Desc, len(catalog))
	for i, d := range catalog {
		out[i] = d.clone()
	}
	return out
}

// Lookup returns the description of the metric name and true, or a zero
// Desc and false if Ion records no metric of that name (a user's own metric
// resolved through the same [Metrics]). The result is a copy.
func Lookup(name string) (Desc, bool) {
	i, ok := slices.BinarySearchFunc(catalog, name, func(d Desc, name string) int {
		switch {
		case d.Name < name:
			return -1
		case d.Name > name:
			return 1
		}
		return 0
	})
	if !ok {
		return Desc{}, false
	}
	return catalog[i].clone(), true
}

func (d Desc) clone() Desc {
	d.Labels = slices.Clone(d.Labels)
	d.Buckets = slices.Clone(d.Buckets)
	return d
}
