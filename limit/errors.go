package limit

import (
	"errors"
	"strconv"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
)

// ErrLimited is the sentinel of every rate-limit rejection. It matches
// ion.ErrRejected. The errors the limiters return are [*LimitedError]
// values, which match ErrLimited and carry the wait.
var ErrLimited error = reject.New("limit: rate limited")

// ErrExceedsBurst is returned at once, without blocking or changing state,
// for a request of more tokens than the limiter's burst (or capacity): such
// a request could never be admitted.
var ErrExceedsBurst = errors.New("limit: n exceeds burst")

// ErrNegativeN is returned at once, without changing state, for a request of
// a negative number of tokens.
var ErrNegativeN = errors.New("limit: negative n")

// never is the wait reported when a request can never be admitted in a
// representable time (a zero rate, or a wait past the range of
// time.Duration).
const never = time.Duration(1<<63 - 1)

// LimitedError is a rate-limit rejection. It matches [ErrLimited] and
// ion.ErrRejected with errors.Is, and ion.RetryAfter returns its Delay.
type LimitedError struct {
	// Delay is how long the caller would have had to wait for the request
	// to be admitted, measured when it was rejected. It is the maximum
	// time.Duration when the limiter would never admit it (a zero rate).
	Delay time.Duration
	// Tier names the tier that denied the request, for limiters made of
	// tiers ("global", "route", ... in package httplimit); it is empty for
	// the limiters of this package.
	Tier string
}

// Error returns "limit: rate limited", followed by the tier and the wait.
func (e *LimitedError) Error() string {
	msg := "limit: rate limited"
	if e.Tier != "" {
		msg += " by the " + e.Tier + " tier"
	}
	if e.Delay >= never {
		return msg + ", never admitted at this rate"
	}
	// The text rounds up to the millisecond (a reader does not need the
	// nanoseconds); RetryAfter keeps the exact delay.
	d := e.Delay
	if d > time.Millisecond {
		d = (d + time.Millisecond - 1).Truncate(time.Millisecond)
	}
	return msg + ", retry after " + d.String()
}

// RetryAfter returns Delay, so that ion.RetryAfter and policy.Retry see it.
func (e *LimitedError) RetryAfter() time.Duration { return e.Delay }

// Unwrap returns [ErrLimited].
func (e *LimitedError) Unwrap() error { return ErrLimited }

// Is reports whether target is [ErrLimited] or ion.ErrRejected.
func (e *LimitedError) Is(target error) bool {
	return target == ErrLimited || target == ion.ErrRejected
}

// zeroValueError is the error of a zero value of type typ, which is not
// usable: every call fails closed with it.
func zeroValueError(typ, ctor string) error {
	return configError(typ, "the zero value is not usable: use %s", ctor)
}

func configError(param, format string, args ...any) error {
	return ion.NewConfigError("limit", param, format, args...)
}

// checkLimits validates a rate and a burst (or capacity). The parameters
// are named prefix+"rate" and prefix+burstName in the error.
func checkLimits(r Rate, burst int, prefix, burstName string) error {
	f := float64(r)
	switch {
	case f != f:
		return configError(prefix+"rate", "must not be NaN")
	case f < 0:
		return configError(prefix+"rate", "must not be negative, got %v", f)
	case burst < 0:
		return configError(prefix+burstName, "must not be negative, got %d", burst)
	case r.isInf():
		return nil
	case burst == 0 && f > 0:
		return configError(prefix+burstName, "must be positive with a finite non-zero rate, got 0")
	case int64(burst) > maxBurst:
		return configError(prefix+burstName, "must be at most %s, got %d", strconv.FormatInt(maxBurst, 10), burst)
	}
	return nil
}
