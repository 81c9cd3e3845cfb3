package limit

import (
	"math"
	"sync"
	"time"
)

// This file holds the engine shared by every limiter of the package: GCRA
// ("generic cell rate algorithm", the virtual-scheduling form of a token
// bucket) under one short mutex.
//
// The state of a bucket is one number, the theoretical arrival time (tat):
// the time at which the bucket would be full again if nothing else were
// taken. With an emission interval T = 1/rate and a tolerance tau =
// burst*T, the tokens available at time now are
//
//	tokens(now) = (tau - (max(tat, now) - now)) / T
//
// and taking n tokens at now sets tat = max(tat, now) + n*T, which is
// admitted at once when tat - now <= tau and otherwise after tat - tau - now.
// A token bucket that starts full starts with tat in the distant past.
//
// Time is an int64 count of nanoseconds since the package's base time (one
// monotonic clock read per call, time.Since, instead of time.Now's two),
// scaled into fixed-point "units" so that an interval is an integer with 30
// significant bits whatever the rate: 1e12 events per second and one event
// per 300 years are both exact to about one part in a billion, no product
// overflows and nothing drifts. The parameters bound the range of times
// they serve (the window): a time past it (a temporary limit that has
// expired, or a time so far from the origin that its units would overflow)
// first reverts the temporary limit or re-bases the origin.
//
// Beside tat the bucket counts the tokens reserved so far, net of refunds
// (q). A cancelled reservation gives back its n tokens less those that
// reservations made after it have counted on, and both are measured in
// tokens, from q: a count of time would be wrong as soon as the rate
// changed between the reservation and its cancel.
//
// Why a mutex: an earlier engine kept tat in one atomic word, changed by
// compare-and-swap, with the parameters in immutable epochs swapped on every
// change. It was a few nanoseconds faster serially, but it needed a
// busy-wait backoff under contention, five copies of its retry loop and
// hand-kept padding, and it could not keep q beside tat, which a correct
// refund across a rate change needs. Measured side by side (see the
// package's benchmarks and bench/), the mutex keeps Allow well below
// golang.org/x/time/rate's, serial and contended, so the simpler design won.

var base = time.Now()

// nowNs returns the current time as nanoseconds since base. Outside a
// synctest bubble it reads only the monotonic clock.
func nowNs() int64 { return int64(time.Since(base)) }

// fresher returns a new clock reading if it is later than ns. The methods
// that read the clock themselves (Allow, Wait, a policy's admission) call it
// before refusing: a goroutine descheduled between its reading and taking
// the bucket's lock (a GC assist, CPU throttling, a thousand goroutines on
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
	// fullTat is the tat of a bucket that is full at every time its
	// parameters serve.
	fullTat = -1 << 62
	// maxTat bounds tat; a reservation that would pass it is refused.
	maxTat = 1 << 62
	// unitSpan bounds |units| of the times the parameters serve.
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

// params are a bucket's parameters under one set of limits, and the
// fixed-point scaling of its time.
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

// setup sets p to the parameters of limits l with unit 0 at origin.
func (p *params) setup(l limits, origin int64) {
	*p = params{lim: l, origin: origin, burst: int64(l.burst)}
	e := p // e is short for the code below, shared with the tests' figures
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

// perNs returns the refill rate of p in tokens per ns (0 for a frozen
// bucket).
func perNs(p *params) float64 {
	if p.frozen || p.inf {
		return 0
	}
	return float64(p.lim.rate) / 1e9
}

// nsOf converts units since origin to ns, rounding up (the refill measured
// from it is never overstated), clamped to ±maxOffset; it is used only to
// measure refills.
func (p *params) nsOf(u int64) int64 {
	if p.inf || p.frozen || u <= fullTat {
		return -maxOffset
	}
	var d int64
	switch {
	case p.shr > 0 && (u > maxOffset>>p.shr || u < -maxOffset>>p.shr):
		return min(max(p.origin+min(max(u, -1), 1)*maxOffset, -maxOffset), maxOffset)
	case p.shr > 0:
		d = u << p.shr
	default:
		d = (u + 1<<p.shl - 1) >> p.shl
	}
	return min(max(p.origin+d, -maxOffset), maxOffset)
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
	n     int64   // the tokens taken; 0: nothing was taken
	seq   uint64  // the bucket's seq just after the reservation
	prev  int64   // the bucket's tat just before it
	q     float64 // the bucket's q just after the reservation
	left  float64 // the tokens left in the bucket just after it (>= 0)
	actNs int64   // the time to act, in ns
	// A reservation made at a time later than its cancel (an all-or-nothing
	// charge at a future slot) also spent the refill between the two: the
	// bucket's full time before it (fullNs), the time it was made at (atNs)
	// and the rate in tokens per ns measure that refill at the cancel.
	fullNs, atNs int64
	perNs        float64
}

// bucket is the GCRA engine. The zero value is not usable: call init.
type bucket struct {
	// keepLevel makes limit changes keep the level (burst - tokens, the
	// leaky-bucket view) instead of the tokens. Set before first use.
	keepLevel bool

	// mu guards the fields below. It is held for a few arithmetic
	// operations and never while calling out.
	mu  sync.Mutex
	p   params  // the limits in force and the scaling of time
	tat int64   // units since p.origin
	q   float64 // tokens reserved since init, net of refunds (see cancel)
	seq uint64  // counts the changes of tat and of the parameters
}

// init makes b a full bucket with limits l; ns is the current time.
func (b *bucket) init(l limits, ns int64) {
	b.p.setup(l, ns)
	b.tat = fullTat
}

// snapshot returns the tokens available at ns and the limits in force.
func (b *bucket) snapshot(ns int64) (float64, limits) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ns = b.settleLocked(ns)
	return b.p.tokens(b.tat, ns), b.p.lim
}

// tokensAt returns the tokens available at ns.
func (b *bucket) tokensAt(ns int64) float64 {
	tok, _ := b.snapshot(ns)
	return tok
}

// limitsAt returns the limits in force at ns.
func (b *bucket) limitsAt(ns int64) limits {
	_, l := b.snapshot(ns)
	return l
}

// forgettable reports whether forgetting the bucket at ns, after idle ns
// without use, would lose nothing: it is full, no temporary limit is in
// force, and it has been idle at least the time it takes to refill from
// empty (so a key used steadily below its limit is kept, not rebuilt
// between calls).
func (b *bucket) forgettable(ns, idle int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	ns = b.settleLocked(ns)
	p := &b.p
	switch {
	case p.inf:
		return true
	case p.temp || b.tat > p.units(ns):
		return false
	}
	return idle >= p.toNs(p.tau)
}

// settleLocked makes the parameters serve ns, reverting an expired
// temporary limit and re-basing as needed, and returns the time to serve:
// ns, or the window's bound nearest to it when ns lies in the distant past
// (or past the clamped range of offsets). It must be called with b.mu held.
func (b *bucket) settleLocked(ns int64) int64 {
	for {
		p := &b.p
		switch {
		case p.temp && ns >= p.until:
			// The revert takes effect at until, not at ns: the tokens
			// accrued since then accrue at the restored rate.
			b.replaceLocked(p.until, p.perm, false, 0, limits{})
		case p.serves(ns) || p.inf || p.frozen:
			return ns
		case ns < p.lo && (p.temp || b.tat > p.units(p.lo)):
			// Far before the window, while the bucket is not full at its
			// start (or a temporary limit is in force): serve the window's
			// earliest time. That is no more permissive than any time the
			// bucket has served since, and moving the origin back would
			// have to clamp the state. A full bucket is re-based losslessly.
			return p.lo
		default:
			b.rebaseLocked(ns)
			if !b.p.serves(ns) {
				return b.p.clamp(ns) // only past the clamped range of offsets
			}
		}
	}
}

// rebaseLocked moves the origin to (about) ns, keeping the parameters and
// the state: exactly, unless ns is so far before the origin that the state
// is past maxTat there, where it is clamped (no tokens at ns either way).
// It must be called with b.mu held.
func (b *bucket) rebaseLocked(ns int64) {
	p := &b.p
	old := b.tat
	shift := (ns - p.origin) &^ (1<<p.shr - 1) // whole units, so the shift is exact
	var tat int64
	switch {
	case old == fullTat || (p.shl > 0 && shift > math.MaxInt64>>p.shl):
		tat = fullTat // the shift alone is more than any state's span: full
	case p.shl > 0 && shift < math.MinInt64>>p.shl:
		tat = maxTat
	default:
		switch u := (shift << p.shl) >> p.shr; {
		case u > old+unitSpan: // old-u < -unitSpan, without overflow
			tat = fullTat
		case u < 0 && old > maxTat+u:
			tat = maxTat
		default:
			tat = old - u
		}
	}
	p.origin += shift
	p.setWindow()
	b.tat = tat
	b.seq++
}

// replaceLocked puts limits l in force from at (ns), keeping the tokens
// available at at (the level, with keepLevel). With temp, l lasts until
// until and perm is restored then. It must be called with b.mu held.
func (b *bucket) replaceLocked(at int64, l limits, temp bool, until int64, perm limits) {
	tok := b.p.tokens(b.tat, at)
	if b.keepLevel {
		tok += float64(l.burst) - float64(b.p.burst)
	}
	b.seq++
	b.p.setup(l, at)
	if temp {
		b.p.temp, b.p.until, b.p.perm = true, until, perm
		b.p.setWindow()
	}
	b.tat = b.p.tatFor(tok)
}

// take takes n > 0 tokens at ns if they are available at once, and reports
// whether it did. It is reserve with maxWait 0, trimmed for Allow.
func (b *bucket) take(ns, n int64) bool {
	b.mu.Lock()
	p := &b.p
	if !p.serves(ns) { // the window ends at a temporary limit's end, so this covers its revert
		ns = b.settleLocked(ns)
	}
	if p.inf {
		b.mu.Unlock()
		return true
	}
	if n > p.burst {
		b.mu.Unlock()
		return false
	}
	now, cost := p.units(ns), n*p.interval
	// max(tat, now) + cost - now <= tau, and now <= now + tau - cost since
	// cost <= tau: admitted exactly when tat <= now + tau - cost.
	ok := b.tat <= now+p.tau-cost
	if ok {
		b.tat = max(b.tat, now) + cost
		b.q += float64(n)
		b.seq++
	}
	b.mu.Unlock()
	return ok
}

// reserve takes n > 0 tokens at ns if they can be had within maxWait ns. It
// returns the ticket, the wait before the tokens may be used and true; or,
// without changing state, false with the wait that would have been needed
// (exceeds for n > burst, never when no wait is representable).
func (b *bucket) reserve(ns, n, maxWait int64) (ticket, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at := b.settleLocked(ns)
	p := &b.p
	if p.inf {
		return ticket{}, 0, true
	}
	if n > p.burst {
		return ticket{}, exceeds, false
	}
	now := p.units(at)
	newTat := max(b.tat, now) + n*p.interval
	if newTat > maxTat {
		return ticket{}, int64(never), false
	}
	act, wait, left := newTat-p.tau, int64(0), 0.0
	if act > now {
		wait = p.toNs(act - now)
		if wait > maxWait || wait >= int64(never) {
			return ticket{}, wait, false
		}
	} else {
		left = float64(now-act) / float64(p.interval)
	}
	prev := b.tat
	b.tat = newTat
	b.q += float64(n)
	b.seq++
	return ticket{
		n: n, seq: b.seq, prev: prev, q: b.q, left: left, actNs: min(at, maxOffset) + min(wait, maxOffset),
		fullNs: p.nsOf(prev), atNs: at, perNs: perNs(p),
	}, wait, true
}

// peek reports, without changing state, whether n > 0 tokens are available
// at ns, and the wait for them otherwise (as reserve reports it).
func (b *bucket) peek(ns, n int64) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ns = b.settleLocked(ns)
	p := &b.p
	if p.inf {
		return 0, true
	}
	if n > p.burst {
		return exceeds, false
	}
	now := p.units(ns)
	act := max(b.tat, now) + n*p.interval - p.tau
	if act <= now {
		return 0, true
	}
	return p.toNs(act - now), false
}

// cancel gives back the tokens of t at ns, less those that reservations
// made after t have already counted on. Unless force is set, nothing is
// given back once t's time to act has passed (the tokens are presumed used).
//
// When nothing has changed the bucket since t (no reservation, refund,
// drain or change of the limits), the bucket is put back exactly as it was
// before t, which also gives back the refill a reservation charged as of a
// later slot skipped (see reserveAll).
//
// Otherwise both amounts are tokens, so that a change of the limits between the
// reservation and the cancel changes nothing: the tokens reserved after t
// are q - t.q (the reservations made since, net of refunds), less the
// tokens t left in the bucket (a reservation that fitted in what t left did
// not count on t's tokens), and never more than the bucket's debt at ns (a
// debt already repaid counts on nothing).
func (b *bucket) cancel(t ticket, ns int64, force bool) {
	if t.n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ns = b.settleLocked(ns)
	p := &b.p
	if p.inf || (!force && ns > t.actNs) {
		return
	}
	if b.seq == t.seq {
		b.tat, b.q = t.prev, b.q-float64(t.n)
		b.seq++
		return
	}
	debt := -p.tokens(b.tat, ns)
	pending := max(min(b.q-t.q-t.left, debt), 0)
	// The refill t spent in advance, if it was made at a time later than
	// ns: no other reservation counted on it (q counts none of it), so it
	// goes back whole.
	skipped := float64(max(max(t.fullNs, t.atNs)-max(t.fullNs, ns), 0)) * t.perNs
	refund := float64(t.n) - pending + skipped
	if refund <= 0 {
		return
	}
	b.tat -= int64(refund * float64(p.interval)) // rounded down: never more than refund
	b.q -= refund
	b.seq++
}

// drainTo lowers the tokens available at ns to at most k (k >= 0).
func (b *bucket) drainTo(ns, k int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ns = b.settleLocked(ns)
	p := &b.p
	if p.inf {
		return
	}
	now := p.units(ns)
	want := min(now+p.tau-min(k, p.burst)*p.interval, maxTat)
	if want > b.tat {
		b.tat = want
		b.seq++
	}
}

// update makes fn(perm) the limits from ns on, keeping the tokens accrued;
// perm are the current permanent limits. While a temporary limit is in
// force, the new limits replace those restored when it ends. An error from
// fn is returned and changes nothing.
func (b *bucket) update(ns int64, fn func(perm limits) (limits, error)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ns = b.settleLocked(ns)
	if !b.p.temp {
		l, err := fn(b.p.lim)
		if err == nil {
			b.replaceLocked(ns, l, false, 0, limits{})
		}
		return err
	}
	l, err := fn(b.p.perm)
	if err == nil {
		b.p.perm = l
	}
	return err
}

// setTemp puts l in force from ns until until, then restores the current
// permanent limits. A temporary limit set while another is in force replaces
// it and keeps the permanent limits.
func (b *bucket) setTemp(ns int64, l limits, until int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ns = b.settleLocked(ns)
	perm := b.p.lim
	if b.p.temp {
		perm = b.p.perm
	}
	b.replaceLocked(ns, l, true, until, perm)
}

// clearTemp restores the permanent limits at ns.
func (b *bucket) clearTemp(ns int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ns = b.settleLocked(ns); b.p.temp {
		b.replaceLocked(ns, b.p.perm, false, 0, limits{})
	}
}

// satAdd returns a+b for an offset a and b >= 0, saturating at maxOffset.
func satAdd(a, b int64) int64 {
	if a >= 0 && b > maxOffset-a {
		return maxOffset
	}
	return min(a+min(b, maxOffset-1), maxOffset)
}
