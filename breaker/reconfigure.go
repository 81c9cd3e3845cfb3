package breaker

import "github.com/ionkit/ion"

// params are a breaker's tunable parameters: everything its options set
// except its name, sinks and listeners. They are immutable once built;
// [Breaker.Reconfigure] replaces them whole.
type params struct {
	threshold   int32   // consecutive failures that trip; 0 with another rule
	failureRate float64 // 0 = off
	burst       int     // WithFailuresWithin: failures that trip ...
	burstWithin int64   // ... within this many nanoseconds; 0 = off
	tripFunc    func(Counts) bool
	slowDur     int64 // nanoseconds; 0 = no slow-call rule
	slowRate    float64
	windowed    bool        // a rate rule is configured: closed results go through mu
	win         windowShape // the rate rules' window, when windowed

	openDur       int64
	backoffFactor float64
	backoffMax    int64
	jitter        float64
	seed          uint64

	maxCalls         int
	successThreshold int
}

// windowShape is what a window's options say: its kind, its geometry and
// its minimum number of calls.
type windowShape struct {
	kind     windowKind
	size     int   // count window: calls
	length   int64 // time window: nanoseconds ...
	buckets  int   // ... in this many buckets
	minCalls int
}

// newParams returns the parameters of a valid config.
func newParams(c *config) *params {
	p := &params{
		threshold:        int32(c.threshold),
		failureRate:      c.failureRate,
		burst:            c.burst,
		burstWithin:      int64(c.burstWithin),
		tripFunc:         c.tripFunc,
		slowDur:          int64(c.slowDuration),
		slowRate:         c.slowRate,
		windowed:         c.failureRate > 0 || c.slowDuration > 0,
		openDur:          int64(c.openDuration),
		backoffFactor:    c.backoffFactor,
		backoffMax:       int64(c.backoffMax),
		jitter:           c.jitter,
		seed:             c.seed,
		maxCalls:         c.halfOpenMaxCalls,
		successThreshold: c.successThreshold,
	}
	if p.windowed {
		p.win = windowShape{kind: c.window, size: c.windowSize, length: int64(c.windowLen),
			buckets: c.buckets, minCalls: c.minCalls}
	}
	return p
}

// sameOpening reports whether p and q compute the same open durations.
func (p *params) sameOpening(q *params) bool {
	return p.openDur == q.openDur && p.backoffFactor == q.backoffFactor && p.backoffMax == q.backoffMax &&
		p.jitter == q.jitter && p.seed == q.seed
}

// Reconfigure changes b's parameters in place to those that opts describe,
// exactly as New(name, opts...) would set them: options apply in order over
// the defaults, not over the parameters in force, so opts is the whole new
// configuration. The name, the sinks and the listeners given to [New] stay.
//
// b keeps its state ([Closed], [Open], [HalfOpen], [ForcedOpen] or
// [Disabled]), its generation and [Counts] (the run of consecutive
// outcomes included), its totals, and the openings counted for
// [WithOpenBackoff]. Reconfigure never changes the state itself: the new
// rules judge the results reported after it, so a breaker whose run of
// failures already exceeds a lowered threshold trips on its next failure,
// and a half-open breaker whose probe successes already reach a lowered
// success threshold closes on its next success. In detail:
//
//   - The window of the rate rules keeps its calls when its kind and
//     geometry (a count window's size; a time window's length and buckets)
//     are unchanged, whatever the rates and the minimum number of calls. A
//     count window of another size keeps its most recent calls, as many as
//     fit. A time window of another length or bucket count, or a window of
//     the other kind, starts empty.
//   - The failure-burst rule ([WithFailuresWithin]) keeps the times of its
//     most recent failures, as many as the new n holds.
//   - An open breaker lets probes through at the deadline the new open
//     duration, backoff and jitter give, counted from when it opened, but
//     not before Reconfigure returns: a shorter duration lets probes through
//     sooner, a longer one keeps the breaker open longer. The deadline does
//     not move when those three parameters are unchanged. An opening whose
//     deadline had passed before Reconfigure became half-open then, as
//     [Breaker.State] would have seen.
//   - Probes in flight in the half-open state finish; a lowered
//     WithHalfOpenMaxCalls admits new probes only once fewer are in flight.
//   - A [WithJitter] seed other than the one in force reseeds the random
//     source; the same seed keeps it.
//   - Calls in flight report to the new rules. The slow-call rule times only
//     the calls that started while it was on.
//
// Reconfigure returns an error matching ion.ErrInvalidConfig and changes
// nothing when an option is invalid (as New would fail closed), or when an
// option cannot change on a live breaker: [WithListener], [WithLogger],
// [WithMetrics] and [WithTracer] are fixed by New, and the error names the
// first one given. On a breaker that fails closed, or a zero Breaker, it
// returns [Breaker.Err] and changes nothing.
//
// Reconfigure takes b's lock briefly and does not block calls beyond it; it
// allocates the new parameters and, when its geometry changes, the window or
// the burst ring. It may deliver a transition to listeners (the expiry of
// an opening, as above) on the calling goroutine.
func (b *Breaker) Reconfigure(opts ...Option) error {
	if err := b.Err(); err != nil {
		return err
	}
	c := newConfig(opts)
	if c.err != nil {
		return c.err
	}
	if c.fixed != "" {
		return ion.NewConfigError("breaker", c.fixed, "only New takes it; Reconfigure keeps the breaker's sinks and listeners")
	}
	np := newParams(&c)
	b.mu.Lock()
	now := b.now()
	// An opening that already ended ends under the parameters it began
	// with: nobody happened to look at it yet, which must not matter.
	notify := b.expireLocked(now)
	op := b.p.Load()
	b.reshapeLocked(op, np, now)
	b.p.Store(np)
	b.windowed.Store(np.windowed)
	g := b.cur.Load()
	// The generation stays: results of calls in flight still count in it.
	// Only whether its Allow needs the clock may change.
	g.fast.Store(g.state == Closed && np.slowDur == 0)
	if g.state == Open && !op.sameOpening(np) {
		// An open generation has no tickets, so it can be swapped for one
		// with the new deadline without making any result stale. Same
		// state, same start: no transition.
		until := max(g.since+b.openDurationLocked(), now)
		b.retireLocked(&generation{b: b, state: Open, since: g.since, until: until})
	}
	b.mu.Unlock()
	if notify {
		b.drain()
	}
	return nil
}

// reshapeLocked gives the state that the parameters shape (the window, the
// burst ring, the random source) the shape of np, from that of op, keeping
// what fits. It must be called with b.mu held.
func (b *Breaker) reshapeLocked(op, np *params, now int64) {
	switch {
	case !np.windowed:
		b.win = window{}
	case op.windowed && op.win.kind == np.win.kind && op.win.size == np.win.size &&
		op.win.length == np.win.length && op.win.buckets == np.win.buckets:
		b.win.minCalls = int64(np.win.minCalls)
	case op.windowed && op.win.kind == windowCount && np.win.kind == windowCount:
		b.win = b.win.resized(np.win.size, np.win.minCalls)
	default:
		b.win = newWindow(np)
		b.win.reset(now)
	}

	switch {
	case np.burstWithin == 0:
		b.failTimes, b.failNext = nil, 0
	case op.burstWithin == 0 || op.burst != np.burst:
		// The newest times that fit, oldest first, so that the oldest is
		// at failNext = 0 once the ring is full, as burstLocked expects.
		// (The old ring's oldest is at failNext; it is 0 until full.)
		n := len(b.failTimes)
		times := make([]int64, 0, np.burst)
		for i := max(n-np.burst, 0); i < n; i++ {
			times = append(times, b.failTimes[(b.failNext+i)%n])
		}
		b.failTimes, b.failNext = times, 0
	}

	switch {
	case np.jitter == 0:
		b.rng = nil
	case b.rng == nil || np.seed != op.seed:
		b.rng = newRand(np.seed)
	}
}

// resized returns a count window of size calls holding w's most recent
// calls, as many as fit, with minCalls.
func (w *window) resized(size, minCalls int) window {
	nw := window{kind: windowCount, minCalls: int64(minCalls), ring: make([]uint8, size)}
	// w's calls in order, oldest first: the ring from next on, skipping the
	// slots not yet used.
	calls := make([]uint8, 0, len(w.ring))
	for i := range w.ring {
		if f := w.ring[(w.next+i)%len(w.ring)]; f&flagCall != 0 {
			calls = append(calls, f)
		}
	}
	calls = calls[max(len(calls)-size, 0):]
	for _, f := range calls {
		nw.ring[nw.next] = f
		nw.next = (nw.next + 1) % size
		nw.calls++
		nw.failures += int64(f >> 1 & 1)
		nw.slow += int64(f >> 2 & 1)
	}
	return nw
}
