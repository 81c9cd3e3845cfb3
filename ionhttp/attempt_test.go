package ionhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/policy"
)

// timedTest runs f in a synctest bubble twice: with each attempt arming a
// timer of its own, as every attempt inside a bubble does, and with the
// transport's shared timers, as attempts outside one do.
func timedTest(t *testing.T, f func(t *testing.T)) {
	t.Run("own timers", func(t *testing.T) { synctest.Test(t, f) })
	t.Run("shared timers", func(t *testing.T) {
		ionhttp.UseSharedTimers(t)
		synctest.Test(t, f)
	})
}

// TestTransportHeaderTimeouts runs many attempts at once, started 10 ms
// apart, each waiting on its ctx: those whose headers never come are cut
// at 1 s from their own start, the others answer at 500 ms and their ctx
// lasts until their body is closed.
func TestTransportHeaderTimeouts(t *testing.T) {
	timedTest(t, func(t *testing.T) {
		base := roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("Answer") == "" {
				<-r.Context().Done()
				return nil, context.Cause(r.Context())
			}
			select {
			case <-r.Context().Done():
				return nil, context.Cause(r.Context())
			case <-time.After(500 * time.Millisecond):
				return respond(r, 200, nil, "ok"), nil
			}
		})
		c := ionhttp.NewClient(base, ionhttp.WithTimeout(time.Second))
		const n = 30
		var wg sync.WaitGroup
		errs := make([]error, n)
		took := make([]time.Duration, n)
		resps := make([]*http.Response, n)
		for i := range n {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", "http://api.test/", nil)
				if i%2 == 1 {
					req.Header.Set("Answer", "yes")
				}
				start := time.Now()
				resps[i], errs[i] = c.Do(req)
				took[i] = time.Since(start)
			})
			time.Sleep(10 * time.Millisecond)
		}
		wg.Wait()
		time.Sleep(2 * time.Second)
		for i := range n {
			if i%2 == 0 {
				assert.ErrorIs(t, errs[i], policy.ErrTimeout, "attempt %d", i)
				assert.Equal(t, time.Second, took[i], "attempt %d was cut at its own deadline", i)
				continue
			}
			if assert.NoError(t, errs[i], "attempt %d", i) {
				assert.Equal(t, 500*time.Millisecond, took[i], "attempt %d", i)
				assert.NoError(t, resps[i].Request.Context().Err(), "attempt %d: its ctx lasts until its body is closed", i)
				resps[i].Body.Close()
			}
		}
	})
}

// TestTransportHeaderTimeoutWaits runs the header timeout (1 s) against
// base transports that wait for the headers in each way a base can: the
// first attempt's headers come late or never, and it must be cut at 1 s
// (or when the base returns, for a base that cannot be interrupted) and
// retried; the second answers at once.
func TestTransportHeaderTimeoutWaits(t *testing.T) {
	cases := []struct {
		name string
		wait func(r *http.Request) // the first attempt's wait; it returns no headers
		want time.Duration         // when the retry's answer is in
	}{
		{"select on Done", func(r *http.Request) { <-r.Context().Done() }, time.Second},
		{"derived ctx", func(r *http.Request) {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			<-ctx.Done()
		}, time.Second},
		{"context.AfterFunc", func(r *http.Request) {
			fired := make(chan struct{})
			context.AfterFunc(r.Context(), func() { close(fired) })
			<-fired
		}, time.Second},
		{"polls Err", func(r *http.Request) {
			for i := 0; i < 50 && r.Context().Err() == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}, time.Second},
		// A base that never looks at its ctx cannot be interrupted: its
		// late answer is cut when it comes.
		{"ignores ctx", func(*http.Request) { time.Sleep(3 * time.Second) }, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timedTest(t, func(t *testing.T) {
				var calls atomic.Int64
				late := &closeCounter{Reader: nil}
				base := roundTripper(func(r *http.Request) (*http.Response, error) {
					if calls.Add(1) == 1 {
						tc.wait(r)
						resp := respond(r, 200, nil, "")
						late.Reader = resp.Body
						resp.Body = late
						return resp, nil // headers, but too late
					}
					return respond(r, 200, nil, "ok"), nil
				})
				c := ionhttp.NewClient(base, ionhttp.WithRetry(noWait), ionhttp.WithTimeout(time.Second))
				start := time.Now()
				resp, err := c.Get("http://api.test/")
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, "ok", string(b), "the retry's answer")
				assert.Equal(t, tc.want, time.Since(start), "when the first attempt was cut and retried")
				assert.Equal(t, int64(2), calls.Load())
				assert.Equal(t, 1, late.closed, "the late answer was discarded")
			})
		})
	}
}

// TestTransportHeaderTimeoutStops checks that headers in time end the
// header timeout, whether or not the base waited on the ctx (which arms its
// timer): long after the timeout, the body still reads and the attempt's
// ctx has not ended.
func TestTransportHeaderTimeoutStops(t *testing.T) {
	for _, watch := range []bool{false, true} {
		t.Run(map[bool]string{false: "unwatched", true: "watched"}[watch], func(t *testing.T) {
			timedTest(t, func(t *testing.T) {
				base, pw := pipeBase(watch)
				c := ionhttp.NewClient(base, ionhttp.WithTimeout(time.Second))
				resp, err := c.Get("http://api.test/")
				require.NoError(t, err)
				time.Sleep(5 * time.Second)
				ctx := resp.Request.Context()
				assert.NoError(t, ctx.Err(), "the header timeout ended with the headers")
				go func() {
					_, _ = pw.Write([]byte("late body"))
					pw.Close()
				}()
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				assert.Equal(t, "late body", string(b))
				resp.Body.Close()
				assert.ErrorIs(t, ctx.Err(), context.Canceled, "the attempt's ctx ends with its body")
			})
		})
	}
}

// TestTransportBodyCloseEndsAttempt checks that the attempt's ctx ends when
// the caller closes the body or reads it to its end, and not before, over
// a loopback server (the base waits on the ctx) and in memory (it does
// not), under a request ctx that can end and one that cannot: Err, Done and
// context.Cause all agree.
func TestTransportBodyCloseEndsAttempt(t *testing.T) {
	s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	memory := roundTripper(func(r *http.Request) (*http.Response, error) { return respond(r, 200, nil, "ok"), nil })
	_, loop := newTransport(t, ionhttp.WithRetry(), ionhttp.WithTimeout(time.Minute))
	for _, tc := range []struct {
		name string
		c    *http.Client
		url  string
	}{
		{"loopback", loop, s.URL},
		{"memory", ionhttp.NewClient(memory, ionhttp.WithRetry(), ionhttp.WithTimeout(time.Minute)), "http://api.test/"},
		{"memory without timeout", ionhttp.NewClient(memory), "http://api.test/"},
	} {
		for _, cancelable := range []bool{false, true} {
			for _, end := range []string{"close", "EOF"} {
				name := fmt.Sprintf("%s/cancelable=%v/%s", tc.name, cancelable, end)
				t.Run(name, func(t *testing.T) {
					reqCtx := context.Background()
					if cancelable {
						var cancel context.CancelFunc
						reqCtx, cancel = context.WithCancel(reqCtx)
						defer cancel()
					}
					req, err := http.NewRequestWithContext(reqCtx, "GET", tc.url, nil)
					require.NoError(t, err)
					resp, err := tc.c.Do(req)
					require.NoError(t, err)
					ctx := resp.Request.Context()
					require.NoError(t, ctx.Err(), "the attempt's ctx outlives RoundTrip")
					require.NoError(t, context.Cause(ctx))
					if end == "close" {
						require.NoError(t, resp.Body.Close())
					} else {
						b, err := io.ReadAll(resp.Body)
						require.NoError(t, err)
						assert.Equal(t, "ok", string(b))
					}
					assert.ErrorIs(t, ctx.Err(), context.Canceled, "the attempt's ctx ends with its body")
					assert.ErrorIs(t, context.Cause(ctx), context.Canceled)
					select {
					case <-ctx.Done():
					default:
						t.Fatal("the attempt's ctx did not end with its body")
					}
					assert.NoError(t, reqCtx.Err(), "the request's ctx goes on")
					resp.Body.Close()
				})
			}
		}
	}
}

// TestTransportAttemptCtxFollowsRequestCtx ends the request's ctx while
// the caller holds the body of an answer from memory (whose base never
// waited on the attempt's ctx): the attempt's ctx ends with it, with its
// cause.
func TestTransportAttemptCtxFollowsRequestCtx(t *testing.T) {
	errGone := errors.New("caller gone")
	memory := roundTripper(func(r *http.Request) (*http.Response, error) { return respond(r, 200, nil, "ok"), nil })
	for _, watch := range []bool{false, true} {
		t.Run(fmt.Sprintf("watched=%v", watch), func(t *testing.T) {
			reqCtx, cancel := context.WithCancelCause(context.Background())
			req, err := http.NewRequestWithContext(reqCtx, "GET", "http://api.test/", nil)
			require.NoError(t, err)
			resp, err := ionhttp.NewClient(memory, ionhttp.WithTimeout(time.Minute)).Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			ctx := resp.Request.Context()
			var done <-chan struct{}
			if watch {
				done = ctx.Done()
			}
			cancel(errGone)
			assert.ErrorIs(t, ctx.Err(), context.Canceled)
			assert.ErrorIs(t, context.Cause(ctx), errGone)
			if !watch {
				done = ctx.Done()
			}
			select {
			case <-done:
			default:
				t.Fatal("the attempt's ctx did not end with the request's")
			}
		})
	}
}

// TestTransportAttemptCtxEndsFirst ends an attempt's ctx with its body,
// then the request's ctx with a cause of its own: the attempt's ctx keeps
// the cause it ended with, though its base never waited on it.
func TestTransportAttemptCtxEndsFirst(t *testing.T) {
	memory := roundTripper(func(r *http.Request) (*http.Response, error) { return respond(r, 200, nil, "ok"), nil })
	reqCtx, cancel := context.WithCancelCause(context.Background())
	req, err := http.NewRequestWithContext(reqCtx, "GET", "http://api.test/", nil)
	require.NoError(t, err)
	resp, err := ionhttp.NewClient(memory).Do(req)
	require.NoError(t, err)
	ctx := resp.Request.Context()
	resp.Body.Close()
	cancel(errors.New("caller gone"))
	assert.Equal(t, context.Canceled, context.Cause(ctx), "the attempt ended with its body, before its request")
}

// TestTransportPipelineTimeoutCutsAttempt runs a policy.Timeout in a custom
// pipeline against a base that waits on its ctx (it is interrupted at the
// timeout) and one that does not (its late answer is cut when it comes).
func TestTransportPipelineTimeoutCutsAttempt(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait func(r *http.Request)
		want time.Duration
	}{
		{"waits on ctx", func(r *http.Request) { <-r.Context().Done() }, time.Second},
		{"ignores ctx", func(*http.Request) { time.Sleep(3 * time.Second) }, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				late := &closeCounter{}
				base := roundTripper(func(r *http.Request) (*http.Response, error) {
					tc.wait(r)
					resp := respond(r, 200, nil, "late")
					late.Reader = resp.Body
					resp.Body = late
					return resp, nil
				})
				c := ionhttp.NewClient(base, ionhttp.WithPipeline(policy.Compose(policy.Timeout[*http.Response](time.Second))))
				start := time.Now()
				_, err := c.Get("http://api.test/")
				assert.ErrorIs(t, err, policy.ErrTimeout)
				assert.Equal(t, tc.want, time.Since(start))
				assert.Equal(t, 1, late.closed, "the late answer was discarded")
			})
		})
	}
}

// TestTransportAttemptCtxCause checks what context.Cause reports for an
// attempt cut by the header timeout, as a base transport sees it.
func TestTransportAttemptCtxCause(t *testing.T) {
	timedTest(t, func(t *testing.T) {
		var cause error
		base := roundTripper(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			cause = context.Cause(r.Context())
			return nil, r.Context().Err()
		})
		c := ionhttp.NewClient(base, ionhttp.WithTimeout(time.Second))
		_, err := c.Get("http://api.test/")
		assert.ErrorIs(t, err, policy.ErrTimeout)
		assert.ErrorIs(t, cause, policy.ErrTimeout, "the base sees why its ctx ended")
	})
}

// TestTransportHeaderTimeoutRace races the arming of the header timer (a
// Done or an Err from another goroutine of the base) with the arrival of
// the headers, under -race: whichever comes first, no timer outlives its
// headers, so no answer's ctx ends before its body does.
func TestTransportHeaderTimeoutRace(t *testing.T) {
	timedTest(t, func(t *testing.T) {
		base := roundTripper(func(r *http.Request) (*http.Response, error) {
			ctx := r.Context()
			go func() { <-ctx.Done() }() // ends with the body
			go func() { _ = ctx.Err() }()
			return respond(r, 200, nil, "ok"), nil
		})
		c := ionhttp.NewClient(base, ionhttp.WithTimeout(time.Second))
		var resps []*http.Response
		for range 200 {
			resp, err := c.Get("http://api.test/")
			require.NoError(t, err)
			resps = append(resps, resp)
		}
		time.Sleep(2 * time.Second)
		for _, resp := range resps {
			assert.NoError(t, resp.Request.Context().Err(), "no header timer fired after the headers")
			resp.Body.Close()
		}
	})
}

// TestTransportHTTP2 runs the transport over a real HTTP/2 server (TLS over
// loopback TCP), whose client side waits on the attempt's ctx from a
// goroutine of its own: retried answers arrive whole on one connection,
// each attempt's ctx ends with its body, under a request ctx that cannot
// end and one that can; and a request whose ctx ends while the server
// holds it is cancelled at the server.
func TestTransportHTTP2(t *testing.T) {
	var hits atomic.Int64
	held := make(chan struct{})
	released := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(held)
			<-r.Context().Done()
			close(released)
			return
		}
		if hits.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt of each request
			return
		}
		_, _ = io.WriteString(w, "ok over "+r.Proto)
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	c := ionhttp.NewClient(base, ionhttp.WithRetry(noWait), ionhttp.WithTimeout(time.Minute))

	for i := range 20 {
		reqCtx := context.Background()
		if i%2 == 1 {
			var cancel context.CancelFunc
			reqCtx, cancel = context.WithCancel(reqCtx)
			defer cancel()
		}
		req, err := http.NewRequestWithContext(reqCtx, "GET", srv.URL+"/", nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		assert.Equal(t, "HTTP/2.0", resp.Proto)
		ctx := resp.Request.Context()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "ok over HTTP/2.0", string(b))
		resp.Body.Close()
		assert.ErrorIs(t, ctx.Err(), context.Canceled, "request %d: the attempt's ctx ends with its body", i)
		assert.NoError(t, reqCtx.Err())
	}
	assert.Equal(t, int64(40), hits.Load(), "every request was retried once")
	assert.Equal(t, int64(1), conns.Load(), "one connection for all of them")

	reqCtx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(reqCtx, "GET", srv.URL+"/hold", nil)
	require.NoError(t, err)
	go func() {
		<-held
		cancel()
	}()
	_, err = c.Do(req)
	assert.ErrorIs(t, err, context.Canceled)
	<-released // the server saw the request end
}
