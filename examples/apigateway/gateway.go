package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// gateway is an HTTP API in front of two upstream services. Every request
// runs through one pipeline per upstream, outermost first:
//
//	multi-tier limiter → breaker → bulkhead → timeout → upstream
//
// The limiter is outermost because it is about the client, not the upstream:
// a client over its limit costs nothing further, not even a breaker check.
// The breaker comes next so that a sick upstream is not even queued for.
// The bulkhead bounds the calls in flight to each upstream, so one slow
// upstream cannot take every connection of the gateway; and the timeout bounds
// each call.
//
// When Ion rejects a call the gateway answers 429 (rate limited) or 503
// (breaker open, bulkhead full) with a Retry-After header computed from
// ion.RetryAfter; a failed upstream call is a 502 and a timed-out one a 504.
type gateway struct {
	mux       *http.ServeMux
	limiter   *httplimit.MultiTier
	pipelines map[string]*policy.Pipeline[reply] // by upstream, for the record
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

// newGateway returns the gateway serving orders and inventory.
func newGateway(orders, inventory *upstream) *gateway {
	lim := httplimit.New(
		httplimit.WithName("gateway"),
		httplimit.WithTier(httplimit.Global, limit.PerSecond(100), 100),
		httplimit.WithTier(httplimit.User, userRate, userBurst),
		httplimit.WithRoute("POST /api/orders", createOrdersRate, createOrdersBurst),
	)
	g := &gateway{mux: http.NewServeMux(), limiter: lim, pipelines: map[string]*policy.Pipeline[reply]{}}
	ordersP := g.pipeline(orders, 4)
	inventoryP := g.pipeline(inventory, 4)
	g.mux.Handle("GET /api/orders/{id}", g.handle(ordersP, orders, "read order"))
	g.mux.Handle("POST /api/orders", g.handle(ordersP, orders, "create order"))
	g.mux.Handle("GET /api/inventory/{sku}", g.handle(inventoryP, inventory, "check stock"))
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// reply is an upstream's answer.
type reply struct {
	status int
	body   string
}

type requestKey struct{}

// pipeline returns the pipeline guarding up: the shared limiter, then a
// breaker and a bulkhead of capacity calls of its own, then a timeout.
func (g *gateway) pipeline(up *upstream, capacity int64) *policy.Pipeline[reply] {
	cb := breaker.New(up.name,
		breaker.WithConsecutiveFailures(3),
		breaker.WithOpenDuration(2*time.Second),
		breaker.WithSuccessThreshold(1),
	)
	bulkhead := sem.NewWeighted(capacity, sem.WithName(up.name))
	perRequest := g.limiter.By(func(ctx context.Context) httplimit.Request {
		req, _ := ctx.Value(requestKey{}).(httplimit.Request)
		return req
	})
	p := policy.Compose(
		limit.Policy[reply](perRequest),
		breaker.Policy[reply](cb),
		sem.Policy[reply](bulkhead),
		policy.Timeout[reply](500*time.Millisecond),
	)
	g.pipelines[up.name] = p
	return p
}

// handle returns the handler that runs op on up through p.
func (g *gateway) handle(p *policy.Pipeline[reply], up *upstream, op string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The limiter reads the request's route and user from the ctx.
		ctx := context.WithValue(r.Context(), requestKey{}, httplimit.Request{
			Method: r.Method,
			Path:   r.URL.Path,
			UserID: r.Header.Get("X-User"),
		})
		rep, err := p.Run(ctx, func(ctx context.Context) (reply, error) {
			return up.call(ctx, op+" "+r.PathValue("id")+r.PathValue("sku"))
		})
		if err != nil {
			writeError(w, up.name, err)
			return
		}
		w.WriteHeader(rep.status)
		fmt.Fprintln(w, rep.body)
	})
}

// writeError answers a call that Ion rejected or that failed upstream.
func writeError(w http.ResponseWriter, upstream string, err error) {
	var status int
	var reason string
	var limited *limit.LimitedError
	switch {
	case errors.As(err, &limited):
		status, reason = http.StatusTooManyRequests, "rate limited by the "+limited.Tier+" tier"
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
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(err)))
	}
	http.Error(w, reason, status)
}

// retryAfterSeconds is the Retry-After of a rejection: the wait that
// ion.RetryAfter finds in err (a limiter's or an open breaker's), rounded up
// to whole seconds, at least 1. A rejection without a wait (a full bulkhead)
// gets 1 second.
func retryAfterSeconds(err error) int {
	d, ok := ion.RetryAfter(err)
	if !ok || d <= 0 {
		return 1
	}
	if d >= time.Hour { // a limiter that will never admit the call says so with a huge wait
		return 3600
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

// upstream is a simulated service behind the gateway: each call takes
// latency, and its first failFirst calls fail.
type upstream struct {
	name      string
	latency   time.Duration
	failFirst int64

	calls atomic.Int64 // calls that reached it
}

var errUpstream = errors.New("connection reset by peer")

func (u *upstream) call(ctx context.Context, what string) (reply, error) {
	n := u.calls.Add(1)
	t := time.NewTimer(u.latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return reply{}, ctx.Err()
	case <-t.C:
	}
	if n <= u.failFirst {
		return reply{}, fmt.Errorf("%s: %w", u.name, errUpstream)
	}
	return reply{status: http.StatusOK, body: u.name + ": " + what + ": ok"}, nil
}
