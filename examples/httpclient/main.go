// Command httpclient shows a resilient http.Client built on Ion's ionhttp
// transport: every request runs through a retry that honours Retry-After, a
// circuit breaker, a rate limiter and a per-attempt timeout on the headers. It talks to an
// in-process server that misbehaves on a script, logs every attempt and
// prints the result of each request.
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
	"strings"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionhttp"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the retry jitter")
	flag.Parse()
	opts := options{seed: *seed, serve: serveLoopback}
	if err := run(context.Background(), os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "httpclient:", err)
		os.Exit(1)
	}
}

// options configure run.
type options struct {
	seed uint64 // seed of the retry jitter
	// serve serves h and returns the server's base URL, a transport that
	// reaches it, and a function that stops the server.
	serve func(h http.Handler) (url string, rt http.RoundTripper, stop func())
}

// serveLoopback serves h on a real loopback listener.
func serveLoopback(h http.Handler) (string, http.RoundTripper, func()) {
	srv := httptest.NewServer(h)
	return srv.URL, srv.Client().Transport, srv.Close
}

// call is one request of the scripted client.
type call struct {
	method, path, body string
	idempotencyKey     string
}

var calls = []call{
	{method: "GET", path: "/catalog"},
	{method: "POST", path: "/orders", body: `{"item":"lamp","qty":2}`, idempotencyKey: "order-7"},
	{method: "GET", path: "/report"},
	{method: "GET", path: "/inventory"},
	{method: "GET", path: "/inventory"},
	{method: "GET", path: "/search"},
	{method: "POST", path: "/payments", body: `{"amount":42}`},
}

// burst is the number of GET /catalog requests sent back to back at the
// end, more than the limiter's burst.
const burst = 7

func run(ctx context.Context, w io.Writer, opts options) error {
	url, base, stop := opts.serve(newFlakyServer())
	defer stop()

	log := &logger{w: w, start: time.Now()}
	cb := breaker.New("upstream",
		breaker.WithConsecutiveFailures(3),
		breaker.WithOpenDuration(time.Second),
		breaker.WithSuccessThreshold(1),
		breaker.WithListener(func(tr breaker.Transition) { log.printf("breaker %v → %v", tr.From, tr.To) }),
	)
	lim := limit.NewTokenBucket(limit.PerSecond(5), 5)
	client := newClient(base, cb, lim, 500*time.Millisecond, opts.seed, log)

	var results []string
	do := func(c call) error {
		res, err := send(ctx, client, url, c, log)
		if err != nil {
			return err
		}
		results = append(results, fmt.Sprintf("%-4s %-10s %s", c.method, c.path, res))
		return nil
	}
	for _, c := range calls {
		if err := do(c); err != nil {
			return err
		}
	}
	left := int(lim.Tokens())
	log.printf("a burst of %d GET /catalog against a limiter of %v/s with a burst of %d: the requests above left %d tokens,",
		burst, float64(lim.Rate()), lim.Burst(), left)
	log.printf("so %d go at once and %d are refused at first, then retried when the limiter's Retry-After says a token is due",
		min(left, burst), burst-min(left, burst))
	for range burst {
		if err := do(call{method: "GET", path: "/catalog"}); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nresults:")
	for _, r := range results {
		fmt.Fprintln(w, "  "+r)
	}
	s := cb.Snapshot()
	fmt.Fprintf(w, "breaker %v: %d successes, %d failures, %d rejected\n", s.State, s.Successes, s.Failures, s.Rejected)
	return nil
}

// newClient returns the resilient client: ionhttp's transport over base,
// running every request through, outermost first,
//
//	retry (3 attempts, jittered from seed, honouring Retry-After) → breaker cb → limiter lim → attemptTimeout for the headers
//
// and logging every attempt that reaches base and every retry.
func newClient(base http.RoundTripper, cb *breaker.Breaker, lim limit.Limiter, attemptTimeout time.Duration, seed uint64, log *logger) *http.Client {
	return ionhttp.NewClient(loggingTransport{base: base, log: log},
		ionhttp.WithRetry(
			policy.WithAttempts(3),
			policy.WithBackoff(policy.Exponential(100*time.Millisecond, 2*time.Second)),
			policy.WithJitter(policy.FullJitter),
			policy.WithSeed(seed),
			policy.WithOnRetry(log.retry),
		),
		ionhttp.WithBreaker(cb),
		ionhttp.WithLimiter(lim), // refuses at once; the retry waits its Retry-After
		ionhttp.WithTimeout(attemptTimeout),
	)
}

// send makes one request and describes its result. It returns an error only
// when the run itself must stop (the caller's ctx ended).
func send(ctx context.Context, client *http.Client, url string, c call, log *logger) (string, error) {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body) // http.NewRequest sets GetBody, so retries can resend it
	}
	// A deadline for the whole request, retries and their waits included.
	// It is a ctx, not http.Client.Timeout, and it is cancelled only once
	// the body has been read.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, url+c.path, body)
	if err != nil {
		return "", err
	}
	if c.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", c.idempotencyKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return "", ctx.Err()
		}
		if d, ok := ion.RetryAfter(err); ok && errors.Is(err, ion.ErrRejected) {
			return fmt.Sprintf("rejected by Ion, retry after %v: %v", d, err), nil
		}
		return "error: " + err.Error(), nil
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 && !ionhttp.Replayable(req) {
		log.printf("%-4s %-10s not retried: a %s without an Idempotency-Key is sent once", c.method, c.path, c.method)
	}
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(text))), nil
}

// loggingTransport logs each attempt that reaches the base transport: the
// attempt number comes from the ctx the pipeline gave it.
type loggingTransport struct {
	base http.RoundTripper
	log  *logger
}

func (t loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	got := ""
	switch {
	case err != nil && errors.Is(context.Cause(req.Context()), policy.ErrTimeout):
		got = "no answer within the attempt timeout"
	case err != nil:
		got = err.Error()
	case resp.Header.Get("Retry-After") != "":
		got = resp.Status + ", Retry-After: " + resp.Header.Get("Retry-After")
	default:
		got = resp.Status
	}
	t.log.printf("%-4s %-10s attempt %d → %s", req.Method, req.URL.Path, policy.Attempt(req.Context()), got)
	return resp, err
}

// logger writes the log of attempts, each line stamped with the time since
// the run started.
type logger struct {
	start time.Time

	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%+6.2fs  %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}

// retry logs a retry about to wait; it is the Retry policy's OnRetry hook.
// An attempt that a policy refused before sending (the limiter, an open
// breaker) never reached the server, so this is the only line it gets.
func (l *logger) retry(ctx context.Context, attempt int, err error, delay time.Duration) {
	who := ""
	if req, ok := ionhttp.Request(ctx); ok {
		who = fmt.Sprintf("%-4s %-10s", req.Method, req.URL.Path)
	}
	var why string
	switch {
	case errors.Is(err, limit.ErrLimited) || errors.Is(err, breaker.ErrOpen):
		l.printf("%s attempt %d → refused by Ion before sending: %v", who, attempt-1, err)
		why = ""
	case err != nil:
		why = ": " + err.Error()
	default:
		why = " (the answer above failed)"
	}
	l.printf("%s wait %v before attempt %d%s", strings.Repeat(" ", len(who)), delay.Round(time.Millisecond), attempt, why)
}
