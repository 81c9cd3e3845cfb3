package ionhttp

import (
	"errors"
	"io"
	"sync/atomic"
)

// ErrBodyTimeout is the cause of an attempt's ctx when the body timeout
// ([WithBodyTimeout]) fired before the body was read to its end or closed:
// reads of the body then fail with an error wrapping it.
var ErrBodyTimeout = errors.New("ionhttp: body read timed out")

// drainLimit is how much of a discarded body is read so that its connection
// goes back to the pool: a small error page is drained, a large body is
// not worth reading and its connection is closed instead.
const drainLimit = 64 << 10

// body is a response body whose attempt ctx ends when it is read to its end
// or closed, never before: the caller always gets the whole body it was
// given, whatever the policies did with their own ctxs.
type body struct {
	rc   io.ReadCloser
	ctx  *attemptCtx // the attempt's ctx, ended by finish
	done atomic.Bool // set by the first EOF or Close
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish()
	} else if err != nil && errors.Is(b.ctx.causeOf(), ErrBodyTimeout) {
		err = &bodyTimeoutError{err: err}
	}
	return n, err
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.finish()
	return err
}

// finish releases the attempt's ctx and its body timeout, once.
func (b *body) finish() {
	if b.done.CompareAndSwap(false, true) {
		if b.ctx.call.t.bodyTimeout > 0 {
			if b.ctx.timer != nil {
				b.ctx.timer.Stop()
			} else {
				b.ctx.call.t.bodies.stop(&b.ctx.shared)
			}
		}
		b.ctx.end(nil)
	}
}

// discard drains what is left of b (at most drainLimit bytes) and closes it,
// so that its connection returns to the pool.
func discard(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, drainLimit)
	_ = rc.Close()
}

type bodyTimeoutError struct{ err error }

func (e *bodyTimeoutError) Error() string   { return ErrBodyTimeout.Error() + ": " + e.err.Error() }
func (e *bodyTimeoutError) Unwrap() []error { return []error{ErrBodyTimeout, e.err} }
