package ionhttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
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
// ran with a ctx not derived from the one it received: a misconfigured
// pipeline, so it matches ion.ErrInvalidConfig and names the option.
var errLostCall = ion.NewConfigError("ionhttp", "WithPipeline", "a policy ran an attempt with a ctx not derived from the one it received")

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
	a.ctx.call = c // through which callOf finds the call from the response
	if pctx != context.Context(c) {
		a.ctx.values = pctx // else every value is already on c's side
	}
	var stop func() bool
	if pd := pctx.Done(); pd != nil && pd != c.Context.Done() {
		stop = context.AfterFunc(pctx, func() { a.ctx.end(context.Cause(pctx)) })
	}
	if d := c.t.headerTimeout; d > 0 {
		a.ctx.startHeaderTimeout(d)
	}
	// The request copy lives in the attempt's state too: WithContext's own
	// copy stays on the stack, which saves an allocation per attempt.
	a.req = *r.WithContext(&a.ctx)
	ar := withPriority(&a.req)
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
		a.ctx.end(err)
		if c.once {
			c.mu.Lock()
			c.firstErr = err
			c.mu.Unlock()
			return nil, &onceError{err: err}
		}
		return nil, err
	}
	a.body.rc, a.body.ctx = resp.Body, &a.ctx
	if d := c.t.bodyTimeout; d > 0 {
		if now, bubbled := clockBubbled(); bubbled && !sharedTimersInBubbles {
			a.body.timer = time.AfterFunc(d, a.ctx.bodyTimeout)
		} else {
			c.t.bodies.start(&a.body.deadline, &a.ctx, now+d)
			a.body.shared = true
		}
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

// attemptState is what one attempt allocates: its ctx, its request and its
// body.
type attemptState struct {
	ctx  attemptCtx
	req  http.Request // the request sent, with ctx
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

// attemptCtx is the ctx an attempt is sent with. It ends when the
// request's ctx does, when the attempt fails or is cut, or when its body is
// read to its end or closed; and it sees the values of the pipeline's ctx
// as well, so the base transport reads what the policies put there
// (policy.Attempt, a tracing span).
//
// Its ending is made by a cancelable ctx (actx) that is made only when
// something can wait on the attempt's ctx: the first call of Done, which
// every wait (a select, a derived ctx, context.AfterFunc) makes first.
// Until then Err tells the state by itself, and the ctx costs no
// allocation: a base transport that answers from memory never waits on it.
// Once actx is made, it is asked first for values too, which keeps the
// context package's own lookups (its cancellation parent, the cause) on
// actx, so ctxs derived from this one need no goroutine. An attempt that
// ends before its actx is made, under a request ctx that can end, makes it
// then, so that context.Cause never finds the request's ctx instead; under
// one that cannot, context.Cause reports what Err does.
//
// It also holds the attempt's header timeout ([WithTimeout]), which the
// first Done arms as well: it joins the transport's queue of header
// timeouts (deadlines), whose one timer ends it; inside a synctest bubble
// it gets a timer of its own. A base that never waits on the ctx cannot be
// interrupted by a timer anyway; for it the timeout is checked against the
// clock when the headers arrive. Err checks the clock as well, so a base
// that polls Err sees the timeout on time.
type attemptCtx struct {
	call   *call           // the parent: the request's ctx, and the call as a value
	values context.Context // the pipeline's ctx, or nil when it is the call itself

	headerDeadline time.Duration // on the clock, when the header timeout is up
	hdr            atomic.Uint32 // the header timeout's state: hdrOff, hdrWaiting, hdrArmed or hdrFired

	// mu guards the fields below, each set once, and armLocked's move of the
	// header timeout out of hdrWaiting. ready and ended may be loaded
	// without it: each is stored after the fields it announces.
	mu     sync.Mutex
	ready  atomic.Bool             // actx and cancel are set
	actx   context.Context         // the cancelable ctx behind this one, made by backLocked
	cancel context.CancelCauseFunc // actx's
	ended  atomic.Bool             // the ctx ended before actx was made
	cause  error                   // why it ended, when ended; nil for context.Canceled
	timer  *time.Timer             // the header timer, when armLocked armed one of its own
	shared deadline                // the header timeout's place in the transport's queue, else
}

// The states of an attempt's header timeout. It goes from hdrWaiting to
// hdrArmed when Done arms the timer, or straight to hdrFired when the time
// is already up; headersIn ends every state in hdrOff.
const (
	hdrOff     uint32 = iota // no header timeout, or the headers arrived
	hdrWaiting               // the timeout runs, its timer not armed yet
	hdrArmed                 // the timer is armed
	hdrFired                 // the time was up when the timer was to be armed: the ctx ended
)

func (a *attemptCtx) Deadline() (time.Time, bool) { return a.call.Deadline() }

// Done makes actx and arms the header timer, if not done yet, and returns
// actx's channel.
func (a *attemptCtx) Done() <-chan struct{} {
	if !a.ready.Load() || a.hdr.Load() == hdrWaiting {
		a.watch()
	}
	return a.actx.Done()
}

// watch makes actx and arms the header timer under one lock.
func (a *attemptCtx) watch() {
	a.mu.Lock()
	a.backLocked()
	fired := a.armLocked()
	a.mu.Unlock()
	if fired {
		a.end(errHeaderTimeout)
	}
}

// Err ends the ctx at once if its header timeout is up but its timer was
// never armed, and returns why the ctx ended, or nil.
func (a *attemptCtx) Err() error {
	if a.hdr.Load() == hdrWaiting && clock() >= a.headerDeadline {
		a.arm()
	}
	switch {
	case a.ready.Load():
		return a.actx.Err()
	case a.ended.Load():
		return context.Canceled
	}
	return a.call.Err()
}

func (a *attemptCtx) Value(key any) any {
	if key == (callKey{}) {
		return a.call // which actx, made from the request's ctx, would not find
	}
	var v any
	if a.ready.Load() {
		v = a.actx.Value(key)
	} else {
		v = a.call.Context.Value(key)
	}
	if v != nil || a.values == nil {
		return v
	}
	return a.values.Value(key)
}

// backLocked makes actx, once; if the ctx already ended, actx ends at once.
// It must be called with a.mu held. Cancelling a new actx calls nothing of
// a user's: it has no children yet. actx derives from the request's ctx
// itself, not from the call: that keeps every value lookup through actx one
// step shorter; Value answers for the call.
func (a *attemptCtx) backLocked() {
	if a.ready.Load() {
		return
	}
	a.actx, a.cancel = context.WithCancelCause(a.call.Context)
	if a.ended.Load() {
		a.cancel(a.cause)
	}
	a.ready.Store(true)
}

// end ends the ctx with cause (nil for context.Canceled); only the first
// end counts. Without actx, it only records the end, unless the request's
// ctx can end: then context.Cause would find the request's ctx, so actx is
// made and ended.
func (a *attemptCtx) end(cause error) {
	if !a.ready.Load() {
		a.mu.Lock()
		if !a.ready.Load() {
			if !a.ended.Load() {
				a.cause = cause
				a.ended.Store(true)
				if a.call.Done() != nil {
					a.backLocked()
				}
			}
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
	}
	a.cancel(cause)
}

// causeOf returns why the ctx ended, as context.Cause would, or nil.
func (a *attemptCtx) causeOf() error {
	if a.ready.Load() {
		return context.Cause(a.actx)
	}
	if a.ended.Load() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.ready.Load() {
			return context.Cause(a.actx)
		}
		if a.cause == nil {
			return context.Canceled
		}
		return a.cause
	}
	return context.Cause(a.call.Context)
}

// startHeaderTimeout starts the header timeout d, before the request is
// sent; its timer is armed by the first Done.
func (a *attemptCtx) startHeaderTimeout(d time.Duration) {
	a.headerDeadline = clock() + d
	a.hdr.Store(hdrWaiting)
}

// arm arms the header timer for the time left, or ends the ctx at once if
// none is left.
func (a *attemptCtx) arm() {
	a.mu.Lock()
	fired := a.armLocked()
	a.mu.Unlock()
	if fired {
		a.end(errHeaderTimeout)
	}
}

// armLocked arms the header timer, if the header timeout waits for it, and
// reports whether the time is already up: the caller must then end the ctx
// with errHeaderTimeout, after unlocking. It must be called with a.mu held;
// only the first of concurrent calls arms.
func (a *attemptCtx) armLocked() (fired bool) {
	if !a.hdr.CompareAndSwap(hdrWaiting, hdrArmed) {
		return false // no header timeout, armed by another call, or the headers are in
	}
	now, bubbled := clockBubbled()
	if left := a.headerDeadline - now; left > 0 {
		if bubbled && !sharedTimersInBubbles {
			a.timer = time.AfterFunc(left, a.timeout)
		} else {
			a.call.t.headers.start(&a.shared, a, a.headerDeadline)
		}
		return false
	}
	a.hdr.Store(hdrFired)
	return true
}

// timeout is the header timer's function.
func (a *attemptCtx) timeout() { a.end(errHeaderTimeout) }

// bodyTimeout is the body timer's function.
func (a *attemptCtx) bodyTimeout() { a.end(ErrBodyTimeout) }

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
			return clock() >= a.headerDeadline
		}
	}
	a.mu.Lock() // waits for an arm in progress to set the timer
	s := a.hdr.Swap(hdrOff)
	a.mu.Unlock()
	return s == hdrFired || (s == hdrArmed && !a.stopTimer())
}

// stopTimer stops the armed header timeout and reports whether it had not
// fired yet. It must be called after headersIn's lock, which orders it
// after armLocked.
func (a *attemptCtx) stopTimer() bool {
	if a.timer != nil {
		return a.timer.Stop()
	}
	return a.call.t.headers.stop(&a.shared)
}

// epoch is the origin of clock.
var epoch = time.Now()

// clock returns the monotonic time since epoch: one clock read, where
// time.Now makes two (the wall clock and the monotonic one). Inside a
// synctest bubble, where time.Now has no monotonic reading, it is the fake
// time since epoch, so the differences are right there too.
func clock() time.Duration { return time.Since(epoch) }

// clockBubbled returns clock() and whether the caller runs inside a
// synctest bubble, where time.Now has no monotonic reading: a transport's
// shared timers are not used there (see deadlines).
func clockBubbled() (time.Duration, bool) {
	now := time.Now()
	return now.Sub(epoch), now == now.Round(0)
}

// sharedTimersInBubbles makes attempts inside a synctest bubble use their
// transport's shared timers too: the tests set it to run the shared timers
// on the bubble's clock, each bubble with transports of its own.
var sharedTimersInBubbles = false
