package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// handlerTransport serves requests with an http.Handler in memory, on the
// caller's goroutine, so a test runs inside a synctest bubble without
// network I/O.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context()) // the server's view: a Body is never nil
	if in.Body == nil {
		in.Body = http.NoBody
	}
	defer in.Body.Close()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func serveInMemory(name string, h http.Handler) (string, http.RoundTripper, func()) {
	return "http://" + name + ".test", handlerTransport{h}, func() {}
}

func runVirtual(t *testing.T, burst int) string {
	t.Helper()
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, run(context.Background(), &out, options{greedyBurst: burst, serve: serveInMemory}), "run returns no error")
	})
	return out.String()
}

func TestRunPrintsWhatEachBurstGot(t *testing.T) {
	out := runVirtual(t, 10)
	t.Log("\n" + out)
	for _, want := range []string{
		"outgoing: one ionhttp transport; per upstream host a breaker (3 failures, open 2s) and a bulkhead of 4; 500ms for the headers\n",
		// The orders host's bulkhead sheds the calls beyond its capacity, with a fixed Retry-After.
		"the orders bulkhead admits 4\n" +
			"   4 × 200 OK\n" +
			"   2 × 503 Service Unavailable: bulkhead orders full (Retry-After: 1)\n",
		// The per-user limit admits a burst of 4; Retry-After is the wait for the next token (2s at 0.5/s).
		"   4 × 200 OK\n" +
			"   6 × 429 Too Many Requests: rate limited by per-user (Retry-After: 2)\n",
		// The route limit of POST /api/orders: one every 5s after a burst of 2.
		"   2 × 200 OK\n" +
			"   1 × 429 Too Many Requests: rate limited by create-orders (Retry-After: 5)\n",
		// Three failures open the inventory host's breaker, whose Retry-After is its open duration.
		"   3 × 502 Bad Gateway: upstream inventory failed\n" +
			"   1 × 503 Service Unavailable: circuit inventory open (Retry-After: 2)\n",
		// After waiting that long, a probe goes through.
		"5. jo waits the 2s the gateway asked for and tries again: the breaker lets a probe through\n   1 × 200 OK\n",
		"summary of 24 requests\n  11 × 200 OK\n",
		"rate limited: 6 by the per-user limit, 1 by the route limit\n",
		// Refused calls never reach the upstreams: 4+4+2 orders, 3 failures + 1 probe for inventory.
		"upstream calls: orders 10, inventory 4\n",
	} {
		assert.Contains(t, out, want, "the output tells this part of the story")
	}
	assert.Equal(t, out, runVirtual(t, 10), "two runs in virtual time print the same")
}

func TestRunGreedyBurstWithinLimit(t *testing.T) {
	out := runVirtual(t, 3)
	assert.Contains(t, out, "2. mallory sends 3 reads at once: her user tier allows a burst of 4\n   3 × 200 OK\n\n",
		"a burst within the user tier is served whole")
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{&limit.LimitedError{Delay: 1500 * time.Millisecond}, 2},
		{&limit.LimitedError{Delay: time.Millisecond}, 1},
		{&limit.LimitedError{Delay: 0}, 1},
		{&limit.LimitedError{Delay: 1<<63 - 1}, 3600},
		{fmt.Errorf("wrapped: %w", &limit.LimitedError{Delay: 4 * time.Second}), 4},
		{sem.ErrFull, 1}, // no hint
		{breaker.ErrOpen, 1},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, retryAfterSeconds(tc.err), "retryAfterSeconds(%v)", tc.err)
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		retryAfter string
		body       string
	}{
		{breaker.ErrOpen, 503, "1", "circuit up open\n"},
		{breaker.ErrHalfOpenBusy, 503, "1", "circuit up open\n"},
		{sem.ErrFull, 503, "1", "bulkhead up full\n"},
		{ion.ErrRejected, 503, "1", "rejected\n"},
		{fmt.Errorf("timeout: %w", policy.ErrTimeout), 504, "", "upstream up timed out\n"},
		{errors.New("connection reset"), 502, "", "upstream up failed\n"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		writeError(rec, "up", tc.err)
		assert.Equal(t, tc.status, rec.Code, "writeError(%v) status", tc.err)
		assert.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"), "writeError(%v) Retry-After", tc.err)
		assert.Equal(t, tc.body, rec.Body.String(), "writeError(%v) body", tc.err)
	}
}

// main serves on a real loopback listener; one quick request checks that
// wiring (the scripted run needs virtual time to be fast).
func TestServeLoopback(t *testing.T) {
	// The whole story over real loopback servers takes a few seconds of
	// real time (the breaker's 2s); one request checks the wiring.
	orders := &upstream{name: "orders"}
	u, rt, stop := serveLoopback("orders", orders)
	defer stop()
	defer rt.(*http.Transport).CloseIdleConnections()
	gw := newGateway(byHost{strings.TrimPrefix(u, "http://"): rt}, map[string]string{"orders": u}, observe.NewRecorder(), observe.NewRecorder())
	url, grt, gstop := serveLoopback("gateway", gw)
	defer gstop()
	client := &http.Client{Transport: grt}
	defer client.CloseIdleConnections()
	a, err := send(context.Background(), client, url, request{"GET", "/api/orders/1", "ann"})
	require.NoError(t, err)
	assert.Equal(t, "200 OK", a.String(), "the loopback gateway answers")
}

// TestMetricsAndTrace checks the /metrics scrape against the story the run
// tells, and the spans of the last request printed with -trace.
func TestMetricsAndTrace(t *testing.T) {
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, run(context.Background(), &out, options{greedyBurst: 10, serve: serveInMemory, trace: true}))
	})
	s := out.String()
	t.Log("\n" + s)
	for _, series := range []string{
		`ion_limit_requests_total{name="per-user",result="limited"} 6`,
		`ion_limit_requests_total{name="create-orders",result="limited"} 1`,
		`ion_breaker_transitions_total{from="closed",name="inventory",to="open"} 1`,
		`ion_breaker_transitions_total{from="half-open",name="inventory",to="closed"} 1`,
		`ion_sem_acquire_total{name="gateway",result="acquired"} 24`,
	} {
		assert.Contains(t, s, series, "the scrape agrees with the run's own tally")
	}
	assert.Regexp(t, `(?m)^  breaker\(inventory\)  ion.outcome=success  status=Unset$`, s,
		"the last request's span: the inventory breaker's probe, a success")
}
