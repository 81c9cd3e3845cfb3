package ionhttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/policy"
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
