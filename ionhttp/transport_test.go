package ionhttp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

// noWait retries at once, so tests against real servers never sleep.
var noWait = policy.WithBackoff(policy.Constant(0))

// server is an httptest.Server over real loopback TCP that counts requests
// and new connections.
type server struct {
	*httptest.Server
	hits  atomic.Int64
	conns atomic.Int64
}

func newServer(t *testing.T, h func(n int64, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(s.hits.Add(1), w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// newTransport returns a transport over a fresh http.Transport, closed at the
// end of the test so that goleak sees no connection goroutine.
func newTransport(t *testing.T, opts ...ionhttp.TransportOption) (*ionhttp.Transport, *http.Client) {
	t.Helper()
	base := &http.Transport{MaxIdleConnsPerHost: 4}
	t.Cleanup(base.CloseIdleConnections)
	tr := ionhttp.NewTransport(base, opts...)
	require.NoError(t, tr.Err())
	return tr, &http.Client{Transport: tr}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestTransportRetriesFailedAnswers(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
				if n < 3 {
					w.WriteHeader(status)
					fmt.Fprint(w, "sick")
					return
				}
				fmt.Fprint(w, "ok")
			})
			_, c := newTransport(t, ionhttp.WithRetry(policy.WithAttempts(3), noWait))
			code, b := get(t, c, s.URL)
			assert.Equal(t, 200, code)
			assert.Equal(t, "ok", b)
			assert.Equal(t, int64(3), s.hits.Load(), "two failed answers, then the good one")
		})
	}
}

func TestTransportReturnsLastAnswerWhenRetriesGiveUp(t *testing.T) {
	s := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(503)
		fmt.Fprintf(w, "attempt %d", n)
	})
	_, c := newTransport(t, ionhttp.WithRetry(policy.WithAttempts(3), noWait))
	code, b := get(t, c, s.URL)
	assert.Equal(t, 503, code, "the caller gets the server's last answer, as from a plain transport")
	assert.Equal(t, "attempt 3", b)
}

func TestTransportDoesNotRetryOtherAnswers(t *testing.T) {
	for _, status := range []int{200, 400, 404, 409} {
		s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) })
		_, c := newTransport(t, ionhttp.WithRetry(noWait))
		code, _ := get(t, c, s.URL)
		assert.Equal(t, status, code)
		assert.Equal(t, int64(1), s.hits.Load(), "status %d is an answer: not retried", status)
	}
}

func TestTransportRetriesOnlyRequestsSafeToRepeat(t *testing.T) {
	cases := []struct {
		name   string
		req    func(url string) *http.Request
		opts   []ionhttp.TransportOption
		sends  int64
		bodies []string
	}{
		{"GET", func(u string) *http.Request { r, _ := http.NewRequest("GET", u, nil); return r }, nil, 3, nil},
		{"PUT replays its body", func(u string) *http.Request {
			r, _ := http.NewRequest("PUT", u, strings.NewReader("payload"))
			return r
		}, nil, 3, []string{"payload", "payload", "payload"}},
		{"DELETE", func(u string) *http.Request { r, _ := http.NewRequest("DELETE", u, nil); return r }, nil, 3, nil},
		{"POST is sent once", func(u string) *http.Request {
			r, _ := http.NewRequest("POST", u, strings.NewReader("order"))
			return r
		}, nil, 1, []string{"order"}},
		{"PATCH is sent once", func(u string) *http.Request {
			r, _ := http.NewRequest("PATCH", u, strings.NewReader("p"))
			return r
		}, nil, 1, nil},
		{"POST with Idempotency-Key", func(u string) *http.Request {
			r, _ := http.NewRequest("POST", u, strings.NewReader("order"))
			r.Header.Set("Idempotency-Key", "k1")
			return r
		}, nil, 3, []string{"order", "order", "order"}},
		{"POST with WithUnsafeRetries", func(u string) *http.Request {
			r, _ := http.NewRequest("POST", u, bytes.NewReader([]byte("x")))
			return r
		}, []ionhttp.TransportOption{ionhttp.WithUnsafeRetries()}, 3, nil},
		{"PUT whose body cannot be replayed", func(u string) *http.Request {
			r, _ := http.NewRequest("PUT", u, io.NopCloser(strings.NewReader("stream")))
			return r
		}, nil, 1, []string{"stream"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies []string
			s := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies = append(bodies, string(b))
				mu.Unlock()
				w.WriteHeader(503)
				fmt.Fprint(w, "down")
			})
			_, c := newTransport(t, append(tc.opts, ionhttp.WithRetry(policy.WithAttempts(3), noWait))...)
			resp, err := c.Do(tc.req(s.URL))
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 503, resp.StatusCode)
			assert.Equal(t, "down", string(b), "the caller reads the answer it got")
			assert.Equal(t, tc.sends, s.hits.Load(), "sends")
			if tc.bodies != nil {
				assert.Equal(t, tc.bodies, bodies, "every send carries the whole body")
			}
		})
	}
}

// A request that may be sent once is never sent twice, even through a plain
// policy.Retry in a custom pipeline.
func TestTransportSendsOnceThroughPlainRetry(t *testing.T) {
	s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) })
	_, c := newTransport(t, ionhttp.WithPipeline(policy.Compose[*http.Response](
		policy.Retry[*http.Response](policy.WithAttempts(4), noWait))))
	resp, err := c.Post(s.URL, "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 502, resp.StatusCode, "the first answer stands")
	assert.Equal(t, int64(1), s.hits.Load())
}

func TestTransportConnectionErrorIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: connection refused
	var attempts atomic.Int64
	_, c := newTransport(t, ionhttp.WithRetry(policy.WithAttempts(3), noWait,
		policy.WithOnRetry(func(context.Context, int, error, time.Duration) { attempts.Add(1) })))
	_, err = c.Get("http://" + addr)
	require.Error(t, err)
	assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
	assert.Equal(t, int64(2), attempts.Load(), "a refused connection is a failure: retried")
}

// TestTransportDrainsDiscardedResponses sends 1,000 requests whose first
// attempt fails: every discarded answer is drained and closed, so the
// connections are reused and the server sees a handful, not 1,000.
func TestTransportDrainsDiscardedResponses(t *testing.T) {
	s := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%2 == 1 {
			w.WriteHeader(503)
			fmt.Fprint(w, strings.Repeat("e", 4096)) // a body the client must drain
			return
		}
		fmt.Fprint(w, "ok")
	})
	_, c := newTransport(t, ionhttp.WithRetry(policy.WithAttempts(2), noWait))
	for range 1000 {
		code, _ := get(t, c, s.URL)
		require.Equal(t, 200, code)
	}
	assert.Equal(t, int64(2000), s.hits.Load())
	assert.LessOrEqual(t, s.conns.Load(), int64(2), "discarded answers return their connection to the pool")
}

// TestTransportTimeoutDoesNotCutBody reads a 4 MiB body after RoundTrip
// returned through a retry and a timeout: the body is sent only once the
// pipeline (and its Timeout) has returned, and it still reads completely.
func TestTransportTimeoutDoesNotCutBody(t *testing.T) {
	const size = 4 << 20
	release := make(chan struct{})
	s := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-release // the rest of the body only after RoundTrip returned
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range size / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	for _, tc := range []struct {
		name string
		opts []ionhttp.TransportOption
	}{
		{"options", []ionhttp.TransportOption{ionhttp.WithRetry(noWait), ionhttp.WithTimeout(5 * time.Second)}},
		{"custom pipeline", []ionhttp.TransportOption{ionhttp.WithPipeline(policy.Compose[*http.Response](
			ionhttp.Retry(noWait), policy.Timeout[*http.Response](5*time.Second)))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.hits.Store(0)
			_, c := newTransport(t, tc.opts...)
			resp, err := c.Get(s.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			release <- struct{}{}
			n, err := io.Copy(io.Discard, resp.Body)
			require.NoError(t, err, "the body is not cut when the pipeline's timeout returns")
			assert.Equal(t, int64(size), n)
		})
	}
}

func TestTransportRejectionBy429(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"Retry-After seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{"Retry-After date", http.Header{"Retry-After": {"DATE+3s"}}, 3 * time.Second},
		{"RateLimit", http.Header{"Ratelimit": {`"default";r=0;t=4`}}, 4 * time.Second},
		{"X-RateLimit", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset-After": {"5"}}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls []time.Time
				start := time.Now()
				base := roundTripper(func(r *http.Request) (*http.Response, error) {
					calls = append(calls, time.Now())
					if len(calls) == 1 {
						h := tc.header.Clone()
						if v := h.Get("Retry-After"); strings.HasPrefix(v, "DATE+") {
							d, _ := time.ParseDuration(strings.TrimPrefix(v, "DATE+"))
							h.Set("Retry-After", time.Now().Add(d).UTC().Format(http.TimeFormat))
						}
						return respond(r, 429, h, "slow down"), nil
					}
					return respond(r, 200, nil, "ok"), nil
				})
				cb := breaker.New("api", breaker.WithConsecutiveFailures(1))
				c := ionhttp.NewClient(base, ionhttp.WithRetry(policy.WithBackoff(policy.Constant(time.Millisecond)), policy.WithMaxRetryAfter(time.Minute)), ionhttp.WithBreaker(cb))
				resp, err := c.Get("http://api.test/")
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode)
				require.Len(t, calls, 2)
				assert.Equal(t, tc.want, calls[1].Sub(start), "the retry waits what the server asked")
				assert.Equal(t, breaker.Closed, cb.State(), "a 429 never counts against the breaker")
			})
		})
	}
}

func TestTransport429AfterRetriesIsTheAnswer(t *testing.T) {
	s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(429)
		fmt.Fprint(w, "quota")
	})
	_, c := newTransport(t, ionhttp.WithRetry(policy.WithAttempts(2), noWait))
	code, b := get(t, c, s.URL)
	assert.Equal(t, 429, code)
	assert.Equal(t, "quota", b)
	assert.Equal(t, int64(2), s.hits.Load())
}

func TestTransportClassifierOverrides429(t *testing.T) {
	s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(429) })
	cb := breaker.New("api", breaker.WithConsecutiveFailures(2))
	_, c := newTransport(t, ionhttp.WithBreaker(cb), ionhttp.WithClassifier(func(resp *http.Response, err error) policy.Outcome {
		if resp != nil && resp.StatusCode == 429 {
			return policy.Failure
		}
		return ionhttp.Classify(resp, err)
	}))
	for range 2 {
		code, _ := get(t, c, s.URL)
		assert.Equal(t, 429, code)
	}
	assert.Equal(t, breaker.Open, cb.State(), "the user's classifier made 429 a failure")
}

func TestTransportBreakerCountsFailuresNot4xx(t *testing.T) {
	status := atomic.Int64{}
	status.Store(404)
	s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) })
	cb := breaker.New("api", breaker.WithConsecutiveFailures(3))
	_, c := newTransport(t, ionhttp.WithBreaker(cb))
	for range 5 {
		get(t, c, s.URL)
	}
	assert.Equal(t, breaker.Closed, cb.State(), "404 is an answer: a success for the breaker")
	status.Store(503)
	for range 3 {
		get(t, c, s.URL)
	}
	assert.Equal(t, breaker.Open, cb.State())
	_, err := c.Get(s.URL)
	assert.ErrorIs(t, err, breaker.ErrOpen)
	assert.ErrorIs(t, err, ion.ErrRejected)
	_, ok := ion.RetryAfter(err)
	assert.True(t, ok, "an open breaker says when to come back")
}

func TestTransportHostBreaker(t *testing.T) {
	sick := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	well := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	var built atomic.Int64
	_, c := newTransport(t, ionhttp.WithHostBreaker(func(host string) *breaker.Breaker {
		built.Add(1)
		return breaker.New(host, breaker.WithConsecutiveFailures(2))
	}), ionhttp.WithHosts(16, time.Minute))
	for range 2 {
		get(t, c, sick.URL)
	}
	_, err := c.Get(sick.URL)
	assert.ErrorIs(t, err, breaker.ErrOpen, "the sick host's breaker is open")
	code, _ := get(t, c, well.URL)
	assert.Equal(t, 200, code, "the other host has a breaker of its own")
	assert.Equal(t, int64(2), built.Load())
}

func TestTransportHostBulkhead(t *testing.T) {
	inside := make(chan struct{})
	release := make(chan struct{})
	s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		inside <- struct{}{}
		<-release
	})
	_, c := newTransport(t, ionhttp.WithHostBulkhead(1))
	done := make(chan error)
	// Owner: this test. Exit: when release is closed. Join: <-done.
	go func() {
		resp, err := c.Get(s.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-inside
	_, err := c.Get(s.URL)
	assert.ErrorIs(t, err, ion.ErrRejected, "the host's one slot is taken")
	close(release)
	assert.NoError(t, <-done)
}

func TestTransportHedgeCancelsLoser(t *testing.T) {
	loserDone := make(chan struct{})
	var first atomic.Bool
	s := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			<-r.Context().Done() // no answer until the client gives up on it
			close(loserDone)
			return
		}
		fmt.Fprint(w, "fast")
	})
	_, c := newTransport(t, ionhttp.WithPipeline(policy.Compose[*http.Response](
		policy.Hedge[*http.Response](0, policy.WithHedges(1)))))
	code, b := get(t, c, s.URL)
	assert.Equal(t, 200, code)
	assert.Equal(t, "fast", b, "the hedge answered")
	<-loserDone // the losing attempt was cancelled: the server saw its request end
}

func TestTransportBodyTimeout(t *testing.T) {
	timedTest(t, func(t *testing.T) {
		base, pw := pipeBase(true)
		c := ionhttp.NewClient(base, ionhttp.WithBodyTimeout(time.Second))
		resp, err := c.Get("http://api.test/")
		require.NoError(t, err)
		defer resp.Body.Close()
		go func() { _, _ = pw.Write([]byte("part")) }()
		buf := make([]byte, 4)
		_, err = io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		start := time.Now()
		_, err = resp.Body.Read(buf)
		assert.ErrorIs(t, err, ionhttp.ErrBodyTimeout)
		assert.Equal(t, time.Second, time.Since(start))
	})
}

func TestTransportHeaderTimeout(t *testing.T) {
	timedTest(t, func(t *testing.T) {
		var calls atomic.Int64
		base := roundTripper(func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				<-r.Context().Done() // no headers before the timeout
				return nil, r.Context().Err()
			}
			return respond(r, 200, nil, "ok"), nil
		})
		c := ionhttp.NewClient(base, ionhttp.WithRetry(noWait), ionhttp.WithTimeout(time.Second))
		start := time.Now()
		resp, err := c.Get("http://api.test/")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "ok", string(b))
		assert.Equal(t, time.Second, time.Since(start), "the first attempt timed out after 1s and was retried")
	})
}

func TestTransportFollowsServerLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Time
		base := roundTripper(func(r *http.Request) (*http.Response, error) {
			calls = append(calls, time.Now())
			h := http.Header{"Ratelimit": {`"default";r=` + fmt.Sprint(2-min(len(calls), 2)) + `;t=10`}}
			return respond(r, 200, h, "ok"), nil
		})
		follow := ionhttp.NewServerLimits(16)
		c := ionhttp.NewClient(base, ionhttp.WithServerLimits(follow))
		start := time.Now()
		for range 2 {
			resp, err := c.Get("http://api.test/")
			require.NoError(t, err)
			resp.Body.Close()
		}
		_, err := c.Get("http://api.test/")
		assert.ErrorIs(t, err, limit.ErrLimited, "the server said no quota is left: the client does not ask")
		d, _ := ion.RetryAfter(err)
		assert.Equal(t, 10*time.Second, d)
		assert.Len(t, calls, 2)

		c = ionhttp.NewClient(base, ionhttp.WithRetry(policy.WithAttempts(2), policy.WithMaxRetryAfter(time.Minute)), ionhttp.WithServerLimits(follow))
		resp, err := c.Get("http://api.test/")
		require.NoError(t, err, "a retry waits for the quota's reset")
		resp.Body.Close()
		assert.Equal(t, 10*time.Second, calls[2].Sub(start))
	})
}

func TestTransportBadInput(t *testing.T) {
	cases := []struct {
		name  string
		tr    *ionhttp.Transport
		param string
	}{
		{"nil base", ionhttp.NewTransport(nil), "base"},
		{"nil option", ionhttp.NewTransport(http.DefaultTransport, nil), "option 0"},
		{"nil pipeline", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithPipeline(nil)), "WithPipeline"},
		{"pipeline and layers", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithRetry(),
			ionhttp.WithPipeline(policy.Compose[*http.Response]())), "WithPipeline"},
		{"nil layer in pipeline", ionhttp.NewTransport(http.DefaultTransport,
			ionhttp.WithPipeline(policy.Compose[*http.Response](nil))), "Compose layer 0"},
		{"nil breaker", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithBreaker(nil)), "WithBreaker"},
		{"nil host breaker", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithHostBreaker(nil)), "WithHostBreaker"},
		{"nil limiter", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithLimiter(nil)), "WithLimiter"},
		{"nil bulkhead", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithBulkhead(nil)), "WithBulkhead"},
		{"zero host bulkhead", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithHostBulkhead(0)), "WithHostBulkhead"},
		{"zero timeout", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithTimeout(0)), "WithTimeout"},
		{"zero body timeout", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithBodyTimeout(0)), "WithBodyTimeout"},
		{"bad hosts", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithHosts(0, 0)), "WithHosts"},
		{"bad hedge", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithHedge(-1, 1)), "WithHedge"},
		{"nil classifier", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithClassifier(nil)), "WithClassifier"},
		{"nil server limits", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithServerLimits(nil)), "WithServerLimits"},
		{"bad retry", ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithRetry(policy.WithAttempts(0))), "WithAttempts"},
		{"zero value", &ionhttp.Transport{}, "Transport"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			policytest.AssertInvalidConfig(t, tc.tr.Err(), tc.param)
			body := &closeCounter{Reader: strings.NewReader("x")}
			req, _ := http.NewRequest("POST", "http://127.0.0.1:1/", body)
			resp, err := tc.tr.RoundTrip(req)
			assert.Nil(t, resp)
			policytest.AssertInvalidConfig(t, err, tc.param)
			assert.Equal(t, 1, body.closed, "a RoundTripper closes the request body even on error")
		})
	}
	t.Run("nil request", func(t *testing.T) {
		tr := ionhttp.NewTransport(http.DefaultTransport)
		_, err := tr.RoundTrip(nil)
		assert.Error(t, err)
	})
	t.Run("host breaker returning nil", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := roundTripper(func(r *http.Request) (*http.Response, error) { return respond(r, 200, nil, ""), nil })
			c := ionhttp.NewClient(base, ionhttp.WithHostBreaker(func(string) *breaker.Breaker { return nil }))
			_, err := c.Get("http://api.test/")
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
		})
	})
	t.Run("zero ServerLimits", func(t *testing.T) {
		var zero ionhttp.ServerLimits
		policytest.AssertInvalidConfig(t, zero.Admit(context.Background(), 0), "ServerLimits")
		synctest.Test(t, func(t *testing.T) {
			base := roundTripper(func(r *http.Request) (*http.Response, error) { return respond(r, 200, nil, ""), nil })
			_, err := ionhttp.NewClient(base, ionhttp.WithServerLimits(&zero)).Get("http://api.test/")
			policytest.AssertInvalidConfig(t, err, "ServerLimits")
		})
	})
	t.Run("zero Transport's String", func(t *testing.T) {
		assert.Contains(t, (&ionhttp.Transport{}).String(), "NewTransport")
	})
	t.Run("Host outside a transport", func(t *testing.T) {
		_, err := ionhttp.Host(context.Background())
		assert.ErrorIs(t, err, ionhttp.ErrNoRequest)
	})
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// roundTripper is an in-memory base transport, for tests that need
// synctest's virtual time.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// pipeBase returns a base transport that answers at once with a body read
// from the returned pipe, which the test writes and closes. With watch,
// the body also ends, with the ctx's cause, when the request's ctx does,
// as net/http's does; that waits on the ctx.
func pipeBase(watch bool) (roundTripper, *io.PipeWriter) {
	pr, pw := io.Pipe()
	return func(r *http.Request) (*http.Response, error) {
		if watch {
			context.AfterFunc(r.Context(), func() { pw.CloseWithError(context.Cause(r.Context())) })
		}
		resp := respond(r, 200, nil, "")
		resp.Body = pr
		return resp, nil
	}, pw
}

func respond(r *http.Request, status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)),
		Request: r, ContentLength: int64(len(body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

func TestParseQuotaAndRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		h     http.Header
		ok    bool
		delay time.Duration
	}{
		{"none", http.Header{}, false, 0},
		{"seconds", http.Header{"Retry-After": {"7"}}, true, 7 * time.Second},
		{"date", http.Header{"Retry-After": {now.Add(time.Minute).Format(http.TimeFormat)}}, true, time.Minute},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, true, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, false, 0},
		{"negative", http.Header{"Retry-After": {"-3"}}, false, 0},
		{"huge", http.Header{"Retry-After": {"1e300"}}, true, 24 * time.Hour},
		{"far date", http.Header{"Retry-After": {now.Add(400 * 24 * time.Hour).Format(http.TimeFormat)}}, true, 24 * time.Hour},
		{"RateLimit huge reset", http.Header{"Ratelimit": {`"day";r=0;t=100000`}}, true, 24 * time.Hour},
		{"RateLimit overflowing reset", http.Header{"Ratelimit": {`"day";r=0;t=9223372036854775807`}}, true, 24 * time.Hour},
		{"X far unix reset", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {fmt.Sprint(now.Add(90 * 24 * time.Hour).Unix())}}, true, 24 * time.Hour},
		{"RateLimit exhausted", http.Header{"Ratelimit": {`"day";r=0;t=30`}}, true, 30 * time.Second},
		{"RateLimit left", http.Header{"Ratelimit": {`"day";r=5;t=30`}}, false, 0},
		{"draft fields", http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"12"}}, true, 12 * time.Second},
		{"X unix reset", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {fmt.Sprint(now.Add(90 * time.Second).Unix())}}, true, 90 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := ionhttp.RetryAfter(tc.h, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.delay, d)
		})
	}
	q, ok := ionhttp.ParseQuota(http.Header{"Ratelimit": {`"day";r=5;t=30`}, "Ratelimit-Policy": {`"day";q=100;w=86400`}}, now)
	assert.True(t, ok)
	assert.Equal(t, ionhttp.Quota{Limit: 100, Remaining: 5, Reset: 30 * time.Second}, q)
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("5", `"d";r=0;t=3`, "0")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", "", "")
	f.Fuzz(func(t *testing.T, ra, rl, xr string) {
		h := http.Header{"Retry-After": {ra}, "Ratelimit": {rl}, "X-Ratelimit-Remaining": {xr}}
		now := time.Now()
		if d, _ := ionhttp.RetryAfter(h, now); d < 0 || d > 24*time.Hour {
			t.Fatalf("RetryAfter = %v out of range", d)
		}
		if q, _ := ionhttp.ParseQuota(h, now); q.Reset < 0 || q.Reset > 24*time.Hour {
			t.Fatalf("ParseQuota's Reset = %v out of range", q.Reset)
		}
	})
}

var _ = errors.New

func TestTransportAttemptSeesPipelineValues(t *testing.T) {
	var attempts []int
	base := roundTripper(func(r *http.Request) (*http.Response, error) {
		attempts = append(attempts, policy.Attempt(r.Context()))
		if len(attempts) < 3 {
			return respond(r, 503, nil, ""), nil
		}
		return respond(r, 200, nil, ""), nil
	})
	c := ionhttp.NewClient(base, ionhttp.WithRetry(noWait))
	resp, err := c.Get("http://api.test/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []int{1, 2, 3}, attempts, "the base transport sees the attempt number")
}

func TestTransport503RetryAfterPacesRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Time
		base := roundTripper(func(r *http.Request) (*http.Response, error) {
			calls = append(calls, time.Now())
			if len(calls) == 1 {
				return respond(r, 503, http.Header{"Retry-After": {"3"}}, "busy"), nil
			}
			return respond(r, 200, nil, "ok"), nil
		})
		cb := breaker.New("api")
		c := ionhttp.NewClient(base, ionhttp.WithRetry(policy.WithBackoff(policy.Constant(time.Millisecond)), policy.WithMaxRetryAfter(time.Minute)), ionhttp.WithBreaker(cb))
		start := time.Now()
		resp, err := c.Get("http://api.test/")
		require.NoError(t, err)
		resp.Body.Close()
		require.Len(t, calls, 2)
		assert.Equal(t, 3*time.Second, calls[1].Sub(start), "a 503's Retry-After paces the retry")
		assert.Equal(t, int64(1), cb.Snapshot().Failures, "a 503 is a failure for the breaker, Retry-After or not")
	})
}

func TestTransportDoesNotRetryPermanentErrors(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer s.Close()
	var retries atomic.Int64
	base := &http.Transport{} // does not trust the test server's certificate
	defer base.CloseIdleConnections()
	c := &http.Client{Transport: ionhttp.NewTransport(base, ionhttp.WithRetry(noWait,
		policy.WithOnRetry(func(context.Context, int, error, time.Duration) { retries.Add(1) })))}
	_, err := c.Get(s.URL)
	require.Error(t, err)
	_, err = c.Get("ftp://example.test/")
	require.Error(t, err)
	assert.Zero(t, retries.Load(), "an untrusted certificate or a bad scheme fails the same way every time: not retried")
}

func TestTransportString(t *testing.T) {
	tr := ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithRetry(policy.WithAttempts(2)), ionhttp.WithTimeout(2*time.Second))
	assert.Equal(t, "retry(attempts=2 backoff=exponential(100ms..10s)) → headers-timeout(2s) → fn", tr.String())
}

// TestTransportStress races retries and hedges over one transport: every
// request gets a whole answer, under -race, and nothing is left running
// (goleak). A hedge that loses while its request is in flight costs its
// connection (HTTP/1.1 cannot cancel a request otherwise), so connections
// are logged, not bounded; TestTransportDrainsDiscardedResponses bounds them
// for retries.
func TestTransportStress(t *testing.T) {
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		switch n % 5 {
		case 0:
			w.WriteHeader(503)
			fmt.Fprint(w, "busy")
		case 1:
			time.Sleep(time.Millisecond) // server latency (not synchronization): draws a hedge now and then
			fmt.Fprint(w, strings.Repeat("s", 1024))
		default:
			fmt.Fprint(w, strings.Repeat("f", 1024))
		}
	})
	_, c := newTransport(t, ionhttp.WithPipeline(policy.Compose[*http.Response](
		ionhttp.Retry(policy.WithAttempts(4), noWait),
		policy.Hedge[*http.Response](500*time.Microsecond, policy.WithHedges(1)),
	)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				resp, err := c.Get(s.URL)
				if !assert.NoError(t, err) {
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.NoError(t, err)
				if resp.StatusCode == 200 {
					assert.Len(t, b, 1024, "a whole body")
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests over %d connections", s.hits.Load(), s.conns.Load())
}

func TestTransportAttemptNeedsTheCallsCtx(t *testing.T) {
	var sent atomic.Int64
	base := roundTripper(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return respond(r, 200, nil, "ok"), nil
	})
	detach := policy.New("detach", func(_ context.Context, next policy.Next[*http.Response]) (*http.Response, error) {
		return next.Call(context.Background()) // a ctx not derived from the one received
	})
	c := ionhttp.NewClient(base, ionhttp.WithPipeline(policy.Compose(detach)))
	_, err := c.Get("http://api.test/")
	require.ErrorIs(t, err, ion.ErrInvalidConfig, "an attempt run outside the transport's ctx cannot find its request")
	assert.Contains(t, err.Error(), "WithPipeline")
	assert.Zero(t, sent.Load(), "nothing was sent")
}
