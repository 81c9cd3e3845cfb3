package limit

import (
	"github.com/ionkit/ion/internal/spin"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the engine shared by every limiter of the package: a
// lock-free GCRA ("generic cell rate algorithm", the virtual-scheduling form
// of a token bucket).
//
// The whole state of a bucket is one number, the theoretical arrival time
// (tat): the time at which the bucket would be full again if nothing else
// were taken. With an emission interval T = 1/rate and a tolerance
// tau = burst*T, the tokens available at time now are
//
//	tokens(now) = (tau - (max(tat, now) - now)) / T
//
// and taking n tokens at now sets tat = max(tat, now) + n*T, which is
// admitted at once when tat - now <= tau and otherwise after tat - tau - now.
// A token bucket that starts full starts with tat in the distant past.
//
// Because the state is one word, Allow is a load, some integer arithmetic and
// a compare-and-swap: no mutex, no float. Time is an int64 count of
// nanoseconds since the package's base time (one monotonic clock read per
// call, time.Since, instead of time.Now's two), scaled into fixed-point
// "units" so that an interval is an integer with 30 significant bits
// whatever the rate: 1e12 events per second and one event per 300 years are
// both exact to about one part in a billion, and no product overflows.
//
// The parameters (rate, burst, scaling, temporary limit) live beside the
// state in an immutable epoch. Changing them seals the current epoch (its tat
// becomes the sealed value, which no compare-and-swap can ever match again)
// and publishes a new one, converted so that the tokens accrued so far are
// kept. An operation that raced with the change fails its compare-and-swap
// and retries on the new epoch, so no operation ever applies one epoch's
// parameters to another's state (no ABA). Epochs also bound the range of
// times the fast path serves: a time past the window (a temporary limit that
// has expired, or a time so far from the epoch's origin that its units would
// overflow) takes the slow path, which reverts or re-bases under the mutex.

var base = time.Now()

// nowNs returns the current time as nanoseconds since base. Outside a
// synctest bubble it reads only the monotonic clock.
func nowNs() int64 { return int64(time.Since(base)) }

// fresher returns a new clock reading if it is later than ns. The methods
// that read the clock themselves (Allow, Wait, a policy's admission) call it
// before refusing: a goroutine descheduled between its reading and the
// compare-and-swap (a GC assist, CPU throttling, a thousand goroutines on
// two Ps) comes back with a reading that other callers have moved the
// bucket past, and would be refused by a bucket that has tokens. The second
// reading costs only refusals, never an admission.
func fresher(ns int64) (int64, bool) {
	if now := nowNs(); now > ns {
		return now, true
	}
	return ns, false
}

// offsetOf returns t as nanoseconds since base, clamped to ±2^62 (±146
// years) so that differences of offsets never overflow. Every time further
// away is served as that bound.
func offsetOf(t time.Time) int64 {
	return min(max(int64(t.Sub(base)), -maxOffset), maxOffset-1)
}

const (
	maxOffset = 1 << 62
	// sealed is the tat of a superseded epoch.
	sealed = math.MinInt64
	// fullTat is the tat of a bucket that is full at every time its epoch
	// serves.
	fullTat = -1 << 62
	// maxTat bounds tat; a reservation that would pass it is refused.
	maxTat = 1 << 62
	// unitSpan bounds |units| of the times an epoch serves.
	unitSpan = 1 << 61
	// precision is the number of significant bits of an interval.
	precision = 30
	// maxShl bounds the sub-nanosecond scaling (rates above ~1e15/s lose
	// precision rather than range).
	maxShl = 40
	// maxIntervalNs is the longest interval a rate can have; slower rates
	// (below ~2e-16/s) are treated as zero.
	maxIntervalNs = 1 << 80
	// maxBurst bounds the burst, so that burst*interval fits in 60 bits.
	maxBurst = 1 << 50
	// exceeds is the wait reserve reports for n > burst.
	exceeds = -1
)

// limits is a rate and a burst (or capacity).
type limits struct {
	rate  Rate
	burst int
}

// params are an epoch's immutable parameters.
type params struct {
	lo       int64  // the fast path serves lo <= ns < lo+width
	width    uint64 //
	origin   int64  // ns of unit 0
	shl, shr uint8  // units = ((ns - origin) << shl) >> shr
	interval int64  // units per token, >= 1
	tau      int64  // burst * interval
	burst    int64  //
	inf      bool   // rate Inf: everything is admitted, tat unused
	frozen   bool   // rate 0: time mints nothing, units are always 0

	lim   limits // the limits in force
	temp  bool   // lim is temporary: perm is restored at until
	perm  limits //
	until int64  // ns; the end of a temporary limit
}

// epoch is a bucket's state under one set of parameters.
//
// tat sits on a cache line of its own: under contention that line moves
// between cores on every update, while the parameters, which every
// operation reads, stay shared in every core's cache. (An epoch allocated
// on its own is 192 bytes, allocated at a multiple of 192, hence 64-byte
// aligned; one embedded in a Keyed entry is not, which costs only padding.)
type epoch struct {
	params
	_   [128 - paramsSize]byte
	tat atomic.Int64 // units since origin; sealed once superseded
	_   [56]byte
}

// paramsSize is the size of params, checked by a test.
const paramsSize = 112

// makeEpoch returns an epoch for l whose unit 0 is at origin. Its tat is 0
// (the caller sets it) and it has no temporary limit.
func makeEpoch(l limits, origin int64) *epoch {
	e := new(epoch)
	e.setup(l, origin)
	return e
}

// setup sets p to the parameters of limits l with unit 0 at origin.
func (p *params) setup(l limits, origin int64) {
	*p = params{lim: l, origin: origin, burst: int64(l.burst)}
	e := p
	f := float64(l.rate)
	tns := 1e9 / f // +Inf for a zero rate
	switch {
	case l.rate.isInf():
		e.inf = true
	case tns > maxIntervalNs:
		e.frozen = true
		e.interval = 1
		e.tau = e.burst
	default:
		s := min(precision-math.Ilogb(tns), maxShl)
		// Keep tau = burst*interval within 60 bits by trading precision.
		for s > -62 && float64(e.burst)*math.Ldexp(tns, s) > 1<<60 {
			s--
		}
		e.interval = max(int64(math.Floor(math.Ldexp(tns, s))), 1)
		e.tau = e.burst * e.interval
		if s >= 0 {
			e.shl = uint8(s)
		} else {
			e.shr = uint8(-s)
		}
	}
	e.setWindow()
}

// setWindow computes lo and width from origin, the scaling and until.
func (p *params) setWindow() {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !p.inf && !p.frozen {
		span := int64(maxOffset)
		if p.shr == 0 {
			span = unitSpan >> p.shl
		}
		lo, hi = max(p.origin-span, -maxOffset), min(p.origin+span, maxOffset)
	}
	if p.temp && p.until < hi {
		hi = p.until
	}
	p.lo, p.width = lo, uint64(hi)-uint64(lo)
}

// serves reports whether the fast path may use the epoch at ns.
func (p *params) serves(ns int64) bool { return uint64(ns-p.lo) < p.width }

// clamp returns ns clamped to the window.
func (p *params) clamp(ns int64) int64 {
	hi := int64(uint64(p.lo) + p.width - 1)
	return min(max(ns, p.lo), hi)
}

// units converts ns (within the window) to units since origin.
func (p *params) units(ns int64) int64 {
	if p.frozen {
		return 0
	}
	return ((ns - p.origin) << p.shl) >> p.shr
}

// toNs converts a positive number of units to ns, rounding up (a waiter
// never wakes early) and saturating at never.
func (p *params) toNs(u int64) int64 {
	switch {
	case p.frozen:
		return int64(never)
	case p.shr > 0:
		if u > int64(never)>>p.shr {
			return int64(never)
		}
		return u << p.shr
	}
	return (u + 1<<p.shl - 1) >> p.shl
}

// tokens returns the tokens available at ns for the state tat. It is +Inf
// for an Inf rate.
func (p *params) tokens(tat, ns int64) float64 {
	if p.inf {
		return math.Inf(1)
	}
	u := p.units(ns)
	return float64(p.tau-(max(tat, u)-u)) / float64(p.interval)
}

// tatFor returns the tat that leaves tok tokens at origin, rounding the
// tokens down.
func (p *params) tatFor(tok float64) int64 {
	switch {
	case p.inf || tok >= float64(p.burst):
		return 0
	}
	debt := float64(p.tau) - math.Floor(tok*float64(p.interval))
	if debt >= maxTat {
		return maxTat
	}
	return int64(debt)
}

// ticket records what a reservation took, so that it can be refunded.
type ticket struct {
	e     *epoch // the epoch the tokens were taken in; nil if nothing was
	act   int64  // the time to act, in e's units
	actNs int64  // the time to act, in ns
	n     int64
}

// bucket is the lock-free GCRA engine. The zero value is not usable: call
// init.
type bucket struct {
	// keepLevel makes limit changes keep the level (burst - tokens, the
	// leaky-bucket view) instead of the tokens. Set before first use.
	keepLevel bool

	cur atomic.Pointer[epoch]
	// mu serializes epoch changes (and the slow path that performs them).
	mu sync.Mutex
}

// init makes b a full bucket with limits l; ns is the current time. Its
// first epoch is e, which the caller may embed beside b to save an
// allocation; nil allocates one.
func (b *bucket) init(l limits, ns int64, e *epoch) {
	if e == nil {
		e = new(epoch)
	}
	e.setup(l, ns)
	e.tat.Store(fullTat)
	b.cur.Store(e)
}

// snapshot returns the tokens available at ns and the limits in force.
func (b *bucket) snapshot(ns int64) (float64, limits) {
	e, ns, tat := b.state(ns)
	return e.tokens(tat, ns), e.lim
}

// full reports whether the bucket holds its whole burst at ns, that is,
// whether forgetting it would change nothing.
func (b *bucket) full(ns int64) bool {
	e, ns, tat := b.state(ns)
	return e.inf || tat <= e.units(ns)
}

// load returns the epoch serving ns and ns itself, clamped to the epoch's
// window if it lies in the distant past.
func (b *bucket) load(ns int64) (*epoch, int64) {
	if e := b.cur.Load(); e.serves(ns) {
		return e, ns
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.settleLocked(ns)
}

// waitSwitch waits for the epoch change in progress to finish: the changer
// holds mu from sealing the old epoch until it publishes the new one.
func (b *bucket) waitSwitch() {
	b.mu.Lock()
	//lint:ignore SA2001 an empty critical section is the point: it waits for the holder.
	b.mu.Unlock()
}

// settleLocked makes the current epoch serve ns, reverting an expired
// temporary limit and re-basing as needed. It must be called with b.mu held.
func (b *bucket) settleLocked(ns int64) (*epoch, int64) {
	for {
		e := b.cur.Load()
		switch {
		case e.temp && ns >= e.until:
			// The revert takes effect at until, not at ns: the tokens
			// accrued since then accrue at the restored rate.
			b.replaceLocked(e, e.until, e.perm, false, 0, limits{})
		case e.serves(ns) || e.inf || e.frozen:
			return e, ns
		case ns < e.lo && (e.temp || e.tat.Load() > e.units(e.lo)):
			// Far before the window, while the bucket is not full at its
			// start (or a temporary limit is in force): serve the window's
			// earliest time. That is no more permissive than any time the
			// bucket has served since, and moving the origin back would
			// have to clamp the state. A full bucket is re-based losslessly.
			return e, e.lo
		default:
			b.rebaseLocked(e, ns)
			if ne := b.cur.Load(); !ne.serves(ns) {
				return ne, ne.clamp(ns) // only past the clamped range of offsets
			}
		}
	}
}

// rebaseLocked moves e's origin to (about) ns, keeping its parameters and
// its state: exactly, unless ns is so far before the origin that the state
// is past maxTat there, where it is clamped (no tokens at ns either way).
// It must be called with b.mu held.
func (b *bucket) rebaseLocked(e *epoch, ns int64) {
	old := e.tat.Swap(sealed)
	shift := (ns - e.origin) &^ (1<<e.shr - 1) // whole units, so the shift is exact
	ne := &epoch{params: e.params}
	ne.origin += shift
	ne.setWindow()
	var tat int64
	switch {
	case old == fullTat || (e.shl > 0 && shift > math.MaxInt64>>e.shl):
		tat = fullTat // the shift alone is more than any state's span: full
	case e.shl > 0 && shift < math.MinInt64>>e.shl:
		tat = maxTat
	default:
		switch u := (shift << e.shl) >> e.shr; {
		case u > old+unitSpan: // old-u < -unitSpan, without overflow
			tat = fullTat
		case u < 0 && old > maxTat+u:
			tat = maxTat
		default:
			tat = old - u
		}
	}
	ne.tat.Store(tat)
	b.cur.Store(ne)
}

// replaceLocked replaces e by an epoch with limits l from at (ns), keeping
// the tokens available at at. With temp, l lasts until until and perm is
// restored then. It must be called with b.mu held.
func (b *bucket) replaceLocked(e *epoch, at int64, l limits, temp bool, until int64, perm limits) {
	old := e.tat.Swap(sealed)
	tok := e.tokens(old, at)
	if b.keepLevel {
		tok += float64(l.burst) - float64(e.burst)
	}
	ne := makeEpoch(l, at)
	if temp {
		ne.temp, ne.until, ne.perm = true, until, perm
		ne.setWindow()
	}
	ne.tat.Store(ne.tatFor(tok))
	b.cur.Store(ne)
}

// reserve takes n > 0 tokens at ns if they can be had within maxWait ns. It
// returns the ticket, the wait before the tokens may be used and true; or,
// without changing state, false with the wait that would have been needed
// (exceeds for n > burst, never when no wait is representable). clock says
// that ns is a clock reading the caller has just taken (see retryAfterLoss).
func (b *bucket) reserve(ns, n, maxWait int64, clock bool) (ticket, int64, bool) {
	var bo spin.Backoff
	for {
		e, at := b.load(ns)
		if e.inf {
			return ticket{}, 0, true
		}
		if n > e.burst {
			return ticket{}, exceeds, false
		}
		tat := e.tat.Load()
		if tat == sealed {
			b.waitSwitch()
			continue
		}
		now := e.units(at)
		newTat := max(tat, now) + n*e.interval
		if newTat > maxTat {
			return ticket{}, int64(never), false
		}
		act, wait := newTat-e.tau, int64(0)
		if act > now {
			wait = e.toNs(act - now)
			if wait > maxWait || wait >= int64(never) {
				return ticket{}, wait, false
			}
		} else {
			act = now
		}
		if e.tat.CompareAndSwap(tat, newTat) {
			return ticket{e: e, act: act, actNs: min(at, maxOffset) + min(wait, maxOffset), n: n}, wait, true
		}
		ns = retryAfterLoss(&bo, ns, clock)
	}
}

// retryAfterLoss is called by a reservation whose compare-and-swap of tat
// lost to another core. It backs off (see spin.Backoff: two cores admitting
// in a tight loop then batch their admissions instead of trading tat's cache
// line at every try) and returns the time to retry at: a fresh clock reading
// when ns is one (clock), so that the wait does not age it, since a stale
// reading could admit at a time the bucket had already passed; ns otherwise.
func retryAfterLoss(bo *spin.Backoff, ns int64, clock bool) int64 {
	bo.Wait()
	if clock {
		return max(ns, nowNs())
	}
	return ns
}

// take takes n > 0 tokens at ns if they are available at once, and
// reports whether it did. It is reserve with maxWait 0, trimmed for Allow:
// the window between loading the state and swapping it is kept as short as
// possible, since under contention that is when another core steals it.
// clock is as for reserve.
func (b *bucket) take(ns, n int64, clock bool) bool {
	var bo spin.Backoff
	for {
		e, at := b.load(ns)
		if e.inf {
			return true
		}
		if n > e.burst {
			return false
		}
		now, cost := e.units(at), n*e.interval
		// max(tat, now) + cost - now <= tau, and now <= now + tau - cost
		// since cost <= tau: admitted exactly when tat <= limit.
		limit := now + e.tau - cost
		tat := e.tat.Load()
		if tat == sealed {
			b.waitSwitch()
			continue
		}
		if tat > limit {
			return false
		}
		if e.tat.CompareAndSwap(tat, max(tat, now)+cost) {
			return true
		}
		ns = retryAfterLoss(&bo, ns, clock)
	}
}

// peek reports, without changing state, whether n > 0 tokens are available
// at ns, and the wait for them otherwise (as reserve reports it).
func (b *bucket) peek(ns, n int64) (int64, bool) {
	e, ns, tat := b.state(ns)
	if e.inf {
		return 0, true
	}
	if n > e.burst {
		return exceeds, false
	}
	now := e.units(ns)
	act := max(tat, now) + n*e.interval - e.tau
	if act <= now {
		return 0, true
	}
	return e.toNs(act - now), false
}

// state returns the epoch serving ns, ns (clamped as load does) and the
// epoch's tat, which is not sealed.
func (b *bucket) state(ns int64) (*epoch, int64, int64) {
	for {
		e, ns := b.load(ns)
		if tat := e.tat.Load(); tat != sealed {
			return e, ns, tat
		}
		b.waitSwitch()
	}
}

// cancel gives back the tokens of t at ns, less those that reservations
// made after t have already counted on. Unless force is set, nothing is
// given back once t's time to act has passed (the tokens are presumed used).
func (b *bucket) cancel(t ticket, ns int64, force bool) {
	if t.e == nil {
		return
	}
	for {
		e, ns := b.load(ns)
		if e.inf {
			return
		}
		tat := e.tat.Load()
		if tat == sealed {
			b.waitSwitch()
			continue
		}
		now, act, n := e.units(ns), t.act, t.n
		if e != t.e {
			// The parameters changed since: refund at the current rate.
			act, n = e.units(e.clamp(t.actNs)), min(n, e.burst)
		}
		if !force && now > act {
			return
		}
		pending := max(tat-e.tau-max(act, now), 0)
		refund := n*e.interval - pending
		if refund <= 0 {
			return
		}
		if e.tat.CompareAndSwap(tat, tat-refund) {
			return
		}
	}
}

// tokensAt returns the tokens available at ns.
func (b *bucket) tokensAt(ns int64) float64 {
	e, ns, tat := b.state(ns)
	return e.tokens(tat, ns)
}

// limitsAt returns the limits in force at ns.
func (b *bucket) limitsAt(ns int64) limits {
	e, _ := b.load(ns)
	return e.lim
}

// raiseTat moves tat up to at least target(e, now) (fewer tokens), never
// down.
func (b *bucket) raiseTat(ns int64, target func(e *epoch, now int64) int64) {
	for {
		e, ns := b.load(ns)
		if e.inf {
			return
		}
		tat := e.tat.Load()
		if tat == sealed {
			b.waitSwitch()
			continue
		}
		now := e.units(ns)
		want := min(target(e, now), maxTat)
		if max(tat, now) >= want || e.tat.CompareAndSwap(tat, want) {
			return
		}
	}
}

// drainTo lowers the tokens available at ns to at most k (k >= 0).
func (b *bucket) drainTo(ns, k int64) {
	b.raiseTat(ns, func(e *epoch, now int64) int64 {
		return now + e.tau - min(k, e.burst)*e.interval
	})
}

// update makes fn(perm) the limits from ns on, keeping the tokens accrued;
// perm are the current permanent limits. While a temporary limit is in
// force, the new limits replace those restored when it ends. An error from
// fn is returned and changes nothing.
func (b *bucket) update(ns int64, fn func(perm limits) (limits, error)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ns := b.settleLocked(ns)
	if !e.temp {
		l, err := fn(e.lim)
		if err == nil {
			b.replaceLocked(e, ns, l, false, 0, limits{})
		}
		return err
	}
	l, err := fn(e.perm)
	if err == nil {
		ne := &epoch{params: e.params}
		ne.perm = l
		ne.tat.Store(e.tat.Swap(sealed))
		b.cur.Store(ne)
	}
	return err
}

// setTemp puts l in force from ns until until, then restores the current
// permanent limits. A temporary limit set while another is in force replaces
// it and keeps the permanent limits.
func (b *bucket) setTemp(ns int64, l limits, until int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ns := b.settleLocked(ns)
	perm := e.lim
	if e.temp {
		perm = e.perm
	}
	b.replaceLocked(e, ns, l, true, until, perm)
}

// clearTemp restores the permanent limits at ns.
func (b *bucket) clearTemp(ns int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ns := b.settleLocked(ns); e.temp {
		b.replaceLocked(e, ns, e.perm, false, 0, limits{})
	}
}

// fill makes the bucket full, keeping its parameters.
func (b *bucket) fill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.cur.Load()
	e.tat.Swap(sealed)
	ne := &epoch{params: e.params}
	ne.tat.Store(fullTat)
	b.cur.Store(ne)
}
