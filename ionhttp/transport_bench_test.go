package ionhttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// instant is a base transport that answers at once, so that a benchmark
// measures the transport's own cost.
var instant = roundTripper(func(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
})

// watching answers at once too, after waiting on the request's ctx as
// net/http's transport does (it derives a ctx of its own from it): the
// attempt's cancelable ctx and its header timer are made.
var watching = roundTripper(func(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	default:
	}
	return instant(r)
})

func guarded() *ionhttp.Transport { return guardedOver(instant) }

func guardedOver(base http.RoundTripper) *ionhttp.Transport {
	return ionhttp.NewTransport(base,
		ionhttp.WithRetry(policy.WithAttempts(3)),
		ionhttp.WithBreaker(breaker.New("bench")),
		ionhttp.WithTimeout(time.Second))
}

func roundTrip(tb testing.TB, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestTransportAllocs guards the transport's own allocations per request
// over a base that answers from memory: the call alone, which holds the
// first attempt's ctx, request copy and body wrapper. This base never waits
// on the attempt's ctx, so it needs no cancelable ctx behind it and the
// header timeout arms no timer.
func TestTransportAllocs(t *testing.T) {
	req := httptest.NewRequest("GET", "http://bench.test/", nil)
	base := testing.AllocsPerRun(200, func() { roundTrip(t, instant, req) })
	tr := guarded()
	with := testing.AllocsPerRun(200, func() { roundTrip(t, tr, req) })
	if extra := with - base; extra > 1 {
		t.Errorf("RoundTrip through retry, breaker and timeout allocates %v more than the base, want at most 1", extra)
	}
}

// TestTransportAllocsWatched guards the allocations per request over a
// base that waits on the attempt's ctx as net/http does, under a request
// ctx that cannot end: the call, the attempt's channel, and the four of
// the ctx the base derives from it (its attachment through AfterFunc and
// the function that undoes it). The header timeout allocates nothing: it
// runs on the transport's shared timer.
func TestTransportAllocsWatched(t *testing.T) {
	req := httptest.NewRequest("GET", "http://bench.test/", nil)
	base := testing.AllocsPerRun(200, func() { roundTrip(t, watching, req) })
	tr := guardedOver(watching)
	with := testing.AllocsPerRun(200, func() { roundTrip(t, tr, req) })
	if extra := with - base; extra > 6 {
		t.Errorf("RoundTrip through retry, breaker and timeout over a watching base allocates %v more than the base, want at most 6", extra)
	}
}

func BenchmarkTransport(b *testing.B) {
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"base", instant},
		{"empty", ionhttp.NewTransport(instant)},
		{"retry+breaker+timeout", guarded()},
		{"base-watching", watching},
		{"retry+breaker+timeout-watching", guardedOver(watching)},
		{"all", ionhttp.NewTransport(instant,
			ionhttp.WithRetry(policy.WithAttempts(3)),
			ionhttp.WithHostBreaker(func(h string) *breaker.Breaker { return breaker.New(h) }),
			ionhttp.WithLimiter(limit.NewTokenBucket(limit.Inf, 1)),
			ionhttp.WithHostBulkhead(1<<20),
			ionhttp.WithBulkhead(sem.NewWeighted(1<<20)),
			ionhttp.WithTimeout(time.Second))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "http://bench.test/", nil)
			for b.Loop() {
				roundTrip(b, tc.rt, req)
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "http://bench.test/", nil)
				for pb.Next() {
					roundTrip(b, tc.rt, req)
				}
			})
		})
	}
}

func BenchmarkMiddleware(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"base", h},
		{"ratelimit", ionhttp.RateLimit(limit.NewTokenBucket(limit.Inf, 1), ionhttp.ClientIP()).Handler(h)},
		{"concurrency", ionhttp.ConcurrencyLimit(sem.NewWeighted(1<<20), time.Second).Handler(h)},
		{"recover", ionhttp.Recover(nil).Handler(h)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "/", nil)
			w := httptest.NewRecorder()
			for b.Loop() {
				tc.h.ServeHTTP(w, req)
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/", nil)
				w := httptest.NewRecorder()
				for pb.Next() {
					tc.h.ServeHTTP(w, req)
				}
			})
		})
	}
}
