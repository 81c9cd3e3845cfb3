package ionhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// Transport is an http.RoundTripper that runs each request through an Ion
// pipeline over *http.Response, on top of a base RoundTripper that does the
// network work. Build it with [NewTransport], or an *http.Client with
// [NewClient].
//
// Each attempt the pipeline makes sends the request once through the base.
// The transport owns every response an attempt produced: the one returned
// to the caller is the caller's to read and close; every other one (a
// failed attempt a retry threw away, a hedge that lost, a response that
// arrived after its timeout) has its body drained (up to 64 KiB) and closed,
// so its connection goes back to the pool.
//
// A Transport is safe for concurrent use by multiple goroutines.
type Transport struct {
	base          http.RoundTripper
	pipe          *policy.Pipeline[*http.Response]
	classify      policy.Classifier[*http.Response] // the user's, or nil
	bodyTimeout   time.Duration
	headerTimeout time.Duration
	unsafe        bool // WithUnsafeRetries: POST and PATCH may be repeated
	follow        *ServerLimits
	err           error

	headers, bodies deadlines // the header and body timeouts' shared timers
}

// NewTransport returns a Transport that sends requests through base under
// the policies opts configure. Without options the pipeline is empty and
// the transport only adds the body and discard handling.
//
// The layers the options add run in this order, outermost first:
//
//	Retry → Hedge → per-host breaker → breaker → limiter → server limits →
//	per-host bulkhead → bulkhead → Timeout → the attempt
//
// so each attempt passes the breakers and the limiters, and the timeout
// bounds each attempt. [WithPipeline] replaces all of them with a pipeline
// of your own.
//
// A nil base, a nil or invalid option, or WithPipeline combined with a
// layer option makes the transport fail closed: every RoundTrip returns an
// error matching ion.ErrInvalidConfig that names the parameter, and
// [Transport.Err] reports it. NewTransport never panics.
func NewTransport(base http.RoundTripper, opts ...TransportOption) *Transport {
	c := transportConfig{maxHosts: 1024, hostTTL: 10 * time.Minute}
	for i, o := range opts {
		if o == nil {
			c.fail(ion.NewConfigError("ionhttp", fmt.Sprintf("option %d", i), "nil option"))
			continue
		}
		o.applyTransport(&c)
	}
	t := &Transport{base: base, classify: c.classify, bodyTimeout: c.bodyTimeout, headerTimeout: c.timeout, unsafe: c.unsafe, follow: c.follow}
	t.headers.expire = (*attemptCtx).timeout
	t.bodies.expire = (*attemptCtx).bodyTimeout
	if base == nil {
		c.fail(ion.NewConfigError("ionhttp", "base", "nil http.RoundTripper (use http.DefaultTransport)"))
	}
	t.pipe = c.pipeline()
	if c.err == nil {
		c.err = t.pipe.Err()
	}
	t.err = c.err
	if c.classify != nil {
		t.pipe = t.pipe.WithClassifier(c.classify)
	} else {
		t.pipe = t.pipe.WithClassifier(Classify)
	}
	t.pipe = t.pipe.WithDiscard(discardResponse)
	return t
}

// NewClient returns an *http.Client whose Transport is
// NewTransport(base, opts...). A nil base is http.DefaultTransport here,
// since the caller asked for a ready client; the client has no Timeout of
// its own, because a client timeout would cut bodies that the transport's
// timeouts leave whole (see [WithTimeout] and [WithBodyTimeout]).
func NewClient(base http.RoundTripper, opts ...TransportOption) *http.Client {
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{Transport: NewTransport(base, opts...)}
}

// Err returns the configuration error that makes t fail closed, or nil. A
// zero Transport, not made by NewTransport, fails closed too.
func (t *Transport) Err() error {
	if t.pipe == nil && t.err == nil {
		return errZeroTransport
	}
	return t.err
}

var errZeroTransport = ion.NewConfigError("ionhttp", "Transport", "zero value: use NewTransport")

// String describes the transport's pipeline, for example
// "retry(attempts=3 backoff=exponential(100ms..10s)) → headers-timeout(2s) → fn"
// ([WithTimeout] is applied by each attempt, shown as headers-timeout).
func (t *Transport) String() string {
	if t.pipe == nil {
		return errZeroTransport.Error()
	}
	s := t.pipe.String()
	if t.headerTimeout > 0 && t.err == nil {
		s = strings.TrimSuffix(s, "fn") + "headers-timeout(" + t.headerTimeout.String() + ") → fn"
	}
	return s
}

// RoundTrip implements http.RoundTripper: it runs req through the pipeline
// and returns the response of the attempt the pipeline kept.
//
// It returns a response, with a nil error, whenever the server answered:
// when retries give up on a 503 or a 429, the caller gets that last
// response, as from a plain transport. It returns an error when no attempt
// got an answer (a connection error, a timeout before the headers) or when
// a policy rejected the request (an open breaker, a rate limit, a full
// bulkhead); the error matches the policy's sentinel, ion.ErrRejected for
// rejections, and carries ion.RetryAfter where the policy knows it.
//
// Requests that are not safe to repeat are sent at most once: see
// [Replayable]. The ctx of each attempt ends when its body is read to its
// end or closed, or when req's own ctx ends; never when RoundTrip returns.
// RoundTrip blocks for as long as the pipeline does. Besides what the base
// transport and the policies allocate, it allocates the call's state (with
// the first attempt's ctx, request copy and body wrapper), a state per
// further attempt, and, once the base waits on an attempt's ctx (net/http's
// does), a channel, or a cancelable ctx when req's ctx can end. The header
// and body timeouts allocate nothing per request: each runs on one timer
// that the transport's attempts share.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil || t.pipe == nil {
		closeRequestBody(req)
		return nil, t.Err()
	}
	if req == nil || req.URL == nil {
		return nil, errNilRequest
	}
	c := &call{Context: req.Context(), t: t, req: req}
	c.once = !replayable(req, t.unsafe)
	resp, err := t.pipe.Run(c, sendAttempt)
	return c.finish(resp, err)
}

var errNilRequest = errors.New("ionhttp: nil request or URL")

func closeRequestBody(req *http.Request) {
	if req != nil && req.Body != nil {
		_ = req.Body.Close()
	}
}

// Replayable reports whether the transport may send req more than once
// (retry it, hedge it): its method is idempotent (GET, HEAD, OPTIONS, PUT,
// DELETE, TRACE), or it carries an Idempotency-Key header, and its body, if
// any, can be replayed through GetBody. [WithUnsafeRetries] makes every
// method repeatable; a body without GetBody is still sent once.
func Replayable(req *http.Request) bool { return replayable(req, false) }

func replayable(req *http.Request, unsafe bool) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return unsafe || req.Header.Get("Idempotency-Key") != ""
}

// callKey finds a call in a ctx.
type callKey struct{}

// call is the state of one RoundTrip. It is also the ctx the pipeline runs
// with (the caller's ctx plus the call itself as a value), which saves an
// allocation per request.
type call struct {
	context.Context // the request's ctx
	t               *Transport
	req             *http.Request

	firstAttempt attemptState // the first attempt's ctx, request and body
	attempts     atomic.Int32 // attempts started
	once         bool         // req may be sent only once (beside attempts: no padding)
	done         bool         // guarded by mu; set by finish: later responses are discarded at once

	// mu guards done and the fields below.
	mu       sync.Mutex
	resps    []*http.Response  // every response an attempt got, in arrival order
	resps0   [2]*http.Response // resps' first backing array
	first    *http.Response    // the first attempt's response when once
	firstErr error             // the first attempt's error when once
}

func (c *call) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// Request returns the request a transport is running, from the ctx a
// policy in its pipeline received, and false outside a transport's call.
// It is how a [policy.Keyed] layer finds the host of a request; see
// [Host].
func Request(ctx context.Context) (*http.Request, bool) {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return nil, false
	}
	return c.req, true
}

// ErrNoRequest is returned by [Host] for a ctx that is not a transport
// call's.
var ErrNoRequest = errors.New("ionhttp: no request in ctx (not inside a Transport's pipeline)")

// Host returns the destination host (host:port as in the URL) of the
// request a transport is running, for a per-host [policy.Keyed] layer in a
// custom pipeline. It returns [ErrNoRequest] outside a transport's call.
func Host(ctx context.Context) (string, error) {
	req, ok := Request(ctx)
	if !ok {
		return "", ErrNoRequest
	}
	return req.URL.Host, nil
}

// track records resp as one of the call's responses. It returns false, after
// discarding resp, when the call is already over (a late hedge, an
// abandoned attempt).
func (c *call) track(resp *http.Response, n int) bool {
	if f := c.t.follow; f != nil {
		f.observe(resp)
	}
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		discard(resp.Body)
		return false
	}
	if c.resps == nil {
		c.resps = c.resps0[:0]
	}
	c.resps = append(c.resps, resp)
	if n == 1 && c.once {
		c.first = resp
	}
	c.mu.Unlock()
	return true
}

// finish turns the pipeline's result into RoundTrip's and discards every
// response the caller does not get.
func (c *call) finish(resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		var rej *RejectedError
		switch {
		case c.once && errors.Is(err, ErrNotReplayable):
			// A retry or hedge asked for a second send of a request that
			// may be sent once: the first attempt's outcome stands.
			c.mu.Lock()
			resp, err = c.first, c.firstErr
			c.mu.Unlock()
			if resp != nil {
				err = nil
			}
		case errors.As(err, &rej):
			resp, err = rej.Response, nil // the server answered 429: the caller gets it
		case resp != nil:
			// The server answered but the policies gave up on the answer
			// (retries exhausted on a 503): the caller gets the answer.
			err = nil
		}
	}
	c.mu.Lock()
	c.done = true
	resps := c.resps
	c.resps = nil
	c.mu.Unlock()
	for _, r := range resps {
		if r != resp {
			discard(r.Body)
		}
	}
	if err != nil {
		var ae *attemptError
		if errors.As(err, &ae) && ae.err == ErrNotReplayable {
			err = ErrNotReplayable
		}
		if oe, ok := err.(*onceError); ok {
			err = oe.err
		}
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("ionhttp: the pipeline returned neither a response nor an error")
	}
	return resp, nil
}

// discardResponse is the pipeline's discard hook: a response a policy throws
// away (a retried failure, a losing hedge, a result replaced by a fallback)
// is drained and closed at once, so its connection returns to the pool
// while the call goes on. The first answer to a request that may be sent
// once is kept: the transport may still return it.
func discardResponse(resp *http.Response) {
	if resp == nil {
		return
	}
	if c, ok := callOf(resp); ok && c.once {
		c.mu.Lock()
		keep := resp == c.first
		c.mu.Unlock()
		if keep {
			return
		}
	}
	discard(resp.Body)
}

// attemptError marks the refusal to send a request twice. It matches
// ion.ErrRejected, so no breaker counts it.
type attemptError struct{ err error }

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }
func (e *attemptError) Is(target error) bool {
	return target == ion.ErrRejected
}

// onceError is the error of the one attempt of a request that may be sent
// only once: the Retry of [WithRetry] does not retry it. It is otherwise the
// attempt's error, classified as such.
type onceError struct{ err error }

func (e *onceError) Error() string { return e.err.Error() }
func (e *onceError) Unwrap() error { return e.err }

// callOf returns the call that produced resp, if a transport's attempt did.
func callOf(resp *http.Response) (*call, bool) {
	if resp == nil || resp.Request == nil {
		return nil, false
	}
	c, ok := resp.Request.Context().Value(callKey{}).(*call)
	return c, ok
}
