package bench_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
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

// clientImpls returns the three implementations of a client group over the
// base made by base (each gets its own, closed when the benchmark ends):
// the base alone, ionhttp's transport and failsafehttp's, each sending GETs
// to url, serially or from every P.
func clientImpls(base func(b *testing.B) (http.RoundTripper, string), parallel bool) []impl {
	run := func(wrap func(http.RoundTripper) http.RoundTripper) func(b *testing.B) {
		return func(b *testing.B) {
			rt, url := base(b)
			rt = wrap(rt)
			if !parallel {
				for b.Loop() {
					getVia(b, rt, url)
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					getVia(b, rt, url)
				}
			})
		}
	}
	return []impl{
		{"baseline-direct", run(func(rt http.RoundTripper) http.RoundTripper { return rt })},
		{"ion", run(ionHTTP)},
		{"failsafe", run(fsHTTP)},
	}
}

// memoryBase answers in memory: the transports' own cost.
func memoryBase(*testing.B) (http.RoundTripper, string) { return memTransport{}, "http://bench.test/" }

// loopbackBase is a real server over loopback TCP.
func loopbackBase(b *testing.B) (http.RoundTripper, string) {
	url := loopbackServer(b)
	return loopbackTransport(b), url
}

// loopbackServer starts a server over loopback TCP that answers every
// request with okBody, closed when the benchmark ends.
func loopbackServer(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, okBody) }))
	b.Cleanup(srv.Close)
	return srv.URL
}

// loopbackTransport returns a bare transport of its own, its idle
// connections closed when the benchmark ends.
func loopbackTransport(b *testing.B) *http.Transport {
	loop := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(loop.CloseIdleConnections)
	return loop
}

// The serial loopback group is measured in pairs. Over loopback the bare
// base takes 15 to 20 µs a request and drifts by a few µs between samples
// of one benchmark, more than the 1 to 3 µs the transports add, so
// subtracting the base's figure from a figure taken seconds later measures
// the drift. Here every request through the transport measured alternates
// with a request through a bare transport of its own to the same server,
// the order swapped every pair, and both are timed: added-ns/op is the
// mean difference, taken in the same moments as the base it is added to.
// ns/op is the measured transport's requests alone, and allocs/op and B/op
// are its own, less those of the bare requests (counted on their own after
// the loop). The baseline's twin is a second bare transport: its
// added-ns/op, near zero, is the method's noise.
func pairedImpls() []impl {
	run := func(wrap func(http.RoundTripper) http.RoundTripper) func(b *testing.B) {
		return func(b *testing.B) {
			url := loopbackServer(b)
			bare := loopbackTransport(b)
			rt := wrap(bare)
			timed := func(rt http.RoundTripper) time.Duration {
				start := time.Since(epoch)
				getVia(b, rt, url)
				return time.Since(epoch) - start
			}
			for range 16 { // the connections are open, the code warm
				getVia(b, rt, url)
				getVia(b, bare, url)
			}
			var sum time.Duration
			diffs := make([]time.Duration, 0, 1<<18)
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			for i := 0; b.Loop(); i++ {
				var d, dBare time.Duration
				if i%2 == 0 {
					dBare = timed(bare)
					d = timed(rt)
				} else {
					d = timed(rt)
					dBare = timed(bare)
				}
				sum += d
				diffs = append(diffs, d-dBare)
			}
			runtime.ReadMemStats(&m1)
			n := float64(b.N)
			allocs, bytes := bareAllocs(b, bare, url)
			b.ReportMetric(float64(sum)/n, "ns/op")
			b.ReportMetric(trimmedMean(diffs), "added-ns/op")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n-allocs, "allocs/op")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/n-bytes, "B/op")
		}
	}
	return []impl{
		{"baseline-direct", run(func(rt http.RoundTripper) http.RoundTripper { return rt })},
		{"ion", run(ionHTTP)},
		{"failsafe", run(fsHTTP)},
	}
}

// trimmedMean returns the mean of ds without its lowest and highest 5%:
// a request that a garbage collection or the scheduler held up for tens of
// µs, on either side of its pair, moves the plain mean of a few thousand
// pairs by hundreds of ns.
func trimmedMean(ds []time.Duration) float64 {
	slices.Sort(ds)
	cut := len(ds) / 20
	ds = ds[cut : len(ds)-cut]
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return float64(sum) / float64(len(ds))
}

// epoch is the origin of the paired loop's clock readings: time.Since of
// a time with a monotonic reading reads one clock, where time.Now reads two.
var epoch = time.Now()

// bareAllocs returns the allocations and bytes of one request through
// bare, the server's included, as the mean of 256.
func bareAllocs(b *testing.B, bare http.RoundTripper, url string) (allocs, bytes float64) {
	const n = 256
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range n {
		getVia(b, bare, url)
	}
	runtime.ReadMemStats(&m1)
	return float64(m1.Mallocs-m0.Mallocs) / n, float64(m1.TotalAlloc-m0.TotalAlloc) / n
}

var (
	httpClient                 = register("HTTPClient", clientImpls(memoryBase, false)...)
	httpClientParallel         = register("HTTPClientParallel", clientImpls(memoryBase, true)...)
	httpClientLoopback         = register("HTTPClientLoopback", pairedImpls()...)
	httpClientLoopbackParallel = register("HTTPClientLoopbackParallel", clientImpls(loopbackBase, true)...)
)

func BenchmarkHTTPClient(b *testing.B)                 { httpClient.run(b) }
func BenchmarkHTTPClientParallel(b *testing.B)         { httpClientParallel.run(b) }
func BenchmarkHTTPClientLoopback(b *testing.B)         { httpClientLoopback.run(b) }
func BenchmarkHTTPClientLoopbackParallel(b *testing.B) { httpClientLoopbackParallel.run(b) }

// The server middleware: a rate limiter that never denies and a
// concurrency limit that is never full, in front of a handler that writes
// 64 bytes, served to an httptest.ResponseRecorder so that only the
// middleware's own cost is measured. failsafehttp's handler runs the same
// two policies.
func serverImpls(parallel bool) []impl {
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, okBody) })
	run := func(build func() http.Handler) func(b *testing.B) {
		return func(b *testing.B) {
			h := build()
			serve := func(req *http.Request) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Error(rec.Code)
				}
			}
			if !parallel {
				req := httptest.NewRequest("GET", "/", nil)
				for b.Loop() {
					serve(req)
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/", nil)
				for pb.Next() {
					serve(req)
				}
			})
		}
	}
	return []impl{
		{"baseline-direct", run(func() http.Handler { return handler })},
		{"ion", run(func() http.Handler {
			return ionhttp.RateLimit(limit.NewTokenBucket(limit.Inf, 1), ionhttp.ClientIP()).Handler(
				ionhttp.ConcurrencyLimit(sem.NewWeighted(1<<20), time.Second).Handler(handler))
		})},
		{"failsafe", run(func() http.Handler {
			return failsafehttp.NewHandlerWithExecutor(handler, failsafe.With[*http.Response](
				ratelimiter.NewBursty[*http.Response](1<<30, time.Second),
				bulkhead.New[*http.Response](1<<20)))
		})},
	}
}

var (
	httpServer         = register("HTTPServer", serverImpls(false)...)
	httpServerParallel = register("HTTPServerParallel", serverImpls(true)...)
)

func BenchmarkHTTPServer(b *testing.B)         { httpServer.run(b) }
func BenchmarkHTTPServerParallel(b *testing.B) { httpServerParallel.run(b) }
