package breaker

import (
	"math"
	"time"

	"github.com/ionkit/ion/policy"
)

// Ticket is the permission to make one call, returned by [Breaker.Allow].
// Report the call's outcome with [Ticket.Done] exactly once. A half-open
// probe's ticket that is never done keeps its probe slot until the breaker
// changes state; if every slot is kept so, the breaker stays half-open until
// [Breaker.Reset] or [Breaker.Trip].
//
// A Ticket is a small value: Allow and Done do not allocate. The zero Ticket
// is valid and its Done does nothing.
type Ticket struct {
	g    *generation // the generation the call started in; nil once done
	slot int32       // the half-open probe slot
	seq  uint64      // the half-open probe's sequence number; 0 for other calls
	// start is 1 + when the call started, for the slow-call rule, or 0 for
	// a call that started without it (the rule may come while the call
	// runs: it does not judge that call). Not a flag of its own: a fifth
	// field makes Allow's result spill to memory and cost a store-forwarding
	// stall on the closed path (BenchmarkAllowDone/serial: 8.5 → 16 ns).
	start int64
}

// Allow asks permission for one call. When the breaker lets the call
// through it returns a [Ticket]; report the outcome with [Ticket.Done].
// Otherwise it returns the rejection and a zero Ticket:
//
//   - open: an [*OpenError] (matches [ErrOpen] and ion.ErrRejected; its
//     RetryAfter is the time left until the breaker lets probes through);
//   - forced open ([Breaker.Trip]): [ErrOpen];
//   - half-open with every probe slot in use: [ErrHalfOpenBusy];
//   - invalid configuration, or a zero Breaker: the [*ion.ConfigError] of
//     [Breaker.Err].
//
// Allow never blocks. In the closed and disabled states it is one atomic
// load (plus a clock read with the slow-call rule); in the half-open state it
// takes a short lock; an open rejection reads the clock and allocates its
// error.
//
// Allow and Done are the two-step form for middleware that cannot wrap a
// function; [Policy] does both for a function and classifies its outcome.
func (b *Breaker) Allow() (Ticket, error) {
	// The closed path without the slow-call rule first: one load and a
	// branch. (Allow is over the inlining budget; Policy repeats this test
	// inline.)
	if g := b.cur.Load(); g != nil && g.fast.Load() {
		return Ticket{g: g}, nil
	}
	return b.allowSlow()
}

// allowSlow handles Allow outside the closed path.
func (b *Breaker) allowSlow() (Ticket, error) {
	g := b.cur.Load()
	if g == nil {
		return Ticket{}, errZero
	}
	switch g.state {
	case Closed, Disabled:
		if b.p.Load().slowDur == 0 {
			return Ticket{g: g}, nil
		}
		return Ticket{g: g, start: b.now() + 1}, nil
	case ForcedOpen:
		if b.err != nil {
			return Ticket{}, b.err
		}
		b.countRejection()
		return Ticket{}, ErrOpen
	}
	now := b.now()
	if g.state == Open && now < g.until {
		return Ticket{}, b.rejectOpen(g.until - now)
	}
	b.mu.Lock()
	notify := b.expireLocked(now)
	g = b.cur.Load()
	var (
		t    Ticket
		err  error
		wait int64
	)
	switch g.state {
	case Closed, Disabled: // closed or disabled since the first load
		t = Ticket{g: g, start: now + 1}
	case HalfOpen:
		if b.inFlight >= b.p.Load().maxCalls {
			err = ErrHalfOpenBusy
			break
		}
		slot, seq := b.takeProbeLocked()
		t = Ticket{g: g, slot: slot, seq: seq, start: now + 1}
	case Open: // opened again with a new deadline since the first load
		wait = g.until - now
	default: // ForcedOpen
		err = ErrOpen
	}
	b.mu.Unlock()
	if notify {
		b.drain()
	}
	switch {
	case wait > 0:
		return Ticket{}, b.rejectOpen(wait)
	case err != nil:
		b.countRejection()
		return Ticket{}, err
	}
	return t, nil
}

// takeProbeLocked gives a half-open probe a slot and a sequence number. It
// must be called with b.mu held and a slot available.
func (b *Breaker) takeProbeLocked() (int32, uint64) {
	b.seq++
	b.inFlight++
	var slot int32
	if n := len(b.free); n > 0 {
		slot = b.free[n-1]
		b.free = b.free[:n-1]
	} else {
		slot = int32(len(b.probes))
		b.probes = append(b.probes, 0)
	}
	b.probes[slot] = b.seq
	return slot, b.seq
}

func (b *Breaker) rejectOpen(wait int64) error {
	b.countRejection()
	return &OpenError{Name: b.name, wait: time.Duration(wait)}
}

func (b *Breaker) countRejection() {
	b.rejected.Add(1)
	if in := b.inst; in != nil {
		in.rejections.Add(1)
	}
}

// Done reports the outcome of the call: [policy.Success], [policy.Failure]
// or [policy.Ignored] (an outcome that says nothing about the dependency,
// such as the caller's own cancellation; it frees a half-open slot without
// counting). Any other value counts as a Failure. Classify with
// [policy.Next.Classify] when you have one, so that the pipeline's
// classifier decides.
//
// Done is idempotent: a second Done on the same Ticket does nothing (a copy
// of a Ticket is a different Ticket; a copy's Done cannot free a half-open
// slot twice, but may count twice). A result from a call that started in an
// earlier generation (the breaker changed state, or a closed breaker was
// Reset, since Allow) is counted in the totals of the [Snapshot] but neither
// in the current [Counts] nor in the state: a late success cannot close a
// breaker that a probe failure opened again.
//
// Done never blocks beyond a short lock. In the closed state with the
// consecutive-failure rule it does not read the clock: a success is one
// compare-and-swap on the generation's result word, or, while several cores
// report at once, the same under the breaker's lock (see the package doc's
// Cost). Done may
// run listeners (see [WithListener]) and the trip function (see
// [WithTripFunc]) when the outcome is a failure.
func (t *Ticket) Done(o policy.Outcome) {
	// Small enough to inline, so that the caller's Ticket stays on its stack.
	if g := t.g; g != nil {
		t.g = nil
		g.b.done(t, g, o)
	}
}

// closedSuccess counts a success of generation g on its common path and
// reports whether it did: no rate rule and no Metrics sink, g current, in a
// run of successes that neither saturates nor wraps its counts, and no
// concurrent result on g's word between the load and the compare-and-swap.
// That is the first iteration of success, written so that it inlines: the
// policy adapter's closed path pays for no call. When it reports false it
// has done nothing, and done records the success.
func (b *Breaker) closedSuccess(g *generation) bool {
	if b.windowed.Load() || b.inst != nil || b.mode.On() {
		return false
	}
	w := g.word.Load()
	return plainSuccess(w) && g.word.CompareAndSwap(w, w+1<<runShift+1)
}

// plainSuccess reports whether a success on result word w adds one to its
// count and its run and nothing else: w's generation is current, in a run
// of successes that neither saturates nor wraps its counts.
func plainSuccess(w uint64) bool {
	return w>>runShift-1 < math.MaxInt32-1 && w&succMask != succMask
}

// done records the outcome of t's call, which started in generation g.
func (b *Breaker) done(t *Ticket, g *generation, o policy.Outcome) {
	// Not windowed also means no slow-call rule: that rule needs the window.
	if o == policy.Success && !b.windowed.Load() && t.seq == 0 {
		// A closed (or disabled) success: its count and the run are all
		// there is to record.
		if b.closedSuccess(g) {
			return
		}
		// In the contended mode, or when closedSuccess lost its
		// compare-and-swap to another result, count under mu if it can be
		// had (see internal/contend); success's loop stays, for results
		// counted without mu meanwhile.
		locked := false
		if b.mode.On() || b.inst == nil && plainSuccess(g.word.Load()) {
			locked = b.mode.Lock(&b.mu, true)
		}
		_, wrapped := b.success(g)
		switch {
		case locked:
			if wrapped {
				b.carryLocked(g)
			}
			b.mode.Unlock(&b.mu)
		case wrapped:
			b.mu.Lock()
			b.carryLocked(g)
			b.mu.Unlock()
		}
		return
	}
	if o > policy.Ignored {
		o = policy.Failure
	}
	// The parameters in force now judge the result (see Reconfigure).
	p := b.p.Load()
	var now int64
	slow := false
	if p.slowDur > 0 && t.start != 0 && o != policy.Ignored {
		now = b.now()
		slow = now-(t.start-1) >= p.slowDur
		if slow && t.seq != 0 {
			// A slow probe re-opens the breaker: it is a failure, and is
			// counted as one, so that the totals and the metrics explain
			// the transition.
			o = policy.Failure
		}
	}
	if slow {
		b.slowCalls.Add(1)
	}
	switch {
	case t.seq != 0:
		b.doneProbe(t, g, o)
	case g.state == Closed && p.windowed:
		b.doneWindowed(g, o, slow, now)
	default:
		b.doneCounted(g, o, p)
	}
}

// doneCounted records a result that only counts: not a probe's, and not a
// closed-state result under a rate rule.
func (b *Breaker) doneCounted(g *generation, o policy.Outcome, p *params) {
	if current, run := b.tally(g, o, false); current && o == policy.Failure && g.state == Closed {
		b.afterFailure(g, run, p)
	}
}

// success counts a success of generation g: one compare-and-swap on its
// result word, or, if g has retired, on the late total. It reports whether
// g was current when the success landed, and whether the success count
// wrapped: the caller must then call carryLocked.
func (b *Breaker) success(g *generation) (current, wrapped bool) {
	if in := b.inst; in != nil {
		in.calls[policy.Success].Add(1)
	}
	w := g.word.Load()
	for {
		// The common case first: a current generation in a run of
		// successes that neither saturates nor wraps the count, where a
		// success adds one to both.
		if w>>runShift-1 < math.MaxInt32-1 && w&succMask != succMask {
			if g.word.CompareAndSwap(w, w+1<<runShift+1) {
				return true, false
			}
			w = g.word.Load()
			continue
		}
		if w&retiredBit != 0 {
			b.lateSuccesses.Add(1)
			return false, false
		}
		nw, wrapped := successWord(w)
		if g.word.CompareAndSwap(w, nw) {
			return true, wrapped
		}
		w = g.word.Load()
	}
}

// carryLocked moves the 2^31 successes that wrapped g's result word into
// succHi, or into the totals if g retired meanwhile (see generation). It must
// be called with b.mu held.
func (b *Breaker) carryLocked(g *generation) {
	if g.word.Load()&retiredBit != 0 {
		b.succBase += int64(succMask) + 1
	} else {
		g.succHi.Add(int64(succMask) + 1)
	}
}

// tally counts outcome o of generation g in the totals and, while g is
// current, in g's counts; locked says whether the caller holds b.mu. It
// reports whether g was current when the result landed (for an Ignored
// outcome, when tally returned: exact only with b.mu held) and, for a
// failure, the run of g right after it.
func (b *Breaker) tally(g *generation, o policy.Outcome, locked bool) (current bool, run int32) {
	switch o {
	case policy.Success:
		current, wrapped := b.success(g)
		if wrapped {
			if !locked {
				b.mu.Lock()
			}
			b.carryLocked(g)
			if !locked {
				b.mu.Unlock()
			}
		}
		return current, 0
	case policy.Ignored:
		b.ignored.Add(1)
		if in := b.inst; in != nil {
			in.calls[policy.Ignored].Add(1)
		}
		return g.word.Load()&retiredBit == 0, 0
	}
	b.failures.Add(1)
	if in := b.inst; in != nil {
		in.calls[policy.Failure].Add(1)
	}
	w := g.word.Load()
	for {
		if w&retiredBit != 0 {
			return false, 0
		}
		nw := failureWord(w)
		if g.word.CompareAndSwap(w, nw) {
			g.failures.Add(1)
			return true, runOf(nw)
		}
		w = g.word.Load()
	}
}

// afterFailure applies the closed state's lock-free failure rules of p (the
// consecutive failures, the failure burst, the trip function) after a
// failure counted in g that left g's run at run.
func (b *Breaker) afterFailure(g *generation, run int32, p *params) {
	switch {
	case p.threshold > 0:
		// Decided on the run this failure made, not on a later reading: a
		// success that lands after it does not undo the trip it earned.
		if -run >= p.threshold {
			b.tripClosed(g)
		}
	case p.burstWithin > 0:
		b.mu.Lock()
		// The ring has the shape of the parameters read under mu, which
		// may be newer than p.
		trip := b.cur.Load() == g && b.burstLocked(b.now(), b.p.Load())
		if trip {
			b.setStateLocked(Open, b.now())
		}
		b.mu.Unlock()
		if trip {
			b.drain()
		}
	case p.tripFunc != nil:
		// User code: no lock held. A concurrent result may already have
		// moved g on; tripClosed checks that g is still current.
		if p.tripFunc(g.counts()) {
			b.tripClosed(g)
		}
	}
}

// burstLocked records a failure at now for WithFailuresWithin and reports
// whether it completes a burst: the last p.burst failures all within
// p.burstWithin. It must be called with b.mu held and p loaded under it;
// without the burst rule it reports false.
func (b *Breaker) burstLocked(now int64, p *params) bool {
	if p.burstWithin == 0 {
		return false
	}
	if len(b.failTimes) < p.burst {
		b.failTimes = append(b.failTimes, now)
		return len(b.failTimes) == p.burst && now-b.failTimes[0] < p.burstWithin
	}
	// The ring is full: failTimes[failNext] is the oldest of the last burst.
	b.failTimes[b.failNext] = now
	b.failNext++
	if b.failNext == len(b.failTimes) {
		b.failNext = 0
	}
	return now-b.failTimes[b.failNext] < p.burstWithin
}

// tripClosed opens the breaker if g is still its current, closed generation.
func (b *Breaker) tripClosed(g *generation) {
	b.mu.Lock()
	if b.cur.Load() != g {
		b.mu.Unlock()
		return
	}
	b.setStateLocked(Open, b.now())
	b.mu.Unlock()
	b.drain()
}

// doneWindowed records a closed-state result under a rate rule.
func (b *Breaker) doneWindowed(g *generation, o policy.Outcome, slow bool, now int64) {
	if o == policy.Ignored {
		b.tally(g, o, false)
		return
	}
	// The clock is read before the lock; the parameters are read again
	// under it, where the window has their shape.
	if now == 0 && b.p.Load().win.kind == windowTime {
		now = b.now()
	}
	b.mu.Lock()
	p := b.p.Load()
	if !p.windowed {
		// Reconfigured without a rate rule since done looked.
		b.mu.Unlock()
		b.doneCounted(g, o, p)
		return
	}
	if now == 0 && p.win.kind == windowTime { // reconfigured since, too
		now = b.now()
	}
	// With mu held the generation cannot retire, so tally's answer holds
	// until the unlock.
	current, run := b.tally(g, o, true)
	if !current {
		b.mu.Unlock()
		return
	}
	failed := o == policy.Failure
	b.win.record(now, failed, slow)
	trip := failed && p.threshold > 0 && -run >= p.threshold
	if !trip && b.win.calls >= b.win.minCalls {
		fr, sr := b.win.rates()
		trip = p.failureRate > 0 && fr >= p.failureRate || p.slowRate > 0 && sr >= p.slowRate
	}
	if !trip && failed && p.burstWithin > 0 {
		if now == 0 {
			now = b.now()
		}
		trip = b.burstLocked(now, p)
	}
	if trip {
		if now == 0 {
			now = b.now()
		}
		b.setStateLocked(Open, now)
	}
	b.mu.Unlock()
	if trip {
		b.drain()
		return
	}
	if failed && p.tripFunc != nil && p.tripFunc(g.counts()) {
		b.tripClosed(g)
	}
}

// doneProbe records the result of a half-open probe.
func (b *Breaker) doneProbe(t *Ticket, g *generation, o policy.Outcome) {
	b.mu.Lock()
	current, _ := b.tally(g, o, true)
	if !current || int(t.slot) >= len(b.probes) || b.probes[t.slot] != t.seq {
		// Stale, or a copy of a ticket already done: the slot is not its.
		b.mu.Unlock()
		return
	}
	b.probes[t.slot] = 0
	b.free = append(b.free, t.slot)
	b.inFlight--
	notify := false
	switch o {
	case policy.Success:
		b.hoSuccesses++
		if b.hoSuccesses >= b.p.Load().successThreshold {
			b.setStateLocked(Closed, b.now())
			notify = true
		}
	case policy.Failure:
		b.setStateLocked(Open, b.now())
		notify = true
	}
	b.mu.Unlock()
	if notify {
		b.drain()
	}
}
