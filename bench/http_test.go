package bench_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// The client transports run the same policies on both sides: a retry (3
// attempts), a circuit breaker and a timeout of 1 s per attempt; requests
// succeed first time. "direct" is the base transport alone: each side's
// added cost is its figure minus direct's.
//
// Two bases: a loopback httptest server (what users run; the network
// dominates and the difference is noisy) and an in-memory RoundTripper
// that answers at once, which isolates the transports' own cost.

var okBody = strings.Repeat("x", 64)

// memTransport answers every request at once with a 64-byte body.
type memTransport struct{}

func (memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(okBody)),
		ContentLength: int64(len(okBody)), Request: r}, nil
}

func ionHTTP(base http.RoundTripper) http.RoundTripper {
	return ionhttp.NewTransport(base,
		ionhttp.WithRetry(policy.WithAttempts(3)),
		ionhttp.WithBreaker(breaker.New("bench")),
		ionhttp.WithTimeout(time.Second))
}

func fsHTTP(base http.RoundTripper) http.RoundTripper {
	return failsafehttp.NewRoundTripper(base,
		failsafehttp.NewRetryPolicyBuilder().WithMaxAttempts(3).Build(),
		circuitbreaker.NewBuilder[*http.Response]().Build(),
		timeout.New[*http.Response](time.Second))
}

func getVia(b *testing.B, rt http.RoundTripper, url string) {
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func BenchmarkHTTPClient(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, okBody) }))
	defer srv.Close()
	loop := &http.Transport{MaxIdleConnsPerHost: 64}
	defer loop.CloseIdleConnections()

	for _, base := range []struct {
		name string
		rt   http.RoundTripper
		url  string
	}{
		{"memory", memTransport{}, "http://bench.test/"},
		{"loopback", loop, srv.URL},
	} {
		for _, tc := range []struct {
			name string
			rt   http.RoundTripper
		}{
			{"direct", base.rt},
			{"ion", ionHTTP(base.rt)},
			{"failsafehttp", fsHTTP(base.rt)},
		} {
			b.Run(base.name+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					getVia(b, tc.rt, base.url)
				}
			})
			b.Run(base.name+"/"+tc.name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						getVia(b, tc.rt, base.url)
					}
				})
			})
		}
	}
}

// The server middleware: a rate limiter that never denies and a
// concurrency limit that is never full, in front of a handler that writes
// 64 bytes, served to an httptest.ResponseRecorder so that only the
// middleware's own cost is measured. failsafehttp's handler runs the same
// two policies.
func BenchmarkHTTPServer(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, okBody) })
	ionH := ionhttp.RateLimit(limit.NewTokenBucket(limit.Inf, 1), ionhttp.ClientIP()).Handler(
		ionhttp.ConcurrencyLimit(sem.NewWeighted(1<<20), time.Second).Handler(handler))
	fsH := failsafehttp.NewHandlerWithExecutor(handler, failsafe.With[*http.Response](
		ratelimiter.NewBursty[*http.Response](1<<30, time.Second),
		bulkhead.New[*http.Response](1<<20)))
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"direct", handler},
		{"ion", ionH},
		{"failsafehttp", fsH},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "/", nil)
			for b.Loop() {
				rec := httptest.NewRecorder()
				tc.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/", nil)
				for pb.Next() {
					rec := httptest.NewRecorder()
					tc.h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatal(rec.Code)
					}
				}
			})
		})
	}
}
