package sem

import (
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/codel"
)

// Reconfigure changes the queue settings of s in place to those that opts
// describe, exactly as NewWeighted(capacity, opts...) would set them:
// options apply in order over the defaults ([FIFO], no acquire timeout, no
// CoDel, no adaptive LIFO), not over the settings in force, so opts is the
// whole new queue configuration and a setting left out returns to its
// default. The capacity (see [Weighted.SetCapacity]), the name and the
// sinks stay. Reconfigure with no option restores the defaults.
//
// s keeps its permits in use, any debt, and its waiters, each in its place
// in the queue (arrival order). What the new settings do to them:
//
//   - [WithFairness] orders the grants made from now on, beginning with
//     Reconfigure's own: before it returns it serves the waiters that now
//     fit in the new order (after a switch from LIFO to FIFO, the oldest
//     waiter may fit). From FIFO to LIFO or None, new callers may take free
//     permits while others wait as soon as Reconfigure returns. From LIFO or
//     None to FIFO, no Acquire or TryAcquire that starts after Reconfigure
//     returns takes permits ahead of the queue; one that was already
//     running may still take free permits as the old fairness let it, as it
//     could have an instant earlier.
//   - [WithAcquireTimeout] bounds the Acquires that queue after Reconfigure
//     returns. A waiter already queued keeps the bound it queued with: the
//     bound is part of what its caller was promised when it queued, so it
//     is neither cut short nor extended under it. A bulkhead's calls wait
//     for their own [WithMaxWait], unaffected.
//   - [WithCoDel] turned on starts from a fresh state: the queue is not
//     standing, and the waiters already queued count their wait from
//     Reconfigure (without CoDel the semaphore keeps no time for them). With
//     CoDel already on, a new target or interval keeps the state: the
//     current interval ends when it was due and its verdict (standing or
//     not) holds until then, the new target judges the next grant, and the
//     new interval applies from the next interval on. Turned off, CoDel
//     sheds no one from then on, and its state is dropped.
//   - [WithAdaptiveLIFO] applies from the next grant and the next Acquire,
//     which compare the queue's length with the new threshold; off, the
//     fairness alone orders them.
//
// Reconfigure returns an error matching ion.ErrInvalidConfig and changes
// nothing when an option is invalid (as NewWeighted would fail closed; the
// *ion.ConfigError names the option), or when an option cannot change on a
// live semaphore: [WithName], [WithLogger], [WithMetrics] and [WithTracer]
// are taken only by NewWeighted, and the error names the first one given.
// A fail-closed or zero s returns its [Weighted.Err] and changes nothing.
//
// Reconfigure takes the semaphore's lock briefly and does not block callers
// beyond it; calls to it are serialized. It reads the clock when it turns
// CoDel on, and allocates only the configuration its options are applied
// to. With [WithMetrics], it sets the gauges after unlocking.
func (s *Weighted) Reconfigure(opts ...Option) error {
	if err := s.Err(); err != nil {
		return err
	}
	c := newConfig(opts)
	if c.err != nil {
		return c.err
	}
	if c.fixed != "" {
		return ion.NewConfigError("sem", c.fixed, "only NewWeighted takes it; Reconfigure keeps the semaphore's name and sinks")
	}
	codelOn := c.codelTarget > 0
	var now time.Time
	if codelOn && !s.codelOn.Load() {
		now = time.Now() // read before the lock; rechecked under it
	}
	s.mu.Lock()
	s.fairness = c.fairness
	s.barge.Store(c.fairness != FIFO) // protocol point 8
	s.lifoAt = c.lifoAt
	s.timeout.Store(int64(c.timeout))
	switch {
	case !codelOn:
		s.codel = codel.State{}
	case s.codel.Target == 0:
		// Turned on. The waiters queued while it was off carry no time
		// (or one from an earlier time it was on): their wait starts now.
		if now.IsZero() {
			now = time.Now() // a concurrent Reconfigure turned it off since the read above
		}
		s.codel = codel.State{Target: c.codelTarget, Interval: c.codelInterval}
		for w := s.q.front; w != nil; w = w.next {
			w.enq = now
		}
	default:
		s.codel.Target, s.codel.Interval = c.codelTarget, c.codelInterval
	}
	// Stored after the state it mirrors: a caller that reads it set and
	// queues finds CoDel's target set under mu, and one that reads it
	// clear reads the clock under mu if it finds the target set (wait).
	s.codelOn.Store(codelOn)
	s.reconfigs.Add(1)
	s.grantLocked()
	inUse := s.inUseLocked()
	s.mu.Unlock()
	s.afterSlow(0, inUse)
	return nil
}
