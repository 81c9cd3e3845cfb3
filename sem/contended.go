package sem

// The contended mode (see internal/contend): a fast path that loses its
// compare-and-swap on state turns it on, and from then on the fast paths
// first take mu (s.mode.Lock), then make their usual checks and
// compare-and-swap under it, as takeContended and releaseContended do.
// Acquire and Release may block for mu (one caller at a time may);
// TryAcquire, which never blocks, takes mu only when it is free. Fast paths
// that saw the mode off may still run their compare-and-swap without mu
// while an operation holds it, so those under mu stay in loops, as those of
// takeLocked and addLocked are.

// takeContended is tryTake with mu held, which it unlocks.
func (s *Weighted) takeContended(n int64) bool {
	for {
		st := s.state.Load()
		if st&queuedBit != 0 && !s.barge.Load() || int64(st&availMask) < n {
			s.mode.Unlock(&s.mu)
			return false
		}
		if s.state.CompareAndSwap(st, st-uint64(n)) {
			s.mode.Unlock(&s.mu)
			if m := s.m; m != nil {
				// No debt is owed: the count was at least n > 0.
				m.results[resAcquired].Add(1)
				m.inUse.Set(float64(s.capacity.Load() - int64((st-uint64(n))&availMask)))
			}
			return true
		}
	}
}

// releaseContended is Release with mu held, which it unlocks. The capacity
// cannot change meanwhile: SetCapacity needs mu.
func (s *Weighted) releaseContended(n int64) error {
	c := s.capacity.Load()
	for {
		st := s.state.Load()
		free := int64(st & availMask)
		if st&queuedBit != 0 || n > c-free {
			// Waiters to serve, a debt to pay or an over-release: the
			// slow path's work, done here since mu is held.
			excess, free, owed := s.addLocked(n)
			s.grantLocked()
			inUse := s.inUseLocked()
			s.mode.Unlock(&s.mu)
			s.afterSlow(excess, inUse)
			if excess > 0 {
				return &overReleaseError{n: n, free: free, owed: owed, capacity: c, excess: excess}
			}
			return nil
		}
		if s.state.CompareAndSwap(st, st+uint64(n)) {
			s.mode.Unlock(&s.mu)
			if m := s.m; m != nil {
				m.inUse.Set(float64(c - free - n))
			}
			return nil
		}
	}
}
