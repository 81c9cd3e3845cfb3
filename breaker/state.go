package breaker

import (
	"math"
	"strconv"
	"sync/atomic"
)

// State is the state of a [Breaker]. The zero value is [Closed].
type State uint8

const (
	// Closed lets every call through and counts outcomes against the trip
	// rule.
	Closed State = iota
	// Open rejects every call with an [*OpenError] until the open duration
	// has elapsed; the breaker then reads as [HalfOpen].
	Open
	// HalfOpen lets at most the configured number of probe calls run at once
	// (WithHalfOpenMaxCalls); enough successes close the breaker, one
	// failure opens it again.
	HalfOpen
	// ForcedOpen rejects every call with [ErrOpen] until [Breaker.Reset]. It
	// is entered only by [Breaker.Trip].
	ForcedOpen
	// Disabled lets every call through and never changes state on its own;
	// outcomes are still counted in the [Snapshot]. It is entered only by
	// [Breaker.Disable] and left by [Breaker.Enable] or [Breaker.Reset].
	Disabled
)

// String returns "closed", "open", "half-open", "forced-open" or
// "disabled".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	case ForcedOpen:
		return "forced-open"
	case Disabled:
		return "disabled"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// numStates is the number of valid states, for tables indexed by State.
const numStates = 5

// A generation is one stretch of a breaker in one state, from a transition
// to the next (or to a Reset of a closed breaker). The breaker points at its
// current generation with one atomic pointer, so a caller reads the state
// and the generation with one load and no lock; a transition builds the next
// generation under the breaker's mu and swaps the pointer. A ticket keeps the
// generation it was issued in: a result is stale when that generation is no
// longer current, and a stale result counts in the totals but never changes
// the state or the current counts.
//
// A generation's counts live in it. The result word packs the run of
// consecutive outcomes and the low bits of the success count, so that a
// closed-state success, the hot path, is one compare-and-swap on one word:
//
//	bit 63       retired: set, under mu, when the generation stops being current
//	bits 31..62  the run: n > 0 consecutive successes, -n consecutive failures
//	bits 0..30   successes, modulo 2^31; each wrap adds 2^31 to succHi
//
// Because the retired bit is in the same word, a result either lands before
// the generation retires (and counts in it, folded into the totals at
// retirement) or sees the bit and counts as late: none is lost or counted
// twice.
type generation struct {
	// Immutable after the generation is built, but for fast.
	b     *Breaker // the breaker it belongs to, so that a Ticket needs only g
	state State
	// fast is set while g is Closed without the slow-call rule: Allow needs
	// nothing else. Set when g is built, and by Reconfigure with b.mu held
	// when the slow-call rule comes or goes. (An atomic load of a bool is a
	// plain load on the platforms Ion is measured on.)
	fast  atomic.Bool
	since int64 // when the generation began, nanoseconds since the epoch
	until int64 // Open: when it becomes half-open, nanoseconds since the epoch

	_ [64]byte // keep the writes below off the line that Allow reads

	word     atomic.Uint64
	succHi   atomic.Int64 // successes above the 31 bits of word; written under mu
	failures atomic.Int64 // failures counted in this generation
}

const (
	retiredBit = uint64(1) << 63
	runShift   = 31
	succMask   = uint64(1)<<runShift - 1
)

func runOf(w uint64) int32 { return int32(uint32(w >> runShift)) }

// withRun returns w with its run replaced by run.
func withRun(w uint64, run int32) uint64 {
	return w&(retiredBit|succMask) | uint64(uint32(run))<<runShift
}

// successWord returns w after one success, and whether the success count
// wrapped (its 2^31 then belongs in succHi).
func successWord(w uint64) (uint64, bool) {
	run := runOf(w)
	switch {
	case run < 0:
		run = 1
	case run < math.MaxInt32:
		run++
	}
	low := w&succMask + 1
	wrapped := low > succMask
	return withRun(w, run)&^succMask | low&succMask, wrapped
}

// failureWord returns w after one failure.
func failureWord(w uint64) uint64 {
	run := runOf(w)
	switch {
	case run > 0:
		run = -1
	case run > math.MinInt32:
		run--
	}
	return withRun(w, run)
}

// counts returns the counts of g. Without results in flight they are exact;
// a result whose Done has not returned may be seen in part.
func (g *generation) counts() Counts {
	w := g.word.Load()
	c := Counts{
		Successes: g.succHi.Load() + int64(w&succMask),
		Failures:  g.failures.Load(),
	}
	c.Requests = c.Successes + c.Failures
	if run := int64(runOf(w)); run > 0 {
		c.ConsecutiveSuccesses = run
	} else {
		c.ConsecutiveFailures = -run
	}
	return c
}
