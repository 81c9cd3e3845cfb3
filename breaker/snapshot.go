package breaker

import "time"

// Snapshot is a point-in-time view of a [Breaker], from [Breaker.Snapshot].
type Snapshot struct {
	State State     // the state, as State would return it
	Since time.Time // when the breaker entered State (New's time if it never changed)

	// Totals since New, by outcome as the breaker judged it: every Done
	// counts once, including results of calls that started in an earlier
	// generation. A half-open probe that succeeded but was slow (see
	// WithSlowCalls) re-opens the breaker and counts as a failure. Rejected
	// counts the calls the breaker refused.
	Successes, Failures, Ignored, Rejected int64
	// SlowCalls counts the successes and failures that took at least the
	// slow-call threshold; 0 without WithSlowCalls.
	SlowCalls int64

	// ConsecutiveFailures is the current run of failures in the closed
	// state; 0 in the other states.
	ConsecutiveFailures int

	// FailureRate and SlowCallRate are the shares of failures and slow calls
	// among successes and failures: over the window with a rate rule
	// (WithFailureRate, WithSlowCalls), else over the totals since New.
	FailureRate, SlowCallRate float64
}

// IsHealthy reports whether the breaker lets calls through freely and the
// last recorded result was not a failure: the state is [Closed] (or
// [Disabled]) and ConsecutiveFailures is 0.
func (s Snapshot) IsHealthy() bool {
	return (s.State == Closed || s.State == Disabled) && s.ConsecutiveFailures == 0
}

// Snapshot returns the breaker's current state and counts. Like
// [Breaker.State] it moves an expired open breaker to half-open. It takes a
// short lock and reads the clock; it does not allocate. The success total is
// kept in cells spread over cache lines, so that concurrent successes do not
// contend, and Snapshot sums them: it is exact for every call whose Done (or
// Policy execution) returned before Snapshot was called.
func (b *Breaker) Snapshot() Snapshot {
	now := b.now()
	b.mu.Lock()
	notify := b.err == nil && b.expireLocked(now)
	w := b.word.Load()
	s := Snapshot{
		State:               stateOf(w),
		Since:               b.epoch.Add(time.Duration(b.since)),
		ConsecutiveFailures: int(failsOf(w)),
	}
	if b.windowed {
		b.win.advance(now)
		s.FailureRate, s.SlowCallRate = b.win.rates()
	}
	b.mu.Unlock()
	if notify {
		b.drain()
	}
	s.Successes = b.successes.sum()
	s.Failures = b.failures.Load()
	s.Ignored = b.ignored.Load()
	s.Rejected = b.rejected.Load()
	s.SlowCalls = b.slowCalls.Load()
	if !b.windowed {
		if n := s.Successes + s.Failures; n > 0 {
			s.FailureRate = float64(s.Failures) / float64(n)
			s.SlowCallRate = float64(s.SlowCalls) / float64(n)
		}
	}
	return s
}
