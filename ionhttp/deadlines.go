package ionhttp

import (
	"sync"
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
// A goroutine inside a synctest bubble must not use it: its timer would
// belong to the bubble that armed it, and a bubble's timers run on the
// bubble's clock only. Such attempts arm a timer each (see
// attemptCtx.armLocked).
type deadlines struct {
	expire func(*attemptCtx) // what a timeout does to its attempt

	mu         sync.Mutex
	head, tail *deadline
	armed      time.Duration // when the pending timer fires, on clock; 0 for none
}

// deadline is one attempt's place in a deadlines queue.
type deadline struct {
	at         time.Duration // on clock
	a          *attemptCtx   // the attempt to end
	prev, next *deadline
	queued     bool // in the queue: neither stopped nor fired
}

// start queues e to end a at the clock time at. Its cost is a lock and a
// few pointer writes; it arms the timer only when none is pending before
// at.
func (d *deadlines) start(e *deadline, a *attemptCtx, at time.Duration) {
	e.at, e.a = at, a
	d.mu.Lock()
	// Deadlines arrive in order but for races between starters: walk back
	// past the few that are later.
	p := d.tail
	for p != nil && p.at > at {
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
	e.queued = true
	if d.armed == 0 || at < d.armed {
		d.armLocked(at)
	}
	d.mu.Unlock()
}

// stop takes e out of the queue and reports whether it was still there:
// false means its timeout fired (or is firing).
func (d *deadlines) stop(e *deadline) bool {
	d.mu.Lock()
	queued := e.queued
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
	e.prev, e.next, e.queued = nil, nil, false
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
	for e := d.head; e != nil && e.at <= now; e = d.head {
		due = append(due, e.a)
		d.unlinkLocked(e)
	}
	if d.head != nil && d.armed == 0 {
		d.armLocked(d.head.at)
	}
	d.mu.Unlock()
	for _, a := range due {
		d.expire(a)
	}
}
