package adaptive

import "time"

var (
	errZeroLimiter   = configError("Limiter", "zero value; use NewLimiter")
	errZeroThrottler = configError("Throttler", "zero value; use NewThrottler")
)

// Reconfigure changes l's parameters in place to those that opts describe,
// exactly as NewLimiter(opts...) would set them: options apply in order
// over the defaults, not over the parameters in force, so opts is the whole
// new configuration. The name and the sinks given to NewLimiter stay.
//
// l keeps what it has learned and what it holds: the limit, clamped into
// the new [WithLimits] bounds; the RTT estimates, whatever the algorithm
// (every algorithm measures them the same way, so a new one starts from
// what the old one saw); the open sample window with its samples, closed
// by the new [WithSampleWindow] rule at the next completion that meets it;
// the calls in flight and the waiters in the queue; the CoDel state. What
// the new parameters do to them:
//
//   - A limit raised by a higher minimum grants queued waiters their
//     permits at once; a limit lowered by a lower maximum lets the calls in
//     flight finish and admits new ones only below it.
//   - A waiter keeps the max wait it started with; a lower [WithMaxQueue]
//     evicts nobody, and only arrivals see it.
//   - The algorithm, backoff, smoothing and tolerance move the limit from
//     the next window on.
//
// The policies of l, built before or after, name the new algorithm in
// their String and spans.
//
// Reconfigure returns an error matching ion.ErrInvalidConfig and changes
// nothing when an option is invalid (as NewLimiter would fail closed), or
// when an option cannot change on a live limiter: [WithName], [WithMetrics],
// [WithTracer] and [WithInitialLimit] (the limit is learned by then) are
// taken only by NewLimiter, and the error names the first one given. On a
// Limiter that fails closed it returns [Limiter.Err], and on a zero Limiter
// an error matching ion.ErrInvalidConfig, changing nothing.
//
// Reconfigure takes l's lock briefly, does not block calls beyond it and
// does not allocate. With [WithMetrics], it sets the limit gauge to the
// clamped limit.
func (l *Limiter) Reconfigure(opts ...LimiterOption) error {
	if l.err != nil {
		return l.err
	}
	c := newLimiterConfig(opts)
	if c.err != nil {
		return c.err
	}
	if c.fixed != "" {
		return configError(c.fixed, "only NewLimiter takes it; Reconfigure keeps the limiter's name, sinks and learned limit")
	}
	now := time.Now()
	l.mu.Lock()
	if l.tuning.maxLimit == 0 {
		l.mu.Unlock()
		return errZeroLimiter
	}
	if c.tuning.alg != l.tuning.alg {
		l.desc.Store(describeLimiter(l.name, c.tuning.alg))
	}
	l.tuning = c.tuning
	l.window, l.minSamples = c.window, c.minSamples
	l.maxWait, l.maxQueue, l.lifoAt = c.maxWait, c.maxQueue, c.lifoAt
	l.codel.Target, l.codel.Interval = c.codelTarget, c.codelInterval
	l.limit = l.tuning.clamp(l.limit)
	l.serveLocked(now)
	limit, est := l.limit, l.est
	l.mu.Unlock()
	// The sinks are user code: called after the unlock, with a snapshot.
	l.metrics.window(limit, est)
	return nil
}

// Reconfigure changes t's parameters in place to those that opts describe,
// exactly as NewThrottler(opts...) would set them: options apply in order
// over the defaults, so opts is the whole new configuration. The name and
// the sinks given to NewThrottler stay.
//
// t keeps its window: the requests and accepts it counted stay in their
// buckets, and the buckets roll at the new pace from the current one on (a
// twentieth of the new [WithWindow]), so after a change of window the
// counts of the old one expire within the new one. A new [WithK] applies to
// the counts at once: [Throttler.RejectionRate] reads it on the next call.
// [WithSeed] with a seed other than the one in force reseeds the random
// choices; without it, or with the same seed, they go on unchanged.
//
// The policies of t, built before or after, show the new K in their
// String and spans.
//
// Reconfigure returns an error matching ion.ErrInvalidConfig and changes
// nothing when an option is invalid (as NewThrottler would fail closed), or
// when an option cannot change on a live throttler: [WithName],
// [WithMetrics] and [WithTracer] are taken only by NewThrottler, and the
// error names the first one given. On a Throttler that fails closed it
// returns [Throttler.Err], and on a zero Throttler an error matching
// ion.ErrInvalidConfig, changing nothing.
//
// Reconfigure takes t's lock briefly and does not block calls beyond it; it
// allocates only a reseeded random source.
func (t *Throttler) Reconfigure(opts ...ThrottlerOption) error {
	if t.err != nil {
		return t.err
	}
	c := newThrottlerConfig(opts)
	if c.err != nil {
		return c.err
	}
	if c.fixed != "" {
		return configError(c.fixed, "only NewThrottler takes it; Reconfigure keeps the throttler's name and sinks")
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bucketLen == 0 {
		return errZeroThrottler
	}
	// The buckets that ended under the old pace end first.
	t.advanceLocked(now)
	if c.k != t.k {
		t.desc.Store(describeThrottler(t.name, c.k))
	}
	t.k = c.k
	t.bucketLen = c.window / buckets
	if c.seeded && (!t.seeded || c.seed != t.seed) {
		t.rng, t.seed, t.seeded = newRand(c.seed), c.seed, true
	}
	return nil
}
