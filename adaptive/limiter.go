package adaptive

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/internal/codel"
	"github.com/ionkit/ion/observe"
)

// Limiter is an adaptive concurrency limiter: a bulkhead whose capacity, the
// limit, moves with what the calls through it observe. At most limit calls
// run at once; the limit grows while latency stays near the no-load RTT and
// shrinks when latency shows queueing ([Algorithm]) or when calls fail
// ([WithBackoff]), between the bounds of [WithLimits].
//
// Calls go through a Limiter with its [Policy]. A call that finds the limit
// reached is rejected with [ErrLimited] at once, or, with [WithMaxWait],
// waits in a queue that serves higher priorities first (see [Priority]),
// optionally managed by CoDel ([WithCoDel]) and adaptive LIFO
// ([WithAdaptiveLIFO]).
//
// The zero value is not usable; build one with [NewLimiter]. A Limiter is
// safe for concurrent use by multiple goroutines, and one Limiter may guard
// calls of several result types through several policies.
type Limiter struct {
	name    string
	metrics *limiterInstruments
	tracer  observe.Tracer
	err     error
	// desc is its policies' String and span name, built for the
	// algorithm in force by NewLimiter and by Reconfigure (under mu), so
	// that a call reads it without building it; nil in a zero Limiter.
	desc atomic.Pointer[string]

	// mu guards the fields below. It is held for a few field updates per
	// call: admission, and the release that records the sample and, once
	// per window, moves the limit.
	mu sync.Mutex

	// The parameters: set by NewLimiter, changed by Reconfigure.
	tuning     tuning // its bounds are 0 only in a zero Limiter
	window     time.Duration
	minSamples int
	maxWait    time.Duration
	maxQueue   int // 0: the current limit
	lifoAt     int // 0: never LIFO

	limit    float64 // the current limit, within the bounds
	inflight int     // calls holding a permit; never negative
	queue    waitQueue
	codel    codel.State // its Target and Interval are parameters
	est      estimates
	win      window   // the open sample window
	shed     shedding // the current window's rejections
	lastShed shedding // the last closed window's rejections
}

// shedding records the highest priority a Limiter rejected in a window.
type shedding struct {
	prio Priority
	any  bool
}

func (s *shedding) add(p Priority) {
	if !s.any || p > s.prio {
		s.prio, s.any = p, true
	}
}

// NewLimiter returns a Limiter configured by opts; see the options for the
// defaults. It never panics: an invalid option (min above max, a
// non-positive window, a NaN factor, ...) gives a Limiter whose every call
// fails closed with an error matching ion.ErrInvalidConfig that names the
// option.
func NewLimiter(opts ...LimiterOption) *Limiter {
	c := newLimiterConfig(opts)
	initial := c.initial
	if initial == 0 {
		initial = min(c.maxLimit, max(c.minLimit, 20))
	} else if c.err == nil && (initial < c.minLimit || initial > c.maxLimit) {
		c.fail(configError("WithInitialLimit", "must be within the limits %d..%d, got %d", c.minLimit, c.maxLimit, initial))
	}
	l := &Limiter{
		name:       c.name,
		tuning:     c.tuning,
		window:     c.window,
		minSamples: c.minSamples,
		maxWait:    c.maxWait,
		maxQueue:   c.maxQueue,
		lifoAt:     c.lifoAt,
		tracer:     c.tracer,
		err:        c.err,
		limit:      float64(initial),
		codel:      codel.State{Target: c.codelTarget, Interval: c.codelInterval},
	}
	l.win.start = time.Now()
	l.desc.Store(describeLimiter(c.name, c.tuning.alg))
	if l.err == nil {
		l.metrics = newLimiterInstruments(c.metrics, c.name)
		l.metrics.window(l.limit, l.est)
	}
	return l
}

// describe returns the String and span name of l's policies.
func (l *Limiter) describe() string {
	if d := l.desc.Load(); d != nil {
		return *d
	}
	return *describeLimiter("", Vegas) // a zero Limiter's
}

func describeLimiter(name string, alg Algorithm) *string {
	d := "adaptive limiter(" + alg.String() + ")"
	if name != "" {
		d = "adaptive limiter(" + name + ", " + alg.String() + ")"
	}
	return &d
}

// newLimiterConfig returns the defaults with opts applied, in order.
func newLimiterConfig(opts []LimiterOption) limiterConfig {
	c := limiterConfig{
		minLimit:   1,
		maxLimit:   1000,
		tuning:     tuning{smoothing: 0.5, backoff: 0.9, tolerance: 1.5},
		window:     time.Second,
		minSamples: 20,
	}
	for i, o := range opts {
		if o == nil {
			c.fail(configError("opts", "nil LimiterOption at position %d", i))
			continue
		}
		o.applyLimiter(&c)
	}
	c.tuning.minLimit, c.tuning.maxLimit = float64(c.minLimit), float64(c.maxLimit)
	return c
}

// Stats is a snapshot of a [Limiter].
type Stats struct {
	Limit     int           // the current limit: at most this many calls are admitted at once
	InFlight  int           // calls holding a permit now; above Limit only after the limit fell
	Queued    int           // calls waiting for a permit now
	RTT       time.Duration // the mean RTT of the successes of the last sample window; 0 before the first
	NoLoadRTT time.Duration // the estimated RTT without queueing; 0 before the first window
}

// Stats returns a consistent snapshot of l. It takes l's lock briefly and
// does not allocate. A fail-closed Limiter reports zeros.
func (l *Limiter) Stats() Stats {
	if l.err != nil {
		return Stats{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Limit:     int(l.limit),
		InFlight:  l.inflight,
		Queued:    l.queue.n,
		RTT:       time.Duration(l.est.rtt),
		NoLoadRTT: time.Duration(l.est.noLoad),
	}
}

// Shedding reports the highest priority l rejected in the current or the
// last sample window, and true; or false when it rejected nothing then.
// Calls of a priority above the one reported were all admitted: that
// priority is where shedding happens now. A window older than twice the
// sample window no longer counts. A fail-closed Limiter reports false.
func (l *Limiter) Shedding() (Priority, bool) {
	if l.err != nil {
		return Normal, false
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.shed
	if l.lastShed.any && now.Sub(l.win.start) < 2*l.window {
		s.add(l.lastShed.prio)
	}
	return s.prio, s.any
}

// Err returns the configuration error that makes l fail closed, or nil.
func (l *Limiter) Err() error { return l.err }

// permit is a call's hold on a Limiter, returned by acquire and handed back
// to release.
type permit struct {
	start    time.Time // when the call was admitted
	inflight int       // calls in flight once it was admitted
}

// capLocked returns the number of calls the limit admits. It must be called
// with l.mu held.
func (l *Limiter) capLocked() int { return int(l.limit) }

// acquire admits a call of priority prio or returns why it cannot. It
// blocks only with a max wait (the one in force when it starts waiting),
// until a permit is granted, the wait ends or ctx ends. It does not
// allocate unless it has to wait.
func (l *Limiter) acquire(ctx context.Context, prio Priority) (permit, error) {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			l.metrics.count(resCanceled)
			return permit{}, &ctxError{err: ctx.Err()}
		default:
		}
	}
	now := time.Now()
	l.mu.Lock()
	if l.inflight < l.capLocked() {
		l.inflight++
		p := permit{start: now, inflight: l.inflight}
		l.mu.Unlock()
		l.metrics.count(resAdmitted)
		return p, nil
	}
	l.win.full = true
	if l.maxWait == 0 {
		l.shed.add(prio)
		l.mu.Unlock()
		l.metrics.count(resRejected)
		return permit{}, ErrLimited
	}
	maxQueue := l.maxQueue
	if maxQueue == 0 {
		maxQueue = l.capLocked()
	}
	var evicted *waiter
	if l.queue.n >= maxQueue {
		evicted = l.queue.victim(prio)
		if evicted == nil {
			l.shed.add(prio)
			l.mu.Unlock()
			l.metrics.count(resRejected)
			return permit{}, ErrLimited
		}
		l.queue.remove(evicted)
		evicted.done = true
		l.shed.add(evicted.prio)
		evicted.ready <- ErrLimited // buffered and sent once: never blocks
	}
	w := &waiter{prio: prio, enq: now, ready: make(chan error, 1)}
	l.queue.push(w)
	maxWait := l.maxWait
	l.mu.Unlock()
	// An evicted waiter counts its own rejection when its wait returns.
	p, err := l.wait(ctx, done, w, maxWait)
	switch _, isCtx := err.(*ctxError); {
	case err == nil:
		l.metrics.count(resAdmitted)
	case isCtx:
		l.metrics.count(resCanceled)
	default:
		l.metrics.count(resRejected)
	}
	return p, err
}

// sample says how a call's completion counts for the limit.
type sample uint8

const (
	sampleSuccess sample = iota // its RTT is measured
	sampleDrop                  // a Failure: the limit backs off
	sampleIgnored               // says nothing: only the permit comes back
)

// release returns p's permit, records the call's sample and, when the
// sample window is complete, moves the limit; then it serves waiters the
// limit now has room for.
func (l *Limiter) release(p permit, s sample) {
	now := time.Now()
	closed := false
	l.mu.Lock()
	if s != sampleIgnored {
		l.win.add(now.Sub(p.start), p.inflight, s == sampleDrop)
		if now.Sub(l.win.start) >= l.window && l.win.samples() >= l.minSamples {
			l.limit = l.tuning.next(l.limit, &l.est, &l.win)
			l.lastShed, l.shed = l.shed, shedding{}
			l.win = window{start: now}
			closed = true
		}
	}
	if l.inflight > 0 {
		l.inflight--
	}
	l.serveLocked(now)
	limit, est := l.limit, l.est
	l.mu.Unlock()
	if closed {
		// The sinks are user code: called after the unlock, with a
		// snapshot.
		l.metrics.window(limit, est)
	}
}
