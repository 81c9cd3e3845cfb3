package ionhttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// A client whose requests are retried, guarded by a breaker per host and
// bounded by a timeout on the response headers. The server fails twice.
func ExampleNewClient() {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	client := ionhttp.NewClient(http.DefaultTransport,
		ionhttp.WithRetry(policy.WithAttempts(3), policy.WithBackoff(policy.Constant(10*time.Millisecond))),
		ionhttp.WithHostBreaker(func(host string) *breaker.Breaker { return breaker.New(host) }),
		ionhttp.WithTimeout(2*time.Second),
	)
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", hits.Load(), "attempts")
	// Output: 200 hello after 3 attempts
}

// A POST without an Idempotency-Key is sent once; with one, it is retried.
func ExampleReplayable() {
	plain, _ := http.NewRequest("POST", "http://api.example/orders", strings.NewReader("{}"))
	keyed, _ := http.NewRequest("POST", "http://api.example/orders", strings.NewReader("{}"))
	keyed.Header.Set("Idempotency-Key", "order-42")
	get, _ := http.NewRequest("GET", "http://api.example/orders/42", nil)
	fmt.Println(ionhttp.Replayable(plain), ionhttp.Replayable(keyed), ionhttp.Replayable(get))
	// Output: false true true
}

// A custom pipeline: any policy over *http.Response, with a per-host
// bulkhead keyed by ionhttp.Host.
func ExampleWithPipeline() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()

	pipeline := policy.Compose[*http.Response](
		ionhttp.Retry(policy.WithAttempts(2)),
		policy.Keyed(ionhttp.Host, func(host string) policy.Policy[*http.Response] {
			return policy.Timeout[*http.Response](time.Second)
		}, policy.WithMaxKeys(100)),
	)
	tr := ionhttp.NewTransport(http.DefaultTransport, ionhttp.WithPipeline(pipeline))
	fmt.Println(tr)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// retry(attempts=2 backoff=exponential(100ms..10s)) → keyed(max=100 ttl=10m0s) → fn
	// 200
}

// Each API key gets 2 requests per minute; the third is answered 429 with
// the fields a client needs to come back at the right time.
func ExampleRateLimit() {
	perKey := limit.NewKeyed[string](limit.PerMinute(2), 2)
	mw := ionhttp.RateLimit(perKey.By(ionhttp.LimitKey), ionhttp.HeaderKey("X-API-Key"),
		ionhttp.WithQuotaPolicy("per-key", 2, time.Minute))
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello ", ionhttp.LimitKey(r.Context()))
	}))
	for range 3 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-API-Key", "alice")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTooManyRequests {
			fmt.Println(rec.Code, rec.Body)
			continue
		}
		fmt.Println(rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("RateLimit"), rec.Header().Get("RateLimit-Policy"))
	}
	// Output:
	// 200 hello alice
	// 200 hello alice
	// 429 30 "per-key";r=0;t=30 "per-key";q=2;w=60
}

// At most one request runs at once; the others are shed with 503.
func ExampleConcurrencyLimit() {
	slots := sem.NewWeighted(1)
	mw := ionhttp.ConcurrencyLimit(slots, 5*time.Second)
	var h http.Handler
	h = mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil)) // a second request while this one runs
		fmt.Println("inner:", rec.Code, rec.Header().Get("Retry-After"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println("outer:", rec.Code)
	// Output:
	// inner: 503 5
	// outer: 200
}

// A panicking handler is answered 500 and reported; the server goes on.
func ExampleRecover() {
	mw := ionhttp.Recover(func(r *http.Request, p *ion.PanicError) {
		fmt.Println("panic in", r.URL.Path+":", p.Value)
	})
	h := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("nil map") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/orders", nil))
	fmt.Println(rec.Code)
	// Output:
	// panic in /orders: nil map
	// 500
}

// A deadline for every request's ctx.
func ExampleTimeout() {
	h := ionhttp.Timeout(time.Second).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Deadline()
		fmt.Println("deadline set:", ok)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output: deadline set: true
}

// A client that follows the limits the server publishes: once the server
// says no quota is left, the next request is not even sent.
func ExampleNewServerLimits() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit", `"default";r=0;t=60`) // nothing left for a minute
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	client := ionhttp.NewClient(http.DefaultTransport, ionhttp.WithServerLimits(ionhttp.NewServerLimits(100)))
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("first:", resp.StatusCode)
	_, err = client.Get(srv.URL)
	d, _ := ion.RetryAfter(err)
	fmt.Println("second refused by the client:", errors.Is(err, limit.ErrLimited), "come back in about", d.Round(time.Minute))
	// Output:
	// first: 200
	// second refused by the client: true come back in about 1m0s
}

// The client IP behind a trusted proxy: X-Forwarded-For is believed only
// when the TCP peer is a proxy you listed.
func ExampleClientIP() {
	key := ionhttp.ClientIP("10.0.0.0/8")
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:5555" // the load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
	ip, _ := key(r)
	fmt.Println("via the proxy:", ip)

	r.RemoteAddr = "198.51.100.1:4444" // a client that sends the header itself
	ip, _ = key(r)
	fmt.Println("direct:", ip)
	// Output:
	// via the proxy: 203.0.113.7
	// direct: 198.51.100.1
}
