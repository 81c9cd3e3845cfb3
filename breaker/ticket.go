package breaker

import (
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
	b     *Breaker // nil once done
	gen   uint32   // the generation the call started in
	slot  int32    // the half-open probe slot
	seq   uint64   // the half-open probe's sequence number; 0 for other calls
	start int64    // when the call started, if the slow-call rule needs it
}

// Allow asks permission for one call. When the breaker lets the call
// through it returns a [Ticket]; report the outcome with [Ticket.Done].
// Otherwise it returns the rejection and a zero Ticket:
//
//   - open: an [*OpenError] (matches [ErrOpen] and ion.ErrRejected; its
//     RetryAfter is the time left until the breaker lets probes through);
//   - forced open ([Breaker.Trip]): [ErrOpen];
//   - half-open with every probe slot in use: [ErrHalfOpenBusy];
//   - invalid configuration: the [*ion.ConfigError] of [Breaker.Err].
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
	if w := b.word.Load(); w&stateMask|b.timedCalls == 0 {
		return Ticket{b: b, gen: uint32(w>>stateBits) & genMask}, nil
	}
	return b.allowSlow()
}

// allowSlow handles Allow outside the closed path.
func (b *Breaker) allowSlow() (Ticket, error) {
	w := b.word.Load()
	switch stateOf(w) {
	case Closed, Disabled:
		if b.slowDur == 0 {
			return Ticket{b: b, gen: genOf(w)}, nil
		}
		return Ticket{b: b, gen: genOf(w), start: b.now()}, nil
	case ForcedOpen:
		if b.err != nil {
			return Ticket{}, b.err
		}
		b.countRejection()
		return Ticket{}, ErrOpen
	}
	now := b.now()
	if stateOf(w) == Open {
		if until := b.openUntil.Load(); now < until {
			return Ticket{}, b.rejectOpen(until - now)
		}
	}
	b.mu.Lock()
	notify := b.expireLocked(now)
	w = b.word.Load()
	var (
		t    Ticket
		err  error
		wait int64
	)
	switch stateOf(w) {
	case Closed, Disabled: // closed or disabled since the first load
		t = Ticket{b: b, gen: genOf(w), start: now}
	case HalfOpen:
		if b.inFlight >= b.maxCalls {
			err = ErrHalfOpenBusy
			break
		}
		slot, seq := b.takeProbeLocked()
		t = Ticket{b: b, gen: genOf(w), slot: slot, seq: seq, start: now}
	case Open: // opened again with a new deadline since the first load
		wait = b.openUntil.Load() - now
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
// earlier generation (the breaker changed state since Allow) is counted in
// the totals of the [Snapshot] but cannot change the state: a late success
// cannot close a breaker that a probe failure opened again.
//
// Done never blocks beyond a short lock. In the closed state with the
// consecutive-failure rule it is lock-free and does not read the clock; a
// success there writes only one cell of the success total, a cell that the
// calling goroutine keeps using and other goroutines rarely share, plus the
// state word when it cuts a run of failures. Done may run listeners (see
// [WithListener]) when the outcome changes the state.
func (t *Ticket) Done(o policy.Outcome) {
	// Small enough to inline, so that the caller's Ticket stays on its stack.
	if b := t.b; b != nil {
		t.b = nil
		b.done(t, o)
	}
}

// done records the outcome of t's call.
func (b *Breaker) done(t *Ticket, o policy.Outcome) {
	// Not windowed also means no slow-call rule: that rule needs the window.
	if o == policy.Success && !b.windowed {
		// The closed consecutive-rule success: count it and, unless a run
		// of failures is to be cut, stop there. A closed word with no
		// failures needs no write, whatever its generation, so the only
		// write is to this goroutine's cell of the striped total.
		b.successes.add()
		if in := b.inst; in != nil {
			in.calls[policy.Success].Add(1)
		}
		if w := b.word.Load(); w&^(genMask<<stateBits) == uint64(Closed) {
			return
		}
		b.record(t, o, false, 0)
		return
	}
	if o > policy.Ignored {
		o = policy.Failure
	}
	var now int64
	slow := false
	if b.slowDur > 0 && o != policy.Ignored {
		now = b.now()
		slow = now-t.start >= b.slowDur
		if slow && t.seq != 0 {
			// A slow probe re-opens the breaker: it is a failure, and is
			// counted as one, so that the totals and the metrics explain
			// the transition.
			o = policy.Failure
		}
	}
	b.count(o, slow)
	b.record(t, o, slow, now)
}

// record applies a counted outcome to the state.
func (b *Breaker) record(t *Ticket, o policy.Outcome, slow bool, now int64) {
	w := b.word.Load()
	if !sameGen(w, t.gen) {
		return // stale: the breaker changed state since Allow
	}
	switch stateOf(w) {
	case Closed:
		if b.windowed {
			b.doneWindowed(t.gen, o, slow, now)
		} else {
			b.doneConsecutive(t.gen, o)
		}
	case HalfOpen:
		b.doneProbe(t, o, slow)
	}
}

func (b *Breaker) count(o policy.Outcome, slow bool) {
	switch o {
	case policy.Success:
		b.successes.add()
	case policy.Failure:
		b.failures.Add(1)
	default:
		b.ignored.Add(1)
	}
	if slow {
		b.slowCalls.Add(1)
	}
	if in := b.inst; in != nil {
		in.calls[o].Add(1)
	}
}

// doneConsecutive records a closed-state result under the consecutive-failure
// rule without a lock: the failure count lives in the state word, so a CAS
// that succeeds proves the generation (and the state) unchanged.
func (b *Breaker) doneConsecutive(gen uint32, o policy.Outcome) {
	switch o {
	case policy.Success:
		for {
			w := b.word.Load()
			// Load before store: a success after a success writes nothing,
			// so concurrent successes share the word's cache line.
			if failsOf(w) == 0 || !sameGen(w, gen) {
				return
			}
			if b.word.CompareAndSwap(w, w&^failMask) {
				return
			}
		}
	case policy.Failure:
		for {
			w := b.word.Load()
			if !sameGen(w, gen) {
				return
			}
			if failsOf(w)+1 >= b.threshold {
				b.tripClosed(gen)
				return
			}
			if b.word.CompareAndSwap(w, w+failOne) {
				return
			}
		}
	}
}

// tripClosed opens the breaker if it is still in the closed generation gen.
func (b *Breaker) tripClosed(gen uint32) {
	b.mu.Lock()
	if !sameGen(b.word.Load(), gen) {
		b.mu.Unlock()
		return
	}
	b.setStateLocked(Open, b.now())
	b.mu.Unlock()
	b.drain()
}

// doneWindowed records a closed-state result under a rate rule.
func (b *Breaker) doneWindowed(gen uint32, o policy.Outcome, slow bool, now int64) {
	if o == policy.Ignored {
		return
	}
	if b.timed && now == 0 {
		now = b.now()
	}
	b.mu.Lock()
	w := b.word.Load()
	if !sameGen(w, gen) {
		b.mu.Unlock()
		return
	}
	failed := o == policy.Failure
	b.win.record(now, failed, slow)
	trip := false
	// Every closed-state word change happens under mu in this mode, so plain
	// stores are safe.
	switch {
	case !failed:
		b.word.Store(w &^ failMask)
	case b.threshold > 0 && failsOf(w)+1 >= b.threshold:
		trip = true
	default:
		b.word.Store(w + failOne)
	}
	if !trip && b.win.calls >= b.win.minCalls {
		fr, sr := b.win.rates()
		trip = b.failureRate > 0 && fr >= b.failureRate || b.slowRate > 0 && sr >= b.slowRate
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
	}
}

// doneProbe records the result of a half-open probe.
func (b *Breaker) doneProbe(t *Ticket, o policy.Outcome, slow bool) {
	b.mu.Lock()
	if !sameGen(b.word.Load(), t.gen) || t.seq == 0 || int(t.slot) >= len(b.probes) || b.probes[t.slot] != t.seq {
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
		if b.hoSuccesses >= b.successThreshold {
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
