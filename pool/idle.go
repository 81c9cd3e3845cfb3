package pool

import "time"

// armSweepLocked starts a sweep period: when it ends, the workers idle since
// before it began exit. Must be called with p.mu held.
func (p *Pool) armSweepLocked() {
	p.period++
	p.sweepArmed = true
	if p.sweeper == nil {
		p.sweeper = time.AfterFunc(p.cfg.idle, p.sweep)
		return
	}
	p.sweeper.Reset(p.cfg.idle)
}

// sweep runs on the timer's goroutine at the end of a sweep period: it
// tells every worker that has been idle for the whole period (so for at
// least the idle timeout) to exit, and starts another period while workers
// are still idle. p.idle is ordered by the time each worker parked, oldest
// first (workers are taken from the back), so those are a prefix of it. The
// workers set aside for tasks in p.ready are kept, from the back.
func (p *Pool) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
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
