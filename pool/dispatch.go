package pool

import "time"

// wakeLimit is the number of workers that may be on their way to a task at
// once: GOMAXPROCS, and at least 2 (see the package doc, "Waking parked
// workers").
func (p *Pool) wakeLimit() int32 { return max(2, p.procs.Load()) }

// popIdleLocked removes and returns the most recently parked worker; there
// must be one. Must be called with p.mu held.
func (p *Pool) popIdleLocked() *worker {
	n := len(p.idle) - 1
	w := p.idle[n]
	p.idle[n] = nil
	p.idle = p.idle[:n]
	return w
}

// wakeReadyLocked hands tasks of p.ready to idle workers while fewer than
// wakeLimit are waking (every worker when the pool is closed: nothing else
// will take them). Must be called with p.mu held; the sends do not block.
func (p *Pool) wakeReadyLocked() {
	for p.ready.len() > 0 && (p.closed || p.waking.Load() < p.wakeLimit()) {
		w := p.popIdleLocked()
		p.waking.Add(1)
		p.running++
		w.wake <- p.ready.popFront()
	}
	p.readyN.Store(int32(p.ready.len()))
}

// startReady is called by a worker woken with a task, as it starts: one
// more worker may now be woken for the tasks in p.ready. The decrement of
// waking and the load of readyN pair with the store of readyN and the load of
// waking in submit: one side or the other sees the task.
func (p *Pool) startReady() {
	p.waking.Add(-1)
	if p.readyN.Load() > 0 {
		p.mu.Lock()
		p.wakeReadyLocked()
		p.mu.Unlock()
	}
}

// takeLocked removes the next task to run into *dst and reports whether
// there was one: a task set aside for an idle worker first, then the queue
// in the configured order, or, with an empty queue, the first blocked
// submitter's (the hand-off of a zero-size queue). Queued tasks met on the
// way that must not run (expired, or shed by CoDel) go to *skip. It writes
// the task in place: the worker's loop is the pool's hottest path, and an
// item is six words. Must be called with p.mu held.
func (p *Pool) takeLocked(now int64, skip *[]skipped, dst *item) bool {
	if p.ready.len() > 0 {
		// Older than anything queued: they were accepted while idle
		// workers were set aside for them.
		p.ready.popFrontTo(dst)
		p.releaseReservationLocked(now, skip)
		return true
	}
	return p.takeQueuedLocked(now, skip, dst)
}

// releaseReservationLocked is called when a task of p.ready is no longer
// there for the idle worker set aside for it (another worker took it, or
// its caller withdrew it): that worker is free again, so the next task to
// run, if one is queued or blocked, is set aside for it. This keeps the
// submit path's premise that an idle worker free for a new task exists only
// while nothing is queued. Must be called with p.mu held.
func (p *Pool) releaseReservationLocked(now int64, skip *[]skipped) {
	var it item
	if p.takeQueuedLocked(now, skip, &it) {
		p.ready.pushBack(it)
		p.wakeReadyLocked()
	}
	p.readyN.Store(int32(p.ready.len()))
}

// takeQueuedLocked is takeLocked without p.ready.
func (p *Pool) takeQueuedLocked(now int64, skip *[]skipped, dst *item) bool {
	if p.maxWait > 0 && p.queue.len() > 0 {
		p.expireLocked(now, skip)
		p.refillLocked(now)
	}
	for p.queue.len() > 0 {
		// The newest task first from lifoAt on (see New): LIFO, or a
		// backlog under adaptive LIFO. Both ends of the ring are O(1).
		if p.queue.len() >= p.lifoAt {
			p.queue.popBackTo(dst)
		} else {
			p.queue.popFrontTo(dst)
		}
		if !p.blocked.empty() {
			p.refillLocked(now)
		}
		if p.codel.Target > 0 && p.shedLocked(now, dst, skip) {
			continue
		}
		return true
	}
	if s := p.blocked.popFront(); s != nil {
		*dst = s.it
		decideLocked(s, accepted)
		return true
	}
	return false
}

// shedLocked records with CoDel the wait of it, just taken from the queue,
// and, if CoDel says the queue is standing and it waited too long, moves it
// to *skip and reports true. A task submitted between the caller's clock
// read and its lock has a negative wait: it counts as none. Must be called
// with p.mu held.
func (p *Pool) shedLocked(now int64, it *item, skip *[]skipped) bool {
	wait := time.Duration(max(0, now-it.enq))
	if !p.codel.Drop(p.epoch.Add(time.Duration(now)), wait) {
		return false
	}
	*skip = append(*skip, skipped{it: *it, shedAfter: wait, target: p.codel.Target})
	*it = item{} // the caller's buffer must not keep it alive
	p.shed++
	return true
}

// refillLocked moves blocked submitters into free queue slots, oldest
// first; must be called with p.mu held.
func (p *Pool) refillLocked(now int64) {
	for !p.blocked.empty() && p.queue.len() < p.qcap {
		s := p.blocked.popFront()
		s.it.enq = now
		p.queue.pushBack(s.it)
		decideLocked(s, accepted)
	}
}

// expireLocked moves the queued tasks whose wait passed the limit to *out;
// must be called with p.mu held. The front of the queue is always its oldest
// task, whatever order workers take tasks in, so only the front needs
// looking at.
func (p *Pool) expireLocked(now int64, out *[]skipped) {
	limit := int64(p.maxWait)
	for p.queue.len() > 0 && now-p.queue.at(0).enq > limit {
		*out = append(*out, skipped{it: p.queue.popFront()})
		p.expired++
	}
}
