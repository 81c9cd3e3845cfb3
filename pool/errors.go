package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
)

var (
	// ErrClosed is returned by every submission after Close or Drain has
	// begun, and to blocked submitters when the pool closes. Tasks that a
	// forced Close discards report an error that matches it too.
	ErrClosed error = reject.New("pool: closed")
	// ErrQueueFull is returned by TrySubmit when no worker is idle and the
	// queue is full.
	ErrQueueFull error = reject.New("pool: queue full")
	// ErrExpired is reported for an accepted task that waited in the queue
	// longer than the limit of [WithMaxQueueWait]; the task was not run.
	ErrExpired error = reject.New("pool: task expired in the queue")
	// ErrShed is matched by the error reported for an accepted task that
	// CoDel ([WithCoDel]) shed because the queue was standing; the task was
	// not run. The error reported says how long the task waited.
	ErrShed error = reject.New("pool: task shed from a standing queue")
	// ErrNotStarted is reported for an accepted task that was not run
	// because its context was done when a worker took it (see the package
	// doc, "Task context"). The error reported wraps the context's error
	// too, and its cause when it differs (ErrClosed after a forced Close).
	ErrNotStarted error = reject.New("pool: task context done before the task started")
	// ErrNilTask is returned for a nil task or function. It matches
	// ion.ErrInvalidConfig; the call changes no state.
	ErrNilTask error = ion.NewConfigError("pool", "task", "nil task")
)

var (
	errNilCtx  = ion.NewConfigError("pool", "ctx", "nil context")
	errNilPool = ion.NewConfigError("pool", "p", "nil pool")
	// errZeroPool is the error of every call on a Pool not made by New.
	errZeroPool = ion.NewConfigError("pool", "Pool", "zero value: use New")
	// errZeroGroup is the error of a Group not made by NewGroup.
	errZeroGroup = ion.NewConfigError("pool", "Group", "zero value: use NewGroup")
	// errGoAfterWait is recorded for a Group.Go called after Wait.
	errGoAfterWait = ion.NewConfigError("pool", "Group", "Go called after Wait")
	// errZeroFuture is the result of a Future not returned by Go.
	errZeroFuture = ion.NewConfigError("pool", "Future", "zero value: use Go")
	// errTaskPolicyType is returned when the task policy replaces a call's
	// value with one of another type (a Fallback of the wrong type).
	errTaskPolicyType = ion.NewConfigError("pool", "WithTaskPolicy", "the task policy returned a value of another type than the call's")
	// errGoexit is the Value of the PanicError of a task that called
	// runtime.Goexit.
	errGoexit = errors.New("pool: task called runtime.Goexit")
)

// notRun returns the error reported for a task not run because its ctx was
// done when a worker took it: it wraps ErrNotStarted, ctx.Err() and, when it
// differs, the cause (ErrClosed after a forced Close).
func notRun(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause != nil && cause != err {
		return fmt.Errorf("%w: %w: %w", ErrNotStarted, err, cause)
	}
	return fmt.Errorf("%w: %w", ErrNotStarted, err)
}

// shedError is the error reported for a task that CoDel shed: it unwraps to
// ErrShed (and so matches ion.ErrRejected) and says how long the task
// waited, against the target.
type shedError struct {
	wait, target time.Duration
}

func (e *shedError) Error() string {
	return ErrShed.Error() + ": waited " + e.wait.String() + ", over the " + e.target.String() + " target"
}

func (e *shedError) Unwrap() error { return ErrShed }
