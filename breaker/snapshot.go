package breaker

import "time"

// Counts are the results of the current generation: since the breaker last
// changed state (or a closed breaker was [Breaker.Reset]), as gobreaker's
// Counts. Results of calls that started in an earlier generation are not in
// them. They are exact under concurrency: every result lands in one
// generation's counts or in none, once, and the counts include every call
// whose Done (or Policy execution) returned before they were read.
type Counts struct {
	// Requests is Successes + Failures: the calls of this generation that
	// reported an outcome that counts. Calls still running and Ignored
	// outcomes are not in it.
	Requests int64
	// Successes and Failures count the outcomes as the breaker judged them
	// (a slow half-open probe is a failure).
	Successes, Failures int64
	// ConsecutiveSuccesses and ConsecutiveFailures are the current run of
	// one outcome; at most one of them is non-zero. Ignored outcomes do not
	// break a run. A run saturates at 2^31-1.
	ConsecutiveSuccesses, ConsecutiveFailures int64
}

// Snapshot is a point-in-time view of a [Breaker], from [Breaker.Snapshot].
type Snapshot struct {
	State State     // the state, as State would return it
	Since time.Time // when the current generation began: the last transition or Reset (New's time before any)

	// Until is when an open breaker lets probes through (see
	// [Breaker.Reconfigure] for how a new open duration moves it); the
	// zero Time in every other state.
	Until time.Time

	// Counts are the results of the current generation, since Since.
	Counts Counts

	// Totals since New, by outcome as the breaker judged it: every Done
	// counts once, including results of calls that started in an earlier
	// generation. A half-open probe that succeeded but was slow (see
	// WithSlowCalls) re-opens the breaker and counts as a failure. Rejected
	// counts the calls the breaker refused.
	Successes, Failures, Ignored, Rejected int64
	// SlowCalls counts the successes and failures that took at least the
	// slow-call threshold; 0 without WithSlowCalls.
	SlowCalls int64

	// FailureRate and SlowCallRate are the shares of failures and slow calls
	// among successes and failures: over the window with a rate rule
	// (WithFailureRate, WithSlowCalls), else over the totals since New.
	FailureRate, SlowCallRate float64
}

// IsHealthy reports whether the breaker lets calls through freely and the
// last recorded result was not a failure: the state is [Closed] (or
// [Disabled]) and Counts.ConsecutiveFailures is 0.
func (s Snapshot) IsHealthy() bool {
	return (s.State == Closed || s.State == Disabled) && s.Counts.ConsecutiveFailures == 0
}

// Snapshot returns the breaker's current state and counts. Like
// [Breaker.State] it moves an expired open breaker to half-open. It takes a
// short lock and reads the clock; it does not allocate. It is exact for
// every call whose Done (or Policy execution) returned before Snapshot was
// called. A zero Breaker reads as [ForcedOpen] with no counts.
func (b *Breaker) Snapshot() Snapshot {
	if b.cur.Load() == nil {
		return Snapshot{State: ForcedOpen}
	}
	now := b.now()
	b.mu.Lock()
	notify := b.err == nil && b.expireLocked(now)
	g := b.cur.Load()
	s := Snapshot{
		State:  g.state,
		Since:  b.epoch.Add(time.Duration(g.since)),
		Counts: g.counts(),
	}
	// Under mu no generation retires and no carry moves, so the base and
	// the current generation's successes add up.
	s.Successes = b.succBase + s.Counts.Successes
	if g.state == Open {
		s.Until = b.epoch.Add(time.Duration(g.until))
	}
	windowed := b.p.Load().windowed
	if windowed {
		b.win.advance(now)
		s.FailureRate, s.SlowCallRate = b.win.rates()
	}
	b.mu.Unlock()
	if notify {
		b.drain()
	}
	s.Successes += b.lateSuccesses.Load()
	s.Failures = b.failures.Load()
	s.Ignored = b.ignored.Load()
	s.Rejected = b.rejected.Load()
	s.SlowCalls = b.slowCalls.Load()
	if !windowed {
		if n := s.Successes + s.Failures; n > 0 {
			s.FailureRate = float64(s.Failures) / float64(n)
			s.SlowCallRate = float64(s.SlowCalls) / float64(n)
		}
	}
	return s
}
