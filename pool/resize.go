package pool

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/ionkit/ion"
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
	var now int64
	if p.stamp {
		now = p.now()
	}
	type start struct {
		w  *worker
		it item
	}
	var starts []start
	var skip []skipped
	p.mu.Lock()
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
