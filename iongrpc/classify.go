package iongrpc

import (
	"errors"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// ErrServerRejected is matched by a [*RejectedError]: a call the server
// refused with ResourceExhausted and a pushback (the grpc-retry-pushback-ms
// trailer or a RetryInfo status detail). It matches ion.ErrRejected too.
var ErrServerRejected = errors.New("iongrpc: rejected by the server")

// RejectedError is the error of a call the server refused with
// ResourceExhausted and told when to come back. It matches
// [ErrServerRejected] and ion.ErrRejected with errors.Is, so no breaker
// counts it and a Retry waits at least Delay (ion.RetryAfter returns it);
// status.Code and status.FromError see the server's status through it.
type RejectedError struct {
	Status *status.Status // the server's status
	Delay  time.Duration  // the pushback
}

// Error returns the server's status text and the pushback.
func (e *RejectedError) Error() string {
	return "iongrpc: rejected by the server, retry after " + e.Delay.String() + ": " + e.Status.Message()
}

// Is reports whether target is ErrServerRejected or ion.ErrRejected.
func (e *RejectedError) Is(target error) bool {
	return target == ErrServerRejected || target == ion.ErrRejected
}

// RetryAfter returns Delay, for ion.RetryAfter.
func (e *RejectedError) RetryAfter() time.Duration { return e.Delay }

// GRPCStatus returns the server's status, so status.Code(err) and
// status.FromError(err) see it.
func (e *RejectedError) GRPCStatus() *status.Status { return e.Status }

// Classify is the default outcome of a call's error: nil is a Success;
// the codes Unavailable, DeadlineExceeded, ResourceExhausted, Aborted and
// Internal, and errors that are not gRPC statuses (a failed connection), are
// a Failure; every other code (NotFound, InvalidArgument, PermissionDenied,
// ...) is a Success for the breaker, because the server answered. The
// caller's own cancellation or deadline is Ignored before any classifier
// runs, and a pushback is turned into a [*RejectedError] first.
func Classify(err error) policy.Outcome {
	if err == nil {
		return policy.Success
	}
	s, ok := status.FromError(err)
	if !ok {
		return policy.Failure
	}
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Internal:
		return policy.Failure
	}
	return policy.Success
}

// pushbackKey is the trailer in which a server asks for a pause.
const pushbackKey = "grpc-retry-pushback-ms"

// Pushback reports the delay a ResourceExhausted error and its trailer ask
// for: a RetryInfo status detail, else the grpc-retry-pushback-ms trailer.
// It returns false for any other error or when neither is present.
func Pushback(err error, trailer metadata.MD) (time.Duration, bool) {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.ResourceExhausted {
		return 0, false
	}
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return max(ri.GetRetryDelay().AsDuration(), 0), true
		}
	}
	if v := trailer.Get(pushbackKey); len(v) > 0 {
		if ms, err := strconv.ParseInt(v[0], 10, 64); err == nil && ms >= 0 {
			return time.Duration(min(ms, int64(24*time.Hour/time.Millisecond))) * time.Millisecond, true
		}
	}
	return 0, false
}

// rejection returns err as a *RejectedError when it is a pushback.
func rejection(err error, trailer metadata.MD) error {
	if d, ok := Pushback(err, trailer); ok {
		s, _ := status.FromError(err)
		return &RejectedError{Status: s, Delay: d}
	}
	return err
}
