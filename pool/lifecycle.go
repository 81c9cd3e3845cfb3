package pool

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
)

// Close shuts p down: it stops intake at once (every later submission
// returns [ErrClosed], and so do submitters blocked on a full queue), lets
// the workers run every task already accepted, and waits until they have
// exited. It then returns 0 and nil, once every task has been run or
// reported: a task found expired or shed on the way (see
// [WithMaxQueueWait], [WithCoDel]) has been reported to its caller or to the
// discard handler before Close returns.
//
// If ctx ends first, Close forces the shutdown: it cancels the context of
// every running task, [Policy] calls included (with cause ErrClosed: see
// Policy for the error its callers get), removes every queued task and
// reports each one (to its [Go] or [Policy] caller, or to the handler of
// [WithDiscardHandler]) with an error matching ErrClosed that wraps
// ctx.Err(), and returns how many it removed with an error wrapping
// ctx.Err(). It does not wait for tasks that ignore their context: their
// workers exit as soon as they return, take no further task, and are counted
// by Snapshot.Running; a later Close or Drain waits for them.
//
// Close is idempotent: every call waits as above and only the call that
// removes tasks reports them. It is safe to call from a task of p with the
// task's ctx (or a ctx derived from it): it then waits for every other task,
// not for its caller, whose worker exits when the task returns. The pool
// recognises its tasks by their ctx alone (Go gives goroutines no identity),
// so a task that calls Close with an unrelated ctx, such as
// context.Background(), waits for itself: it deadlocks unless that ctx ends.
// Close starts no goroutine and, once it has returned nil, p has none left.
func (p *Pool) Close(ctx context.Context) (int, error) {
	if !p.ok {
		return 0, p.Err()
	}
	if ctx == nil {
		return 0, errNilCtx
	}
	err := p.shutdown(ctx)
	if err == nil {
		return 0, nil
	}
	n := p.force(ctx.Err())
	return n, fmt.Errorf("pool: close: %d accepted tasks not run: %w", n, err)
}

// Drain is the gentle form of Close: it stops intake at once and waits, with
// no polling, until every accepted task has run and the workers have exited.
// If ctx ends first it returns an error wrapping ctx.Err() and leaves the
// pool draining: nothing is cancelled or discarded, and a later Close or
// Drain can wait again (Close with a done ctx forces the end). Drain is safe
// to call from a task of p with the task's ctx, like Close.
func (p *Pool) Drain(ctx context.Context) error {
	if !p.ok {
		return p.Err()
	}
	if ctx == nil {
		return errNilCtx
	}
	if err := p.shutdown(ctx); err != nil {
		return fmt.Errorf("pool: drain: %w", err)
	}
	return nil
}

// Wait blocks until p is idle, without closing it: no task queued, running
// or blocked waiting for room. It returns nil at once if p is idle, and an
// error wrapping ctx.Err() if ctx ends first. Called from a task of p with
// the task's ctx (see Close), it waits for the other tasks only (tasks that
// are themselves in Wait, Close or Drain do not count). New submissions may make p busy again as soon as Wait
// returns.
func (p *Pool) Wait(ctx context.Context) error {
	if !p.ok {
		return p.Err()
	}
	if ctx == nil {
		return errNilCtx
	}
	self := p.ownsCtx(ctx)
	p.mu.Lock()
	if err := p.awaitQuietLocked(ctx, self); err != nil {
		return fmt.Errorf("pool: wait: %w", err)
	}
	return nil
}

// shutdown closes intake and waits for the end as described for Close,
// returning ctx.Err() if ctx ends first.
func (p *Pool) shutdown(ctx context.Context) error {
	self := p.ownsCtx(ctx)
	p.mu.Lock()
	p.closeLocked()
	if self {
		// Called from one of our tasks: the caller's own worker cannot exit
		// before the task returns, so wait for the others only.
		return p.awaitQuietLocked(ctx, true)
	}
	p.mu.Unlock()
	select {
	case <-p.done: // checked first: a done ctx must not hide a finished pool
	default:
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Every worker has exited. The last one released runCtx; do it here too
	// for a pool that never started a worker.
	p.cancelRun(ErrClosed)
	return nil
}

// closeLocked stops intake (once): blocked submitters are refused and idle
// workers told to exit. Must be called with p.mu held.
func (p *Pool) closeLocked() {
	if p.closed {
		return
	}
	p.closed = true
	if p.sweeper != nil {
		p.sweeper.Stop()
		p.sweepArmed = false
	}
	for s := p.blocked.popFront(); s != nil; s = p.blocked.popFront() {
		p.rejected++
		decideLocked(s, refused)
	}
	// Idle workers take the tasks set aside for them; the others exit (a
	// free idle worker exists only while nothing is queued).
	p.wakeReadyLocked()
	for i, w := range p.idle {
		p.exiting++
		w.wake <- item{}
		p.idle[i] = nil
	}
	p.idle = p.idle[:0]
	if p.workers == 0 {
		p.closeDoneLocked()
	}
}

// awaitQuietLocked waits until quietLocked(self) holds or ctx ends; it must
// be called with p.mu held and returns with it released.
func (p *Pool) awaitQuietLocked(ctx context.Context, self bool) error {
	if self {
		p.selfWaiting++
		defer func() {
			p.mu.Lock()
			p.selfWaiting--
			p.mu.Unlock()
		}()
		// Our arrival may complete another waiting task's condition.
		if len(p.watchers) > 0 && p.quietLocked(true) {
			p.notifyLocked()
		}
	}
	for !p.quietLocked(self) {
		ch := make(chan struct{})
		p.watchers = append(p.watchers, ch)
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			if i := slices.Index(p.watchers, ch); i >= 0 {
				p.watchers = slices.Delete(p.watchers, i, i+1)
			}
			p.mu.Unlock()
			return ctx.Err()
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	return nil
}

func (p *Pool) closeDoneLocked() {
	if !p.doneClosed {
		p.doneClosed = true
		close(p.done)
	}
}

// notifyLocked wakes every goroutine waiting in Close, Drain or Wait to
// re-check its condition; must be called with p.mu held.
func (p *Pool) notifyLocked() {
	for i, ch := range p.watchers {
		close(ch)
		p.watchers[i] = nil
	}
	p.watchers = p.watchers[:0]
}

// notifyIfQuiet wakes the goroutines waiting in Close, Drain or Wait if p
// has gone quiet without a task ending: a worker found the last queued tasks
// expired or shed, and parked.
func (p *Pool) notifyIfQuiet() {
	p.mu.Lock()
	if len(p.watchers) > 0 && p.quietLocked(true) {
		p.notifyLocked()
	}
	p.mu.Unlock()
}

// quietLocked reports whether nothing is queued, blocked or running, not
// counting, when self is set, the tasks that are themselves waiting in
// Close, Drain or Wait. Must be called with p.mu held.
func (p *Pool) quietLocked(self bool) bool {
	if p.queue.len() > 0 || p.ready.len() > 0 || !p.blocked.empty() {
		return false
	}
	return p.running == 0 || self && p.running <= p.selfWaiting
}

// force ends a shutdown whose ctx ended: it removes and reports every queued
// task, cancels the running ones, and returns how many it removed.
func (p *Pool) force(cause error) int {
	p.mu.Lock()
	items := p.queue.drain()
	p.discarded += uint64(len(items))
	p.mu.Unlock()
	p.cancelRun(ErrClosed)
	if len(items) == 0 {
		return 0
	}
	err := fmt.Errorf("%w before the task ran: %w", ErrClosed, cause)
	for i := range items {
		p.discard(&items[i], err)
	}
	if p.inst != nil {
		p.inst.discarded.Add(int64(len(items)))
		p.inst.queued.Set(0)
	}
	if p.cfg.logger != nil {
		p.cfg.logger.Log(context.Background(), slog.LevelWarn, "pool: close forced; queued tasks discarded",
			slog.String("name", p.cfg.name), slog.Int("discarded", len(items)), slog.Any("cause", cause))
	}
	return len(items)
}
