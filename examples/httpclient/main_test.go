package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// handlerTransport serves requests with an http.Handler in memory, on the
// caller's goroutine, so a test runs inside a synctest bubble without
// network I/O. Like a real transport, it fails a request whose ctx ended
// before the handler answered.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context()) // the server's view: a Body is never nil
	if in.Body == nil {
		in.Body = http.NoBody
	}
	defer in.Body.Close()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	if req.Context().Err() != nil {
		return nil, context.Cause(req.Context())
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func serveInMemory(h http.Handler) (string, http.RoundTripper, func()) {
	return "http://upstream.test", handlerTransport{h}, func() {}
}

func runVirtual(t *testing.T) string {
	t.Helper()
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, run(context.Background(), &out, options{seed: 1, serve: serveInMemory}), "run returns no error")
	})
	return out.String()
}

func TestRunTellsTheStory(t *testing.T) {
	out := runVirtual(t)
	t.Log("\n" + out)
	for _, want := range []string{
		// The 503 with Retry-After: 1 is retried after exactly one second, and
		// the POST body is sent whole again.
		" +0.00s  POST /orders    attempt 1 → 503 Service Unavailable, Retry-After: 1\n" +
			" +0.00s                   wait 1s before attempt 2: server: 503 Service Unavailable, retry after 1s\n" +
			" +1.00s  POST /orders    attempt 2 → 201 Created\n",
		`POST /orders    201 Created: created from {"item":"lamp","qty":2}`,
		// The hung request is cut by the 500ms attempt timeout and retried.
		" +1.50s  GET  /report    attempt 1 → no answer within the attempt timeout\n",
		"GET  /report    attempt 2 → 200 OK",
		// Three 500s exhaust the retries and open the breaker; the caller gets the last 500.
		"GET  /inventory attempt 3 → 500 Internal Server Error\n",
		"breaker closed → open\n",
		"GET  /inventory 500 Internal Server Error",
		// The next request waits out the open breaker (its Retry-After), and the probe closes it.
		"wait 1s before attempt 2: breaker: upstream: open\n",
		"breaker open → half-open\n",
		"GET  /inventory attempt 2 → 200 OK\n",
		"breaker half-open → closed\n",
		// A 429 is retried after its Retry-After.
		"wait 1s before attempt 2: server: 429 Too Many Requests, retry after 1s\n",
		"GET  /search    200 OK",
		// A POST without an Idempotency-Key is sent once.
		"POST /payments  not retried: a POST without an Idempotency-Key may not be repeated\n",
		"POST /payments  503 Service Unavailable",
		// The burst runs into the limiter, whose Retry-After paces the retries.
		"wait 200ms before attempt 2: limit: rate limited, retry after 200ms\n",
		"breaker closed: 13 successes, 6 failures, 1 rejected\n",
	} {
		assert.Contains(t, out, want, "the output tells this part of the story")
	}
	assert.Equal(t, 1+burst, strings.Count(out, "GET  /catalog   200 OK"), "every request of the burst succeeds in the end")
	assert.Equal(t, out, runVirtual(t), "two runs in virtual time print the same")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		code   int
		header string
		want   time.Duration
		wantOK bool
	}{
		{"seconds on 503", 503, "3", 3 * time.Second, true},
		{"seconds on 429", 429, " 120 ", 2 * time.Minute, true},
		{"zero", 503, "0", 0, true},
		{"HTTP date", 503, "Wed, 01 Jan 2025 12:00:30 GMT", 30 * time.Second, true},
		{"date in the past", 429, "Wed, 01 Jan 2025 11:00:00 GMT", 0, true},
		{"missing", 503, "", 0, false},
		{"negative", 503, "-1", 0, false},
		{"garbage", 429, "soon", 0, false},
		{"not a 429 or 503", 500, "3", 0, false},
		{"a success", 200, "3", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.code, Header: http.Header{}}
			if tc.header != "" {
				resp.Header.Set("Retry-After", tc.header)
			}
			got, ok := parseRetryAfter(resp, now)
			assert.Equal(t, tc.wantOK, ok, "parseRetryAfter(%d, %q) ok", tc.code, tc.header)
			assert.Equal(t, tc.want, got, "parseRetryAfter(%d, %q)", tc.code, tc.header)
		})
	}
}

func TestStatusErrorFeedsRetryAfter(t *testing.T) {
	var err error = &StatusError{Code: 503, Status: "503 Service Unavailable", Delay: 2 * time.Second}
	d, ok := ion.RetryAfter(err)
	assert.True(t, ok, "ion.RetryAfter finds the StatusError's delay")
	assert.Equal(t, 2*time.Second, d, "ion.RetryAfter returns the server's Retry-After")
	assert.False(t, errors.Is(err, ion.ErrRejected), "a server's answer is not an Ion rejection")
}

func TestClassify(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	tests := []struct {
		name string
		resp *http.Response
		err  error
		want policy.Outcome
	}{
		{"200", resp(200), nil, policy.Success},
		{"404 is an answer", resp(404), nil, policy.Success},
		{"429 does not trip the breaker", resp(429), &StatusError{Code: 429}, policy.Success},
		{"500", resp(500), nil, policy.Failure},
		{"503 with Retry-After", resp(503), &StatusError{Code: 503}, policy.Failure},
		{"transport error", nil, errors.New("connection refused"), policy.Failure},
		{"timeout", nil, policy.ErrTimeout, policy.Failure},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, classify(tc.resp, tc.err), "classify(%s)", tc.name)
	}
}

// newTestClient returns a client whose transport reaches h in memory, with
// a breaker that trips after failures consecutive failures and a generous
// limiter.
func newTestClient(h http.Handler, failures int) (*http.Client, *breaker.Breaker) {
	cb := breaker.New("test", breaker.WithConsecutiveFailures(failures))
	lim := limit.NewTokenBucket(limit.PerSecond(1000), 1000)
	tr := newTransport(handlerTransport{h}, cb, lim, time.Second, 1, &logger{w: io.Discard, start: time.Now()})
	return &http.Client{Transport: tr}, cb
}

// A body without GetBody is buffered once and sent whole on every attempt.
func TestBodyIsReplayedOnRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got = append(got, string(b))
			if len(got) < 3 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.WriteHeader(http.StatusCreated)
		})
		client, _ := newTestClient(h, 3)
		req, err := http.NewRequest("PUT", "http://upstream.test/doc", io.NopCloser(strings.NewReader("payload")))
		require.NoError(t, err)
		require.Nil(t, req.GetBody, "the body is an opaque reader, with no GetBody")

		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusCreated, resp.StatusCode, "the third attempt succeeds")
		assert.Equal(t, []string{"payload", "payload", "payload"}, got, "every attempt sends the whole body")
	})
}

// The caller can read the body of the final response although the attempt's
// timeout ctx was cancelled when the attempt returned.
func TestResponseBodyOutlivesAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
		client, _ := newTestClient(h, 3)
		resp, err := client.Get("http://upstream.test/")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err, "the body is readable after RoundTrip returned")
		assert.Equal(t, "hello", string(b))
	})
}

// An open breaker fails a request fast with a rejection that says when to
// come back, once the retry cannot wait that long within the caller's ctx.
func TestOpenBreakerRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hits int
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits++
			w.WriteHeader(http.StatusInternalServerError)
		})
		client, cb := newTestClient(h, 3)
		resp, err := client.Get("http://upstream.test/")
		require.NoError(t, err, "a 500 is a response, not an error")
		resp.Body.Close()
		assert.Equal(t, 500, resp.StatusCode, "the last 500 reaches the caller")
		assert.Equal(t, breaker.Open, cb.State(), "three 500s open the breaker")

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://upstream.test/", nil)
		_, err = client.Do(req)
		assert.ErrorIs(t, err, breaker.ErrOpen, "the open breaker rejects the request")
		assert.ErrorIs(t, err, ion.ErrRejected, "the rejection matches ion.ErrRejected through *url.Error")
		d, ok := ion.RetryAfter(err)
		assert.True(t, ok && d > time.Second, "ion.RetryAfter tells when the breaker lets a probe through (got %v)", d)
		assert.Equal(t, 3, hits, "no request reached the server while the breaker was open")
	})
}

// A POST without an Idempotency-Key is not retried; with one, it is.
func TestOnlyRepeatableRequestsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hits int
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits++
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		client, _ := newTestClient(h, 10)

		resp, err := client.Post("http://upstream.test/pay", "text/plain", strings.NewReader("x"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 1, hits, "a POST without an Idempotency-Key is sent once")

		req, _ := http.NewRequest("POST", "http://upstream.test/pay", strings.NewReader("x"))
		req.Header.Set("Idempotency-Key", "k1")
		resp, err = client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 1+3, hits, "a POST with an Idempotency-Key is retried up to 3 attempts")
	})
}

// main serves on a real loopback listener; one quick request checks that
// wiring (the scripted run needs virtual time to be fast).
func TestServeLoopback(t *testing.T) {
	url, rt, stop := serveLoopback(newFlakyServer())
	defer stop()
	client := &http.Client{Transport: newTransport(rt, breaker.New("loopback"),
		limit.NewTokenBucket(limit.Inf, 0), time.Second, 1, &logger{w: io.Discard, start: time.Now()})}
	defer client.CloseIdleConnections()
	res, err := send(context.Background(), client, url, call{method: "POST", path: "/catalog", body: "x"})
	require.NoError(t, err)
	assert.Equal(t, "201 Created: created from x", res, "the loopback server answers through the resilient transport")
}
