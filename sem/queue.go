package sem

// waiter is one caller queued in Acquire. It is allocated only on the slow
// path, when the caller has to wait.
type waiter struct {
	n     int64         // permits requested; immutable
	ready chan struct{} // closed by the grant, under Weighted.mu

	// The fields below are guarded by Weighted.mu.
	granted    bool    // set with ready's close; the permits are the waiter's
	prev, next *waiter // links in the queue while queued
}

// queue is an intrusive doubly linked list of waiters, oldest at the front.
// It serves FIFO (pop the front), LIFO (pop the back) and None (scan from the
// front) with O(1) removal of a cancelled waiter, and allocates nothing of
// its own. Every method must be called with Weighted.mu held.
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
