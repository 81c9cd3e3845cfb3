package main

import (
	"bytes"
	"context"
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
			" +0.00s                  wait 1s before attempt 2: ionhttp: service unavailable (503), retry after 1s\n" +
			" +1.00s  POST /orders    attempt 2 → 201 Created\n",
		`POST /orders    201 Created: created from {"item":"lamp","qty":2}`,
		// The hung request is cut by the 500ms attempt timeout and retried.
		" +1.50s  GET  /report    attempt 1 → no answer within the attempt timeout\n",
		"GET  /report    attempt 2 → 200 OK",
		// Three 500s exhaust the retries and open the breaker; the caller gets the last 500.
		"GET  /inventory attempt 3 → 500 Internal Server Error\n",
		"breaker closed → open\n",
		"GET  /inventory 500 Internal Server Error",
		// The next request's first attempt is refused by the open breaker,
		// which says when to come back; the probe then closes it.
		"GET  /inventory attempt 1 → refused by Ion before sending: breaker: upstream: open\n",
		"wait 1s before attempt 2\n",
		"breaker open → half-open\n",
		"GET  /inventory attempt 2 → 200 OK\n",
		"breaker half-open → closed\n",
		// A 429 is retried after its Retry-After.
		"wait 1s before attempt 2: ionhttp: rejected by the server (429), retry after 1s\n",
		"GET  /search    200 OK",
		// A POST without an Idempotency-Key is sent once.
		"POST /payments  not retried: a POST without an Idempotency-Key is sent once\n",
		"POST /payments  503 Service Unavailable",
		// The burst: what is left of the limiter's burst goes at once, the
		// rest is refused first and paced by the limiter's Retry-After.
		"the requests above left 3 tokens,\n",
		"so 3 go at once and 4 are refused at first",
		"GET  /catalog   attempt 1 → refused by Ion before sending: limit: rate limited, retry after 200ms\n",
		// 12 successes: the 429 counts neither way, it is a rejection by the server.
		"breaker closed: 12 successes, 6 failures, 1 rejected\n",
	} {
		assert.Contains(t, out, want, "the output tells this part of the story")
	}
	assert.Equal(t, 1+burst, strings.Count(out, "GET  /catalog   200 OK"), "every request of the burst succeeds in the end")
	assert.Equal(t, out, runVirtual(t), "two runs in virtual time print the same")
}

// newTestClient returns a client whose transport reaches h in memory, with
// a breaker that trips after failures consecutive failures and a generous
// limiter.
func newTestClient(h http.Handler, failures int) (*http.Client, *breaker.Breaker) {
	cb := breaker.New("test", breaker.WithConsecutiveFailures(failures))
	lim := limit.NewTokenBucket(limit.PerSecond(1000), 1000)
	return newClient(handlerTransport{h}, cb, lim, time.Second, 1, &logger{w: io.Discard, start: time.Now()}), cb
}

// A body with GetBody is sent whole on every attempt; a body without it
// cannot be replayed, so its request is sent once.
func TestBodyIsReplayedOnRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got = append(got, string(b))
			if len(got)%3 != 0 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.WriteHeader(http.StatusCreated)
		})
		client, _ := newTestClient(h, 10)
		req, err := http.NewRequest("PUT", "http://upstream.test/doc", strings.NewReader("payload"))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusCreated, resp.StatusCode, "the third attempt succeeds")
		assert.Equal(t, []string{"payload", "payload", "payload"}, got, "every attempt sends the whole body")

		got = nil
		req, err = http.NewRequest("PUT", "http://upstream.test/doc", io.NopCloser(strings.NewReader("stream")))
		require.NoError(t, err)
		require.Nil(t, req.GetBody, "the body is an opaque reader, with no GetBody")
		resp, err = client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "the one answer is the caller's")
		assert.Equal(t, []string{"stream"}, got, "a body that cannot be replayed is sent once")
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
	log := &logger{w: io.Discard, start: time.Now()}
	client := newClient(rt, breaker.New("loopback"), limit.NewTokenBucket(limit.Inf, 0), time.Second, 1, log)
	defer client.CloseIdleConnections()
	res, err := send(context.Background(), client, url, call{method: "POST", path: "/catalog", body: "x"}, log)
	require.NoError(t, err)
	assert.Equal(t, "201 Created: created from x", res, "the loopback server answers through the resilient transport")
}
