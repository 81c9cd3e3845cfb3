package adaptive

import "time"

// waiter is a call waiting for a permit of a Limiter. Its fields other than
// ready are guarded by the Limiter's mu.
type waiter struct {
	prio       Priority
	enq        time.Time  // when it started waiting
	ready      chan error // buffered 1; receives nil with a permit or the rejection, once
	inflight   int        // the in-flight count when it was granted a permit
	done       bool       // granted, rejected or gone; no longer in the queue
	prev, next *waiter
}

// waitQueue holds the waiters of a Limiter: one doubly linked list per
// priority, oldest at the head. It must be used with the Limiter's mu held.
type waitQueue struct {
	head, tail [levels]*waiter
	n          int
}

func (q *waitQueue) push(w *waiter) {
	i := w.prio.index()
	w.prev, w.next = q.tail[i], nil
	if q.tail[i] != nil {
		q.tail[i].next = w
	} else {
		q.head[i] = w
	}
	q.tail[i] = w
	q.n++
}

func (q *waitQueue) remove(w *waiter) {
	i := w.prio.index()
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head[i] = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail[i] = w.prev
	}
	w.prev, w.next = nil, nil
	q.n--
}

// first returns the waiter to serve next: of the highest priority waiting,
// the oldest, or the newest when lifo is set. It returns nil on an empty
// queue.
func (q *waitQueue) first(lifo bool) *waiter {
	for i := levels - 1; i >= 0; i-- {
		if q.head[i] != nil {
			if lifo {
				return q.tail[i]
			}
			return q.head[i]
		}
	}
	return nil
}

// victim returns the waiter a call of priority p may evict from a full
// queue: the newest of the lowest priority below p, or nil.
func (q *waitQueue) victim(p Priority) *waiter {
	for i := 0; i < p.index(); i++ {
		if q.tail[i] != nil {
			return q.tail[i]
		}
	}
	return nil
}

// codel is the CoDel state of a Limiter's queue (Nichols and Jacobson,
// "Controlling Queue Delay", as Facebook applies it to server queues):
// whether the queue has been standing, judged from the lowest wait seen over
// each interval. It must be used with the Limiter's mu held.
type codel struct {
	target, interval time.Duration // 0: off
	end              time.Time     // the end of the current interval
	low              time.Duration // the lowest wait served in the current interval
	standing         bool          // the last interval's lowest wait was above target
}

// drop records that a waiter that waited sojourn leaves the queue at now and
// reports whether it should be dropped rather than served.
func (c *codel) drop(now time.Time, sojourn time.Duration) bool {
	if c.target == 0 {
		return false
	}
	switch {
	case now.After(c.end.Add(c.interval)):
		// A whole interval passed without anyone served: the queue
		// drained, so it is not standing.
		c.standing = false
		c.low, c.end = sojourn, now.Add(c.interval)
	case now.After(c.end):
		c.standing = c.low > c.target
		c.low, c.end = sojourn, now.Add(c.interval)
	default:
		c.low = min(c.low, sojourn)
	}
	return c.standing && sojourn > c.target
}
