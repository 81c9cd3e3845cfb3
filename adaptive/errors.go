package adaptive

import (
	"context"
	"errors"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
)

var (
	// ErrLimited is returned by a [Limiter] that cannot admit a call: its
	// concurrency limit is reached and the call may not wait, its queue is
	// full, a more important call took its place in the queue, or it waited
	// too long. It matches ion.ErrRejected.
	ErrLimited error = reject.New("adaptive: concurrency limit reached")

	// ErrThrottled is returned by a [Throttler] that rejects a call locally
	// because the backend has been refusing as many. It matches
	// ion.ErrRejected.
	ErrThrottled error = reject.New("adaptive: throttled")

	// ErrUnknownPriority is matched by the error of [ParsePriority] for a
	// name it does not know.
	ErrUnknownPriority = errors.New("adaptive: unknown priority")
)

// waitError is the error of a queued call that waited its Limiter's max wait
// or was dropped by queue management (CoDel). It matches ErrLimited and
// ion.ErrRejected, and unwraps to context.DeadlineExceeded.
type waitError struct {
	reason string
	wait   time.Duration
}

func (e *waitError) Error() string {
	return "adaptive: concurrency limit reached: " + e.reason + " after " + e.wait.String() + ": " + context.DeadlineExceeded.Error()
}

func (e *waitError) Is(target error) bool { return target == ErrLimited || target == ion.ErrRejected }

func (e *waitError) Unwrap() error { return context.DeadlineExceeded }

// ctxError wraps the caller's ctx error when its ctx ended before a permit
// was granted.
type ctxError struct{ err error }

func (e *ctxError) Error() string { return "adaptive: acquire: " + e.err.Error() }

func (e *ctxError) Unwrap() error { return e.err }

type priorityError struct{ s string }

func (e *priorityError) Error() string { return "adaptive: unknown priority " + `"` + e.s + `"` }

func (e *priorityError) Is(target error) bool { return target == ErrUnknownPriority }

func configError(param, format string, args ...any) error {
	return ion.NewConfigError("adaptive", param, format, args...)
}

var errNilCtx = configError("ctx", "nil context")
