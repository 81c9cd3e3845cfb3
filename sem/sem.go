package sem

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/codel"
	"github.com/ionkit/ion/internal/contend"
	"github.com/ionkit/ion/observe"
)

// The state word packs the available permits (the low 63 bits, enough for
// any int64 capacity) with queuedBit, which is set while the wait queue is
// not empty or a debt is owed (see SetCapacity): while it is set, every
// release takes the slow path.
const (
	queuedBit = uint64(1) << 63
	availMask = queuedBit - 1
)

// Weighted is a weighted semaphore: callers acquire and release any number
// of permits up to its capacity, and callers that cannot be served at once
// wait in a queue served in the order given by its [Fairness].
//
// Most callers want [Weighted.Acquire] and a deferred [Weighted.Release], or
// [Policy] to bound the concurrency of calls through a pipeline (the
// bulkhead). [Weighted.TryAcquire] never blocks.
//
// The capacity can be changed in place with [Weighted.SetCapacity], and the
// queue settings (fairness, acquire timeout, queue management) with
// [Weighted.Reconfigure], keeping the permits in use and the queue.
// Optional queue management sheds waiters of a standing queue
// ([WithCoDel]) and serves the newest waiter first under a backlog
// ([WithAdaptiveLIFO]).
//
// A Weighted built from an invalid configuration fails closed: [Weighted.Err]
// reports the error, every Acquire and Release returns it, and TryAcquire
// returns false. The zero value fails closed the same way, with an error
// matching ion.ErrInvalidConfig that says to use [NewWeighted].
//
// A Weighted is safe for concurrent use by multiple goroutines.
type Weighted struct {
	// capacity is changed only by SetCapacity, with mu held, and read
	// everywhere. It is 0 when err != nil, so that every weight takes the
	// checked path. Written rarely, it shares the read-mostly cache line of
	// the configuration below.
	capacity atomic.Int64

	// The queue settings that callers read without mu, mirrors of those
	// below mu. Reconfigure stores them with mu held; like the capacity,
	// they are written rarely and share the read-mostly cache line.
	barge   atomic.Bool  // LIFO and None: a caller may take free permits while others wait (protocol point 8)
	codelOn atomic.Bool  // WithCoDel: a caller about to queue reads the clock first
	timeout atomic.Int64 // WithAcquireTimeout, in nanoseconds; 0 for none

	// Immutable after NewWeighted.
	name   string
	err    error          // non-nil: fail closed
	logger observe.Logger // nil without WithLogger
	tracer observe.Tracer // nil without WithTracer
	m      *instruments   // nil without WithMetrics

	// The padding keeps state, written by every Acquire and Release, on a
	// cache line of its own, so that the fields above stay shared in every
	// core's cache instead of bouncing with each write.
	_ [64]byte

	// state is the permit count and queuedBit; see the protocol below.
	state atomic.Uint64
	// mode is the contended mode (see contended.go). It shares state's
	// cache line, which the fast paths that read it hold anyway.
	mode contend.Mode

	_ [40]byte

	// nwait mirrors q.len for Waiting; written with mu held.
	nwait atomic.Int64

	// reconfigs counts the calls of Reconfigure that took effect,
	// so that a bulkhead knows when to describe itself afresh.
	reconfigs atomic.Uint64

	// mu guards the fields below.
	mu       sync.Mutex
	q        queue       // the waiters, oldest at the front
	debt     int64       // permits in use beyond the capacity, retired as released; > 0 only with queuedBit set
	fairness Fairness    // WithFairness; set by NewWeighted and Reconfigure
	lifoAt   int         // WithAdaptiveLIFO: serve the newest first from this many waiters; 0 for never; set likewise
	codel    codel.State // WithCoDel's state, its Target and Interval set likewise; Target 0 never drops
}

// The protocol between the lock-free fast paths and the queue.
//
// Acquire and TryAcquire take permits with one CAS on state; Release returns
// them with one CAS. A fast path whose CAS loses to a concurrent update
// turns to the contended mode (see contended.go), which makes the same
// checks and the same CAS with mu held, or, when mu is busy, reloads state
// and, if it may still proceed, backs off before retrying (see backoff).
// Neither changes what a fast path checks or writes, only when and under
// which lock, so the points below hold in every case. Waiters are queued,
// granted and removed with mu held. The two meet in queuedBit:
//
//  1. The bit is set only with mu held, by a caller that is about to queue,
//     in the same CAS that observed too few permits (takeLocked); it is
//     cleared only with mu held, when the queue becomes empty (grantLocked).
//     So, whenever mu is free, the bit is set exactly when someone waits.
//
//  2. Release's fast path CAS expects the bit clear. Once the bit is set,
//     every release fails its CAS, takes mu and runs grantLocked, which sees
//     the queue. A waiter can therefore never miss the release that would
//     have served it (no lost wakeup): the release either came before its
//     CAS (and the waiter saw those permits and took them) or after (and
//     found the waiter queued under mu).
//
//  3. FIFO's fast path CAS also expects the bit clear. Setting the bit and a
//     fast-path take are CASes on the same word, hence totally ordered: a
//     take either happened before the waiter queued, or it fails and falls
//     to the slow path, which queues behind the waiter. Nobody barges past a
//     FIFO queue.
//
//  4. LIFO and None let a caller take free permits while others wait
//     (barge). Such takes only ever lower the count, so a waiter that found
//     too few permits still has too few until a release, which goes through
//     mu (point 2); grantLocked takes with a CAS loop because those takes
//     may run concurrently with it.
//
//  5. A grant is decided with mu held: the permits are taken, the waiter is
//     removed, granted is set and ready is closed, all in one critical
//     section. A waiter that gives up takes mu and looks at granted: if set,
//     the grant won the race and the waiter hands the permits back, so an
//     error always means holding nothing and nil always means holding the
//     permits. No permit is lost either way. A rejection (CoDel's shed, a
//     weight above a new capacity) is decided the same way, with err set
//     instead of granted and no permits taken.
//
//  6. SetCapacity runs with mu held and sets the bit before it changes the
//     capacity, so from then on every release waits for mu; it then
//     rewrites the count as the new capacity minus the permits in use, or
//     0 and a debt when more are in use than the new capacity. A debt is
//     owed only while the bit is set (grantLocked clears the bit only when
//     the queue is empty and the debt paid), so a fast-path release, which
//     expects the bit clear, never owes anything, and a slow-path release
//     pays the debt before it frees permits. While a debt is owed the count
//     is 0, so nothing is taken.
//
//  7. The fast-path release checks the count against a capacity it loaded
//     before its CAS. A shrink may complete between the two and the count
//     come back to the value it loaded (ABA), so the check can pass against
//     the old capacity. A correct release cannot be hurt by that: with the
//     bit clear, count = capacity - in use, and a holder releases at most
//     what is in use, so it never raises the count above the capacity in
//     force, whichever it checked against. Only a misuse (a release of
//     more than is held) can, and the release re-reads the capacity after
//     its CAS: if the count passed it, it trims the excess under mu and
//     reports the over-release, as the slow path would have.
//
//  8. Reconfigure changes the queue settings with mu held and, in the same
//     critical section, serves the waiters that the new order lets through
//     (grantLocked); so the settings read under mu (the fairness, the
//     adaptive LIFO threshold, CoDel's state) change between two grants,
//     never during one, and queuedBit keeps the meaning of point 1, which
//     depends on the queue, not on the settings. The fast paths read barge
//     without mu, after their load of state, at every attempt: a call that
//     starts after Reconfigure returns reads the new value, so points 3
//     and 4 hold for the new fairness from then on. A take that read barge
//     set just before a change to FIFO may still complete its CAS after
//     the change, taking free permits past the queue once, as it could
//     have an instant earlier; it is a call concurrent with Reconfigure,
//     and, being a take, it only lowers the count, so by point 4 no waiter
//     misses a release because of it.

// NewWeighted returns a semaphore of capacity permits, all available,
// configured by opts. It never panics: a capacity below 1 or an invalid
// option returns a semaphore that fails closed, whose every Acquire returns
// a *ion.ConfigError matching ion.ErrInvalidConfig that names the parameter
// (see [Weighted.Err]).
func NewWeighted(capacity int64, opts ...Option) *Weighted {
	c := newConfig(opts)
	if capacity < 1 {
		c.fail(ion.NewConfigError("sem", "capacity", "must be at least 1, got %d", capacity))
	}
	s := &Weighted{
		fairness: c.fairness,
		lifoAt:   c.lifoAt,
		name:     c.name,
		err:      c.err,
		logger:   c.logger,
		tracer:   c.tracer,
		codel:    codel.State{Target: c.codelTarget, Interval: c.codelInterval},
	}
	s.barge.Store(c.fairness != FIFO)
	s.codelOn.Store(c.codelTarget > 0)
	s.timeout.Store(int64(c.timeout))
	if s.err != nil {
		return s
	}
	s.capacity.Store(capacity)
	s.state.Store(uint64(capacity))
	if c.metrics != nil {
		s.m = newInstruments(c.metrics, c.name)
	}
	return s
}

// errZero is the error of every call on a zero Weighted.
var errZero = ion.NewConfigError("sem", "Weighted", "zero value; use NewWeighted")

// Err returns the configuration error that makes s fail closed, or nil. A
// zero Weighted (not built by [NewWeighted]) fails closed with an error
// matching ion.ErrInvalidConfig.
func (s *Weighted) Err() error {
	if s.err == nil && s.capacity.Load() == 0 {
		return errZero
	}
	return s.err
}

// Capacity returns the number of permits s was built with or last given by
// [Weighted.SetCapacity], or 0 if s fails closed. It is safe to call
// concurrently with SetCapacity; the value is a snapshot.
func (s *Weighted) Capacity() int64 { return s.capacity.Load() }

// Available returns the number of permits free at this instant: 0 while
// more permits are in use than the capacity (after a shrink; see
// [Weighted.SetCapacity]). Under FIFO a free permit may still be
// unavailable to a new caller, reserved by the queue's head. The value is a
// snapshot, stale as soon as it returns.
func (s *Weighted) Available() int64 { return int64(s.state.Load() & availMask) }

// InUse returns the number of permits acquired and not yet released at
// this instant. After a shrink (see [Weighted.SetCapacity]) it may exceed
// the capacity until enough permits are released. It takes the
// semaphore's lock briefly; the value is a snapshot, stale as soon as it
// returns.
func (s *Weighted) InUse() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUseLocked()
}

// Waiting returns the number of callers blocked in Acquire at this instant.
// The value is a snapshot, stale as soon as it returns.
func (s *Weighted) Waiting() int { return int(s.nwait.Load()) }

// Acquire acquires n permits, blocking until they are granted, ctx is done,
// or the semaphore's [WithAcquireTimeout] expires. It returns nil holding
// the n permits, which the caller must give back with [Weighted.Release], or
// an error holding nothing.
//
// An Acquire waits when too few permits are free and, under [FIFO], when
// anyone is already waiting; the [Fairness] decides the order in which
// waiters are served.
//
// Errors:
//   - ctx already done, or done while waiting: an error wrapping ctx.Err(),
//     even if permits are free (a done ctx never acquires).
//   - the acquire timeout expired: an error matching [ErrFull],
//     ion.ErrRejected and context.DeadlineExceeded.
//   - shed from a standing queue ([WithCoDel]): an error matching [ErrShed]
//     and ion.ErrRejected.
//   - n < 0: [ErrInvalidWeight]; n > Capacity(): [ErrWeightExceedsCapacity];
//     both at once, without blocking and without changing state. A waiter
//     whose weight a [Weighted.SetCapacity] puts above the new capacity
//     returns ErrWeightExceedsCapacity too, holding nothing.
//   - a fail-closed semaphore: its configuration error; a nil ctx: an error
//     matching ion.ErrInvalidConfig.
//
// Acquire(ctx, 0) returns nil at once (unless ctx is done) and holds
// nothing. Served without waiting, an Acquire is one CAS and does not
// allocate; under contention it may wait for the semaphore's short critical
// section instead (see the package doc); a caller that waits
// allocates its queue entry (and a timer with WithAcquireTimeout), and
// reads the clock with WithCoDel or metrics.
func (s *Weighted) Acquire(ctx context.Context, n int64) error {
	if c := s.capacity.Load(); ctx == nil || uint64(n)-1 >= uint64(c) {
		return s.acquireChecked(ctx, n, c)
	}
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return s.fail(ctxErr(ctx), resCanceled)
		default:
		}
	}
	if s.tryTake(n, true) {
		return nil
	}
	return s.wait(ctx, done, n, time.Duration(s.timeout.Load()))
}

// acquireChecked handles the calls that the fast path's single comparison
// sends aside: a fail-closed semaphore, a nil ctx, and n outside 1..c, c
// being the capacity that the comparison used (a concurrent SetCapacity
// must not turn an n it found too large into a no-op success).
func (s *Weighted) acquireChecked(ctx context.Context, n, c int64) error {
	switch {
	case c == 0: // fail closed, or a zero Weighted
		return s.Err()
	case ctx == nil:
		return errNilCtx
	case n < 0:
		return s.fail(ErrInvalidWeight, resInvalid)
	case n > c:
		return s.fail(ErrWeightExceedsCapacity, resInvalid)
	}
	// n == 0: no permits to take, but a done ctx still fails the call.
	if ctx.Err() != nil {
		return s.fail(ctxErr(ctx), resCanceled)
	}
	return nil
}

// TryAcquire acquires n permits if it can do so at once and reports whether
// it did; it never blocks. Under [FIFO] it fails while anyone is waiting,
// even if n permits are free, so it never barges past the queue. It returns
// false, changing nothing, for n < 0, n > Capacity() and a fail-closed
// semaphore; TryAcquire(0) returns true and holds nothing. It is one CAS
// and does not allocate; under contention it takes the semaphore's lock
// only if it is free, and otherwise retries after a spin of at most about a
// microsecond, or a yield.
func (s *Weighted) TryAcquire(n int64) bool {
	if c := s.capacity.Load(); uint64(n)-1 >= uint64(c) {
		if c == 0 { // fail closed, or a zero Weighted
			return false
		}
		if n == 0 {
			return true
		}
		s.m.count(resInvalid)
		return false
	}
	if s.tryTake(n, false) {
		return true
	}
	s.m.count(resRejected)
	return false
}

// Release gives back n permits and serves the waiters they unblock. It does
// not block: it waits at most for a short critical section or, when it
// loses its CAS to concurrent callers and the lock is busy, spins for at
// most about a microsecond or yields before it retries.
// It returns nil when the permits were taken back, and never panics.
//
// After a [Weighted.SetCapacity] that left more permits in use than the new
// capacity, a release first retires that excess and frees permits only
// beyond it; releasing permits acquired under the old capacity is never an
// over-release.
//
// Release is not tracked per holder: the semaphore knows only how many
// permits are free, so the caller must release what it acquired, once. A
// release that would raise the free permits above the capacity is a
// misuse: the capacity never grows, the permits beyond it are ignored, and
// Release returns an error matching [ErrOverRelease] that says how many
// were released, free and ignored (also reported to the Logger and counted
// by ion_sem_over_released_total). A misuse that keeps the free permits
// within the capacity cannot be told from a correct release: with capacity
// 10 and holders of 3 and 2, a double Release(3) by the first holder after
// others took the freed permits is accepted, more than 10 permits are then
// in use until the holders give them back, and the release that would pass
// the capacity, possibly a correct one by another holder, is the one that
// returns the error.
//
// A negative n returns [ErrInvalidWeight] and changes nothing; Release(0)
// returns nil. A fail-closed or zero semaphore returns its [Weighted.Err].
//
// With nobody waiting and no debt owed, Release is one CAS and does not
// allocate; under contention it may take the lock instead, as above.
func (s *Weighted) Release(n int64) error {
	c := s.capacity.Load()
	if uint64(n)-1 >= uint64(c) {
		return s.releaseChecked(n, c)
	}
	if s.mode.On() && s.mode.Lock(&s.mu, true) {
		return s.releaseContended(n)
	}
	var bo backoff
	st := s.state.Load()
	for {
		// The second test (a release beyond capacity) is only meaningful
		// with the bit clear, which the first test ensures: then no debt
		// is owed (protocol point 6).
		if st&queuedBit != 0 || n > c-int64(st) {
			return s.releaseSlow(n)
		}
		if s.state.CompareAndSwap(st, st+uint64(n)) {
			// A shrink may have come between the load of c and the CAS
			// (protocol point 7); only a misuse can pass it.
			if int64(st)+n > s.capacity.Load() {
				return s.trim(n)
			}
			if m := s.m; m != nil {
				m.inUse.Set(float64(c - int64(st) - n))
			}
			return nil
		}
		// Lost to a concurrent update: the first loss turns to the
		// contended mode, when mu is free or nobody else waits for it.
		if bo.losses == 0 && s.mode.Lock(&s.mu, true) {
			return s.releaseContended(n)
		}
		// Back off before retrying (see backoff), unless the new state
		// sends the release to the slow path anyway (a waiter queued).
		if st = s.state.Load(); st&queuedBit == 0 && n <= c-int64(st) {
			bo.wait()
			st = s.state.Load()
		}
	}
}

// releaseChecked handles the releases that the fast path's single
// comparison with the capacity c sends aside.
func (s *Weighted) releaseChecked(n, c int64) error {
	switch {
	case c == 0:
		return s.Err()
	case n == 0:
		return nil
	case n < 0:
		if s.logger != nil {
			s.logger.Log(context.Background(), slog.LevelWarn, "sem: Release of a negative weight ignored",
				slog.String("name", s.name), slog.Int64("n", n))
		}
		return ErrInvalidWeight
	default: // n > capacity: an over-release unless a debt is owed; releaseSlow knows
		return s.releaseSlow(n)
	}
}

// tryTake takes n permits if they are free and, under FIFO, nobody waits
// (protocol points 3 and 4). park says whether, in the contended mode, the
// caller may block for mu (Acquire) or only take it when free (TryAcquire).
func (s *Weighted) tryTake(n int64, park bool) bool {
	if s.mode.On() && s.mode.Lock(&s.mu, park) {
		return s.takeContended(n)
	}
	var bo backoff
	st := s.state.Load()
	for {
		if st&queuedBit != 0 && !s.barge.Load() || int64(st&availMask) < n {
			return false
		}
		if s.state.CompareAndSwap(st, st-uint64(n)) {
			if m := s.m; m != nil {
				// No debt is owed: the count was at least n > 0.
				m.results[resAcquired].Add(1)
				m.inUse.Set(float64(s.capacity.Load() - int64((st-uint64(n))&availMask)))
			}
			return true
		}
		// Lost to a concurrent update: as in Release.
		if bo.losses == 0 && s.mode.Lock(&s.mu, park) {
			return s.takeContended(n)
		}
		// Back off before retrying (see backoff), unless the new state
		// refuses the take anyway.
		if st = s.state.Load(); (st&queuedBit == 0 || s.barge.Load()) && int64(st&availMask) >= n {
			bo.wait()
			st = s.state.Load()
		}
	}
}

// wait is Acquire's slow path: it queues the caller and blocks until the
// grant, a rejection, done or the timeout (none when timeout is 0).
func (s *Weighted) wait(ctx context.Context, done <-chan struct{}, n int64, timeout time.Duration) error {
	var enq time.Time
	if s.codelOn.Load() {
		// Read before the lock, to keep the clock out of the critical
		// section; wasted only when takeLocked below succeeds.
		enq = time.Now()
	}
	s.mu.Lock()
	if n > s.capacity.Load() {
		// A SetCapacity shrank the capacity below n since the caller's
		// check: it would wait for ever.
		s.mu.Unlock()
		return s.fail(ErrWeightExceedsCapacity, resInvalid)
	}
	if s.takeLocked(n) {
		s.mu.Unlock()
		s.acquiredAfter(time.Time{})
		return nil
	}
	if enq.IsZero() && s.codel.Target > 0 {
		// A Reconfigure turned CoDel on since the read above: rare
		// enough to read the clock under the lock.
		enq = time.Now()
	}
	w := &waiter{n: n, enq: enq, ready: make(chan struct{})}
	s.q.pushBack(w)
	s.nwait.Store(int64(s.q.len))
	s.mu.Unlock()

	start := enq
	if m := s.m; m != nil {
		if start.IsZero() {
			start = time.Now()
		}
		m.waiting.Set(float64(s.nwait.Load()))
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}

	select {
	case <-w.ready:
		if w.err != nil {
			// Rejected, holding nothing; the close of ready published err.
			return s.failAfter(w.err, w.res, start)
		}
		// Granted. A ctx that ended meanwhile still fails the call, as
		// one done before the call would (golang/go#63615): hand the
		// permits back so the error holds nothing.
		select {
		case <-done:
			// The permits were granted to this caller: handing them back
			// cannot over-release.
			_ = s.releaseSlow(n)
			return s.failAfter(ctxErr(ctx), resCanceled, start)
		default:
		}
		s.acquiredAfter(start)
		return nil
	case <-done:
		s.abandon(w)
		return s.failAfter(ctxErr(ctx), resCanceled, start)
	case <-expired:
		s.abandon(w)
		return s.failAfter(&timeoutError{wait: timeout}, resTimeout, start)
	}
}

// abandon removes w, whose caller gives up, from the queue; if the grant won
// the race, it hands w's permits back instead (protocol point 5), and if a
// rejection did, there is nothing to undo. In every case it serves the
// waiters that now fit: a cancelled head may have been all that blocked
// them (golang/go#37852).
func (s *Weighted) abandon(w *waiter) {
	s.mu.Lock()
	var excess int64
	switch {
	case w.granted:
		excess, _, _ = s.addLocked(w.n)
	case w.err == nil:
		s.q.remove(w)
	}
	s.grantLocked()
	inUse := s.inUseLocked()
	s.mu.Unlock()
	s.afterSlow(excess, inUse)
}

// releaseSlow returns n permits with mu held, paying a debt first, and
// serves the waiters. It returns the error of an over-release.
func (s *Weighted) releaseSlow(n int64) error {
	s.mu.Lock()
	excess, free, owed := s.addLocked(n)
	c := s.capacity.Load()
	s.grantLocked()
	inUse := s.inUseLocked()
	s.mu.Unlock()
	s.afterSlow(excess, inUse)
	if excess > 0 {
		return &overReleaseError{n: n, free: free, owed: owed, capacity: c, excess: excess}
	}
	return nil
}

// trim is the end of a fast-path release of n whose count passed a
// capacity lowered under it (protocol point 7): it removes the permits
// above the capacity, if no one took them yet, and reports them as an
// over-release. It returns nil when a SetCapacity already accounted for
// them.
func (s *Weighted) trim(n int64) error {
	s.mu.Lock()
	c := s.capacity.Load()
	free, excess := s.trimLocked()
	inUse := s.inUseLocked()
	s.mu.Unlock()
	s.afterSlow(excess, inUse)
	if excess > 0 {
		return &overReleaseError{n: n, free: free - n, capacity: c, excess: excess}
	}
	return nil
}

// trimLocked lowers the count to the capacity if it is above it and returns
// the count it found and the permits it removed. The count passes the
// capacity only when a release of more than was held raced a shrink
// (protocol point 7). It must be called with s.mu held.
func (s *Weighted) trimLocked() (free, excess int64) {
	c := s.capacity.Load()
	for {
		st := s.state.Load()
		free = int64(st & availMask)
		if free <= c {
			return free, 0
		}
		if s.state.CompareAndSwap(st, st-uint64(free-c)) {
			return free, free - c
		}
	}
}

// inUseLocked returns the permits in use: the capacity less the free
// permits, plus the debt. It must be called with s.mu held.
func (s *Weighted) inUseLocked() int64 {
	return s.capacity.Load() - s.Available() + s.debt
}

// afterSlow reports, with mu released, what a slow path did: the gauges
// (inUse is the permits in use when it left mu), and a release beyond
// capacity.
func (s *Weighted) afterSlow(excess, inUse int64) {
	if m := s.m; m != nil {
		m.inUse.Set(float64(inUse))
		m.waiting.Set(float64(s.nwait.Load()))
		if excess > 0 {
			m.overReleased.Add(excess)
		}
	}
	if excess > 0 && s.logger != nil {
		s.logger.Log(context.Background(), slog.LevelWarn, "sem: released more permits than held; the excess is ignored",
			slog.String("name", s.name), slog.Int64("excess", excess), slog.Int64("capacity", s.capacity.Load()))
	}
}

// takeLocked takes n permits for a caller that has not queued, or, if it
// may not, sets queuedBit so that the caller can queue (protocol point 1).
// It must be called with s.mu held.
func (s *Weighted) takeLocked(n int64) bool {
	// While adaptive LIFO is in force, the caller, were it to queue, would
	// be the newest waiter and served first: it may take free permits now,
	// as under LIFO.
	barge := s.barge.Load() || s.lifoAt > 0 && s.q.len+1 >= s.lifoAt
	for {
		st := s.state.Load()
		queued := st&queuedBit != 0
		if (!queued || barge) && int64(st&availMask) >= n {
			if s.state.CompareAndSwap(st, st-uint64(n)) {
				return true
			}
			continue
		}
		if queued {
			// Only takes run without mu while the bit is set, so the
			// count cannot rise until we unlock: the caller must queue.
			return false
		}
		if s.state.CompareAndSwap(st, st|queuedBit) {
			return false
		}
	}
}

// addLocked returns n permits: it pays the debt first, then adds the rest
// to the count, clamped to the capacity. It returns the excess that was
// ignored, and the count and the debt it found. It must be called with s.mu
// held.
func (s *Weighted) addLocked(n int64) (excess, free, owed int64) {
	owed = s.debt
	pay := min(n, owed)
	s.debt -= pay
	n -= pay
	c := s.capacity.Load()
	for {
		st := s.state.Load()
		free = int64(st & availMask)
		// Not below 0: a count above the capacity (protocol point 7)
		// takes nothing more.
		add := max(min(n, c-free), 0)
		if s.state.CompareAndSwap(st, st+uint64(add)) {
			return n - add, free, owed
		}
	}
}

// fail counts a failed acquisition with result r and returns err.
func (s *Weighted) fail(err error, r result) error {
	s.m.count(r)
	return err
}

// failAfter counts a failed acquisition with result r that waited since
// start and returns err.
func (s *Weighted) failAfter(err error, r result, start time.Time) error {
	if m := s.m; m != nil {
		m.results[r].Add(1)
		m.wait.Observe(time.Since(start).Seconds())
	}
	return err
}

// acquiredAfter counts a slow-path acquisition; start is when the caller
// queued, or zero if it did not.
func (s *Weighted) acquiredAfter(start time.Time) {
	if m := s.m; m != nil {
		m.results[resAcquired].Add(1)
		// Read without mu, like the fast paths' gauges: a debt that a
		// SetCapacity created since the grant is missed until the next
		// slow path sets the gauge.
		m.inUse.Set(float64(s.capacity.Load() - s.Available()))
		if !start.IsZero() {
			m.wait.Observe(time.Since(start).Seconds())
		}
	}
}

// ctxErr wraps the error of the done ctx.
func ctxErr(ctx context.Context) error { return &ctxError{err: ctx.Err()} }
