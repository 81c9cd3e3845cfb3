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
// [Constant], [Linear] or [Exponential] and install it with [WithBackoff];
// randomize it with [WithJitter].
//
// A Backoff is a small immutable value. The zero Backoff is Constant(0): no
// delay. A Backoff built from invalid arguments makes the Retry it is given
// to fail closed with an error matching ion.ErrInvalidConfig.
type Backoff struct {
	kind     backoffKind
	initial  time.Duration
	step     time.Duration
	maxDelay time.Duration
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

// String describes the schedule: "constant(1s)", "linear(100ms+50ms..1s)"
// or "exponential(100ms..10s)".
func (b Backoff) String() string {
	switch b.kind {
	case linearBackoff:
		return "linear(" + b.initial.String() + "+" + b.step.String() + ".." + b.maxDelay.String() + ")"
	case exponentialBackoff:
		return "exponential(" + b.initial.String() + ".." + b.maxDelay.String() + ")"
	}
	return "constant(" + b.initial.String() + ")"
}

// Jitter randomizes the delays of a [Backoff] so that clients that failed
// together do not retry together. Install it with [WithJitter]. The zero
// value is NoJitter. A jittered delay is never negative and never above the
// backoff's maximum.
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
