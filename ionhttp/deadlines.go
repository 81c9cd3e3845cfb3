package ionhttp

import (
	"sync"
	"sync/atomic"
	"time"
)

// deadlines runs the timeouts of one duration (a transport's header
// timeout, or its body timeout) on one timer between them. A timer per
// attempt costs an allocation and two updates of the runtime's timer heap
// per request, and, with an idle processor asleep in the network poller, a
// system call to wake it for the new, earlier timer. Timeouts of one
// duration end in the order they start, so they form a queue ordered by
// deadline: start appends, stop unlinks, and one timer is armed for the
// queue's head. When it fires it ends every timeout that is due and is
// armed again for the new head, if any. It is left armed when the queue
// empties: it then fires once, finds nothing due and stays unarmed.
//
// Its one lock is taken twice per request, for tens of nanoseconds each:
// against requests that take tens of microseconds at the least, it stays a
// small part of a transport's cost even with every core sending
// (BenchmarkTransport's watching cases, serial and parallel).
//
// Attempts inside a synctest bubble do not use it (see attemptCtx.armLocked),
// but arm a timer each: the queue's timer belongs to the bubble that armed
// it and runs on that bubble's clock only, so a transport shared by
// bubbles, or used outside one after it, would wait on a timer that never
// fires. (The tests use it in bubbles, each with transports of its own.)
type deadlines struct {
	expire func(*attemptCtx) // what a timeout does to its attempt

	mu         sync.Mutex
	head, tail *deadline
	armed      time.Duration // when the pending timer fires, on clock; 0 for none
}

// deadline is one attempt's place in a deadlines queue.
type deadline struct {
	at         atomic.Int64 // the deadline, on clock: atomic, as Err reads it unlocked
	a          *attemptCtx  // the attempt to end while queued; nil once stopped or fired
	prev, next *deadline
}

func (e *deadline) when() time.Duration      { return time.Duration(e.at.Load()) }
func (e *deadline) setWhen(at time.Duration) { e.at.Store(int64(at)) }

// start queues e to end a at e.when(), a clock time the caller set. Its cost
// is a lock and a few pointer writes; it arms the timer only when none is
// pending before it.
func (d *deadlines) start(e *deadline, a *attemptCtx) {
	at := e.when()
	d.mu.Lock()
	e.a = a
	// Deadlines arrive in order but for races between starters: walk back
	// past the few that are later.
	p := d.tail
	for p != nil && p.when() > at {
		p = p.prev
	}
	e.prev = p
	if p == nil {
		e.next, d.head = d.head, e
	} else {
		e.next, p.next = p.next, e
	}
	if e.next == nil {
		d.tail = e
	} else {
		e.next.prev = e
	}
	if d.armed == 0 || at < d.armed {
		d.armLocked(at)
	}
	d.mu.Unlock()
}

// stop takes e out of the queue and reports whether it was still there:
// false means its timeout fired (or is firing).
func (d *deadlines) stop(e *deadline) bool {
	d.mu.Lock()
	queued := e.a != nil
	if queued {
		d.unlinkLocked(e)
	}
	d.mu.Unlock()
	return queued
}

func (d *deadlines) unlinkLocked(e *deadline) {
	if e.prev == nil {
		d.head = e.next
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		d.tail = e.prev
	} else {
		e.next.prev = e.prev
	}
	e.prev, e.next, e.a = nil, nil, nil
}

// armLocked arms a timer for the clock time at. A timer it supersedes still
// fires, harmlessly: it ends what is due and arms nothing while a timer is
// pending.
func (d *deadlines) armLocked(at time.Duration) {
	d.armed = at
	time.AfterFunc(max(at-clock(), 0), func() { d.fire(at) })
}

// fire is the function of the timer armed for at: it ends every timeout
// that is due, outside the lock, and arms the timer for the next one.
func (d *deadlines) fire(at time.Duration) {
	d.mu.Lock()
	if d.armed == at {
		d.armed = 0
	}
	now := clock()
	var due []*attemptCtx
	for e := d.head; e != nil && e.when() <= now; e = d.head {
		due = append(due, e.a)
		d.unlinkLocked(e)
	}
	if d.head != nil && d.armed == 0 {
		d.armLocked(d.head.when())
	}
	d.mu.Unlock()
	for _, a := range due {
		d.expire(a)
	}
}
