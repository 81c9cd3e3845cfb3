package ionhttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
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
		// The header timeout is over (headersIn): its timer and its place
		// in the queue serve the body timeout now.
		a.ctx.timer = nil
		if now, bubbled := clockBubbled(); bubbled && !sharedTimersInBubbles {
			a.ctx.timer = time.AfterFunc(d, a.ctx.bodyTimeout)
		} else {
			a.ctx.shared.setWhen(now + d)
			c.t.bodies.start(&a.ctx.shared, &a.ctx)
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
// Until something waits on it (the first call of Done, which every wait, a
// select, a derived ctx or context.AfterFunc, makes first), Err tells its
// state by itself and it costs no allocation: a base transport that
// answers from memory never waits on it. The first Done settles how it
// ends, by the request's ctx:
//
//   - Under a request ctx that can end (modeBacked), its ending is made by a
//     cancelable ctx (actx) derived from the request's ctx, so the request's
//     end reaches it, and every ctx derived from it, at once, with its cause.
//     actx is asked first for values too, which keeps the context package's
//     own lookups (its cancellation parent, the cause) on actx, so ctxs
//     derived from this one need no goroutine. An attempt that ends before
//     it is waited on makes actx then, so that context.Cause never finds
//     the request's ctx instead.
//   - Under a request ctx that cannot end (modeLight: context.Background,
//     the ctx of http.Get), only the attempt itself ends it, and it does so
//     with a channel of its own and an AfterFunc method, through which the
//     context package attaches derived ctxs (net/http derives one per
//     request) without the cancelable ctx, its children map and their
//     locks. When it ends with a cause of its own (a timeout), it keeps the
//     cause in a ctx that context.Cause finds (why); ended by its body it
//     needs none, since context.Cause then reports what Err does.
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

	hdr atomic.Uint32 // the header timeout's state: hdrOff, hdrWaiting, hdrArmed or hdrFired

	// mu guards the fields below, each set once but afters, and armLocked's
	// move of the header timeout out of hdrWaiting. mode and ended may be
	// loaded without it: each is stored after the fields it announces.
	mode  atomic.Uint32 // modeUnset, modeLight or modeBacked
	ended atomic.Bool   // the ctx ended before actx was made, or in modeLight
	mu    sync.Mutex    //

	actx   context.Context         // modeBacked: the cancelable ctx behind this one, made by backLocked
	cancel context.CancelCauseFunc // actx's
	cause  error                   // why it ended, when ended; nil for context.Canceled
	why    context.Context         // modeLight, ended with a cause: a ctx ended with it, for context.Cause
	done   chan struct{}           // modeLight: closed when the ctx ends
	afters []afterFunc             // modeLight: what runs when the ctx ends
	nextID uint32                  // modeLight: the next afterFunc's id

	// The attempt's timeouts: the header timeout's until the headers are in,
	// then the body timeout's (WithBodyTimeout). Each has a timer of its
	// own inside a synctest bubble, else a place in its transport's queue.
	// The header timer is set under mu, by armLocked; the body's by attempt,
	// once the header timeout is over. shared holds the timeout's deadline
	// in either case, set before the request is sent (the header timeout)
	// or before the body is handed over (the body timeout).
	timer  *time.Timer
	shared deadline
}

// The modes of an attempt's ctx, settled by the first Done.
const (
	modeUnset  uint32 = iota // nothing waited on the ctx yet
	modeLight                // the request's ctx cannot end: done and afters
	modeBacked               // the request's ctx can end: actx
)

// afterFunc is a function that an attemptCtx in modeLight runs when it
// ends.
type afterFunc struct {
	id uint32
	f  func()
}

// closedChan is the Done of a modeLight ctx that ended before its first
// Done.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

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

// Done settles the ctx's mode and arms the header timer, if not done yet,
// and returns the channel that closes when the ctx ends.
func (a *attemptCtx) Done() <-chan struct{} {
	m := a.mode.Load()
	if m == modeUnset || a.hdr.Load() == hdrWaiting {
		a.watch()
		m = a.mode.Load()
	}
	if m == modeLight {
		return a.done
	}
	return a.actx.Done()
}

// watch settles the mode and arms the header timer under one lock.
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
	if a.hdr.Load() == hdrWaiting && clock() >= a.shared.when() {
		a.arm()
	}
	switch {
	case a.mode.Load() == modeBacked:
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
	if a.mode.Load() == modeBacked {
		v = a.actx.Value(key)
	} else {
		if a.ended.Load() && a.why != nil {
			if v = a.why.Value(key); v != nil {
				return v // only the context package's own key: why's parent is Background
			}
		}
		v = a.call.Context.Value(key)
	}
	if v != nil || a.values == nil {
		return v
	}
	return a.values.Value(key)
}

// AfterFunc arranges for f to run when the ctx ends, as context.AfterFunc
// does, and returns a function that undoes it, reporting whether it did.
// It is how the context package attaches the ctxs derived from this one:
// in modeLight, f runs in the goroutine that ends the ctx (in a goroutine
// of its own when the ctx already ended); in modeBacked, it is
// context.AfterFunc's on actx.
func (a *attemptCtx) AfterFunc(f func()) (stop func() bool) {
	a.Done() // settles the mode
	if a.mode.Load() == modeBacked {
		return context.AfterFunc(a.actx, f)
	}
	a.mu.Lock()
	if a.ended.Load() {
		a.mu.Unlock()
		go f() // the caller may hold a lock that f takes
		return func() bool { return false }
	}
	a.nextID++
	id := a.nextID
	a.afters = append(a.afters, afterFunc{id: id, f: f})
	a.mu.Unlock()
	return func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for i, af := range a.afters {
			if af.id == id {
				a.afters = slices.Delete(a.afters, i, i+1)
				return true
			}
		}
		return false
	}
}

// backLocked settles the mode, once. In modeBacked it makes actx, ended at
// once if the ctx already ended; cancelling a new actx calls nothing of a
// user's: it has no children yet. actx derives from the request's ctx
// itself, not from the call: that keeps every value lookup through actx one
// step shorter; Value answers for the call. It must be called with a.mu
// held.
func (a *attemptCtx) backLocked() {
	if a.mode.Load() != modeUnset {
		return
	}
	if a.call.Context.Done() == nil {
		if a.ended.Load() {
			a.done = closedChan
		} else {
			a.done = make(chan struct{})
		}
		a.mode.Store(modeLight)
		return
	}
	a.actx, a.cancel = context.WithCancelCause(a.call.Context)
	if a.ended.Load() {
		a.cancel(a.cause)
	}
	a.mode.Store(modeBacked)
}

// end ends the ctx with cause (nil for context.Canceled); only the first
// end counts. In modeBacked it cancels actx. Otherwise it records the end,
// keeps a cause in why, and in modeLight closes done and runs the
// functions of AfterFunc; before the mode is settled, under a request ctx
// that can end, it settles modeBacked, since context.Cause would find the
// request's ctx.
func (a *attemptCtx) end(cause error) {
	if a.mode.Load() == modeBacked {
		a.cancel(cause)
		return
	}
	a.mu.Lock()
	if a.mode.Load() == modeBacked {
		a.mu.Unlock()
		a.cancel(cause)
		return
	}
	if a.ended.Load() {
		a.mu.Unlock()
		return
	}
	a.cause = cause
	callCanEnd := a.call.Done() != nil
	if cause != nil && !callCanEnd {
		why, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		a.why = why
	}
	a.ended.Store(true)
	var afters []afterFunc
	switch {
	case a.mode.Load() == modeLight:
		close(a.done)
		afters, a.afters = a.afters, nil
	case callCanEnd:
		a.backLocked()
	}
	a.mu.Unlock()
	for _, af := range afters {
		af.f()
	}
}

// causeOf returns why the ctx ended, as context.Cause would, or nil.
func (a *attemptCtx) causeOf() error {
	if a.mode.Load() == modeBacked {
		return context.Cause(a.actx)
	}
	if a.ended.Load() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.mode.Load() == modeBacked {
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
	a.shared.setWhen(clock() + d)
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
	if left := a.shared.when() - now; left > 0 {
		if bubbled && !sharedTimersInBubbles {
			a.timer = time.AfterFunc(left, a.timeout)
		} else {
			a.call.t.headers.start(&a.shared, a)
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
			return clock() >= a.shared.when()
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
