package ionhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/policy"
)

// sendAttempt is the innermost function of every transport's pipeline. It
// is a plain function that finds its call in ctx, which the pipeline's
// layers derive from the call, rather than the method value c.attempt,
// which would cost an allocation per request.
func sendAttempt(ctx context.Context) (*http.Response, error) {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return nil, errLostCall
	}
	return c.attempt(ctx)
}

// errLostCall is the error of an attempt that a policy of a custom pipeline
// ran with a ctx not derived from the one it received.
var errLostCall = errors.New("ionhttp: the pipeline ran an attempt with a ctx not derived from the transport's")

// attempt sends the request once: the innermost function of the pipeline.
func (c *call) attempt(pctx context.Context) (*http.Response, error) {
	n := int(c.attempts.Add(1))
	if n > 1 && c.once {
		return nil, &attemptError{err: ErrNotReplayable}
	}
	r := c.req
	var replayed io.ReadCloser
	if n > 1 && r.Body != nil && r.Body != http.NoBody {
		b, err := r.GetBody()
		if err != nil {
			return nil, fmt.Errorf("ionhttp: replaying the body: %w", err)
		}
		replayed = b
	}

	// The attempt's ctx derives from the request's own ctx, not from the
	// pipeline's: a Timeout or a Hedge in the pipeline cancels its ctx when
	// it returns, which would cut the body the caller is about to read. The
	// pipeline's ctx is linked only until the headers arrive; after that
	// the attempt's ctx ends when the body is done (or the request's ctx
	// ends). The first attempt's state lives in the call: one allocation
	// fewer per request.
	a := &c.firstAttempt
	if n > 1 {
		a = new(attemptState)
	}
	actx, cancel := context.WithCancelCause(c) // c's Value finds the call from the response
	a.ctx.Context, a.ctx.cancel = actx, cancel
	if pctx != context.Context(c) {
		a.ctx.values = pctx // else every value is already on actx's side
	}
	var stop func() bool
	if pd := pctx.Done(); pd != nil && pd != c.Context.Done() {
		stop = context.AfterFunc(pctx, func() { cancel(context.Cause(pctx)) })
	}
	if d := c.t.headerTimeout; d > 0 {
		a.ctx.startHeaderTimeout(d)
	}
	ar := withPriority(r.WithContext(&a.ctx))
	if replayed != nil {
		ar.Body = replayed
	}
	resp, err := c.t.base.RoundTrip(ar)
	var cut error // why the attempt was cut while the headers arrived
	if a.ctx.headersIn() {
		cut = &headerTimeoutError{d: c.t.headerTimeout, err: err}
	}
	if stop != nil && !stop() && cut == nil {
		cut = context.Cause(pctx) // a policy's timeout fired, a hedge won
		if err != nil {
			cut = err
		}
	}
	if cut != nil {
		if resp != nil {
			discard(resp.Body)
			resp = nil
		}
		err = cut
	}
	if err != nil {
		cancel(err)
		if c.once {
			c.mu.Lock()
			c.firstErr = err
			c.mu.Unlock()
			return nil, &onceError{err: err}
		}
		return nil, err
	}
	a.body = body{rc: resp.Body, ctx: actx, cancel: cancel}
	if d := c.t.bodyTimeout; d > 0 {
		a.body.timer = time.AfterFunc(d, func() { cancel(ErrBodyTimeout) })
	}
	resp.Body = &a.body
	if !c.track(resp, n) {
		return nil, context.Canceled // the call is over; nobody reads this
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if c.t.classify == nil || c.t.classify(resp, nil) != policy.Failure {
			d, _ := RetryAfter(resp.Header, time.Now())
			return resp, &RejectedError{Response: resp, Delay: d}
		}
	case http.StatusServiceUnavailable:
		// A busy server that says when to come back: still a failure, but
		// a retry waits at least that long.
		if resp.Header.Get("Retry-After") != "" {
			if d, ok := RetryAfter(resp.Header, time.Now()); ok {
				return resp, &UnavailableError{Response: resp, Delay: d}
			}
		}
	}
	return resp, nil
}

// attemptState is what one attempt allocates: its ctx and its body.
type attemptState struct {
	ctx  attemptCtx
	body body
}

// errHeaderTimeout is the cause of an attempt's ctx when WithTimeout fired.
var errHeaderTimeout = fmt.Errorf("ionhttp: no response headers in time: %w", policy.ErrTimeout)

// headerTimeoutError is the error of an attempt whose headers did not
// arrive within WithTimeout. It matches policy.ErrTimeout (and so
// context.DeadlineExceeded) and the base transport's error.
type headerTimeoutError struct {
	d   time.Duration
	err error
}

func (e *headerTimeoutError) Error() string {
	return "ionhttp: no response headers within " + e.d.String()
}

func (e *headerTimeoutError) Unwrap() []error {
	if e.err == nil {
		return []error{policy.ErrTimeout}
	}
	return []error{policy.ErrTimeout, e.err}
}

// attemptCtx is the ctx an attempt is sent with: it ends like actx (with the
// request's ctx, or when the body is done), and it sees the values of the
// pipeline's ctx as well, so the base transport reads what the policies put
// there (policy.Attempt, a tracing span). actx is asked first: that keeps
// the context package's own lookups (its cancellation parent) on actx, so
// ctxs derived from this one need no goroutine.
//
// It also holds the attempt's header timeout ([WithTimeout]), whose timer
// is armed only when something can wait on the ctx: the first call of
// Done, which every wait on it (a select, a derived ctx, context.AfterFunc)
// makes first. A base transport that never waits on its request's ctx (one
// that answers from memory) cannot be interrupted by a timer anyway; for
// it the timeout is checked against the clock when the headers arrive,
// which saves a timer and its function per attempt (about a quarter of a
// request's own cost in the transport). Err checks the clock as well, so a
// base that polls Err sees the timeout on time.
type attemptCtx struct {
	context.Context                         // actx
	values          context.Context         // the pipeline's ctx, or nil when it is the call itself
	cancel          context.CancelCauseFunc // actx's

	headerTimeout time.Duration // 0 when there is none
	start         time.Time     // when the attempt was sent
	hdr           atomic.Uint32 // the header timeout's state: hdrOff, hdrWaiting, hdrArmed or hdrFired

	// mu serializes arming the header timer with the arrival of the
	// headers; a state other than hdrWaiting is read under it.
	mu    sync.Mutex
	timer *time.Timer // the header timer, set by arm
}

// The states of an attempt's header timeout. It goes from hdrWaiting to
// hdrArmed when Done arms the timer, or straight to hdrFired when the time
// is already up; headersIn ends every state in hdrOff.
const (
	hdrOff     uint32 = iota // no header timeout, or the headers arrived
	hdrWaiting               // the timeout runs, its timer not armed yet
	hdrArmed                 // the timer is armed
	hdrFired                 // the time was up when the timer was to be armed: the ctx is cancelled
)

func (a *attemptCtx) Value(key any) any {
	if v := a.Context.Value(key); v != nil || a.values == nil {
		return v
	}
	return a.values.Value(key)
}

// Done arms the header timer, if it waits, and returns actx's channel.
func (a *attemptCtx) Done() <-chan struct{} {
	if a.hdr.Load() == hdrWaiting {
		a.arm()
	}
	return a.Context.Done()
}

// Err cancels the ctx at once if its header timeout is up but its timer was
// never armed, and returns actx's error.
func (a *attemptCtx) Err() error {
	if a.hdr.Load() == hdrWaiting && time.Since(a.start) >= a.headerTimeout {
		a.arm()
	}
	return a.Context.Err()
}

// startHeaderTimeout starts the header timeout d, before the request is
// sent; its timer is armed by the first Done.
func (a *attemptCtx) startHeaderTimeout(d time.Duration) {
	a.headerTimeout, a.start = d, time.Now()
	a.hdr.Store(hdrWaiting)
}

// arm arms the header timer for the time left, or cancels the ctx at once
// if none is left. Only the first of concurrent calls does it.
func (a *attemptCtx) arm() {
	a.mu.Lock()
	if !a.hdr.CompareAndSwap(hdrWaiting, hdrArmed) {
		a.mu.Unlock()
		return // armed by another call, or the headers are in
	}
	if left := a.headerTimeout - time.Since(a.start); left > 0 {
		a.timer = time.AfterFunc(left, a.timeout)
		a.mu.Unlock()
		return
	}
	a.hdr.Store(hdrFired)
	a.mu.Unlock()
	a.cancel(errHeaderTimeout)
}

// timeout is the header timer's function.
func (a *attemptCtx) timeout() { a.cancel(errHeaderTimeout) }

// headersIn ends the header timeout when the base transport returned, and
// reports whether the timeout was up first (its timer fired, or, unarmed,
// the clock says so): the attempt is then cut, whatever the base returned.
// It stops an armed timer.
func (a *attemptCtx) headersIn() bool {
	switch a.hdr.Load() {
	case hdrOff:
		return false
	case hdrWaiting:
		// Nothing waited on the ctx: no timer to stop. The CAS fails if a
		// Done or an Err arms one meanwhile.
		if a.hdr.CompareAndSwap(hdrWaiting, hdrOff) {
			return time.Since(a.start) >= a.headerTimeout
		}
	}
	a.mu.Lock() // waits for an arm in progress to set the timer
	s := a.hdr.Swap(hdrOff)
	a.mu.Unlock()
	return s == hdrFired || (s == hdrArmed && !a.timer.Stop())
}
