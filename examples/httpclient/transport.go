package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

// maxBody bounds the response bodies the transport buffers (see attempt).
const maxBody = 1 << 20

// transport is an http.RoundTripper that sends every request through an Ion
// pipeline, outermost first:
//
//	retry (honouring Retry-After) → breaker → rate limiter → per-attempt timeout → base
//
// Its classifier makes 5xx responses, transport errors and timeouts
// failures, so the breaker counts them and Retry retries them. A 429 is a
// success for the breaker (the server is healthy, only busy with us) but is
// retried all the same, after its Retry-After.
//
// Only requests that are safe to repeat are retried: GET, HEAD, OPTIONS, PUT
// and DELETE, and any request carrying an Idempotency-Key header. The others
// run once through the same breaker, limiter and timeout.
//
// A transport is safe for concurrent use by multiple goroutines.
type transport struct {
	base     http.RoundTripper
	retrying *policy.Pipeline[*http.Response]
	once     *policy.Pipeline[*http.Response]
	log      *logger
}

// newTransport returns a transport that sends requests with base, guarded by
// cb and lim, each attempt bounded by attemptTimeout. Retries are jittered
// from seed, so a run is reproducible.
func newTransport(base http.RoundTripper, cb *breaker.Breaker, lim limit.Limiter, attemptTimeout time.Duration, seed uint64, log *logger) *transport {
	guard := policy.Compose(
		breaker.Policy[*http.Response](cb),
		limit.Policy[*http.Response](lim),
		policy.Timeout[*http.Response](attemptTimeout),
	)
	retry := policy.Retry[*http.Response](
		policy.WithAttempts(3),
		policy.WithBackoff(policy.Exponential(100*time.Millisecond, 2*time.Second)),
		policy.WithJitter(policy.FullJitter),
		policy.WithSeed(seed),
		policy.WithOnRetry(log.retry),
	).RetryIf(func(resp *http.Response, _ error) bool {
		return resp != nil && resp.StatusCode == http.StatusTooManyRequests
	})
	return &transport{
		base:     base,
		retrying: policy.Compose(retry, guard).WithClassifier(classify),
		once:     guard.WithClassifier(classify),
		log:      log,
	}
}

// classify decides the outcome of an attempt for every layer of the pipeline.
func classify(resp *http.Response, err error) policy.Outcome {
	switch {
	case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
		return policy.Success // healthy but busy: no reason to trip the breaker
	case err != nil, resp.StatusCode >= 500:
		return policy.Failure // transport errors, timeouts, 5xx
	}
	return policy.Success
}

// RoundTrip implements http.RoundTripper. It returns the final response,
// whatever its status (a retry that gave up on a 503 hands back the last
// 503), or an error when no attempt got a response: a transport error, a
// timeout, or a rejection by the breaker or the limiter (matching
// ion.ErrRejected, with ion.RetryAfter telling when to come back).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	getBody, err := replayable(req)
	if err != nil {
		return nil, err
	}
	p := t.once
	if safeToRepeat(req) {
		p = t.retrying
	}
	resp, err := p.Run(req.Context(), func(ctx context.Context) (*http.Response, error) {
		return t.attempt(ctx, req, getBody)
	})
	if p == t.once && classify(resp, err) == policy.Failure {
		t.log.printf("%-4s %-10s not retried: a %s without an Idempotency-Key may not be repeated", req.Method, req.URL.Path, req.Method)
	}
	if resp != nil {
		return resp, nil // the RoundTripper contract: a response is not an error
	}
	return nil, err
}

// attempt sends one copy of req with ctx, the attempt's own context.
//
// It reads the whole response body before returning, for two reasons: the
// Timeout layer cancels ctx as soon as the attempt returns, which would cut
// a body read later; and a response that a retry discards must be drained and
// closed so that its connection is reused. The body handed back is an
// in-memory copy, which needs no closing.
func (t *transport) attempt(ctx context.Context, req *http.Request, getBody func() (io.ReadCloser, error)) (*http.Response, error) {
	r := req.Clone(ctx)
	if getBody != nil {
		body, err := getBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		resp, err = buffer(resp)
	}
	if err == nil {
		if d, ok := parseRetryAfter(resp, time.Now()); ok {
			err = &StatusError{Code: resp.StatusCode, Status: resp.Status, Delay: d}
		}
	}
	t.log.attempt(ctx, req, resp, err)
	return resp, err
}

// buffer replaces resp's body with an in-memory copy and closes the
// original.
func buffer(resp *http.Response) (*http.Response, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("httpclient: response body over %d bytes", maxBody)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// replayable returns a function that yields a fresh copy of req's body for
// each attempt, or nil for a request without a body. It closes req.Body, as
// a RoundTripper must. A body without GetBody (not built by
// http.NewRequest from a bytes or strings reader) is read into memory once.
func replayable(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		req.Body.Close()
		return req.GetBody, nil
	}
	defer req.Body.Close()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }, nil
}

// safeToRepeat reports whether req may be sent more than once.
func safeToRepeat(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// StatusError is a response that asks the client to come back later: a 429
// or a 503 with a Retry-After header. Its RetryAfter method is what
// ion.RetryAfter looks for, so policy.Retry never retries sooner.
type StatusError struct {
	Code   int           // the status code, 429 or 503
	Status string        // the status line, such as "503 Service Unavailable"
	Delay  time.Duration // the wait the Retry-After header asked for
}

// Error returns, for example, "server: 503 Service Unavailable, retry after 1s".
func (e *StatusError) Error() string {
	return "server: " + e.Status + ", retry after " + e.Delay.String()
}

// RetryAfter returns the wait the server asked for.
func (e *StatusError) RetryAfter() time.Duration { return e.Delay }

var errNoRetryAfter = errors.New("no Retry-After")

// parseRetryAfter returns the wait that a 429 or 503 response asks for in
// its Retry-After header, given as seconds or as an HTTP date (a date in the
// past means no wait), and false for other responses or a malformed header.
func parseRetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	d, err := retryAfterValue(strings.TrimSpace(resp.Header.Get("Retry-After")), now)
	return d, err == nil
}

func retryAfterValue(v string, now time.Time) (time.Duration, error) {
	if v == "" {
		return 0, errNoRetryAfter
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, nil
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, err
	}
	return max(at.Sub(now), 0), nil
}
