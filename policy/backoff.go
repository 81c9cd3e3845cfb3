package policy

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ionkit/ion"
)

// Backoff is a schedule of delays between the attempts of a [Retry]: the
// delay before retry n (the wait before attempt n+1). Build one with
// [Constant], [Linear], [Exponential] or [ExponentialFactor] and install it
// with [WithBackoff]; randomize it with [WithJitter],
// [WithProportionalJitter] or [WithAbsoluteJitter].
//
// A Backoff is a small immutable value. The zero Backoff is Constant(0): no
// delay. A Backoff built from invalid arguments makes the Retry it is given
// to fail closed with an error matching ion.ErrInvalidConfig.
type Backoff struct {
	kind     backoffKind
	initial  time.Duration
	step     time.Duration
	maxDelay time.Duration
	factor   float64 // the growth of an exponential schedule; 0 for 2
	err      error
}

type backoffKind uint8

const (
	constantBackoff backoffKind = iota
	linearBackoff
	exponentialBackoff
)

// Constant returns the schedule that waits d before every retry. A negative
// d is invalid.
func Constant(d time.Duration) Backoff {
	b := Backoff{kind: constantBackoff, initial: d, maxDelay: d}
	if d < 0 {
		b.err = ion.NewConfigError("policy", "Constant delay", "must not be negative, got %v", d)
	}
	return b
}

// Linear returns the schedule that waits initial before the first retry and
// step more before each further one, never more than maxDelay:
// min(initial + (n-1)*step, maxDelay) before retry n. Negative durations and
// a maxDelay below initial are invalid.
func Linear(initial, step, maxDelay time.Duration) Backoff {
	b := Backoff{kind: linearBackoff, initial: initial, step: step, maxDelay: maxDelay}
	switch {
	case initial < 0:
		b.err = ion.NewConfigError("policy", "Linear initial", "must not be negative, got %v", initial)
	case step < 0:
		b.err = ion.NewConfigError("policy", "Linear step", "must not be negative, got %v", step)
	case maxDelay < initial:
		b.err = ion.NewConfigError("policy", "Linear maxDelay", "must be at least initial (%v), got %v", initial, maxDelay)
	}
	return b
}

// Exponential returns the schedule that waits initial before the first retry
// and doubles the delay before each further one, never more than maxDelay:
// min(initial * 2^(n-1), maxDelay) before retry n. The doubling saturates at
// maxDelay and never overflows, however many retries an unlimited Retry
// makes. Negative durations and a maxDelay below initial are invalid.
func Exponential(initial, maxDelay time.Duration) Backoff {
	b := Backoff{kind: exponentialBackoff, initial: initial, maxDelay: maxDelay}
	switch {
	case initial < 0:
		b.err = ion.NewConfigError("policy", "Exponential initial", "must not be negative, got %v", initial)
	case maxDelay < initial:
		b.err = ion.NewConfigError("policy", "Exponential maxDelay", "must be at least initial (%v), got %v", initial, maxDelay)
	}
	return b
}

// ExponentialFactor returns the schedule that waits initial before the
// first retry and multiplies the delay by factor before each further one,
// never more than maxDelay: min(initial * factor^(n-1), maxDelay) before
// retry n. Exponential(initial, maxDelay) is ExponentialFactor(initial,
// maxDelay, 2); a factor of 1.5 grows more gently, 1 waits initial every
// time. The growth saturates at maxDelay and never overflows. Negative
// durations, a maxDelay below initial, and a factor below 1, NaN or
// infinite are invalid.
func ExponentialFactor(initial, maxDelay time.Duration, factor float64) Backoff {
	b := Backoff{kind: exponentialBackoff, initial: initial, maxDelay: maxDelay}
	switch {
	case initial < 0:
		b.err = ion.NewConfigError("policy", "ExponentialFactor initial", "must not be negative, got %v", initial)
	case maxDelay < initial:
		b.err = ion.NewConfigError("policy", "ExponentialFactor maxDelay", "must be at least initial (%v), got %v", initial, maxDelay)
	case !(factor >= 1) || math.IsInf(factor, 0):
		b.err = ion.NewConfigError("policy", "ExponentialFactor factor", "must be a finite number >= 1, got %v", factor)
	}
	if factor != 2 {
		b.factor = factor
	}
	return b
}

// Delay returns the delay before retry n (1 for the first retry, which is
// the wait before attempt 2), without jitter. It returns 0 for n < 1 and for
// an invalid Backoff. It is pure and does not allocate.
func (b Backoff) Delay(n int) time.Duration {
	if n < 1 || b.err != nil {
		return 0
	}
	switch b.kind {
	case linearBackoff:
		// initial + (n-1)*step without overflow: compare the step count with
		// the room left below the cap first.
		if b.step > 0 && uint64(n-1) > uint64(b.maxDelay-b.initial)/uint64(b.step) {
			return b.maxDelay
		}
		return min(b.initial+time.Duration(n-1)*b.step, b.maxDelay)
	case exponentialBackoff:
		if b.initial == 0 {
			return 0
		}
		if b.factor != 0 {
			return b.grow(n)
		}
		// Double until the cap: at most 63 doublings, whatever n is.
		d := b.initial
		for i := 1; i < n && d < b.maxDelay; i++ {
			if d > b.maxDelay/2 {
				return b.maxDelay
			}
			d *= 2
		}
		return min(d, b.maxDelay)
	}
	return b.initial
}

// grow returns min(initial * factor^(n-1), maxDelay) for a factor other
// than 2, in floating point: a delay needs no more than its 53 bits of
// precision, and math.Pow has no loop to bound however large n is.
func (b Backoff) grow(n int) time.Duration {
	x := float64(b.initial) * math.Pow(b.factor, float64(n-1))
	if !(x < float64(b.maxDelay)) { // also +Inf and NaN
		return b.maxDelay
	}
	return time.Duration(x)
}

// String describes the schedule: "constant(1s)", "linear(100ms+50ms..1s)"
// "exponential(100ms..10s)" or, with a factor other than 2,
// "exponential(100ms..10s x1.5)".
func (b Backoff) String() string {
	switch b.kind {
	case linearBackoff:
		return "linear(" + b.initial.String() + "+" + b.step.String() + ".." + b.maxDelay.String() + ")"
	case exponentialBackoff:
		if b.factor != 0 {
			return "exponential(" + b.initial.String() + ".." + b.maxDelay.String() + " x" + strconv.FormatFloat(b.factor, 'g', -1, 64) + ")"
		}
		return "exponential(" + b.initial.String() + ".." + b.maxDelay.String() + ")"
	}
	return "constant(" + b.initial.String() + ")"
}

// Jitter randomizes the delays of a [Backoff] so that clients that failed
// together do not retry together. Install it with [WithJitter]. The zero
// value is NoJitter. A delay jittered by one of these kinds is never
// negative and never above the backoff's maximum. Two more shapes take a
// parameter and have options of their own: [WithProportionalJitter] (± a
// fraction of the delay) and [WithAbsoluteJitter] (+ up to a fixed
// duration); both may exceed the backoff's maximum, by the bounds their
// docs state. Every draw comes from one source per call, deterministic
// under [WithSeed].
type Jitter uint8

const (
	// NoJitter waits exactly the backoff's delay d.
	NoJitter Jitter = iota
	// FullJitter waits a uniformly random delay in [0, d].
	FullJitter
	// EqualJitter waits d/2 plus a uniformly random delay in [0, d/2].
	EqualJitter
	// DecorrelatedJitter ignores the schedule's shape and waits a uniformly
	// random delay between the backoff's initial delay and three times the
	// previous delay, capped at the backoff's maximum (the first delay is
	// drawn from [initial, 3*initial]). With an initial delay of 0 it waits
	// nothing.
	DecorrelatedJitter

	// proportionalJitter is set by WithProportionalJitter, which carries
	// its fraction; WithJitter does not accept it.
	proportionalJitter Jitter = 255
)

// String returns "none", "full", "equal", "decorrelated" or "Jitter(n)".
func (j Jitter) String() string {
	switch j {
	case NoJitter:
		return "none"
	case FullJitter:
		return "full"
	case EqualJitter:
		return "equal"
	case DecorrelatedJitter:
		return "decorrelated"
	}
	return "Jitter(" + strconv.Itoa(int(j)) + ")"
}

// apply returns the jittered delay for a retry whose un-jittered delay is d,
// after a previous jittered delay prev, drawing from src.
func (j Jitter) apply(b Backoff, d, prev time.Duration, src *rand.PCG) time.Duration {
	switch j {
	case FullJitter:
		return between(src, 0, d)
	case EqualJitter:
		half := d / 2
		return d - half + between(src, 0, half)
	case DecorrelatedJitter:
		hi := b.maxDelay
		if prev < math.MaxInt64/3 {
			hi = min(3*prev, b.maxDelay)
		}
		return between(src, b.initial, max(hi, b.initial))
	}
	return d
}

// proportional returns a uniformly random delay in [d - f*d, d + f*d],
// f in [0, 1], saturating at the largest Duration.
func proportional(d time.Duration, f float64, src *rand.PCG) time.Duration {
	spread := scale(d, f)
	if spread <= 0 {
		return d
	}
	lo := d - spread
	if d > math.MaxInt64-spread {
		return between(src, lo, math.MaxInt64)
	}
	return between(src, lo, d+spread)
}

// scale returns f*d for f in [0, 1], never above d: the float product
// of the largest durations rounds up to 2^63, which does not convert.
func scale(d time.Duration, f float64) time.Duration {
	x := f * float64(d)
	if x >= float64(d) {
		return d
	}
	return time.Duration(x)
}

// addSat returns a+b for non-negative durations, saturating at the
// largest Duration.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// between returns a uniformly random duration in [lo, hi] (lo when hi <= lo).
// It maps a 64-bit draw onto the range with one multiplication, whose bias
// is at most 2^-64 relative: negligible for delays.
func between(src *rand.PCG, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return max(lo, 0)
	}
	span := uint64(hi-lo) + 1
	r, _ := bits.Mul64(src.Uint64(), span)
	return lo + time.Duration(r)
}
