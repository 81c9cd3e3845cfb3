package pool

import (
	"context"
	"time"
)

// item is one accepted (or offered) task. It is stored by value in the queue
// and handed to a parked worker through its channel, so a fire-and-forget
// submission allocates nothing; it is kept small because it is copied on
// both paths.
type item struct {
	ctx      context.Context // the submitter's ctx (values, deadline), or nil for context.Background(); attached: the task ctx
	r        runner          // a Task, a Future of Go, or a call of Policy
	enq      int64           // when it entered the queue, in ns since the pool's epoch; set only when stamping
	attached bool            // ctx is the task ctx, cancelled by the Policy caller (see taskContext)
}

// empty reports whether it carries no work: a worker woken with an empty job
// exits.
func (it *item) empty() bool { return it.r == nil }

// submitterCtx returns the ctx the task was submitted with.
func (it *item) submitterCtx() context.Context {
	if it.ctx == nil {
		return context.Background()
	}
	return it.ctx
}

// skipped is a queued task that a look at the queue found must not run: it
// expired, or CoDel shed it. It is reported after the lock is released.
type skipped struct {
	it        item
	shedAfter time.Duration // how long a shed task waited; 0 for an expired one (a shed one waited more than CoDel's target)
	target    time.Duration // CoDel's target when it shed the task
}

// deque is a growable ring buffer of items: FIFO pops the front, LIFO the
// back (both O(1)), expiry always inspects the front (the oldest). It grows
// by doubling up to the pool's queue size, so a huge queueSize costs memory
// only when used.
// It is not safe for concurrent use; the pool guards it with its mutex.
type deque struct {
	buf  []item
	head int // index of the front item in buf
	n    int // number of items
}

func (q *deque) len() int { return q.n }

// at returns the i-th item from the front; 0 <= i < q.n.
func (q *deque) at(i int) *item {
	j := q.head + i
	if j >= len(q.buf) {
		j -= len(q.buf)
	}
	return &q.buf[j]
}

// pushBack appends it, growing the buffer if it is full.
func (q *deque) pushBack(it item) {
	if q.n == len(q.buf) {
		q.grow()
	}
	*q.at(q.n) = it
	q.n++
}

func (q *deque) grow() {
	buf := make([]item, max(8, 2*len(q.buf)))
	for i := range q.n {
		buf[i] = *q.at(i)
	}
	q.buf, q.head = buf, 0
}

// popFront removes and returns the front item; q must not be empty.
func (q *deque) popFront() item {
	var it item
	q.popFrontTo(&it)
	return it
}

// popFrontTo moves the front item to *dst; q must not be empty.
func (q *deque) popFrontTo(dst *item) {
	p := q.at(0)
	*dst = *p
	*p = item{} // release references for the garbage collector
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
	}
	q.n--
}

// popBackTo moves the back item to *dst; q must not be empty.
func (q *deque) popBackTo(dst *item) {
	p := q.at(q.n - 1)
	*dst = *p
	*p = item{}
	q.n--
}

// removeCall removes the item whose runner is c and reports whether it was
// there. It shifts the items behind it forward: O(n), used only when a
// Policy caller gives up on a queued call.
func (q *deque) removeCall(c runner) bool {
	for i := range q.n {
		if q.at(i).r != c {
			continue
		}
		for j := i; j < q.n-1; j++ {
			*q.at(j) = *q.at(j + 1)
		}
		*q.at(q.n - 1) = item{}
		q.n--
		return true
	}
	return false
}

// drain removes and returns every item, front first.
func (q *deque) drain() []item {
	out := make([]item, 0, q.n)
	for q.n > 0 {
		out = append(out, q.popFront())
	}
	return out
}

// submitter is a goroutine blocked in Submit (or Policy) because the queue is
// full. It is linked into the pool's FIFO list and recycled through a
// sync.Pool so that blocking allocates nothing in the steady state.
type submitter struct {
	it         item
	ready      chan struct{} // capacity 1; receives one token when state leaves waiting
	state      submitState   // guarded by the pool's mu
	prev, next *submitter    // guarded by the pool's mu
}

type submitState uint8

const (
	waiting  submitState = iota // in the list, not yet decided
	accepted                    // its item was queued or handed to a worker
	refused                     // the pool closed first
)

// submitters is an intrusive doubly linked FIFO list of blocked submitters.
type submitters struct {
	head, tail *submitter
	n          int
}

func (l *submitters) empty() bool { return l.head == nil }

func (l *submitters) pushBack(s *submitter) {
	l.n++
	s.prev, s.next = l.tail, nil
	if l.tail == nil {
		l.head = s
	} else {
		l.tail.next = s
	}
	l.tail = s
}

func (l *submitters) remove(s *submitter) {
	l.n--
	if s.prev == nil {
		l.head = s.next
	} else {
		s.prev.next = s.next
	}
	if s.next == nil {
		l.tail = s.prev
	} else {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
}

func (l *submitters) popFront() *submitter {
	s := l.head
	if s != nil {
		l.remove(s)
	}
	return s
}
