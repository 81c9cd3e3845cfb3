package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// gateway is an HTTP API in front of two upstream HTTP services, built on
// ionhttp on both sides.
//
// Incoming requests pass, outermost first, Recover (a panic is a 500, never
// a crash), a concurrency limit for the whole gateway (503 beyond it), a
// rate limit per user (the X-User header), and on POST /api/orders a rate
// limit for the route. A request over a limit is answered 429 with
// Retry-After and the RateLimit fields, and costs nothing further.
//
// Outgoing calls go through one ionhttp transport with a breaker and a
// bulkhead per upstream host and a timeout on each call's headers. When the
// transport refuses a call the gateway answers 503 (breaker open, bulkhead
// full) with a Retry-After computed from ion.RetryAfter; an upstream that
// fails is a 502 and one that times out a 504.
type gateway struct {
	handler   http.Handler
	transport *ionhttp.Transport
	upstreams map[string]string // base URL by upstream name
}

// The limits of the gateway.
var (
	userRate  = limit.PerMinute(30) // per user (X-User): one request every 2s ...
	userBurst = 4                   // ... after a burst of 4
	// Creating orders is the expensive route: one every 5s, bursts of 2,
	// for all users together.
	createOrdersRate  = limit.PerMinute(12)
	createOrdersBurst = 2
)

// newGateway returns the gateway serving the upstreams at the base URLs
// given by name ("orders", "inventory"), reached through base.
//
// Every primitive records its metrics in m and traces its calls with tracer.
func newGateway(base http.RoundTripper, upstreams map[string]string, m observe.Metrics, tracer observe.Tracer) *gateway {
	names := map[string]string{} // upstream name by host
	for name, u := range upstreams {
		if pu, err := url.Parse(u); err == nil {
			names[pu.Host] = name
		}
	}
	tr := ionhttp.NewTransport(base,
		ionhttp.WithHostBreaker(func(host string) *breaker.Breaker {
			return breaker.New(names[host],
				breaker.WithConsecutiveFailures(3),
				breaker.WithOpenDuration(2*time.Second),
				breaker.WithSuccessThreshold(1),
				breaker.WithMetrics(m), breaker.WithTracer(tracer))
		}),
		ionhttp.WithHostBulkhead(4),
		ionhttp.WithTimeout(500*time.Millisecond),
	)
	g := &gateway{transport: tr, upstreams: upstreams}
	client := &http.Client{Transport: tr}

	perUser := ionhttp.RateLimit(limit.NewKeyed[string](userRate, userBurst,
		limit.WithName("per-user"), limit.WithMetrics(m)).By(ionhttp.LimitKey),
		ionhttp.HeaderKey("X-User"), ionhttp.WithQuotaPolicy("per-user", int64(userBurst), time.Minute))
	createOrders := ionhttp.RateLimit(limit.NewTokenBucket(createOrdersRate, createOrdersBurst,
		limit.WithName("create-orders"), limit.WithMetrics(m)),
		ionhttp.RouteKey, ionhttp.WithQuotaPolicy("create-orders", int64(createOrdersBurst), time.Minute))

	mux := http.NewServeMux()
	mux.Handle("GET /api/orders/{id}", g.proxy(client, "orders", "read order"))
	mux.Handle("POST /api/orders", createOrders.Handler(g.proxy(client, "orders", "create order")))
	mux.Handle("GET /api/inventory/{sku}", g.proxy(client, "inventory", "check stock"))

	g.handler = ionhttp.Recover(nil).Handler(
		ionhttp.ConcurrencyLimit(sem.NewWeighted(64, sem.WithName("gateway"), sem.WithMetrics(m)), time.Second).Handler(
			perUser.Handler(mux)))
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// proxy returns the handler that asks upstream name to do op.
func (g *gateway) proxy(client *http.Client, name, op string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		what := url.QueryEscape(op + " " + r.PathValue("id") + r.PathValue("sku"))
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, g.upstreams[name]+"/do?what="+what, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			writeError(w, name, err)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			writeError(w, name, err)
		case resp.StatusCode >= 500:
			writeError(w, name, errUpstream)
		default:
			w.WriteHeader(resp.StatusCode)
			w.Write(body)
		}
	})
}

// writeError answers a call that Ion refused or that failed upstream.
func writeError(w http.ResponseWriter, upstream string, err error) {
	var status int
	var reason string
	switch {
	case errors.Is(err, breaker.ErrOpen), errors.Is(err, breaker.ErrHalfOpenBusy):
		status, reason = http.StatusServiceUnavailable, "circuit "+upstream+" open"
	case errors.Is(err, sem.ErrFull):
		status, reason = http.StatusServiceUnavailable, "bulkhead "+upstream+" full"
	case errors.Is(err, ion.ErrRejected):
		status, reason = http.StatusServiceUnavailable, "rejected"
	case errors.Is(err, policy.ErrTimeout):
		status, reason = http.StatusGatewayTimeout, "upstream "+upstream+" timed out"
	default:
		status, reason = http.StatusBadGateway, "upstream "+upstream+" failed"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(err)))
	}
	http.Error(w, reason, status)
}

// retryAfterSeconds is the Retry-After of a refusal: the wait that
// ion.RetryAfter finds in err (an open breaker's), rounded up to whole
// seconds, at least 1. A refusal without a wait (a full bulkhead) gets 1
// second.
func retryAfterSeconds(err error) int {
	d, ok := ion.RetryAfter(err)
	if !ok || d <= 0 {
		return 1
	}
	if d >= time.Hour {
		return 3600
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

// upstream is a simulated HTTP service behind the gateway: each request
// takes latency, and its first failFirst requests fail with 500.
type upstream struct {
	name      string
	latency   time.Duration
	failFirst int64

	calls atomic.Int64 // requests that reached it
}

var errUpstream = errors.New("upstream failed")

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := u.calls.Add(1)
	t := time.NewTimer(u.latency)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return
	case <-t.C:
	}
	if n <= u.failFirst {
		http.Error(w, "connection reset by peer", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s: %s: ok\n", u.name, strings.TrimSpace(r.URL.Query().Get("what")))
}

// byHost is a base transport that sends each request with the transport of
// its host: the in-memory or loopback servers of the upstreams.
type byHost map[string]http.RoundTripper

func (b byHost) RoundTrip(r *http.Request) (*http.Response, error) {
	rt, ok := b[r.URL.Host]
	if !ok {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("no upstream at %s", r.URL.Host)
	}
	return rt.RoundTrip(r)
}
