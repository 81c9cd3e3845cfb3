package limit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/internal/contend"
)

// This file holds the engine shared by every limiter of the package: GCRA
// ("generic cell rate algorithm", the virtual-scheduling form of a token
// bucket), admitting without a lock and holding a short mutex for the rest.
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
// Epochs. The parameters live in an immutable epoch (params) beside the
// state, tat, an atomic word of the epoch. A change of the parameters
// (SetRate, SetBurst, a temporary limit and its end, a re-basing of the
// origin) seals the epoch in force, setting its tat to sealed, which no
// compare-and-swap expects and which is never replaced, and publishes a new
// epoch whose state is converted from the sealed one. No operation ever
// applies one epoch's parameters to another's state.
//
// Admission without the lock. Allow and AllowN, and Wait, WaitN or a
// policy's Admit when the tokens are there at once or cannot come within
// the wait allowed, load the epoch and its tat, then count their tokens and
// admit with one compare-and-swap of tat, or refuse on the value loaded
// (fast). They take the mutex instead when the epoch does not serve their
// time or is sealed, and after fastTries lost compare-and-swaps. Everything
// else holds the mutex: a reservation that waits, a refund, a drain, a
// change of the limits, a read. Those that change only tat still do it by
// compare-and-swap, recomputed from the fresh value, since lock-free
// admissions race them.
//
// Within an epoch tat comes back down only to undo the last change: an
// admission, a reservation and a drain raise it, sealing sets it to the
// largest int64, and a refund lowers it in place only when it undoes the
// last change exactly (the cancel of a reservation with nothing changed
// since), restoring the value it replaced. Any other refund publishes a new
// epoch, the one allocation outside changes of the parameters. A
// compare-and-swap that expects a value loaded earlier therefore succeeds
// only if nothing changed tat in between, or if whatever changed it was
// undone exactly: either way the state at the swap is the value loaded, and
// a decision made on it is right.
//
// Refunds in tokens. A cancelled reservation gives back its n tokens less
// those that reservations made after it have counted on, and both are
// measured in tokens: a count of time would be wrong as soon as the rate
// changed between the reservation and its cancel. The bucket counts the
// tokens taken under the mutex, net of refunds (q), and each epoch counts
// the tokens lock-free admissions tried to take in it (taken): an admission
// adds n before its compare-and-swap and never takes it back, so a lost
// swap leaves a phantom token in the count, which can only make a later
// refund smaller. cancel explains why the count a reservation records is
// never above, and the count a cancel reads never below, what they must
// be, so that a refund is never too large.
//
// Why not the mutex alone: it is as fast serially, but with a thousand
// goroutines on two Ps a goroutine descheduled while holding it makes every
// caller queued behind it wait for a scheduling slice (the load test
// bench/cmd/loadlat measured a p99.9 of tens of milliseconds), where a
// descheduled lock-free admission delays only itself. Why not lock-free
// throughout: a correct refund needs q beside tat, which one word cannot
// hold, and an earlier engine without it refunded wrongly across a rate
// change. Reservations that wait and refunds are the rare path. Nothing
// busy-waits: a lost compare-and-swap is retried at once, at most fastTries
// times, and then the caller blocks on the mutex as on any Go mutex.
//
// Contention. Two cores admitting in a tight loop would pass tat's cache
// line between them at every admission. A fast that lost its
// compare-and-swaps turns on the bucket's contended mode (internal/contend,
// admitFast): while it is on, admissions run fast with the mutex held when
// they can have it, so one core runs a batch with the line in its cache
// while the other sleeps on the mutex (at most one sleeps for the mode; the
// others admit without it). The decision is fast's own either way.

var base = time.Now()

// nowNs returns the current time as nanoseconds since base. Outside a
// synctest bubble it reads only the monotonic clock.
func nowNs() int64 { return int64(time.Since(base)) }

// fresher returns a new clock reading if it is later than ns. The methods
// that read the clock themselves (Allow, Wait, a policy's admission) call it
// before refusing: a goroutine descheduled between its reading and its
// decision (a GC assist, CPU throttling, a thousand goroutines on two Ps)
// comes back with a reading that other callers have moved the bucket past,
// and would be refused by a bucket that has tokens. The second reading
// costs only refusals, never an admission.
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
	// sealed is the tat of a superseded epoch. It is above every state
	// (maxTat), so a sealed epoch fails the admission test, where fast tells
	// it from a refusal.
	sealed = math.MaxInt64
	// fastTries bounds the compare-and-swaps fast tries before it takes the
	// mutex.
	fastTries = 3
	// exceeds is the wait reserve reports for n > burst.
	exceeds = -1
)

// limits is a rate and a burst (or capacity).
type limits struct {
	rate  Rate
	burst int
}

// params are an epoch's parameters: one set of limits and the fixed-point
// scaling of its time. They are immutable once the epoch is published,
// except perm, which is read and written only with the bucket's mu held
// (fast never reads it).
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

// epoch is a bucket's state under one set of parameters.
//
// tat and taken share a cache line of their own: under contention that line
// moves between cores at every admission, while the parameters, which every
// operation reads, stay shared in each core's cache. (An epoch allocated on
// its own is 192 bytes, in a size class of 192-byte slots, so the line is
// 64-byte aligned; the first epoch, embedded in its bucket, may not be,
// which costs only the padding.)
type epoch struct {
	p params
	// base is what the epochs before this one counted in taken, summed
	// (wrapping, as taken does); set before the epoch is published.
	base int64
	_    [128 - paramsSize - 8]byte
	// tat is the state, in units since p.origin; sealed once superseded. It
	// comes back down only when the last change is undone exactly (see
	// cancel).
	tat atomic.Int64
	// taken counts the tokens fast tried to take in this epoch: each try
	// adds its n before its compare-and-swap, and a lost swap does not
	// subtract it. It wraps around; only differences are used.
	taken atomic.Int64
	_     [48]byte
}

// paramsSize is the size of params, checked by a test.
const paramsSize = 112

// count returns the tokens lock-free admissions have tried to take since
// the bucket's init, as the epochs up to e have counted them.
func (e *epoch) count() int64 { return e.base + e.taken.Load() }

// ticket records what a reservation took, so that it can be refunded.
type ticket struct {
	n     int64   // the tokens taken; 0: nothing was taken
	seq   uint64  // the bucket's seq just after the reservation
	prev  int64   // the bucket's tat just before it
	after int64   // the bucket's tat just after it
	q     float64 // the bucket's q just after it
	fast  int64   // the epoch's count, read before it (see cancel)
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

	// cur is the epoch in force, never nil after init. It is replaced only
	// with mu held; fast loads it without.
	cur atomic.Pointer[epoch]

	// mu guards the fields below, and serializes every change of the state
	// but fast's admissions. It is held for a few arithmetic operations and
	// never while calling out.
	mu sync.Mutex
	// mode is the contended mode of the epochs' tat (see internal/contend
	// and admitFast): while it is on, fast runs with mu held. Beside mu,
	// whose line it is written with.
	mode contend.Mode
	q    float64 // tokens reserved with mu held since init, net of refunds (see cancel)
	seq  uint64  // counts the changes made with mu held (see cancel)

	// first is the first epoch, embedded so that init does not allocate.
	first epoch
}

// init makes b a full bucket with limits l; ns is the current time.
func (b *bucket) init(l limits, ns int64) {
	e := &b.first
	e.p.setup(l, ns)
	e.tat.Store(fullTat)
	b.cur.Store(e)
}

// refill returns the time, in ns, the bucket takes to refill from empty
// under the parameters in force.
func (b *bucket) refill() int64 {
	p := &b.cur.Load().p
	return p.toNs(p.tau)
}

// snapshot returns the tokens available at ns and the limits in force.
func (b *bucket) snapshot(ns int64) (float64, limits) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ns := b.settleLocked(ns)
	return e.p.tokens(e.tat.Load(), ns), e.p.lim
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
	e, ns := b.settleLocked(ns)
	p := &e.p
	switch {
	case p.inf:
		return true
	case p.temp || e.tat.Load() > p.units(ns):
		return false
	}
	return idle >= p.toNs(p.tau)
}

// settleLocked makes the epoch in force serve ns, reverting an expired
// temporary limit and re-basing as needed, and returns it with the time to
// serve: ns, or the window's bound nearest to it when ns lies in the
// distant past (or past the clamped range of offsets). It must be called
// with b.mu held.
func (b *bucket) settleLocked(ns int64) (*epoch, int64) {
	for {
		e := b.cur.Load()
		p := &e.p
		switch {
		case p.temp && ns >= p.until:
			// The revert takes effect at until, not at ns: the tokens
			// accrued since then accrue at the restored rate.
			b.replaceLocked(e, p.until, p.perm, false, 0, limits{})
		case p.serves(ns) || p.inf || p.frozen:
			return e, ns
		case ns < p.lo && (p.temp || e.tat.Load() > p.units(p.lo)):
			// Far before the window, while the bucket is not full at its
			// start (or a temporary limit is in force): serve the window's
			// earliest time. That is no more permissive than any time the
			// bucket has served since, and moving the origin back would
			// have to clamp the state. A full bucket is re-based losslessly.
			// (A concurrent admission only raises tat: a bucket not full
			// stays so.)
			return e, p.lo
		default:
			b.rebaseLocked(e, ns)
			if ne := b.cur.Load(); !ne.p.serves(ns) {
				return ne, ne.p.clamp(ns) // only past the clamped range of offsets
			}
		}
	}
}

// publishLocked puts ne in force, with state tat, in place of e, which the
// caller has sealed, and carries e's count of lock-free admissions over to
// it. It must be called with b.mu held.
//
// The count is read after the seal, so it includes every admission that
// succeeded in e (each added to it before its compare-and-swap, which
// preceded the seal). A try that adds to it later only fails: e is sealed.
func (b *bucket) publishLocked(e, ne *epoch, tat int64) {
	ne.base = e.count()
	ne.tat.Store(tat)
	b.seq++
	b.cur.Store(ne)
}

// rebaseLocked moves the origin to (about) ns, keeping the parameters and
// the state: exactly, unless ns is so far before the origin that the state
// is past maxTat there, where it is clamped (no tokens at ns either way).
// e is the epoch in force. It must be called with b.mu held.
func (b *bucket) rebaseLocked(e *epoch, ns int64) {
	p := &e.p
	old := e.tat.Swap(sealed)
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
	ne := &epoch{p: *p}
	ne.p.origin += shift
	ne.p.setWindow()
	b.publishLocked(e, ne, tat)
}

// replaceLocked puts limits l in force from at (ns), keeping the tokens
// available at at (the level, with keepLevel). With temp, l lasts until
// until and perm is restored then. e is the epoch in force. It must be
// called with b.mu held.
func (b *bucket) replaceLocked(e *epoch, at int64, l limits, temp bool, until int64, perm limits) {
	tok := e.p.tokens(e.tat.Swap(sealed), at)
	if b.keepLevel {
		tok += float64(l.burst) - float64(e.p.burst)
	}
	ne := new(epoch)
	ne.p.setup(l, at)
	if temp {
		ne.p.temp, ne.p.until, ne.p.perm = true, until, perm
		ne.p.setWindow()
	}
	b.publishLocked(e, ne, ne.p.tatFor(tok))
}

// fast is the admission without the lock. It takes n > 0 tokens at ns if
// they are available at once, and refuses if they cannot be had within
// maxWait ns (>= 0), changing nothing then; both exactly as reserve would,
// at the instant it loads tat. It returns the wait a refusal would have
// needed (exceeds for n > burst, never when no wait is representable).
//
// It returns done = false, having taken nothing, when the mutex is needed:
// the epoch does not serve ns (the window ends at a temporary limit's end,
// so this covers its revert) or was just sealed; the tokens come after a
// wait that fits in maxWait (a reservation, which needs a ticket); or its
// compare-and-swap lost fastTries times in a row, which it reports as lost.
func (b *bucket) fast(ns, n, maxWait int64) (wait int64, ok, done, lost bool) {
	e := b.cur.Load()
	p := &e.p
	switch {
	case !p.serves(ns):
		return 0, false, false, false
	case p.inf:
		return 0, true, true, false
	case n > p.burst:
		return exceeds, false, true, false
	}
	now, cost := p.units(ns), n*p.interval
	// max(tat, now) + cost - now <= tau, and now <= now + tau - cost since
	// cost <= tau: admitted exactly when tat <= limit.
	limit := now + p.tau - cost
	for range fastTries {
		tat := e.tat.Load()
		if tat > limit {
			// Here tat > now, so the tokens come at tat + cost - tau > now.
			switch {
			case tat == sealed:
				return 0, false, false, false
			case tat+cost > maxTat:
				return int64(never), false, true, false
			}
			wait = p.toNs(tat + cost - p.tau - now)
			if wait > maxWait || wait >= int64(never) {
				return wait, false, true, false
			}
			return 0, false, false, false
		}
		// Counted before the swap: see cancel.
		e.taken.Add(n)
		if e.tat.CompareAndSwap(tat, max(tat, now)+cost) {
			return 0, true, true, false
		}
	}
	return 0, false, false, true
}

// take takes n > 0 tokens at ns if they are available at once, and reports
// whether it did. It is reserve with maxWait 0, without the lock unless
// fast needs it.
func (b *bucket) take(ns, n int64) bool {
	if _, ok, done := b.admitFast(ns, n, 0); done {
		return ok
	}
	_, _, ok := b.reserve(ns, n, 0)
	return ok
}

// admit is reserve for the callers that cancel only a reservation that
// waits (WaitN, Admit): tokens available at once, and a refusal, take no
// lock, and return an empty ticket.
func (b *bucket) admit(ns, n, maxWait int64) (ticket, int64, bool) {
	if wait, ok, done := b.admitFast(ns, n, maxWait); done {
		return ticket{}, wait, ok
	}
	return b.reserve(ns, n, maxWait)
}

// admitFast is fast, in the contended mode with mu held (see
// internal/contend): a fast that lost a compare-and-swap on tat turns the
// mode on, and while it is on, admissions run fast under mu when they can
// have it, so that one core runs a batch with tat's line in its cache while
// the other sleeps on mu. fast under mu is the same decision (it never
// takes mu itself, and its compare-and-swaps stay in their loop for the
// admissions that run without mu meanwhile).
func (b *bucket) admitFast(ns, n, maxWait int64) (wait int64, ok, done bool) {
	if !b.mode.On() {
		var lost bool
		if wait, ok, done, lost = b.fast(ns, n, maxWait); done || !lost {
			return wait, ok, done
		}
	}
	if !b.mode.Lock(&b.mu, true) {
		wait, ok, done, _ = b.fast(ns, n, maxWait)
		return wait, ok, done
	}
	wait, ok, done, _ = b.fast(ns, n, maxWait)
	b.mode.Unlock(&b.mu)
	return wait, ok, done
}

// reserve takes n > 0 tokens at ns if they can be had within maxWait ns. It
// returns the ticket, the wait before the tokens may be used and true; or,
// without changing state, false with the wait that would have been needed
// (exceeds for n > burst, never when no wait is representable).
func (b *bucket) reserve(ns, n, maxWait int64) (ticket, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, at := b.settleLocked(ns)
	p := &e.p
	if p.inf {
		return ticket{}, 0, true
	}
	if n > p.burst {
		return ticket{}, exceeds, false
	}
	now := p.units(at)
	for {
		// Read before the swap: see cancel.
		count := e.count()
		prev := e.tat.Load()
		newTat := max(prev, now) + n*p.interval
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
		if !e.tat.CompareAndSwap(prev, newTat) {
			continue // a lock-free admission came first: decide again
		}
		b.q += float64(n)
		b.seq++
		return ticket{
			n: n, seq: b.seq, prev: prev, after: newTat, q: b.q, fast: count, left: left,
			actNs: min(at, maxOffset) + min(wait, maxOffset), fullNs: p.nsOf(prev), atNs: at, perNs: perNs(p),
		}, wait, true
	}
}

// peek reports, without changing state, whether n > 0 tokens are available
// at ns, and the wait for them otherwise (as reserve reports it).
func (b *bucket) peek(ns, n int64) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ns := b.settleLocked(ns)
	p := &e.p
	if p.inf {
		return 0, true
	}
	if n > p.burst {
		return exceeds, false
	}
	now := p.units(ns)
	act := max(e.tat.Load(), now) + n*p.interval - p.tau
	if act <= now {
		return 0, true
	}
	return p.toNs(act - now), false
}

// cancel gives back the tokens of t at ns, less those that reservations
// made after t have already counted on. Unless force is set, nothing is
// given back once t's time to act has passed (the tokens are presumed used).
//
// When nothing has changed the bucket since t (no reservation, admission,
// refund, drain or change of the limits: seq is t's and tat is what t left),
// the bucket is put back exactly as it was before t, in place, which also
// gives back the refill a reservation charged as of a later slot skipped
// (see reserveAll). Lock-free admissions do not count in seq, but each
// raises tat, and between two changes under the lock nothing lowers it.
//
// Otherwise both amounts are tokens, so that a change of the limits between
// the reservation and the cancel changes nothing: the tokens reserved after
// t are those taken since (q - t.q, under the lock, net of refunds, plus the
// epoch's count less t.fast, without it), less the tokens t left in the
// bucket (a reservation that fitted in what t left did not count on t's
// tokens), and never more than the bucket's debt at ns (a debt already
// repaid counts on nothing).
//
// The lock-free count must not be under-estimated there, or the refund
// would be too large, and it is not:
//
//   - t.fast is read before t's compare-and-swap. Each try it includes added
//     to the count after loading the tat it expects, so before t's swap,
//     which raised tat. While t stands, tat never comes back down in t's
//     epoch to a value from before t: only the exact undoing of the last
//     change lowers it in place, which undoes t's successors down to t's
//     own value at most (t's seq forbids undoing anything made before t);
//     any other refund seals the epoch. So a try t.fast includes either
//     swapped before t (tokens taken before t), or never swaps while t
//     stands (a phantom, which stays in the count).
//   - The count here is read after loading tat, and the refund is made by a
//     compare-and-swap that expects that tat: an admission that succeeded
//     before it added to the count before loading (epochs sealed since were
//     summed after their seal, see publishLocked).
//
// So the difference is at least the tokens taken since t, more only by
// phantoms, which make the refund smaller. A refund other than the exact
// undoing puts a new epoch in force instead of lowering tat in place: tat
// could land on a value a stalled try loaded before a reservation that
// still stands and counted it, letting the try swap after it. The exact
// undoing is safe in place: a try it lets swap loaded t.prev, and every
// reservation made after that load has been undone, t last. A cancel that
// gives nothing back changes nothing.
func (b *bucket) cancel(t ticket, ns int64, force bool) {
	if t.n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ns := b.settleLocked(ns)
	p := &e.p
	if p.inf || (!force && ns > t.actNs) {
		return
	}
	for {
		x := e.tat.Load()
		if b.seq == t.seq && x == t.after {
			if !e.tat.CompareAndSwap(x, t.prev) {
				continue // a lock-free admission came first: decide again
			}
			b.q -= float64(t.n)
			b.seq++
			return
		}
		later := b.q - t.q + float64(e.count()-t.fast)
		debt := -p.tokens(x, ns)
		pending := max(min(later-t.left, debt), 0)
		// The refill t spent in advance, if it was made at a time later
		// than ns: no other reservation counted on it (q counts none of
		// it), so it goes back whole.
		skipped := float64(max(max(t.fullNs, t.atNs)-max(t.fullNs, ns), 0)) * t.perNs
		refund := float64(t.n) - pending + skipped
		if refund <= 0 {
			return
		}
		if !e.tat.CompareAndSwap(x, sealed) {
			continue // a lock-free admission came first: decide again
		}
		b.publishLocked(e, &epoch{p: *p}, x-int64(refund*float64(p.interval))) // rounded down: never more than refund
		b.q -= refund
		return
	}
}

// drainTo lowers the tokens available at ns to at most k (k >= 0).
func (b *bucket) drainTo(ns, k int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ns := b.settleLocked(ns)
	p := &e.p
	if p.inf {
		return
	}
	now := p.units(ns)
	want := min(now+p.tau-min(k, p.burst)*p.interval, maxTat)
	for {
		tat := e.tat.Load()
		if want <= tat {
			return
		}
		if e.tat.CompareAndSwap(tat, want) {
			b.seq++
			return
		}
	}
}

// update makes fn(perm) the limits from ns on, keeping the tokens accrued;
// perm are the current permanent limits. While a temporary limit is in
// force, the new limits replace those restored when it ends. An error from
// fn is returned and changes nothing.
func (b *bucket) update(ns int64, fn func(perm limits) (limits, error)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ns := b.settleLocked(ns)
	if !e.p.temp {
		l, err := fn(e.p.lim)
		if err == nil {
			b.replaceLocked(e, ns, l, false, 0, limits{})
		}
		return err
	}
	l, err := fn(e.p.perm)
	if err == nil {
		e.p.perm = l // read only with mu held, so changed in place
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
	perm := e.p.lim
	if e.p.temp {
		perm = e.p.perm
	}
	b.replaceLocked(e, ns, l, true, until, perm)
}

// clearTemp restores the permanent limits at ns.
func (b *bucket) clearTemp(ns int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ns := b.settleLocked(ns); e.p.temp {
		b.replaceLocked(e, ns, e.p.perm, false, 0, limits{})
	}
}

// satAdd returns a+b for an offset a and b >= 0, saturating at maxOffset.
func satAdd(a, b int64) int64 {
	if a >= 0 && b > maxOffset-a {
		return maxOffset
	}
	return min(a+min(b, maxOffset-1), maxOffset)
}
