package sem

import "github.com/ionkit/ion"

// SetCapacity changes the capacity of s to n in place, keeping the permits
// in use and the waiters, for a live reconfiguration: calls in flight keep
// their permits and release them as usual.
//
// In use means acquired and not yet released. Growing the capacity adds the
// new permits at once and serves the waiters that now fit, in the
// [Fairness] order. Shrinking never revokes permits: the count of free
// permits becomes the new capacity less the permits in use, and when more
// are in use than the new capacity, it becomes 0 and the difference is owed.
// While a debt is owed, [Weighted.Available] returns 0, in use stays above
// Capacity, and each release pays the debt before it frees any permit; so a
// new caller of weight w is admitted only once in use + w ≤ n, that is once
// in use has fallen below the new capacity by at least w. A release of
// permits acquired under the old capacity is therefore never reported as an
// over-release. A later SetCapacity starts from the permits in use,
// whatever was owed: growing back pays the debt first.
//
// Waiters whose weight is above n can never be served: they leave the queue
// at once, and their Acquire returns [ErrWeightExceedsCapacity], holding
// nothing. Acquires of more than n fail the same way from now on.
//
// An n below 1 returns an error matching ion.ErrInvalidConfig that names
// the capacity, and changes nothing. A fail-closed or zero s returns its
// [Weighted.Err] and changes nothing. SetCapacity does not block beyond the
// semaphore's short critical section, never calls user code, and does not
// allocate; calls to it are serialized.
func (s *Weighted) SetCapacity(n int64) error {
	if err := s.Err(); err != nil {
		return err
	}
	if n < 1 {
		return ion.NewConfigError("sem", "capacity", "must be at least 1, got %d", n)
	}
	s.mu.Lock()
	// Route every release to mu before the capacity changes (protocol
	// point 6). Until the count is rewritten below, the only updates
	// running without mu are takes, which lower it.
	for {
		st := s.state.Load()
		if st&queuedBit != 0 || s.state.CompareAndSwap(st, st|queuedBit) {
			break
		}
	}
	old := s.capacity.Swap(n)
	var excess int64
	for {
		st := s.state.Load()
		free := int64(st & availMask)
		// left is what the new capacity leaves of the permits in use;
		// negative when a debt is owed. In use is at least 0 and at
		// most the largest capacity it was acquired under, so neither
		// subtraction overflows.
		left := n - (old - free + s.debt)
		if left > n {
			// The count had passed the old capacity: a release of more
			// than was held raced an earlier shrink (protocol point 7).
			excess, left = left-n, n
		}
		if s.state.CompareAndSwap(st, queuedBit|uint64(max(left, 0))) {
			s.debt = max(-left, 0)
			break
		}
	}
	if n < old {
		for w := s.q.front; w != nil; {
			next := w.next
			if w.n > n {
				s.rejectLocked(w, ErrWeightExceedsCapacity, resInvalid)
			}
			w = next
		}
	}
	s.grantLocked()
	inUse := s.inUseLocked()
	s.mu.Unlock()
	s.afterSlow(excess, inUse)
	return nil
}
