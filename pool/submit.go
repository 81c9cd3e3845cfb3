package pool

import (
	"context"
	"fmt"
)

// Submit runs task on a worker. It returns once the task is accepted: handed
// to an idle worker, given a newly started worker, or queued. While the queue
// is full it blocks until there is room, ctx ends (the error wraps ctx.Err()
// and the task will not run) or the pool closes ([ErrClosed]). Submitters
// blocked on a full queue are admitted in FIFO order.
//
// The task's ctx carries ctx's values and deadline but not its cancellation:
// see the package doc. A nil task returns [ErrNilTask]; a nil ctx an error
// matching ion.ErrInvalidConfig; an already-done ctx its error, wrapped.
// Submit with context.Background() allocates nothing.
//
// A task that calls Submit on its own pool can deadlock: if every worker
// does so while the queue is full, none is left to make room. Tasks should
// use [Pool.TrySubmit], or Submit with a ctx that ends.
func (p *Pool) Submit(ctx context.Context, task Task) error {
	switch {
	case task == nil:
		return ErrNilTask
	case ctx == nil:
		return errNilCtx
	case !p.ok:
		return p.Err()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pool: submit: %w", err)
	}
	it := item{ctx: ctx, r: task}
	if ctx == context.Background() {
		it.ctx = nil // the common case, recognised once, here
	}
	return p.submit(ctx, it, true)
}

// TrySubmit is Submit without blocking: when no worker is idle and the queue
// is full it returns [ErrQueueFull] at once, and [ErrClosed] once the pool is
// closed. The task runs with a context derived from the base context only.
// It is safe to call from a task of the same pool.
func (p *Pool) TrySubmit(task Task) error {
	switch {
	case task == nil:
		return ErrNilTask
	case !p.ok:
		return p.Err()
	}
	return p.submit(context.Background(), item{r: task}, false)
}

// submit accepts it (or refuses it) as described for Submit; block selects
// between Submit and TrySubmit. ctx bounds the wait.
func (p *Pool) submit(ctx context.Context, it item, block bool) error {
	now := p.lockStamped(false)
	it.enq = now
	if p.closed {
		p.rejected++
		p.mu.Unlock()
		p.countRejected()
		return ErrClosed
	}
	// Each task in p.ready has an idle worker set aside for it. An idle
	// worker free for this task exists only while the queue is empty (a
	// worker parks only after finding nothing to take, and a freed
	// reservation takes the next queued task), so handing over keeps FIFO
	// order.
	if len(p.idle) > p.ready.len() {
		if p.ready.len() == 0 && p.waking.Load() < p.wakeLimit() {
			w := p.popIdleLocked()
			p.waking.Add(1)
			p.running++
			running := p.running
			p.mu.Unlock()
			w.wake <- it // capacity 1 and empty: the worker consumed its last job before parking
			p.gaugeRunning(running)
			return nil
		}
		// Enough workers are on their way already: the first of them to
		// finish a task takes this one, warm, unless a worker starting
		// meanwhile wakes another for it (see startReady).
		p.ready.pushBack(it)
		p.readyN.Store(int32(p.ready.len()))
		p.wakeReadyLocked() // a worker that started before the store missed it
		queued := p.queue.len() + p.ready.len()
		p.mu.Unlock()
		p.gaugeQueued(queued)
		return nil
	}
	if p.workers-p.exiting < p.size {
		w := p.addWorkerLocked()
		p.running++
		running := p.running
		p.mu.Unlock()
		// Owner: p. Exit: next reports no more work (closed and drained, or
		// shrunk by Resize). Join: p.done, closed by the last worker to exit
		// a closed pool, which Close and Drain wait for.
		go p.work(w, it, noTask)
		p.gaugeRunning(running)
		return nil
	}
	var skip []skipped
	if p.maxWait > 0 && p.queue.len() >= p.qcap {
		p.expireLocked(now, &skip)
		p.refillLocked(now)
	}
	if p.queue.len() < p.qcap {
		p.queue.pushBack(it)
		queued := p.queue.len() + p.ready.len()
		p.mu.Unlock()
		p.flushSkipped(skip)
		p.gaugeQueued(queued)
		return nil
	}
	if !block {
		p.rejected++
		p.mu.Unlock()
		p.flushSkipped(skip)
		p.countRejected()
		return ErrQueueFull
	}
	s := p.getSubmitter()
	s.it = it
	p.blocked.pushBack(s)
	p.mu.Unlock()
	p.flushSkipped(skip)

	select {
	case <-s.ready:
	case <-ctx.Done():
		p.mu.Lock()
		if s.state == waiting {
			p.blocked.remove(s)
			p.rejected++
			p.mu.Unlock()
			p.putSubmitter(s)
			p.countRejected()
			return fmt.Errorf("pool: submit: %w", ctx.Err())
		}
		p.mu.Unlock()
		<-s.ready // decided while we were cancelled: the token is already sent
	}
	state := s.state // written under mu before the token was sent
	p.putSubmitter(s)
	if state == refused {
		p.countRejected()
		return ErrClosed
	}
	return nil
}

func (p *Pool) getSubmitter() *submitter {
	if s, ok := p.blockPool.Get().(*submitter); ok {
		return s
	}
	return &submitter{ready: make(chan struct{}, 1)}
}

func (p *Pool) putSubmitter(s *submitter) {
	*s = submitter{ready: s.ready} // state back to waiting, references dropped
	p.blockPool.Put(s)
}

// decideLocked settles a blocked submitter; must be called with p.mu held.
// The buffered send never blocks: each submitter is decided once.
func decideLocked(s *submitter, st submitState) {
	s.state = st
	s.ready <- struct{}{}
}
