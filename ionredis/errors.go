package ionredis

import (
	"errors"

	"github.com/ionkit/ion"
)

// ErrBackend is matched by the rejection a limiter or semaphore returns in
// its default, fail-closed mode when Redis could not decide: the backend
// timed out, refused the connection, returned an error, or its breaker is
// open. It matches ion.ErrRejected, so a pipeline treats it as load shed,
// not as a failure of the protected call.
var ErrBackend = errors.New("ionredis: backend failed")

// ErrLeaseLost is the cause of the ctx that [Policy] hands to the call when
// the call's semaphore lease could not be renewed before it expired: another
// replica may now hold the permit, so the call should stop. Test with
// errors.Is(context.Cause(ctx), ErrLeaseLost).
var ErrLeaseLost = errors.New("ionredis: lease lost")

// ErrFull is the sentinel of a [Semaphore] that has no free permit. It
// matches ion.ErrRejected. The errors returned are [*FullError] values,
// which carry when the earliest lease expires.
var ErrFull = errors.New("ionredis: semaphore full")

// BackendError is the fail-closed rejection: Redis could not decide. It
// matches [ErrBackend] and ion.ErrRejected with errors.Is, and unwraps to
// the cause (a network error, context.DeadlineExceeded from the backend
// timeout, or a breaker's open error, whose RetryAfter ion.RetryAfter then
// reports).
type BackendError struct {
	Op  string // "limit", "acquire", "renew" or "release".
	Err error  // the cause.
}

// Error returns "ionredis: backend failed: <op>: <cause>".
func (e *BackendError) Error() string {
	return "ionredis: backend failed: " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *BackendError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrBackend] or ion.ErrRejected.
func (e *BackendError) Is(target error) bool {
	return target == ErrBackend || target == ion.ErrRejected
}

func configError(param, format string, args ...any) error {
	return ion.NewConfigError("ionredis", param, format, args...)
}

var errBadReply = errors.New("unexpected reply from the script")
