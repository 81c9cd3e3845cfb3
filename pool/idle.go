package pool

import "time"

// armSweepLocked starts a sweep period: when it ends, the workers idle since
// before it began exit. Must be called with p.mu held.
func (p *Pool) armSweepLocked() {
	p.period++
	p.sweepArmed = true
	if p.sweeper == nil {
		gen := p.sweepGen
		p.sweeper = time.AfterFunc(p.idleTimeout, func() { p.sweep(gen) })
		return
	}
	p.sweeper.Reset(p.idleTimeout)
}

// discardSweepLocked stops the sweeper for good, for a new idle timeout: a
// callback of it that has already started (it fired, and waits for mu) finds
// sweepGen changed and does nothing. The next armSweepLocked makes a new
// sweeper. Must be called with p.mu held.
func (p *Pool) discardSweepLocked() {
	if p.sweeper != nil {
		p.sweeper.Stop()
		p.sweeper = nil
	}
	p.sweepArmed = false
	p.sweepGen++
}

// sweep runs on the timer's goroutine at the end of a sweep period: it
// tells every worker that has been idle for the whole period (so for at
// least the idle timeout) to exit, and starts another period while workers
// are still idle. p.idle is ordered by the time each worker parked, oldest
// first (workers are taken from the back), so those are a prefix of it. The
// workers set aside for tasks in p.ready are kept, from the back. gen is
// the sweepGen of the sweeper that fired: a discarded sweeper's call does
// nothing.
func (p *Pool) sweep(gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.sweepGen {
		return
	}
	p.sweepArmed = false
	if p.closed {
		return
	}
	n := 0
	for n < len(p.idle)-p.ready.len() && p.idle[n].parkedAt < p.period {
		n++
	}
	for _, w := range p.idle[:n] {
		p.exiting++
		w.wake <- item{} // capacity 1 and empty: an idle worker has consumed its last job
	}
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	if len(p.idle) > 0 {
		p.armSweepLocked()
	}
}
