package sem

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
)

var (
	// ErrFull is returned by the bulkhead ([Policy]) when no permit is
	// available in time, and matched by the error of an Acquire that reached
	// its [WithAcquireTimeout]. It matches ion.ErrRejected.
	ErrFull error = reject.New("sem: full")

	// ErrWeightExceedsCapacity is returned at once, without blocking and
	// without changing state, by an Acquire of more permits than the
	// semaphore's capacity: such a call could never succeed.
	ErrWeightExceedsCapacity = errors.New("sem: weight exceeds capacity")

	// ErrInvalidWeight is returned at once, without blocking and without
	// changing state, by an Acquire or a Release of a negative number of
	// permits.
	ErrInvalidWeight = errors.New("sem: invalid weight: must not be negative")

	// ErrOverRelease is matched by the error of a [Weighted.Release] that
	// would have raised the free permits above the capacity: more permits
	// were released than were held. The permits beyond the capacity were
	// ignored; the semaphore is otherwise unchanged and still usable. It
	// reports a bug in the caller (a double release, a release without an
	// acquire), so it matches neither ion.ErrRejected nor
	// ion.ErrInvalidConfig.
	ErrOverRelease = errors.New("sem: released more permits than held")
)

// overReleaseError is the error of an over-release: it matches
// ErrOverRelease and says what happened.
type overReleaseError struct {
	n, free, capacity int64 // free: the permits free before the release
}

func (e *overReleaseError) Error() string {
	return ErrOverRelease.Error() + ": Release(" + strconv.FormatInt(e.n, 10) + ") with " +
		strconv.FormatInt(e.free, 10) + " of " + strconv.FormatInt(e.capacity, 10) + " permits free; " +
		strconv.FormatInt(e.n-(e.capacity-e.free), 10) + " ignored"
}

func (e *overReleaseError) Is(target error) bool { return target == ErrOverRelease }

// timeoutError is the error of a wait that reached its bound (the
// semaphore's WithAcquireTimeout or the bulkhead's WithMaxWait). It matches
// ErrFull and ion.ErrRejected, and unwraps to context.DeadlineExceeded.
type timeoutError struct {
	wait time.Duration
}

func (e *timeoutError) Error() string {
	return "sem: full: no permit within " + e.wait.String() + ": " + context.DeadlineExceeded.Error()
}

func (e *timeoutError) Is(target error) bool {
	return target == ErrFull || target == ion.ErrRejected
}

func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// ctxError is the error of an Acquire whose ctx ended first: it wraps
// ctx.Err() so errors.Is(err, context.Canceled) and
// errors.Is(err, context.DeadlineExceeded) keep working.
type ctxError struct {
	err error
}

func (e *ctxError) Error() string { return "sem: acquire: " + e.err.Error() }

func (e *ctxError) Unwrap() error { return e.err }

var errNilCtx = ion.NewConfigError("sem", "ctx", "nil context")
