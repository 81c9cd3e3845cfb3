package pool

import (
	"context"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/codel"
)

// Pool is a bounded worker pool: at most Size tasks run at once, on worker
// goroutines started on demand (an idle one exits after the idle timeout);
// up to queueSize more wait in a queue. [Pool.Resize], [Pool.SetQueueSize]
// and [Pool.Reconfigure] change the size, the queue's capacity and the
// queue settings in place. Every accepted task is accounted for: it runs
// exactly once, or it is reported (expired, shed, not started, or discarded
// by a forced Close) to its caller or to the discard handler, and counted.
//
// Most callers want [Pool.Submit] for fire-and-forget work, [Go] for a typed
// result, or [Policy] to run a pipeline's calls on the pool, and
// [Pool.Close] at shutdown.
//
// The zero value fails closed: every call returns an error matching
// ion.ErrInvalidConfig that says to use [New]. A Pool is safe for
// concurrent use by multiple goroutines, including its own tasks.
type Pool struct {
	// cfg is the configuration New was given. Its queue settings (order,
	// max queue wait, idle timeout, CoDel) are New's: those in force, which
	// Reconfigure changes, are the fields below mu.
	cfg       config
	ok        bool  // made by New with a valid configuration; false in the zero Pool
	err       error // configuration error; every call returns it
	baseCmp   bool  // the base context's dynamic type is comparable
	epoch     time.Time
	marked    context.Context         // the base context, marked as p's (see ownerKey)
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
	// stamp reports whether items carry their enqueue time (a max queue
	// wait, CoDel or metrics). Written under mu by New and Reconfigure, and
	// read before locking by the paths that read the clock for the items
	// they handle; a path that read it clear and finds it set once it holds
	// mu reads the clock then (see Reconfigure).
	stamp atomic.Bool

	// mu guards the fields below.
	mu          sync.Mutex
	size        int             // target number of workers; changed by Resize
	qcap        int             // the queue's capacity; changed by SetQueueSize (the queue may hold more after a shrink)
	lifoAt      int             // workers take the newest queued task while the queue holds at least lifoAt (1 for LIFO, MaxInt for plain FIFO); changed by Reconfigure
	maxWait     time.Duration   // WithMaxQueueWait; 0 for none; changed by Reconfigure
	idleTimeout time.Duration   // WithIdleTimeout; 0 keeps idle workers; changed by Reconfigure
	workers     int             // live worker goroutines
	exiting     int             // workers woken to exit that have not exited yet
	running     int             // tasks taken by a worker and not yet accounted
	selfWaiting int             // tasks of this pool blocked in its Close, Drain or Wait
	idle        []*worker       // parked workers, most recently parked last
	queue       deque           // accepted tasks not yet taken
	codel       codel.State     // whether queue is standing, by CoDel; Target 0 without WithCoDel
	ready       deque           // tasks accepted for idle workers while wakeLimit workers were already waking
	blocked     submitters      // submitters waiting for room, FIFO
	watchers    []chan struct{} // closed and cleared when the pool goes quiet
	closed      bool            // set by the first Close or Drain; never cleared
	sweeper     *time.Timer     // retires idle workers; made by the first worker to park, stopped by Close, replaced by a Reconfigure of the idle timeout
	sweepArmed  bool            // sweeper will fire
	sweepGen    uint64          // incremented when sweeper is discarded: a callback of a discarded sweeper does nothing
	period      uint64          // incremented each time sweeper is armed
	doneClosed  bool            // done has been closed
	completed   uint64
	failed      uint64
	panicked    uint64
	rejected    uint64
	expired     uint64
	shed        uint64
	discarded   uint64
}

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
		cfg:         cfg,
		err:         cfg.err,
		qcap:        max(queueSize, 0),
		size:        size,
		maxWait:     cfg.maxWait,
		idleTimeout: cfg.idle,
		epoch:       time.Now(),
		done:        make(chan struct{}),
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
	p.marked = context.WithValue(cfg.base, ownerKey{p}, struct{}{})
	p.runCtx, p.cancelRun = context.WithCancelCause(p.marked)
	p.baseCmp = reflect.TypeOf(cfg.base).Comparable()
	p.stamp.Store(cfg.stamps())
	p.codel = cfg.codel
	p.lifoAt = cfg.takeNewestFrom()
	if cfg.metrics != nil {
		p.inst = newInstruments(cfg.metrics, cfg.name)
		p.inst.size.Set(float64(size))
	}
	return p
}

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

// String returns "pool(name)", or "pool" for an unnamed pool.
func (p *Pool) String() string {
	if p.cfg.name == "" {
		return "pool"
	}
	return "pool(" + p.cfg.name + ")"
}

// now returns the monotonic time since the pool's epoch, in nanoseconds.
func (p *Pool) now() int64 { return int64(time.Since(p.epoch)) }
