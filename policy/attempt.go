package policy

import "context"

type attemptKey struct{}

// Attempt returns the number of the attempt that ctx belongs to: 1 for the
// first call, 2 for the first retry, and so on; hedged attempts are numbered
// after the primary. A ctx that no retry or hedge has seen is attempt 1.
//
// The first attempt's ctx carries no value (so a call that succeeds first
// time costs no allocation); later attempts carry their number.
func Attempt(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// withAttempt returns ctx marked as attempt n. Attempt 1 is left unmarked
// unless an outer policy already marked ctx, so a success on the first try
// allocates nothing.
func withAttempt(ctx context.Context, n int) context.Context {
	if n == Attempt(ctx) {
		return ctx
	}
	return context.WithValue(ctx, attemptKey{}, n)
}
