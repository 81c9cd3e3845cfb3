package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// The breaker trips after two consecutive failures; then calls are rejected
// without running, with an error that says when to come back.
func ExampleNew() {
	cb := breaker.New("payments", breaker.WithConsecutiveFailures(2))
	p := breaker.Policy[string](cb)
	charge := func(context.Context) (string, error) { return "", errors.New("502 from upstream") }

	ctx := context.Background()
	for range 3 {
		_, err := policy.Run(ctx, p, charge)
		_, hasRetryAfter := ion.RetryAfter(err)
		fmt.Printf("%v (rejected: %t, retry-after: %t)\n", err, errors.Is(err, ion.ErrRejected), hasRetryAfter)
	}
	fmt.Println(cb.State())
	// Output:
	// 502 from upstream (rejected: false, retry-after: false)
	// 502 from upstream (rejected: false, retry-after: false)
	// breaker: payments: open (rejected: true, retry-after: true)
	// open
}

// Policy makes the breaker a layer of a pipeline. A classifier on the
// pipeline decides outcomes on the result too: here a 503 with a nil error
// is a failure.
func ExamplePolicy() {
	cb := breaker.New("inventory", breaker.QuickFailover())
	p := policy.Compose(breaker.Policy[*http.Response](cb)).
		WithClassifier(func(r *http.Response, err error) policy.Outcome {
			if err != nil || r.StatusCode >= 500 {
				return policy.Failure
			}
			return policy.Success
		})
	get := func(context.Context) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusServiceUnavailable}, nil
	}

	for range 4 {
		r, err := p.Run(context.Background(), get)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println("status:", r.StatusCode)
	}
	fmt.Println(p, "is", cb.State())
	// Output:
	// status: 503
	// status: 503
	// status: 503
	// error: breaker: inventory: open
	// breaker(inventory) → fn is open
}

// Middleware that cannot wrap a function asks for a ticket, then reports
// the outcome.
func ExampleBreaker_Allow() {
	cb := breaker.New("search", breaker.WithConsecutiveFailures(1))
	handle := func(status int) {
		t, err := cb.Allow()
		if err != nil {
			fmt.Println("rejected:", err)
			return
		}
		if status >= 500 {
			t.Done(policy.Failure)
		} else {
			t.Done(policy.Success)
		}
		fmt.Println("served:", status)
	}
	handle(200)
	handle(500)
	handle(200)
	// Output:
	// served: 200
	// served: 500
	// rejected: breaker: search: open
}

// Trip and Reset take manual control, for example while a dependency is
// under maintenance; Disable lets everything through.
func ExampleBreaker_Trip() {
	cb := breaker.New("ledger")
	cb.Trip()
	_, err := cb.Allow()
	fmt.Println(cb.State(), errors.Is(err, breaker.ErrOpen))
	cb.Disable()
	_, err = cb.Allow()
	fmt.Println(cb.State(), err)
	cb.Reset()
	fmt.Println(cb.State())
	// Output:
	// forced-open true
	// disabled <nil>
	// closed
}

// Listeners see every transition once, in order, with no lock held, so they
// may call back into the breaker.
func ExampleWithListener() {
	var cb *breaker.Breaker
	cb = breaker.New("db", breaker.Aggressive(),
		breaker.WithListener(func(tr breaker.Transition) {
			fmt.Printf("%s: %v → %v (now %v)\n", tr.Name, tr.From, tr.To, cb.State())
		}))
	for range 2 {
		t, _ := cb.Allow()
		t.Done(policy.Failure)
	}
	cb.Reset()
	// Output:
	// db: closed → open (now open)
	// db: open → closed (now closed)
}

// A failure rate over the last calls, with a slow-call rule beside it.
func ExampleWithFailureRate() {
	cb := breaker.New("api",
		breaker.WithFailureRate(0.5),
		breaker.WithCountWindow(4, 4),
		breaker.WithSlowCalls(time.Second, 0.5), // these calls are never slow
	)
	for _, o := range []policy.Outcome{policy.Success, policy.Failure, policy.Success, policy.Failure} {
		t, _ := cb.Allow()
		t.Done(o)
		fmt.Println(o, "→", cb.State())
	}
	// Output:
	// success → closed
	// failure → closed
	// success → closed
	// failure → open
}

// A trip rule of your own over the counts of the current generation, as
// gobreaker's ReadyToTrip: at least 3 requests, 60% of them failures.
func ExampleWithTripFunc() {
	cb := breaker.New("search", breaker.WithTripFunc(func(c breaker.Counts) bool {
		return c.Requests >= 3 && float64(c.Failures)/float64(c.Requests) >= 0.6
	}))
	for _, o := range []policy.Outcome{policy.Failure, policy.Success, policy.Failure} {
		t, _ := cb.Allow()
		t.Done(o)
	}
	c := cb.Snapshot().Counts // the open generation's: it starts empty
	fmt.Println(cb.State(), c.Requests, c.Failures, c.ConsecutiveFailures)
	// Output:
	// open 0 0 0
}

// Trip on a burst: 3 failures within a minute, whatever succeeds between
// them.
func ExampleWithFailuresWithin() {
	cb := breaker.New("mail", breaker.WithFailuresWithin(3, time.Minute))
	for _, o := range []policy.Outcome{policy.Failure, policy.Success, policy.Failure, policy.Success, policy.Failure} {
		t, _ := cb.Allow()
		t.Done(o)
		fmt.Println(o, "→", cb.State())
	}
	// Output:
	// failure → closed
	// success → closed
	// failure → closed
	// success → closed
	// failure → open
}

// One probe at a time, gobreaker's default: the success threshold follows.
func ExampleWithHalfOpenMaxCalls() {
	cb := breaker.New("db", breaker.WithHalfOpenMaxCalls(1))
	fmt.Println(cb.Err())
	// Output: <nil>
}

func ExampleBreaker_Snapshot() {
	cb := breaker.New("cache")
	for _, o := range []policy.Outcome{policy.Success, policy.Success, policy.Failure, policy.Ignored} {
		t, _ := cb.Allow()
		t.Done(o)
	}
	s := cb.Snapshot()
	fmt.Println(s.State, s.Successes, s.Failures, s.Ignored, s.IsHealthy())
	fmt.Printf("%+v\n", s.Counts)
	fmt.Printf("failure rate %.2f\n", s.FailureRate)
	// Output:
	// closed 2 1 1 false
	// {Requests:3 Successes:2 Failures:1 ConsecutiveSuccesses:0 ConsecutiveFailures:1}
	// failure rate 0.33
}

// Reconfigure changes a live breaker's rules and keeps its state: here the
// run of failures counted under the old threshold trips the breaker under
// the new one, and an open breaker's deadline follows a new open duration.
// Options that only New takes are refused.
func ExampleBreaker_Reconfigure() {
	cb := breaker.New("payments", breaker.WithConsecutiveFailures(5), breaker.WithOpenDuration(time.Hour))
	for range 3 {
		t, _ := cb.Allow()
		t.Done(policy.Failure)
	}
	err := cb.Reconfigure(breaker.WithConsecutiveFailures(4), breaker.WithOpenDuration(time.Hour))
	fmt.Println(err, cb.State(), cb.Snapshot().Counts.ConsecutiveFailures)

	t, _ := cb.Allow()
	t.Done(policy.Failure) // the fourth in a row
	s := cb.Snapshot()
	fmt.Println(s.State, s.Until.Sub(s.Since))

	err = cb.Reconfigure(breaker.WithConsecutiveFailures(4), breaker.WithOpenDuration(10*time.Minute))
	s = cb.Snapshot()
	fmt.Println(err, s.State, s.Until.Sub(s.Since))

	err = cb.Reconfigure(breaker.WithMetrics(observe.NewRecorder()))
	fmt.Println(errors.Is(err, ion.ErrInvalidConfig), err)
	// Output:
	// <nil> closed 3
	// open 1h0m0s
	// <nil> open 10m0s
	// true breaker: invalid configuration: WithMetrics: only New takes it; Reconfigure keeps the breaker's sinks and listeners
}
