package policytest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

// The package doc's test, without the pauses (a testable example cannot run
// in a synctest bubble): a backend that is busy twice, a policy that retries
// it, and a Recorder that counts the calls.
func Example() {
	p := policy.Compose(RetryBusy[string](3, 0))
	backend := policytest.Record(policytest.FailTimes(2, ErrBusy, "ok"))

	v, err := p.Run(context.Background(), backend.Func)
	fmt.Printf("%q %v, calls: %d\n", v, err, backend.Count())

	backend = policytest.Record(policytest.FailTimes(5, ErrBusy, "ok"))
	_, err = p.Run(context.Background(), backend.Func)
	fmt.Printf("%v, calls: %d\n", err, backend.Count())
	// Output:
	// "ok" <nil>, calls: 3
	// busy, calls: 3
}

func ExampleFailTimes() {
	fn := policytest.FailTimes(2, errors.New("unavailable"), "ok")
	for range 4 {
		v, err := fn(context.Background())
		fmt.Printf("%q %v\n", v, err)
	}
	// Output:
	// "" unavailable
	// "" unavailable
	// "ok" <nil>
	// "ok" <nil>
}

func ExampleSequence() {
	fn := policytest.Sequence(
		policytest.Ok(200),
		policytest.Fail[int](errors.New("reset")),
		policytest.Ok(503),
	)
	for range 4 {
		fmt.Println(fn(context.Background()))
	}
	// Output:
	// 200 <nil>
	// 0 reset
	// 503 <nil>
	// 0 call 4 of a sequence of 3: policytest: sequence exhausted
}

// Latency honours ctx: here the caller has already given up. Inside a
// synctest bubble, Latency(d, v) returns exactly d later.
func ExampleLatency() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := policytest.Latency(time.Hour, "late")(ctx)
	fmt.Println(errors.Is(err, context.Canceled))
	// Output:
	// true
}

// Delay makes any scripted Func slow; with no delay it runs at once.
func ExampleDelay() {
	fn := policytest.Delay(0, policytest.FailTimes(1, errors.New("cold start"), "warm"))
	for range 2 {
		v, err := fn(context.Background())
		fmt.Printf("%q %v\n", v, err)
	}
	// Output:
	// "" cold start
	// "warm" <nil>
}

func ExamplePanics() {
	defer func() { fmt.Println("recovered:", recover()) }()
	_, _ = policytest.Panics[int]("disk on fire")(context.Background())
	// Output:
	// recovered: disk on fire
}

func ExampleRecord() {
	rec := policytest.Record(policytest.Sequence(policytest.Ok("a"), policytest.Ok("b")))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = rec.Func(context.Background())
	_, _ = rec.Func(ctx)

	for _, c := range rec.Calls() {
		fmt.Println("attempt", c.Attempt, "deadline:", !c.Deadline.IsZero())
	}
	fmt.Println("calls:", rec.Count(), "max concurrent:", rec.MaxConcurrent())
	// Output:
	// attempt 1 deadline: false
	// attempt 1 deadline: true
	// calls: 2 max concurrent: 1
}

// Starts and Gaps read a retry's schedule. Inside a testing/synctest
// bubble (as in a test) the times are exact.
func ExampleRecorder_Gaps() {
	rec := policytest.Record(policytest.FailTimes(2, errors.New("busy"), "ok"))
	r := policy.Retry[string](policy.WithBackoff(policy.Exponential(time.Millisecond, time.Second)))
	v, err := policy.Run(context.Background(), r, rec.Func)
	fmt.Println(v, err, rec.Count(), len(rec.Gaps()))
	for i, gap := range rec.Gaps() {
		backoff := time.Duration(1<<i) * time.Millisecond // 1ms, then 2ms
		fmt.Println("retry", i+1, "waited its backoff:", gap >= backoff)
	}
	// Output:
	// ok <nil> 3 2
	// retry 1 waited its backoff: true
	// retry 2 waited its backoff: true
}

// printT is a TestingT that prints what an assertion reports.
type printT struct{}

func (printT) Helper()                           {}
func (printT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (printT) FailNow()                          { fmt.Println("FailNow") }

// A classifier under which an HTTP 503 with a nil error is a Failure, checked
// the way every Ion policy will classify it. In a test, pass t instead of
// printT{}.
func ExampleAssertOutcome() {
	status := func(code int, err error) policy.Outcome {
		if err != nil || code >= 500 {
			return policy.Failure
		}
		return policy.Success
	}
	policytest.AssertOutcome(printT{}, status, 503, nil, policy.Failure)
	policytest.AssertOutcome(printT{}, status, 404, nil, policy.Failure) // fails
	// Output:
	// policytest: outcome of (404, <nil>) = success, want failure
}

func ExampleAssertLayers() {
	logging := policy.New("log", func(ctx context.Context, next policy.Next[int]) (int, error) {
		return next.Call(ctx)
	})
	p := policy.Compose(logging, RetryBusy[int](3, 0))
	fmt.Println(policytest.AssertLayers(printT{}, p, "log", "retry-busy"))
	fmt.Println(policytest.AssertLayers(printT{}, p, "retry-busy"))
	// Output:
	// true
	// policytest: Layers() = ["log" "retry-busy"] (kinds ["log" "retry-busy"]), want ["retry-busy"]
	// false
}

// Ion's policies are matched by their kind, or by their full description.
func ExampleAssertLayers_kinds() {
	p := policy.Compose(
		policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(100*time.Millisecond))),
		policy.Timeout[string](time.Second),
	)
	fmt.Println(policytest.AssertLayers(printT{}, p, "retry", "timeout"))
	fmt.Println(policytest.AssertLayers(printT{}, p, "retry(attempts=3 backoff=constant(100ms))", "timeout(1s)"))
	fmt.Println(policytest.AssertLayers(printT{}, p, "timeout", "retry"))
	// Output:
	// true
	// true
	// policytest: Layers() = ["retry(attempts=3 backoff=constant(100ms))" "timeout(1s)"] (kinds ["retry" "timeout"]), want ["timeout" "retry"]
	// false
}

func ExampleRequireRejected() {
	policytest.RequireRejected(printT{}, errors.New("boom"))
	// Output:
	// policytest: error boom (*errors.errorString) does not match ion.ErrRejected
	// FailNow
}

func ExampleAssertRetryAfter() {
	err := errors.New("no hint")
	policytest.AssertRetryAfter(printT{}, err, time.Second)
	// Output:
	// policytest: ion.RetryAfter(no hint) found no retry-after, want 1s
}

func ExampleAssertInvalidConfig() {
	p := policy.Compose[int](nil) // a nil layer: the pipeline fails closed
	fmt.Println(policytest.AssertInvalidConfig(printT{}, p.Err(), "Compose layer 0"))
	// Output:
	// true
}
