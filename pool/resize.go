package pool

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/contend"
)

// Resize sets the number of workers to n. Growing starts workers at once for
// queued tasks and blocked submitters, which are admitted as the new workers
// take tasks; further workers start on demand. Shrinking stops idle workers
// at once and lets running tasks finish: their workers exit afterwards, so
// Running may exceed the new size until they do.
//
// n <= 0 returns an error matching ion.ErrInvalidConfig and changes nothing;
// a closed pool returns [ErrClosed]. Resize does not block.
func (p *Pool) Resize(n int) error {
	if !p.ok {
		return p.Err()
	}
	if n <= 0 {
		return ion.NewConfigError("pool", "n", "Resize: must be positive, got %d", n)
	}
	type start struct {
		w  *worker
		it item
	}
	var starts []start
	var skip []skipped
	now := p.lockStamped(false)
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	old := p.size
	p.size = n
	p.procs.Store(int32(runtime.GOMAXPROCS(0)))
	for p.workers-p.exiting > p.size && len(p.idle) > p.ready.len() {
		w := p.popIdleLocked()
		p.exiting++
		w.wake <- item{}
	}
	for p.workers-p.exiting < p.size {
		var it item
		if !p.takeLocked(now, &skip, &it) {
			break
		}
		p.running++
		starts = append(starts, start{p.addWorkerLocked(), it})
	}
	p.mu.Unlock()
	for _, s := range starts {
		// Owner: p. Exit and join: as for every worker (see submit).
		go p.work(s.w, s.it, noTask)
	}
	p.flushSkipped(skip)
	if p.inst != nil {
		p.inst.size.Set(float64(n))
	}
	if p.cfg.logger != nil && old != n {
		p.cfg.logger.Log(context.Background(), slog.LevelInfo, "pool: resized",
			slog.String("name", p.cfg.name), slog.Int("from", old), slog.Int("to", n))
	}
	return nil
}

// SetQueueSize sets the queue's capacity to n, keeping the tasks queued and
// the submitters blocked, for a live reconfiguration.
//
// Growing admits blocked submitters into the new room at once, oldest
// first, as a worker taking a task would. Shrinking never drops or rejects
// a task already accepted: the tasks queued beyond the new size stay queued
// and run (or expire, or are shed) as usual, and until the queue is below
// n again a new [Pool.Submit] blocks, [Pool.TrySubmit] returns
// [ErrQueueFull], and blocked submitters stay blocked. [Pool.Snapshot]'s
// Queued may therefore exceed its QueueSize for a while. A size of 0 makes
// every later submission a hand-off, once the queued tasks have been taken.
//
// n < 0 returns an error matching ion.ErrInvalidConfig that names n and
// changes nothing; a closed pool returns [ErrClosed]. SetQueueSize does not
// block beyond the pool's short critical section; it allocates only when
// admitting blocked submitters grows the queue's buffer.
func (p *Pool) SetQueueSize(n int) error {
	if !p.ok {
		return p.Err()
	}
	if n < 0 {
		return ion.NewConfigError("pool", "n", "SetQueueSize: must not be negative, got %d", n)
	}
	now := p.lockStamped(false)
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	old := p.qcap
	p.qcap = n
	// No worker is idle and free while submitters are blocked (they
	// would have taken the task), so the admitted tasks wait for a
	// worker that finishes, as any queued task does.
	p.refillLocked(now)
	queued := p.queue.len() + p.ready.len()
	p.mu.Unlock()
	p.gaugeQueued(queued)
	if p.cfg.logger != nil && old != n {
		p.cfg.logger.Log(context.Background(), slog.LevelInfo, "pool: queue resized",
			slog.String("name", p.cfg.name), slog.Int("from", old), slog.Int("to", n))
	}
	return nil
}

// lockStamped locks p.mu and returns the time of the operation that takes
// it, or 0 when the pool keeps no timestamps (no max queue wait, no CoDel).
// The clock is read before the lock, to keep it out of the critical
// section, and again under it if a Reconfigure turned the timestamps on
// meanwhile. spin is for the workers' lock (see next): with it, a held
// mutex is tried a few times, for well under a microsecond, before the
// caller sleeps on it, because sync.Mutex does not spin while a submitter
// waits for the same processor; that cut the time per task of two
// submitters and two workers on two cores by two thirds. Submitters do not
// spin: it made hand-offs slower (see contend.LockSpinning).
func (p *Pool) lockStamped(spin bool) (now int64) {
	stamp := p.stamp.Load()
	if stamp {
		now = p.now()
	}
	if spin {
		contend.LockSpinning(&p.mu)
	} else {
		p.mu.Lock()
	}
	if !stamp && p.stamp.Load() {
		now = p.now()
	}
	return now
}
