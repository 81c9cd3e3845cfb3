package pool

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// worker is the state of one worker goroutine.
type worker struct {
	wake     chan item // capacity 1; receives the next job (an empty job means exit)
	parkedAt uint64    // p.period when the worker last parked; guarded by p.mu
	skipped  []skipped // reused buffer of queued tasks found expired or shed; owned by the worker goroutine
}

// outcome is how a worker's previous task ended, accounted by next.
type outcome uint8

const (
	noTask outcome = iota
	completed
	failed
	panicked
	discarded // not run: its ctx was done when a worker took it
)

// addWorkerLocked registers a new worker; must be called with p.mu held.
// The caller starts its goroutine.
func (p *Pool) addWorkerLocked() *worker {
	w := &worker{wake: make(chan item, 1)}
	p.workers++
	return w
}

// exitLocked unregisters w, whose goroutine is about to return; must be
// called with p.mu held. It reports whether w was the last worker of a
// closed pool, in which case the caller must call p.cancelRun after
// unlocking (the context package runs no user code, but it takes locks of
// its own).
func (p *Pool) exitLocked() (last bool) {
	p.workers--
	p.notifyLocked()
	if p.closed && p.workers == 0 {
		p.closeDoneLocked()
		return true
	}
	return false
}

// exitUnlock unregisters w, whose goroutine is about to return, and releases the
// run context after the last worker of a closed pool: no task is left to use
// it, and a task that kept its ctx sees it cancelled. Must be called with
// p.mu held; it unlocks.
func (p *Pool) exitUnlock(w *worker) {
	last := p.exitLocked()
	p.mu.Unlock()
	if last {
		p.cancelRun(ErrClosed)
	}
}

// work is the body of a worker goroutine: run it (unless empty), then every
// task next hands over, until next says exit. fin is the outcome of a task
// not yet accounted (after a Goexit). It parks here rather than in next so
// that a woken worker resumes in a small frame and receives its task straight
// into it: with many workers, each resume touches a cold stack.
func (p *Pool) work(w *worker, it item, fin outcome) {
	if !it.empty() {
		fin = p.run(w, &it)
	}
	for {
		switch p.next(w, fin, &it) {
		case parked:
			if it = <-w.wake; it.empty() {
				p.mu.Lock()
				p.exiting--
				p.exitUnlock(w)
				return
			}
			if p.cfg.startHook != nil {
				p.cfg.startHook()
			}
			p.startReady()
		case exited:
			return
		}
		fin = p.run(w, &it)
	}
}

// step is what next did with a worker.
type step uint8

const (
	took   step = iota // *it holds the next task
	parked             // w is in p.idle: its next task comes through w.wake
	exited             // w is unregistered and its goroutine must return
)

// next accounts the outcome of w's previous task and finds w's next task.
// w exits when the pool is closed and drained, or has more workers than its
// size.
func (p *Pool) next(w *worker, fin outcome, it *item) step {
	now := p.lockStamped(true)
	switch fin {
	case completed:
		p.completed++
		p.running--
	case failed:
		p.failed++
		p.running--
	case panicked:
		p.panicked++
		p.running--
	case discarded:
		p.discarded++
		p.running--
	}
	if len(p.watchers) > 0 && p.quietLocked(true) {
		p.notifyLocked()
	}
	if p.workers-p.exiting > p.size {
		p.exitUnlock(w)
		return exited
	}
	st := took
	if p.takeLocked(now, &w.skipped, it) {
		p.running++
		if p.inst != nil {
			queued, running := p.queue.len()+p.ready.len(), p.running
			defer func() {
				p.inst.queued.Set(float64(queued))
				p.inst.running.Set(float64(running))
			}()
		}
		p.mu.Unlock()
	} else if p.closed {
		if len(w.skipped) > 0 {
			// Report before unregistering: once the last worker has
			// exited, Close returns, and every report must have been
			// delivered by then. Nothing can be queued meanwhile: intake
			// is closed.
			p.mu.Unlock()
			p.flushWorkerSkipped(w)
			p.mu.Lock()
		}
		p.exitUnlock(w)
		st = exited
	} else {
		w.parkedAt = p.period
		p.idle = append(p.idle, w)
		if !p.sweepArmed && p.idleTimeout > 0 {
			p.armSweepLocked()
		}
		if p.inst != nil {
			running := p.running
			defer p.gaugeRunning(running)
		}
		p.mu.Unlock()
		st = parked
	}
	if len(w.skipped) > 0 {
		p.flushWorkerSkipped(w)
		if st == parked {
			// The tasks skipped may have been the last: no task of
			// this worker will end and notify the waiters of Wait, so
			// notify them here, once the reports they must see are
			// delivered.
			p.notifyIfQuiet()
		}
	}
	return st
}

// run runs one task on w's goroutine and reports its result. A panic is
// recovered into a *ion.PanicError. runtime.Goexit cannot be stopped: the
// deferred function reports the task as panicked and starts a replacement
// goroutine for w, which accounts the task and carries on, so the pool
// neither hangs nor loses a worker.
func (p *Pool) run(w *worker, it *item) (out outcome) {
	var (
		release  context.CancelFunc
		span     observe.Span
		returned bool
	)
	// Deferred first, so that a panic in a sink (the tracer, the histogram)
	// is contained like one in the task.
	defer func() {
		if returned {
			return
		}
		r := recover()
		var pe *ion.PanicError
		if r != nil {
			pe = ion.NewPanicError(r)
		} else {
			pe = &ion.PanicError{Value: errGoexit, Stack: debug.Stack()}
		}
		if release != nil {
			release()
		}
		p.report(it, span, pe, panicked)
		if r == nil {
			// Owner: p. Exit and join: as for every worker (see submit).
			// It replaces this goroutine, which Goexit is ending.
			go p.work(w, item{}, panicked)
		}
		out = panicked
	}()
	if p.inst != nil {
		p.inst.wait.Observe(time.Duration(p.now() - it.enq).Seconds())
	}
	var ctx context.Context
	ctx, release = p.taskContext(it)
	select {
	case <-ctx.Done():
		// Not started yet: one rule for every path, with or without a task
		// policy (see the package doc, "Task context").
		returned = true
		err := notRun(ctx)
		if release != nil {
			release()
		}
		p.discard(it, err)
		if p.inst != nil {
			p.inst.discarded.Add(1)
		}
		return discarded
	default:
	}
	if p.cfg.tracer != nil && !it.attached {
		ctx, span = p.cfg.tracer.Start(ctx, "pool.task")
	}
	fnPanicked, err := it.r.exec(ctx, p.cfg.taskPol)
	returned = true
	if release != nil {
		release()
	}
	out = completed
	if err != nil {
		out = failed
		// A task policy that runs the task on goroutines of its own (Hedge,
		// an abandoning Timeout) recovers the task's panic there and
		// returns it as an error: it is still the task's panic.
		var pe *ion.PanicError
		if fnPanicked && errors.As(err, &pe) {
			out = panicked
		}
	}
	p.report(it, span, err, out)
	return out
}

// report delivers a finished task's result: the panic handler and logger
// first (so a caller that receives the panic sees their effects), then the
// caller, the span and the counters. It runs on the worker without the lock.
func (p *Pool) report(it *item, span observe.Span, err error, out outcome) {
	if out == panicked {
		var pe *ion.PanicError
		errors.As(err, &pe)
		if p.cfg.logger != nil {
			p.cfg.logger.Log(context.Background(), slog.LevelError, "pool: task panicked",
				slog.String("name", p.cfg.name), slog.Any("panic", pe.Value), slog.String("stack", string(pe.Stack)))
		}
		if h := p.cfg.onPanic; h != nil {
			p.safely("panic handler", func() { h(pe) })
		}
	}
	it.r.finish(err)
	if span != nil {
		switch out {
		case completed:
			span.End("success", nil)
		default:
			span.End("failure", err)
		}
	}
	if p.inst != nil {
		switch out {
		case completed:
			p.inst.completed.Add(1)
		case failed:
			p.inst.failed.Add(1)
		case panicked:
			p.inst.panicked.Add(1)
		}
	}
}

// flushWorkerSkipped reports the tasks w found expired or shed and empties
// its buffer. It runs on w's goroutine, without the lock, while w is still
// registered (so that Close waits for the reports).
func (p *Pool) flushWorkerSkipped(w *worker) {
	if len(w.skipped) > 0 {
		p.flushSkipped(w.skipped)
		clear(w.skipped)
		w.skipped = w.skipped[:0]
	}
}

// flushSkipped reports the tasks in skip as expired (ErrExpired) or shed (an
// error matching ErrShed). It runs without the lock.
func (p *Pool) flushSkipped(skip []skipped) {
	for i := range skip {
		s := &skip[i]
		if s.shedAfter == 0 {
			p.discard(&s.it, ErrExpired)
			if p.inst != nil {
				p.inst.expired.Add(1)
			}
			continue
		}
		p.discard(&s.it, &shedError{wait: s.shedAfter, target: s.target})
		if p.inst != nil {
			p.inst.shed.Add(1)
		}
	}
}

// discard reports that it will not run, with err, to its caller or to the
// discard handler. It runs without the lock.
func (p *Pool) discard(it *item, err error) {
	t, ok := it.r.(Task)
	if !ok {
		it.r.finish(err)
		return
	}
	if h := p.cfg.onDiscard; h != nil {
		p.safely("discard handler", func() { h(it.submitterCtx(), t, err) })
	}
}

// safely calls the hook fn, recovering and logging a panic in it so that a
// faulty hook can neither kill a worker nor lose the reports after it.
func (p *Pool) safely(hook string, fn func()) {
	defer func() {
		if r := recover(); r != nil && p.cfg.logger != nil {
			p.cfg.logger.Log(context.Background(), slog.LevelError, "pool: "+hook+" panicked",
				slog.String("name", p.cfg.name), slog.Any("panic", r))
		}
	}()
	fn()
}
