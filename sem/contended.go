package sem

// The contended mode.
//
// Two cores that take and return permits in a tight loop, each with its own
// compare-and-swap on state, move state's cache line between them at every
// operation, and every operation then pays for a transfer of the line: on
// two cores, 3 to 4 times the cost of an operation on one. A lock does
// better there, because it makes the loser sleep: the holder runs a batch
// of operations with the line in its own cache.
//
// So a fast path that loses its compare-and-swap turns to mu: it sets cont,
// and from then on every fast path first tries mu. Under mu an operation
// makes the same checks and the same compare-and-swap as without it; mu
// only decides who goes next. The mode ends when calmAfter operations in a
// row found mu free: the crowd has gone, and one compare-and-swap without
// the lock is again the cheapest path.
//
// At most one caller at a time blocks in mu.Lock for the mode (parked); the
// others, finding mu busy, go on without it, as before the mode: they back
// off and retry their compare-and-swap. One sleeper is enough to break the
// two cores' ping-pong, and a bound is needed: with many more runnable
// goroutines than processors, a goroutine woken from mu.Lock waits for the
// time slice of the one that woke it, so a queue of sleepers on mu would
// become a convoy in which every operation waits for milliseconds.
// TryAcquire, which never blocks, takes mu only when it is free.
//
// Fast paths that saw the mode off may still run their compare-and-swap
// without mu while an operation holds it: every compare-and-swap under mu
// is therefore in a loop, as those of takeLocked and addLocked are.
const calmAfter = 64 // operations in a row that found mu free and end the mode

// lockContended takes mu for an operation in the contended mode and
// reports whether it did: at once if mu is free, or by blocking for it if
// park is set and no other caller is blocked for it. Holding mu, it turns
// the mode on.
func (s *Weighted) lockContended(park bool) bool {
	if s.mu.TryLock() {
		s.calm++
	} else {
		if !park || !s.parked.CompareAndSwap(false, true) {
			return false
		}
		s.mu.Lock()
		s.parked.Store(false)
		s.calm = 0
	}
	if !s.cont.Load() {
		s.cont.Store(true)
	}
	return true
}

// unlockContended ends the mode if the last calmAfter operations found mu
// free, and unlocks mu.
func (s *Weighted) unlockContended() {
	if s.calm >= calmAfter {
		s.calm = 0
		s.cont.Store(false)
	}
	s.mu.Unlock()
}

// takeContended is tryTake with mu held, which it unlocks.
func (s *Weighted) takeContended(n int64) bool {
	for {
		st := s.state.Load()
		if st&queuedBit != 0 && !s.barge.Load() || int64(st&availMask) < n {
			s.unlockContended()
			return false
		}
		if s.state.CompareAndSwap(st, st-uint64(n)) {
			s.unlockContended()
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
			s.unlockContended()
			s.afterSlow(excess, inUse)
			if excess > 0 {
				return &overReleaseError{n: n, free: free, owed: owed, capacity: c, excess: excess}
			}
			return nil
		}
		if s.state.CompareAndSwap(st, st+uint64(n)) {
			s.unlockContended()
			if m := s.m; m != nil {
				m.inUse.Set(float64(c - free - n))
			}
			return nil
		}
	}
}
