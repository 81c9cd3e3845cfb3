// Command apigateway runs an HTTP API gateway built on Ion's ionhttp: server
// middleware that limits each user and the expensive route (429 with
// Retry-After and the RateLimit fields) and sheds load, and a client
// transport with a circuit breaker and a bulkhead per upstream host (503 with
// Retry-After when it refuses a call). It drives itself with a scripted burst of clients and prints what
// each burst got, then a summary per status.
//
// The gateway serves its metrics for Prometheus at /metrics (through
// ionprom), and the run ends by scraping it. With -trace, it prints the
// OpenTelemetry spans of its last request (through ionotel).
//
//	go run ./examples/apigateway
//	go run ./examples/apigateway -trace
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ionkit/ion/ionotel"
	"github.com/ionkit/ion/ionprom"
)

func main() {
	burst := flag.Int("burst", 10, "requests one greedy user sends at once")
	trace := flag.Bool("trace", false, "print the OpenTelemetry spans of the last request")
	flag.Parse()
	opts := options{greedyBurst: *burst, serve: serveLoopback, trace: *trace}
	if err := run(context.Background(), os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "apigateway:", err)
		os.Exit(1)
	}
}

// options configure run.
type options struct {
	greedyBurst int  // requests the greedy user sends at once
	trace       bool // print the spans of the last request
	// serve serves h, the server called name, and returns its base URL, a
	// transport that reaches it and a function that stops the server.
	serve func(name string, h http.Handler) (url string, rt http.RoundTripper, stop func())
}

// serveLoopback serves h on a real loopback listener.
func serveLoopback(_ string, h http.Handler) (string, http.RoundTripper, func()) {
	srv := httptest.NewServer(h)
	return srv.URL, srv.Client().Transport, srv.Close
}

// request is one request of the scripted clients.
type request struct {
	method, path, user string
}

// answer is what a client got: a status, and for an error the gateway's
// reason and Retry-After.
type answer struct {
	status     int
	reason     string
	retryAfter string
}

func (a answer) String() string {
	s := strconv.Itoa(a.status) + " " + http.StatusText(a.status)
	if a.reason != "" {
		s += ": " + a.reason
	}
	if a.retryAfter != "" {
		s += " (Retry-After: " + a.retryAfter + ")"
	}
	return s
}

func run(ctx context.Context, w io.Writer, opts options) error {
	orders := &upstream{name: "orders", latency: 100 * time.Millisecond}
	inventory := &upstream{name: "inventory", latency: 20 * time.Millisecond, failFirst: 3}
	hosts := byHost{}
	urls := map[string]string{}
	for _, up := range []*upstream{orders, inventory} {
		u, rt, stop := opts.serve(up.name, up)
		defer stop()
		urls[up.name] = u
		hosts[strings.TrimPrefix(u, "http://")] = rt
	}
	// Metrics on a Prometheus registry of our own, served at /metrics;
	// spans to an in-memory exporter, printed at the end with -trace.
	reg := prometheus.NewRegistry()
	metrics := ionprom.New(reg)
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())
	tracer := ionotel.NewTracer(tp.Tracer("apigateway"))
	if err := errors.Join(metrics.Err(), tracer.Err()); err != nil {
		return err
	}
	gw := newGateway(hosts, urls, metrics, tracer)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", gw)
	url, rt, stop := opts.serve("gateway", mux)
	defer stop()
	client := &http.Client{Transport: rt}

	fmt.Fprintf(w, "incoming: recover → concurrency limit 64 → per-user limit %v burst %d → route\n", userRate, userBurst)
	fmt.Fprintf(w, "  and POST /api/orders: route limit %v burst %d, for all users together\n", createOrdersRate, createOrdersBurst)
	fmt.Fprintln(w, "outgoing: one ionhttp transport; per upstream host a breaker (3 failures, open 2s) and a bulkhead of 4; 500ms for the headers")

	var all []answer
	step := func(title string, reqs []request) error {
		got, err := sendAll(ctx, client, url, reqs)
		if err != nil {
			return err
		}
		all = append(all, got...)
		fmt.Fprintf(w, "\n%s\n", title)
		for _, line := range tally(got) {
			fmt.Fprintln(w, "  "+line)
		}
		return nil
	}

	var six []request
	for _, u := range []string{"ann", "ben", "cat", "dan", "eve", "fay"} {
		six = append(six, request{"GET", "/api/orders/" + strconv.Itoa(len(six)+1), u})
	}
	if err := step("1. six users read an order each, at once: the orders bulkhead admits 4", six); err != nil {
		return err
	}
	if err := step(fmt.Sprintf("2. mallory sends %d reads at once: her user tier allows a burst of %d", opts.greedyBurst, userBurst),
		repeat(request{"GET", "/api/orders/7", "mallory"}, opts.greedyBurst)); err != nil {
		return err
	}
	if err := step(fmt.Sprintf("3. three users create an order each, at once: the route allows a burst of %d", createOrdersBurst),
		[]request{{"POST", "/api/orders", "gil"}, {"POST", "/api/orders", "hal"}, {"POST", "/api/orders", "ivy"}}); err != nil {
		return err
	}
	// Sequential, so that the breaker sees the failures in order.
	var stock []answer
	for range 4 {
		got, err := sendAll(ctx, client, url, []request{{"GET", "/api/inventory/lamp", "jo"}})
		if err != nil {
			return err
		}
		stock = append(stock, got...)
	}
	all = append(all, stock...)
	fmt.Fprintf(w, "\n4. inventory is failing; jo checks the stock 4 times in a row: 3 failures open its breaker\n")
	for _, line := range tally(stock) {
		fmt.Fprintln(w, "  "+line)
	}

	wait, err := strconv.Atoi(stock[len(stock)-1].retryAfter)
	if err != nil {
		return fmt.Errorf("the open breaker's answer has no Retry-After: %v", stock[len(stock)-1])
	}
	time.Sleep(time.Duration(wait) * time.Second) // the client honours Retry-After
	spans.Reset()                                 // keep the spans of the last request only
	if err := step(fmt.Sprintf("5. jo waits the %ds the gateway asked for and tries again: the breaker lets a probe through", wait),
		[]request{{"GET", "/api/inventory/lamp", "jo"}}); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nsummary of %d requests\n", len(all))
	for _, line := range tally(all) {
		fmt.Fprintln(w, "  "+line)
	}
	limited := map[string]int{}
	for _, a := range all {
		if a.status == http.StatusTooManyRequests {
			limited[a.reason]++
		}
	}
	fmt.Fprintf(w, "rate limited: %d by the per-user limit, %d by the route limit\n",
		limited["rate limited by per-user"], limited["rate limited by create-orders"])
	fmt.Fprintf(w, "upstream calls: orders %d, inventory %d\n", orders.calls.Load(), inventory.calls.Load())

	if err := scrape(ctx, w, client, url+"/metrics"); err != nil {
		return err
	}
	if opts.trace {
		fmt.Fprintln(w, "\nspans of the last request (OpenTelemetry, through ionotel):")
		for _, sp := range spans.GetSpans() {
			outcome := ""
			for _, a := range sp.Attributes {
				if a.Key == ionotel.OutcomeKey {
					outcome = a.Value.AsString()
				}
			}
			fmt.Fprintf(w, "  %s  ion.outcome=%s  status=%s\n", sp.Name, outcome, sp.Status.Code)
		}
	}
	return nil
}

// scrape reads the gateway's /metrics as Prometheus would and prints the
// series of its breakers, limiters and bulkhead.
func scrape(ctx context.Context, w io.Writer, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nGET /metrics (some of the series):")
	for _, line := range strings.Split(string(body), "\n") {
		for _, prefix := range []string{"ion_breaker_state{", "ion_breaker_transitions_total{", "ion_limit_requests_total{", "ion_sem_acquire_total{"} {
			if strings.HasPrefix(line, prefix) && !strings.HasSuffix(line, " 0") {
				fmt.Fprintln(w, "  "+line)
			}
		}
	}
	return nil
}

func repeat(r request, n int) []request {
	out := make([]request, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// sendAll sends reqs at once, one goroutine each, and returns their answers
// in the order of reqs. It fails only when a request could not be sent.
func sendAll(ctx context.Context, client *http.Client, url string, reqs []request) ([]answer, error) {
	answers := make([]answer, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		// Owner: sendAll; exits when its request is answered; joined by wg.Wait.
		wg.Go(func() { answers[i], errs[i] = send(ctx, client, url, r) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return answers, nil
}

func send(ctx context.Context, client *http.Client, url string, r request) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, url+r.path, nil)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("X-User", r.user)
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		// The RateLimit field names the limit: "per-user";r=0;t=2.
		name, _, _ := strings.Cut(resp.Header.Get("RateLimit"), ";")
		a.reason = "rate limited by " + strings.Trim(name, `"`)
	case resp.StatusCode != http.StatusOK:
		a.reason = strings.TrimSpace(string(body))
	}
	return a, nil
}

// tally counts answers by status, reason and Retry-After, in that order:
// "4 × 200 OK".
func tally(answers []answer) []string {
	counts := map[answer]int{}
	for _, a := range answers {
		counts[a]++
	}
	keys := slices.SortedFunc(func(yield func(answer) bool) {
		for a := range counts {
			if !yield(a) {
				return
			}
		}
	}, func(a, b answer) int {
		if a.status != b.status {
			return a.status - b.status
		}
		return strings.Compare(a.String(), b.String())
	})
	lines := make([]string, len(keys))
	for i, a := range keys {
		lines[i] = fmt.Sprintf("%2d × %v", counts[a], a)
	}
	return lines
}
