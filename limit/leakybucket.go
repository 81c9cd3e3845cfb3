package limit

import (
	"context"
	"math"
	"time"

	"github.com/ionkit/ion/observe"
)

// LeakyBucket is a leaky bucket used as a meter, the GCRA form: each
// admitted request pours n units into a bucket of the given capacity, which
// leaks at rate units per second; a request that would overflow it is
// refused (or, with Wait, scheduled for when it fits). Admissions beyond the
// capacity are therefore evenly spaced, one every 1/rate.
//
// It starts empty, so capacity requests are admitted at once. A leaky bucket
// of capacity c and a token bucket of burst c at the same rate admit exactly
// the same requests (the level is c minus the tokens); the leaky bucket
// speaks of the level a request fills rather than of the tokens it takes. It
// shares the engine, the guarantees and the method family of [TokenBucket]:
// an allocation-free Allow, fair reservations, live changes, explicit-time
// methods for tests.
//
// A LeakyBucket built with an invalid rate or capacity fails closed: every
// method admits nothing and returns the configuration error, which
// [LeakyBucket.Err] reports. The zero value fails closed: every call
// refuses, and those that return an error return one matching
// ion.ErrInvalidConfig that says to use [NewLeakyBucket]. A LeakyBucket is
// safe for concurrent use by multiple goroutines.
type LeakyBucket struct {
	c core
}

// NewLeakyBucket returns an empty leaky bucket of the given capacity that
// leaks at rate. A rate of [Inf] admits everything; a zero rate admits
// capacity units in all and then nothing.
//
// A NaN, negative or -Inf rate, a negative capacity, a zero capacity with a
// finite non-zero rate, or a capacity above 2^50 make the bucket fail closed
// with an error matching ion.ErrInvalidConfig that names the parameter. The
// options used are WithName, WithLogger, WithMetrics and WithTracer.
func NewLeakyBucket(rate Rate, capacity int, opts ...BucketOption) *LeakyBucket {
	lim := &LeakyBucket{}
	lim.c.init("leaky-bucket", rate, capacity, "capacity", opts)
	return lim
}

// Err returns the configuration error that makes the bucket fail closed, or
// nil.
func (lim *LeakyBucket) Err() error {
	if lim.c.live {
		return nil
	}
	return lim.c.fault(errZeroLeakyBucket)
}

var errZeroLeakyBucket = zeroValueError("LeakyBucket", "NewLeakyBucket")

// Allow is shorthand for AllowN(time.Now(), 1). It reads the monotonic
// clock once and does not allocate.
func (lim *LeakyBucket) Allow() bool { return lim.c.allowN(nowNs(), 1, true) }

// AllowN reports whether n units fit in the bucket at now, and pours them
// if so. It never blocks and does not allocate. n = 0 is always allowed and
// changes nothing; a negative n, an n above the capacity, or a bucket that
// failed closed are refused without changing state.
func (lim *LeakyBucket) AllowN(now time.Time, n int) bool {
	return lim.c.allowN(offsetOf(now), n, false)
}

// Wait is shorthand for WaitN(ctx, 1).
func (lim *LeakyBucket) Wait(ctx context.Context) error {
	return lim.c.waitN(ctx, 1, -1, errZeroLeakyBucket)
}

// WaitN blocks until n units fit, pours them and returns nil; it behaves and
// fails exactly as [TokenBucket.WaitN] does ([ErrExceedsBurst] for an n
// above the capacity).
func (lim *LeakyBucket) WaitN(ctx context.Context, n int) error {
	return lim.c.waitN(ctx, n, -1, errZeroLeakyBucket)
}

// Admit implements [Limiter]: it pours one unit, waiting for room at most
// maxWait (and strictly before ctx's deadline), and otherwise fails at once
// with a [*LimitedError], consuming nothing.
func (lim *LeakyBucket) Admit(ctx context.Context, maxWait time.Duration) error {
	return lim.c.waitN(ctx, 1, max(int64(maxWait), 0), errZeroLeakyBucket)
}

// ReserveN reserves room for n units at now and returns the [Reservation];
// see [TokenBucket.ReserveN].
func (lim *LeakyBucket) ReserveN(now time.Time, n int) *Reservation {
	return lim.c.reserveN(offsetOf(now), n)
}

// SetRate changes the leak rate from now on, keeping the level; see
// [TokenBucket.SetRate].
func (lim *LeakyBucket) SetRate(r Rate) error {
	return lim.c.setLimits(r, 0, true, false, "capacity", errZeroLeakyBucket)
}

// SetCapacity changes the capacity from now on, keeping the level: a larger
// capacity leaves more room at once, and a level above a smaller capacity
// admits nothing until it has leaked below it. An invalid capacity returns
// an error matching ion.ErrInvalidConfig and changes nothing.
func (lim *LeakyBucket) SetCapacity(capacity int) error {
	return lim.c.setLimits(0, capacity, false, true, "capacity", errZeroLeakyBucket)
}

// SetTemporaryLimit puts rate and capacity in force for d, then restores
// the permanent ones, keeping the level at each change; see
// [TokenBucket.SetTemporaryLimit].
func (lim *LeakyBucket) SetTemporaryLimit(rate Rate, capacity int, d time.Duration) error {
	return lim.c.setTemp(rate, capacity, d, "capacity", errZeroLeakyBucket)
}

// ClearTemporaryLimit restores the permanent limits now.
func (lim *LeakyBucket) ClearTemporaryLimit() { lim.c.clearTemp() }

// Level is shorthand for LevelAt(time.Now()).
func (lim *LeakyBucket) Level() float64 { return lim.levelAt(nowNs()) }

// LevelAt returns how full the bucket is at now, in units: 0 when empty,
// above the capacity while reservations are outstanding, and 0 for an Inf
// rate or a bucket that failed closed. It is pure with respect to time, as
// [TokenBucket.TokensAt] is.
func (lim *LeakyBucket) LevelAt(now time.Time) float64 { return lim.levelAt(offsetOf(now)) }

func (lim *LeakyBucket) levelAt(ns int64) float64 {
	if !lim.c.live {
		return 0
	}
	tok, l := lim.c.b.snapshot(ns)
	if math.IsInf(tok, 1) {
		return 0
	}
	return float64(l.burst) - tok
}

// TokensAt returns the room left at now, the capacity minus the level: what
// a token bucket of the same rate and capacity would report as its tokens
// (see [TokenBucket.TokensAt]); +Inf for an Inf rate and 0 for a bucket
// that failed closed.
func (lim *LeakyBucket) TokensAt(now time.Time) float64 { return lim.c.tokensAt(offsetOf(now)) }

// Available returns the whole units that fit now: the capacity minus the
// level, rounded down, never negative; 0 for a bucket that failed closed.
func (lim *LeakyBucket) Available() int {
	if !lim.c.live {
		return 0
	}
	tok, l := lim.c.b.snapshot(nowNs())
	if math.IsInf(tok, 1) {
		return l.burst
	}
	return int(max(math.Floor(tok), 0))
}

// Capacity returns the capacity in force now (a temporary one if set).
func (lim *LeakyBucket) Capacity() int { return lim.c.limits().burst }

// Rate returns the leak rate in force now (a temporary one if set).
func (lim *LeakyBucket) Rate() Rate { return lim.c.limits().rate }

// String describes the bucket, as in "leaky-bucket 10/s capacity 20".
func (lim *LeakyBucket) String() string { return lim.c.describe("capacity", errZeroLeakyBucket) }

func (lim *LeakyBucket) tracer() observe.Tracer { return lim.c.tr }
