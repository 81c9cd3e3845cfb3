package limit

import (
	"context"
	"time"

	"github.com/ionkit/ion/observe"
)

// TokenBucket is a token-bucket rate limiter: a bucket of burst tokens,
// refilled at rate tokens per second, from which each request takes n. It
// starts full, so a burst of burst requests is admitted at once, and then
// admits rate requests per second on average.
//
// Most callers want [TokenBucket.Allow] (take a token now or be refused) or
// [TokenBucket.Wait] (wait for one, bounded by ctx). [TokenBucket.ReserveN]
// claims tokens for later. The methods taking a now time.Time are pure with
// respect to time: they use now instead of reading the clock, which makes
// them the seam for table tests; a now earlier than a previous one mints no
// tokens.
//
// The limits can change while the bucket is in use ([TokenBucket.SetRate],
// [TokenBucket.SetBurst], [TokenBucket.SetTemporaryLimit],
// [TokenBucket.DrainTo]); each change takes effect from the moment it is
// made and keeps the tokens accrued until then.
//
// A TokenBucket built with an invalid rate or burst fails closed: every
// method admits nothing and returns the configuration error, which
// [TokenBucket.Err] reports. The zero value fails closed: every call
// refuses, and those that return an error return one matching
// ion.ErrInvalidConfig that says to use [NewTokenBucket]. A TokenBucket is
// safe for concurrent use by multiple goroutines. Allow, AllowN, and Wait
// or Admit when they need not wait, take no lock (a compare-and-swap) and
// do not allocate; reservations that wait, refunds and limit changes hold a
// mutex for a few arithmetic operations.
type TokenBucket struct {
	c core
}

// NewTokenBucket returns a full token bucket of burst tokens refilled at
// rate. A rate of [Inf] admits everything, whatever burst is; a zero rate
// admits burst tokens in all and then nothing.
//
// A NaN, negative or -Inf rate, a negative burst, a zero burst with a finite
// non-zero rate, or a burst above 2^50 make the bucket fail closed with an
// error matching ion.ErrInvalidConfig that names the parameter. The options
// used are WithName, WithLogger, WithMetrics and WithTracer.
func NewTokenBucket(rate Rate, burst int, opts ...BucketOption) *TokenBucket {
	lim := &TokenBucket{}
	lim.c.init("token-bucket", rate, burst, "burst", opts)
	return lim
}

// Err returns the configuration error that makes the bucket fail closed, or
// nil.
func (lim *TokenBucket) Err() error {
	if lim.c.live {
		return nil
	}
	return lim.c.fault(errZeroTokenBucket)
}

var errZeroTokenBucket = zeroValueError("TokenBucket", "NewTokenBucket")

// Allow is shorthand for AllowN(time.Now(), 1). It reads the monotonic
// clock once, and a second time before refusing (a reading that went stale
// while the goroutine was descheduled never refuses a call the bucket can
// admit). It does not allocate.
func (lim *TokenBucket) Allow() bool { return lim.c.allowN(nowNs(), 1, true) }

// AllowN reports whether n tokens are available at now, and takes them if
// so. It never blocks and does not allocate. n = 0 is always allowed and
// changes nothing; a negative n, an n above the burst, or a bucket that
// failed closed are refused without changing state. A now earlier than one
// already used sees the bucket as it was then: it mints no tokens and may be
// refused.
func (lim *TokenBucket) AllowN(now time.Time, n int) bool {
	return lim.c.allowN(offsetOf(now), n, false)
}

// Wait is shorthand for WaitN(ctx, 1).
func (lim *TokenBucket) Wait(ctx context.Context) error {
	return lim.c.waitN(ctx, 1, -1, errZeroTokenBucket)
}

// WaitN blocks until n tokens are the caller's, then returns nil. Waiters
// are served in the order they call, through reservations, so a large n is
// not starved by small ones. It does not allocate when the tokens are
// available at once.
//
// It returns at once, consuming nothing, with ctx.Err() if ctx is already
// done; with [ErrNegativeN] or [ErrExceedsBurst] for a bad n; with the
// configuration error of a bucket that failed closed; and with a
// [*LimitedError] (matching [ErrLimited]) if the wait could not end before
// ctx's deadline or would never end (a zero rate). If ctx ends during the
// wait, WaitN gives the tokens back and returns ctx.Err(). n = 0 returns nil
// at once.
func (lim *TokenBucket) WaitN(ctx context.Context, n int) error {
	return lim.c.waitN(ctx, n, -1, errZeroTokenBucket)
}

// Admit implements [Limiter]: it takes one token, waiting for it at most
// maxWait (and strictly before ctx's deadline), and otherwise fails at once
// with a [*LimitedError], consuming nothing.
func (lim *TokenBucket) Admit(ctx context.Context, maxWait time.Duration) error {
	return lim.c.waitN(ctx, 1, max(int64(maxWait), 0), errZeroTokenBucket)
}

// ReserveN reserves n tokens at now and returns the [Reservation], which
// says how long to wait before using them and can be cancelled. It never
// blocks. A reservation that is not OK (see [Reservation.OK]) changed
// nothing.
func (lim *TokenBucket) ReserveN(now time.Time, n int) *Reservation {
	return lim.c.reserveN(offsetOf(now), n)
}

// SetRate changes the refill rate from now on, keeping the tokens accrued
// so far; outstanding reservations keep their times. While a temporary limit
// is in force, it changes the rate restored when that ends. An invalid rate
// (see [NewTokenBucket]) returns an error matching ion.ErrInvalidConfig and
// changes nothing.
func (lim *TokenBucket) SetRate(r Rate) error {
	return lim.c.setLimits(r, 0, true, false, "burst", errZeroTokenBucket)
}

// SetBurst changes the burst from now on, keeping the tokens accrued so far
// (capped at the new burst). While a temporary limit is in force, it changes
// the burst restored when that ends. An invalid burst returns an error
// matching ion.ErrInvalidConfig and changes nothing.
func (lim *TokenBucket) SetBurst(burst int) error {
	return lim.c.setLimits(0, burst, false, true, "burst", errZeroTokenBucket)
}

// SetTemporaryLimit puts rate and burst in force for d, keeping the tokens
// accrued (capped at burst), then restores the permanent limits, as when
// honouring a server's 429 with Retry-After. The revert needs no timer or
// goroutine: the first use after d performs it, as of the moment d ended, so
// it works inside a synctest bubble. A second call while a temporary limit
// is in force replaces it (restarting d) and keeps the original permanent
// limits. An invalid rate or burst, or d <= 0, returns an error matching
// ion.ErrInvalidConfig and changes nothing.
func (lim *TokenBucket) SetTemporaryLimit(rate Rate, burst int, d time.Duration) error {
	return lim.c.setTemp(rate, burst, d, "burst", errZeroTokenBucket)
}

// ClearTemporaryLimit restores the permanent limits now, keeping the tokens
// accrued. It does nothing when no temporary limit is in force.
func (lim *TokenBucket) ClearTemporaryLimit() { lim.c.clearTemp() }

// DrainTo lowers the tokens available now to at most n, to follow a remote
// count such as an X-RateLimit-Remaining header. It never adds tokens: a
// stale remote count cannot undo local accounting. A negative n drains to
// 0. It does nothing on a bucket that failed closed.
func (lim *TokenBucket) DrainTo(n int) {
	if lim.c.live {
		lim.c.b.drainTo(nowNs(), int64(max(n, 0)))
	}
}

// Tokens is shorthand for TokensAt(time.Now()).
func (lim *TokenBucket) Tokens() float64 { return lim.c.tokensAt(nowNs()) }

// TokensAt returns the tokens available at now. It is fractional while the
// bucket refills, negative while reservations are outstanding, +Inf for an
// Inf rate and 0 for a bucket that failed closed. Like AllowN it is pure
// with respect to time: it uses now, not the clock, and changes nothing, so
// a test can read the bucket at any instant. A now earlier than one the
// bucket has already served reports no tokens minted since.
func (lim *TokenBucket) TokensAt(now time.Time) float64 { return lim.c.tokensAt(offsetOf(now)) }

// Rate returns the rate in force now (a temporary one if set).
func (lim *TokenBucket) Rate() Rate { return lim.c.limits().rate }

// Burst returns the burst in force now (a temporary one if set).
func (lim *TokenBucket) Burst() int { return lim.c.limits().burst }

// String describes the bucket, as in "token-bucket 10/s burst 20" or
// "token-bucket(api) 10/s burst 20" when named.
func (lim *TokenBucket) String() string { return lim.c.describe("burst", errZeroTokenBucket) }

func (lim *TokenBucket) tracer() observe.Tracer { return lim.c.tr }
