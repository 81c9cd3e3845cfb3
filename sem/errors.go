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

	// ErrShed is matched by the error of an Acquire that [WithCoDel] shed
	// from a standing queue instead of serving it, holding nothing. It
	// matches ion.ErrRejected.
	ErrShed error = reject.New("sem: shed from a standing queue")

	// ErrWeightExceedsCapacity is returned at once, without blocking and
	// without changing state, by an Acquire of more permits than the
	// semaphore's capacity: such a call could never succeed. A waiter whose
	// weight a [Weighted.SetCapacity] puts above the new capacity leaves the
	// queue with it too.
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
	n        int64 // the permits released
	free     int64 // the permits free before the release
	owed     int64 // the permits in use beyond the capacity before the release (see SetCapacity)
	capacity int64
	excess   int64 // the permits ignored
}

func (e *overReleaseError) Error() string {
	msg := ErrOverRelease.Error() + ": Release(" + strconv.FormatInt(e.n, 10) + ") with " +
		strconv.FormatInt(e.free, 10) + " of " + strconv.FormatInt(e.capacity, 10) + " permits free"
	if e.owed > 0 {
		msg += " and " + strconv.FormatInt(e.owed, 10) + " in use beyond the capacity"
	}
	return msg + "; " + strconv.FormatInt(e.excess, 10) + " ignored"
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

// shedError is the error of a waiter that CoDel shed from a standing
// queue. It matches ErrShed and ion.ErrRejected.
type shedError struct {
	wait time.Duration
}

func (e *shedError) Error() string {
	return ErrShed.Error() + " after waiting " + e.wait.String()
}

func (e *shedError) Is(target error) bool { return target == ErrShed || target == ion.ErrRejected }

// ctxError is the error of an Acquire whose ctx ended first: it wraps
// ctx.Err() so errors.Is(err, context.Canceled) and
// errors.Is(err, context.DeadlineExceeded) keep working.
type ctxError struct {
	err error
}

func (e *ctxError) Error() string { return "sem: acquire: " + e.err.Error() }

func (e *ctxError) Unwrap() error { return e.err }

var errNilCtx = ion.NewConfigError("sem", "ctx", "nil context")
