package ionhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy/policytest"
	"github.com/ionkit/ion/sem"
)

var hello = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") })

// serve starts a real loopback server for h and returns a client for it.
func serve(t *testing.T, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	c := s.Client()
	t.Cleanup(c.CloseIdleConnections)
	return s, c
}

func do(t *testing.T, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func newGet(t *testing.T, url string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

func TestRateLimitAnswers429WithFields(t *testing.T) {
	lim := limit.NewTokenBucket(limit.Every(10*time.Second), 2)
	mw := ionhttp.RateLimit(lim, ionhttp.ClientIP(), ionhttp.WithQuotaPolicy("api", 2, 20*time.Second))
	require.NoError(t, mw.Err())
	var served atomic.Int64
	s, c := serve(t, mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		assert.Equal(t, "127.0.0.1", ionhttp.LimitKey(r.Context()), "the handler sees the key")
	})))
	for range 2 {
		assert.Equal(t, 200, do(t, c, newGet(t, s.URL)).StatusCode)
	}
	resp := do(t, c, newGet(t, s.URL))
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "10", resp.Header.Get("Retry-After"), "the next token is 10s away")
	assert.Equal(t, `"api";r=0;t=10`, resp.Header.Get("RateLimit"))
	assert.Equal(t, `"api";q=2;w=20`, resp.Header.Get("RateLimit-Policy"))
	assert.Equal(t, int64(2), served.Load(), "a limited request never reaches the handler")

	d, ok := ionhttp.RetryAfter(resp.Header, time.Now())
	assert.True(t, ok, "the client side reads what the server side writes")
	assert.Equal(t, 10*time.Second, d)
}

func TestRateLimitPerKey(t *testing.T) {
	keyed := limit.NewKeyed[string](limit.Every(time.Hour), 1)
	mw := ionhttp.RateLimit(keyed.By(ionhttp.LimitKey), ionhttp.HeaderKey("X-API-Key"))
	s, c := serve(t, mw.Handler(hello))
	assert.Equal(t, 200, do(t, c, newGet(t, s.URL, "X-API-Key", "alice")).StatusCode)
	assert.Equal(t, 429, do(t, c, newGet(t, s.URL, "X-API-Key", "alice")).StatusCode, "alice spent her one request")
	assert.Equal(t, 200, do(t, c, newGet(t, s.URL, "X-API-Key", "bob")).StatusCode, "bob has a limit of his own")
	assert.Equal(t, 400, do(t, c, newGet(t, s.URL)).StatusCode, "no key: no way around the limit")
}

func TestRateLimitPerRoute(t *testing.T) {
	keyed := limit.NewKeyed[string](limit.Every(time.Hour), 1)
	mw := ionhttp.RateLimit(keyed.By(ionhttp.LimitKey), ionhttp.RouteKey)
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", mw.Handler(hello))
	mux.Handle("GET /users/{id}", mw.Handler(hello))
	s, c := serve(t, mux)
	assert.Equal(t, 200, do(t, c, newGet(t, s.URL+"/items/1")).StatusCode)
	assert.Equal(t, 429, do(t, c, newGet(t, s.URL+"/items/2")).StatusCode, "one limit per route, whatever the id")
	assert.Equal(t, 200, do(t, c, newGet(t, s.URL+"/users/1")).StatusCode)

	s2, c2 := serve(t, mw.Handler(hello)) // not behind a mux: no pattern
	assert.Equal(t, 400, do(t, c2, newGet(t, s2.URL)).StatusCode)
}

// failingLimiter is a limiter whose store is down.
type failingLimiter struct{}

func (failingLimiter) Admit(context.Context, time.Duration) error { return errors.New("store down") }

func TestRateLimitLimiterError(t *testing.T) {
	mw := ionhttp.RateLimit(failingLimiter{}, ionhttp.ClientIP())
	s, c := serve(t, mw.Handler(hello))
	resp := do(t, c, newGet(t, s.URL))
	assert.Equal(t, 503, resp.StatusCode, "a limiter failure is not the client's fault")
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
}

func TestClientIP(t *testing.T) {
	cases := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies: peer", nil, "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"untrusted peer: header ignored", []string{"10.0.0.0/8"}, "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted peer", []string{"10.0.0.0/8"}, "10.0.0.1:5000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"spoofed left part", []string{"10.0.0.0/8"}, "10.0.0.1:5000", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"chain of proxies", []string{"10.0.0.0/8", "192.168.1.1"}, "10.0.0.1:5000", []string{"198.51.100.9, 192.168.1.1", "10.0.0.2"}, "198.51.100.9"},
		{"all trusted", []string{"10.0.0.0/8"}, "10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage stops the walk", []string{"10.0.0.0/8"}, "10.0.0.1:5000", []string{"198.51.100.9, nonsense, 10.0.0.2"}, "10.0.0.2"},
		{"no header", []string{"10.0.0.0/8"}, "10.0.0.1:5000", nil, "10.0.0.1"},
		{"ipv6 peer", nil, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"mapped ipv4", nil, "[::ffff:203.0.113.7]:443", nil, "203.0.113.7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, err := ionhttp.ClientIP(tc.trusted...)(r)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	t.Run("bad remote", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "pipe"
		_, err := ionhttp.ClientIP()(r)
		assert.ErrorIs(t, err, ionhttp.ErrNoKey)
	})
	t.Run("bad proxy", func(t *testing.T) {
		_, err := ionhttp.ClientIP("10.0.0.0/99")(httptest.NewRequest("GET", "/", nil))
		policytest.AssertInvalidConfig(t, err, "ClientIP")
		mw := ionhttp.RateLimit(limit.NewTokenBucket(1, 1), ionhttp.ClientIP("nope"))
		rec := httptest.NewRecorder()
		mw.Handler(hello).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 500, rec.Code, "a misconfigured key is the server's fault")
	})
}

func TestConcurrencyLimitSheds(t *testing.T) {
	inside := make(chan struct{})
	release := make(chan struct{})
	mw := ionhttp.ConcurrencyLimit(sem.NewWeighted(1), 2*time.Second)
	s, c := serve(t, mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside <- struct{}{}
		<-release
	})))
	done := make(chan int)
	// Owner: this test. Exit: when release is closed. Join: <-done.
	go func() {
		resp, err := c.Get(s.URL)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-inside
	resp := do(t, c, newGet(t, s.URL))
	assert.Equal(t, 503, resp.StatusCode, "the one slot is taken: shed at once")
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	close(release)
	assert.Equal(t, 200, <-done)
}

func TestConcurrencyLimitReleasesOnPanic(t *testing.T) {
	s := sem.NewWeighted(1)
	h := ionhttp.Recover(func(*http.Request, *ion.PanicError) {}).Handler(
		ionhttp.ConcurrencyLimit(s, time.Second).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 500, rec.Code, "each panic is answered 500, and the slot is given back")
	}
	assert.Equal(t, int64(1), s.Available())
}

func TestTimeoutSetsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cause error
		var waited time.Duration
		h := ionhttp.Timeout(3 * time.Second).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			<-r.Context().Done()
			waited = time.Since(start)
			cause = context.Cause(r.Context())
			http.Error(w, "too slow", http.StatusGatewayTimeout)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 3*time.Second, waited)
		assert.ErrorIs(t, cause, ionhttp.ErrHandlerTimeout)
		assert.Equal(t, 504, rec.Code)
	})
}

func TestRecoverKeepsServing(t *testing.T) {
	var reported atomic.Pointer[ion.PanicError]
	mw := ionhttp.Recover(func(_ *http.Request, p *ion.PanicError) { reported.Store(p) })
	mux := http.NewServeMux()
	mux.Handle("/panic", mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	mux.Handle("/ok", mw.Handler(hello))
	s, c := serve(t, mux)
	assert.Equal(t, 500, do(t, c, newGet(t, s.URL+"/panic")).StatusCode)
	require.NotNil(t, reported.Load())
	assert.Equal(t, "boom", reported.Load().Value)
	assert.NotEmpty(t, reported.Load().Stack)
	assert.Equal(t, 200, do(t, c, newGet(t, s.URL+"/ok")).StatusCode, "the server still serves")

	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}, "ErrAbortHandler is net/http's own signal: passed on")
}

func TestMiddlewareBadInput(t *testing.T) {
	cases := []struct {
		name  string
		mw    *ionhttp.Middleware
		param string
	}{
		{"nil limiter", ionhttp.RateLimit(nil, ionhttp.ClientIP()), "lim"},
		{"nil key", ionhttp.RateLimit(limit.NewTokenBucket(1, 1), nil), "key"},
		{"nil option", ionhttp.RateLimit(limit.NewTokenBucket(1, 1), ionhttp.ClientIP(), nil), "option 0"},
		{"bad quota", ionhttp.RateLimit(limit.NewTokenBucket(1, 1), ionhttp.ClientIP(), ionhttp.WithQuotaPolicy("a b", 1, time.Second)), "WithQuotaPolicy"},
		{"nil semaphore", ionhttp.ConcurrencyLimit(nil, time.Second), "s"},
		{"bad semaphore", ionhttp.ConcurrencyLimit(sem.NewWeighted(0), time.Second), ""},
		{"negative retry-after", ionhttp.ConcurrencyLimit(sem.NewWeighted(1), -time.Second), "retryAfter"},
		{"zero timeout", ionhttp.Timeout(0), "d"},
		{"zero value", &ionhttp.Middleware{}, "Middleware"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			policytest.AssertInvalidConfig(t, tc.mw.Err(), tc.param)
			called := false
			rec := httptest.NewRecorder()
			tc.mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })).
				ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			assert.Equal(t, 500, rec.Code)
			assert.False(t, called, "a misconfigured middleware fails closed")
		})
	}
	t.Run("nil handler", func(t *testing.T) {
		rec := httptest.NewRecorder()
		ionhttp.Timeout(time.Second).Handler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 500, rec.Code)
	})
}
