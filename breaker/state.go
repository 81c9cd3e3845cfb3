package breaker

import (
	"math"
	"strconv"
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

// The breaker's hot state is one atomic word, so the closed path needs no
// lock: the state in the low bits, then a generation that every transition
// increments, then the consecutive-failure count of the current closed
// generation. A result carries the generation it started in; when the word's
// generation differs, the result is stale and ignored. Because the state and
// the generation change together, an unchanged generation also proves an
// unchanged state.
//
// The generation has 29 bits: a result is misattributed only if it is held
// across exactly 2^29 transitions, which no real call lives through.
const (
	stateBits = 3
	stateMask = 1<<stateBits - 1
	genBits   = 29
	genMask   = 1<<genBits - 1
	failShift = stateBits + genBits
	failOne   = uint64(1) << failShift
	failMask  = uint64(math.MaxUint32) << failShift
)

func pack(s State, gen uint32) uint64 { return uint64(s) | uint64(gen&genMask)<<stateBits }

func stateOf(w uint64) State          { return State(w & stateMask) }
func genOf(w uint64) uint32           { return uint32(w>>stateBits) & genMask }
func failsOf(w uint64) uint32         { return uint32(w >> failShift) }
func nextGen(w uint64) uint32         { return (genOf(w) + 1) & genMask }
func sameGen(w uint64, g uint32) bool { return genOf(w) == g }
