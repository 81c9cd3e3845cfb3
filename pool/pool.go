package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
	"github.com/ionkit/ion/internal/spin"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Task is a unit of work run by a worker of a [Pool]. Its ctx is the task
// context described in the package doc; it should honour it. Its error is
// counted as a failure; it is not returned to the submitter (use [Go] or
// [Policy] to get a result back).
type Task func(ctx context.Context) error

// exec and finish make a Task a runner; a Task reports to no caller.
func (t Task) exec(ctx context.Context, pol policy.Policy[any]) (bool, error) {
	if pol == nil {
		return false, t(ctx)
	}
	_, fnPanicked, err := underPolicy(ctx, pol, func(ctx context.Context) (struct{}, error) { return struct{}{}, t(ctx) })
	return fnPanicked, err
}

func (t Task) finish(error) {}

var (
	// ErrClosed is returned by every submission after Close or Drain has
	// begun, and to blocked submitters when the pool closes. Tasks that a
	// forced Close discards report an error that matches it too.
	ErrClosed error = reject.New("pool: closed")
	// ErrQueueFull is returned by TrySubmit when no worker is idle and the
	// queue is full.
	ErrQueueFull error = reject.New("pool: queue full")
	// ErrExpired is reported for an accepted task that waited in the queue
	// longer than the limit of [WithMaxQueueWait]; the task was not run.
	ErrExpired error = reject.New("pool: task expired in the queue")
	// ErrNotStarted is reported for an accepted task that was not run
	// because its context was done when a worker took it (see the package
	// doc, "Task context"). The error reported wraps the context's error
	// too, and its cause when it differs (ErrClosed after a forced Close).
	ErrNotStarted error = reject.New("pool: task context done before the task started")
	// ErrNilTask is returned for a nil task or function. It matches
	// ion.ErrInvalidConfig; the call changes no state.
	ErrNilTask error = ion.NewConfigError("pool", "task", "nil task")
)

var (
	errNilCtx = ion.NewConfigError("pool", "ctx", "nil context")
	errGoexit = errors.New("pool: task called runtime.Goexit")
)

// Pool is a bounded worker pool: at most Size tasks run at once, on worker
// goroutines started on demand and kept until Close or a shrinking Resize;
// up to queueSize more wait in a queue. Every accepted task is accounted
// for: it runs exactly once, or it is reported (expired, or discarded by a
// forced Close) to its caller or to the discard handler, and counted.
//
// Most callers want [Pool.Submit] for fire-and-forget work, [Go] for a typed
// result, or [Policy] to run a pipeline's calls on the pool, and
// [Pool.Close] at shutdown.
//
// The zero value fails closed: every call returns an error matching
// ion.ErrInvalidConfig that says to use [New]. A Pool is safe for concurrent use
// by multiple goroutines, including its own tasks.
type Pool struct {
	cfg       config
	ok        bool  // made by New with a valid configuration; false in the zero Pool
	err       error // configuration error; every call returns it
	qcap      int
	stamp     bool // items carry their enqueue time (max queue wait or metrics)
	baseVals  bool // the base context may carry values (it is not Background)
	baseCmp   bool // the base context's dynamic type is comparable
	epoch     time.Time
	runCtx    context.Context         // parent of every detached task ctx; cancelled by a forced Close
	cancelRun context.CancelCauseFunc // cancels runCtx with cause ErrClosed
	inst      *instruments            // nil without a Metrics sink
	done      chan struct{}           // closed (once, under mu) when the pool is closed and its last worker has exited
	blockPool sync.Pool               // of *submitter

	// waking counts workers handed a task through their wake channel that
	// have not started running it yet; readyN mirrors p.ready.len(). Both
	// are written under mu, and waking is also decremented without it by a
	// worker as it starts (see startReady).
	waking atomic.Int32
	readyN atomic.Int32
	procs  atomic.Int32 // runtime.GOMAXPROCS(0) at New or the last Resize (reading it takes a runtime lock)
	// testStart, set only by tests, runs on a worker woken with a task
	// before it counts itself started.
	testStart func()

	// mu guards the fields below.
	mu          sync.Mutex
	size        int             // target number of workers; changed by Resize
	workers     int             // live worker goroutines
	exiting     int             // workers woken to exit that have not exited yet
	running     int             // tasks taken by a worker and not yet accounted
	selfWaiting int             // tasks of this pool blocked in its Close, Drain or Wait
	idle        []*worker       // parked workers, most recently parked last
	all         []*worker       // every live worker, to recognise calls from a task
	queue       deque           // accepted tasks not yet taken
	ready       deque           // tasks accepted for idle workers while wakeLimit workers were already waking
	blocked     submitters      // submitters waiting for room, FIFO
	watchers    []chan struct{} // closed and cleared when the pool goes quiet
	closed      bool            // set by the first Close or Drain; never cleared
	sweeper     *time.Timer     // retires idle workers; made by the first worker to park, stopped by Close
	sweepArmed  bool            // sweeper will fire
	period      uint64          // incremented each time sweeper is armed
	doneClosed  bool            // done has been closed
	completed   uint64
	failed      uint64
	panicked    uint64
	rejected    uint64
	expired     uint64
	discarded   uint64
}

// worker is the state of one worker goroutine.
type worker struct {
	wake     chan item     // capacity 1; receives the next job (an empty job means exit)
	parkedAt uint64        // p.period when the worker last parked; guarded by p.mu
	gid      atomic.Uint64 // id of the goroutine currently running this worker
	idx      int           // position in p.all; guarded by p.mu
	expired  []item        // reused buffer of tasks found expired; owned by the worker goroutine
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

// New returns a pool of size workers and a queue of queueSize tasks.
//
// A queueSize of 0 makes every submission a hand-off: it is accepted only
// when a worker takes it. A size below 1 (peers disagree on what 0 means:
// unbounded for some, GOMAXPROCS for others), a negative queueSize, or an
// invalid option makes the pool fail closed: every call returns an error
// matching ion.ErrInvalidConfig that names the parameter, also reported by
// [Pool.Err]. New never panics and starts no goroutine; workers start on
// demand, up to size, and exit after the idle timeout ([WithIdleTimeout]).
func New(size, queueSize int, opts ...Option) *Pool {
	cfg := newConfig(opts)
	p := &Pool{
		cfg:   cfg,
		err:   cfg.err,
		qcap:  max(queueSize, 0),
		size:  size,
		epoch: time.Now(),
		done:  make(chan struct{}),
	}
	switch {
	case p.err != nil:
	case size < 1:
		p.err = ion.NewConfigError("pool", "size", "must be at least 1, got %d", size)
	case queueSize < 0:
		p.err = ion.NewConfigError("pool", "queueSize", "must not be negative, got %d", queueSize)
	}
	if p.err != nil {
		return p // every call returns p.err before using anything below
	}
	p.ok = true
	p.procs.Store(int32(runtime.GOMAXPROCS(0)))
	p.runCtx, p.cancelRun = context.WithCancelCause(cfg.base)
	p.baseVals = cfg.base != context.Background()
	p.baseCmp = reflect.TypeOf(cfg.base).Comparable()
	p.stamp = cfg.maxWait > 0 || cfg.metrics != nil
	if cfg.metrics != nil {
		p.inst = newInstruments(cfg.metrics, cfg.name)
		p.inst.size.Set(float64(size))
	}
	return p
}

// errZeroPool is the error of every call on a Pool not made by New.
var errZeroPool = ion.NewConfigError("pool", "Pool", "zero value: use New")

// Err returns the configuration error that makes p fail closed, or nil.
func (p *Pool) Err() error {
	switch {
	case p.ok:
		return nil
	case p.err != nil:
		return p.err
	}
	return errZeroPool
}

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
	var now int64
	if p.stamp {
		now = p.now()
		it.enq = now
	}
	p.mu.Lock()
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
	var expired []item
	if p.cfg.maxWait > 0 && p.queue.len() == p.qcap {
		p.expireLocked(now, &expired)
		p.refillLocked(now)
	}
	if p.queue.len() < p.qcap {
		p.queue.pushBack(it)
		queued := p.queue.len() + p.ready.len()
		p.mu.Unlock()
		p.flushExpired(expired)
		p.gaugeQueued(queued)
		return nil
	}
	if !block {
		p.rejected++
		p.mu.Unlock()
		p.flushExpired(expired)
		p.countRejected()
		return ErrQueueFull
	}
	s := p.getSubmitter()
	s.it = it
	p.blocked.pushBack(s)
	p.mu.Unlock()
	p.flushExpired(expired)

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
// task, in LIFO order too, so only the front needs looking at.
func (p *Pool) expireLocked(now int64, out *[]item) {
	limit := int64(p.cfg.maxWait)
	for p.queue.len() > 0 && now-p.queue.at(0).enq > limit {
		*out = append(*out, p.queue.popFront())
		p.expired++
	}
}

// takeLocked removes the next task to run into *dst and reports whether
// there was one: a task set aside for an idle worker first, then the queue
// in the configured order, or, with an empty queue, the first blocked
// submitter's (the hand-off of a zero-size queue). Expired tasks met on the
// way go to *exp. It writes the task in place: the worker's loop is the
// pool's hottest path, and an item is five words. Must be called with p.mu
// held.
func (p *Pool) takeLocked(now int64, exp *[]item, dst *item) bool {
	if p.ready.len() > 0 {
		// Older than anything queued: they were accepted while idle
		// workers were set aside for them.
		p.ready.popFrontTo(dst)
		p.releaseReservationLocked(now, exp)
		return true
	}
	return p.takeQueuedLocked(now, exp, dst)
}

// releaseReservationLocked is called when a task of p.ready is no longer
// there for the idle worker set aside for it (another worker took it, or
// its caller withdrew it): that worker is free again, so the next task to
// run, if one is queued or blocked, is set aside for it. This keeps the
// submit path's premise that an idle worker free for a new task exists only
// while nothing is queued. Must be called with p.mu held.
func (p *Pool) releaseReservationLocked(now int64, exp *[]item) {
	var it item
	if p.takeQueuedLocked(now, exp, &it) {
		p.ready.pushBack(it)
		p.wakeReadyLocked()
	}
	p.readyN.Store(int32(p.ready.len()))
}

// takeQueuedLocked is takeLocked without p.ready.
func (p *Pool) takeQueuedLocked(now int64, exp *[]item, dst *item) bool {
	if p.cfg.maxWait > 0 && p.queue.len() > 0 {
		p.expireLocked(now, exp)
		p.refillLocked(now)
	}
	if p.queue.len() > 0 {
		if p.cfg.order == LIFO {
			p.queue.popBackTo(dst)
		} else {
			p.queue.popFrontTo(dst)
		}
		if !p.blocked.empty() {
			p.refillLocked(now)
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

// addWorkerLocked registers a new worker; must be called with p.mu held.
// The caller starts its goroutine.
func (p *Pool) addWorkerLocked() *worker {
	w := &worker{wake: make(chan item, 1), idx: len(p.all)}
	p.all = append(p.all, w)
	p.workers++
	return w
}

// exitLocked unregisters w, whose goroutine is about to return; must be
// called with p.mu held. It reports whether w was the last worker of a
// closed pool, in which case the caller must call p.cancelRun after
// unlocking (the context package runs no user code, but it takes locks of
// its own).
func (p *Pool) exitLocked(w *worker) (last bool) {
	end := len(p.all) - 1
	p.all[w.idx] = p.all[end]
	p.all[w.idx].idx = w.idx
	p.all[end] = nil
	p.all = p.all[:end]
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
	last := p.exitLocked(w)
	p.mu.Unlock()
	if last {
		p.cancelRun(ErrClosed)
	}
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

// quietLocked reports whether nothing is queued, blocked or running, not
// counting, when self is set, the tasks that are themselves waiting in
// Close, Drain or Wait. Must be called with p.mu held.
func (p *Pool) quietLocked(self bool) bool {
	if p.queue.len() > 0 || p.ready.len() > 0 || !p.blocked.empty() {
		return false
	}
	return p.running == 0 || self && p.running <= p.selfWaiting
}

// work is the body of a worker goroutine: run it (unless empty), then every
// task next hands over, until next says exit. fin is the outcome of a task
// not yet accounted (after a Goexit). It parks here rather than in next so
// that a woken worker resumes in a small frame and receives its task straight
// into it: with many workers, each resume touches a cold stack.
func (p *Pool) work(w *worker, it item, fin outcome) {
	w.gid.Store(goid())
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
			if p.testStart != nil {
				p.testStart()
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
	var now int64
	if p.stamp {
		now = p.now()
	}
	p.lockBackoff()
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
	if p.takeLocked(now, &w.expired, it) {
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
		if len(w.expired) > 0 {
			// Report before unregistering: once the last worker has
			// exited, Close returns, and every report must have been
			// delivered by then. Nothing can be queued meanwhile: intake
			// is closed.
			p.mu.Unlock()
			p.flushWorkerExpired(w)
			p.mu.Lock()
		}
		p.exitUnlock(w)
		st = exited
	} else {
		w.parkedAt = p.period
		p.idle = append(p.idle, w)
		if !p.sweepArmed && p.cfg.idle > 0 {
			p.armSweepLocked()
		}
		if p.inst != nil {
			running := p.running
			defer p.gaugeRunning(running)
		}
		p.mu.Unlock()
		st = parked
	}
	p.flushWorkerExpired(w)
	return st
}

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

// lockBackoff takes p.mu for a worker that has finished a task. A worker
// that finds the lock held backs off for a few microseconds before
// retrying, twice (about 14 µs of spinning at most; more rounds gained
// nothing in BenchmarkSubmitQueuedParallel), and then blocks. While
// submitters on other cores keep the queue busy, each of them then runs
// several submissions with the lock's cache line local instead of trading it
// for every task (this halves the cost per task with two submitters on two
// cores). Submitters do not back off: a caller's latency matters more than a
// worker's. With one P nothing spins: the holder could not run meanwhile.
func (p *Pool) lockBackoff() {
	if p.mu.TryLock() {
		return
	}
	if p.procs.Load() > 1 {
		var b spin.Backoff
		for range 2 {
			b.Wait()
			if p.mu.TryLock() {
				return
			}
		}
	}
	p.mu.Lock()
}

// flushWorkerExpired reports the tasks w found expired and empties its
// buffer. It runs on w's goroutine, without the lock, while w is still
// registered (so that Close waits for the reports).
func (p *Pool) flushWorkerExpired(w *worker) {
	if len(w.expired) > 0 {
		p.flushExpired(w.expired)
		clear(w.expired)
		w.expired = w.expired[:0]
	}
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

// notRun returns the error reported for a task not run because its ctx was
// done when a worker took it: it wraps ErrNotStarted, ctx.Err() and, when it
// differs, the cause (ErrClosed after a forced Close).
func notRun(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause != nil && cause != err {
		return fmt.Errorf("%w: %w: %w", ErrNotStarted, err, cause)
	}
	return fmt.Errorf("%w: %w", ErrNotStarted, err)
}

// flushExpired reports the tasks in exp as expired. It runs without the lock.
func (p *Pool) flushExpired(exp []item) {
	for i := range exp {
		p.discard(&exp[i], ErrExpired)
		if p.inst != nil {
			p.inst.expired.Add(1)
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

// now returns the monotonic time since the pool's epoch, in nanoseconds.
func (p *Pool) now() int64 { return int64(time.Since(p.epoch)) }

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
	var expired []item
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
		if !p.takeLocked(now, &expired, &it) {
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
	p.flushExpired(expired)
	if p.inst != nil {
		p.inst.size.Set(float64(n))
	}
	if p.cfg.logger != nil && old != n {
		p.cfg.logger.Log(context.Background(), slog.LevelInfo, "pool: resized",
			slog.String("name", p.cfg.name), slog.Int("from", old), slog.Int("to", n))
	}
	return nil
}

// Snapshot is a point-in-time view of a pool's state and counters, taken
// under one lock so that its fields are consistent with each other. Every
// accepted task is in exactly one of Queued, Running, Completed, Failed,
// Panicked, Expired or Discarded.
type Snapshot struct {
	Size      int  // the target number of workers
	Workers   int  // live worker goroutines (started on demand, up to Size; idle ones exit after the idle timeout)
	QueueSize int  // the queue's capacity
	Queued    int  // accepted tasks waiting for a worker (queued, or set aside for a waking one: see the package doc)
	Running   int  // tasks running on a worker
	Blocked   int  // submitters blocked on a full queue (not yet accepted)
	Closed    bool // Close or Drain has begun

	Completed uint64 // tasks that returned nil
	Failed    uint64 // tasks that returned an error
	Panicked  uint64 // tasks that panicked or called runtime.Goexit
	Rejected  uint64 // submissions refused: closed, queue full, or ctx ended while blocked
	Expired   uint64 // accepted tasks not run because their queue wait passed the limit
	Discarded uint64 // accepted tasks not run: a forced Close or their Policy caller withdrew them, or their ctx was done when a worker took them
}

// Snapshot returns a snapshot of p's state and counters. It takes p's lock
// briefly and does not allocate.
func (p *Pool) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{
		Size:      p.size,
		Workers:   p.workers - p.exiting,
		QueueSize: p.qcap,
		Queued:    p.queue.len() + p.ready.len(),
		Running:   p.running,
		Closed:    p.closed,
		Completed: p.completed,
		Failed:    p.failed,
		Panicked:  p.panicked,
		Rejected:  p.rejected,
		Expired:   p.expired,
		Discarded: p.discarded,
	}
	s.Blocked = p.blocked.n
	return s
}

// String returns "pool(name)", or "pool" for an unnamed pool.
func (p *Pool) String() string {
	if p.cfg.name == "" {
		return "pool"
	}
	return "pool(" + p.cfg.name + ")"
}
