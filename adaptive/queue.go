package adaptive

import (
	"context"
	"time"
)

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

// wait blocks until w is granted a permit or rejected, maxWait ends or ctx
// ends.
func (l *Limiter) wait(ctx context.Context, done <-chan struct{}, w *waiter, maxWait time.Duration) (permit, error) {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	var cause error
	select {
	case err := <-w.ready:
		return l.granted(w, err)
	case <-timer.C:
		cause = &waitError{reason: "no permit", wait: maxWait}
	case <-done:
		cause = &ctxError{err: ctx.Err()}
	}
	l.mu.Lock()
	if w.done {
		// Granted or rejected while the timer or ctx fired: the verdict
		// is in w.ready.
		l.mu.Unlock()
		err := <-w.ready
		if err == nil {
			if _, isCtx := cause.(*ctxError); !isCtx {
				// The max wait ended as the permit came: use it.
				return l.granted(w, nil)
			}
			// The caller is gone: hand the permit back unused.
			l.release(permit{start: w.enq, inflight: w.inflight}, sampleIgnored)
		}
		return permit{}, cause
	}
	l.queue.remove(w)
	w.done = true
	if _, isCtx := cause.(*ctxError); !isCtx {
		l.shed.add(w.prio)
	}
	l.mu.Unlock()
	return permit{}, cause
}

func (l *Limiter) granted(w *waiter, err error) (permit, error) {
	if err != nil {
		return permit{}, err
	}
	// The RTT is measured from the grant, not from the arrival: the wait
	// in our own queue is not the dependency's latency.
	return permit{start: time.Now(), inflight: w.inflight}, nil
}

// serveLocked grants permits to waiters while the limit has room, dropping
// those CoDel condemns. It must be called with l.mu held; it never blocks.
func (l *Limiter) serveLocked(now time.Time) {
	for l.queue.n > 0 && l.inflight < l.capLocked() {
		w := l.queue.first(l.lifoAt > 0 && l.queue.n >= l.lifoAt)
		l.queue.remove(w)
		w.done = true
		if sojourn := now.Sub(w.enq); l.codel.Drop(now, sojourn) {
			l.shed.add(w.prio)
			w.ready <- &waitError{reason: "dropped from a standing queue", wait: sojourn}
			continue
		}
		l.inflight++
		w.inflight = l.inflight
		w.ready <- nil
	}
}
