package sem

import "time"

// waiter is one caller queued in Acquire. It is allocated only on the slow
// path, when the caller has to wait.
type waiter struct {
	n     int64         // permits requested; immutable
	enq   time.Time     // when it queued, for CoDel (or when Reconfigure turned CoDel on); zero without it; guarded by Weighted.mu
	ready chan struct{} // closed by the grant or the rejection, under Weighted.mu

	// The fields below are guarded by Weighted.mu; granted and err are
	// written before ready is closed, so the waiter may read them without
	// the lock once it has seen ready closed.
	granted    bool    // set with ready's close; the permits are the waiter's
	err        error   // non-nil: rejected (shed, or too heavy for a new capacity), holding nothing
	res        result  // the metrics result of err
	prev, next *waiter // links in the queue while queued
}

// queue is an intrusive doubly linked list of waiters, oldest at the front.
// It serves FIFO (pop the front), LIFO (pop the back) and None (scan from
// either end) with O(1) removal of a cancelled waiter, and allocates nothing
// of its own. Every method must be called with Weighted.mu held.
type queue struct {
	front, back *waiter
	len         int
}

func (q *queue) pushBack(w *waiter) {
	w.prev, w.next = q.back, nil
	if q.back == nil {
		q.front = w
	} else {
		q.back.next = w
	}
	q.back = w
	q.len++
}

func (q *queue) remove(w *waiter) {
	if w.prev == nil {
		q.front = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.back = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	q.len--
}

// grantLocked serves the waiters that fit, in the order of s.fairness (the
// newest first while adaptive LIFO is in force), sheds those CoDel
// condemns, and clears queuedBit when the queue is empty and no debt is
// owed. It must be called with s.mu held.
func (s *Weighted) grantLocked() {
	var now time.Time // read once, when CoDel first needs it
	if s.fairness == None {
		// One pass suffices: the count only falls during the pass
		// (releases need mu, and a shed waiter's permits are put back
		// where they were), so a waiter skipped for not fitting would
		// not fit later in the pass either. Adaptive LIFO runs the pass
		// from the newest end.
		if s.lifoAt > 0 && s.q.len >= s.lifoAt {
			for w := s.q.back; w != nil; {
				prev := w.prev
				if s.takeQueuedLocked(w.n) {
					s.serveLocked(w, &now)
				}
				w = prev
			}
		} else {
			for w := s.q.front; w != nil; {
				next := w.next
				if s.takeQueuedLocked(w.n) {
					s.serveLocked(w, &now)
				}
				w = next
			}
		}
	} else {
		// FIFO and LIFO block at the waiter to serve next: stop at the
		// first that does not fit, so that a large weight is not starved
		// by smaller ones behind it. The end is chosen afresh for each
		// waiter: serving one may take the queue below the adaptive LIFO
		// threshold.
		for {
			w := s.q.front
			if s.fairness == LIFO || s.lifoAt > 0 && s.q.len >= s.lifoAt {
				w = s.q.back
			}
			if w == nil || !s.takeQueuedLocked(w.n) {
				break
			}
			s.serveLocked(w, &now)
		}
	}
	if s.q.len == 0 && s.debt == 0 {
		for {
			st := s.state.Load()
			if st&queuedBit == 0 || s.state.CompareAndSwap(st, st&^queuedBit) {
				break
			}
		}
	}
	s.nwait.Store(int64(s.q.len))
}

// serveLocked hands w the permits just taken for it or, if CoDel condemns
// it, puts them back and sheds w. now is the time of this grant, read on
// first use. It must be called with s.mu held.
func (s *Weighted) serveLocked(w *waiter, now *time.Time) {
	if s.codel.Target > 0 {
		if now.IsZero() {
			*now = time.Now()
		}
		if sojourn := now.Sub(w.enq); s.codel.Drop(*now, sojourn) {
			// The permits were taken in this critical section and no
			// release has run since (they need mu): putting them back
			// cannot pass the capacity.
			s.state.Add(uint64(w.n))
			s.rejectLocked(w, &shedError{wait: sojourn}, resShed)
			return
		}
	}
	s.wakeLocked(w)
}

// takeQueuedLocked takes n permits for a queued waiter if they are free. It
// must be called with s.mu held.
func (s *Weighted) takeQueuedLocked(n int64) bool {
	for {
		st := s.state.Load()
		if int64(st&availMask) < n {
			return false
		}
		if s.state.CompareAndSwap(st, st-uint64(n)) {
			return true
		}
	}
}

// wakeLocked hands the permits already taken for w to w. It must be called
// with s.mu held.
func (s *Weighted) wakeLocked(w *waiter) {
	s.q.remove(w)
	w.granted = true
	close(w.ready)
}

// rejectLocked removes w from the queue and ends its wait with err, counted
// as r; w holds nothing. It must be called with s.mu held.
func (s *Weighted) rejectLocked(w *waiter, err error, r result) {
	s.q.remove(w)
	w.err, w.res = err, r
	close(w.ready)
}
