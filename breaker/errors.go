package breaker

import (
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
)

// ErrOpen is the rejection of an open breaker. It matches ion.ErrRejected.
// An open breaker returns it inside an [*OpenError] that tells when to come
// back; a forced-open breaker ([Breaker.Trip]) returns ErrOpen itself, as it
// does not know.
var ErrOpen error = reject.New("breaker: open")

// ErrHalfOpenBusy is the rejection of a half-open breaker whose probe slots
// (WithHalfOpenMaxCalls) are all in use. It matches ion.ErrRejected but not
// [ErrOpen]: the breaker is testing the dependency right now, and a caller
// may try again as soon as a probe finishes.
var ErrHalfOpenBusy error = reject.New("breaker: half-open, all probe slots busy")

// OpenError is the rejection of an open breaker. It matches [ErrOpen] and
// ion.ErrRejected with errors.Is, and ion.RetryAfter returns the time left
// until the breaker lets probes through.
type OpenError struct {
	Name string // the breaker's name
	wait time.Duration
}

// Error returns "breaker: <name>: open".
func (e *OpenError) Error() string {
	if e.Name == "" {
		return "breaker: open"
	}
	return "breaker: " + e.Name + ": open"
}

// RetryAfter returns the time left, when the call was rejected, until the
// breaker lets probes through.
func (e *OpenError) RetryAfter() time.Duration { return e.wait }

// Is reports whether target is [ErrOpen] or ion.ErrRejected.
func (e *OpenError) Is(target error) bool { return target == ErrOpen || target == ion.ErrRejected }

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }
