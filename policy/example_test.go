package policy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// Compose(a, b, c) runs fn as a(b(c(fn))): the first policy is the outermost,
// so it is entered first and left last.
func ExampleCompose() {
	trace := func(name string) policy.Policy[string] {
		return policy.New(name, func(ctx context.Context, next policy.Next[string]) (string, error) {
			fmt.Println("enter", name)
			v, err := next.Call(ctx)
			fmt.Println("leave", name)
			return name + "(" + v + ")", err
		})
	}
	p := policy.Compose(trace("a"), trace("b"), trace("c"))

	v, err := p.Run(context.Background(), func(context.Context) (string, error) {
		fmt.Println("fn")
		return "fn", nil
	})
	fmt.Println(v, err)
	// Output:
	// enter a
	// enter b
	// enter c
	// fn
	// leave c
	// leave b
	// leave a
	// a(b(c(fn))) <nil>
}

// A nil layer does not panic: the pipeline fails closed, and every call
// returns the configuration error.
func ExamplePipeline_Err() {
	var missing policy.Policy[int]
	p := policy.Compose(missing)
	fmt.Println(p.Err())
	_, err := p.Run(context.Background(), func(context.Context) (int, error) { return 1, nil })
	fmt.Println(err)
	// Output:
	// policy: invalid configuration: Compose layer 0: nil policy
	// policy: invalid configuration: Compose layer 0: nil policy
}

// Check every pipeline once at startup: Err names the first layer that
// was misconfigured, so a bad option fails the deploy rather than the first
// request.
func ExamplePipeline_Err_startup() {
	p := policy.Compose(
		policy.Timeout[string](time.Second),
		policy.Retry[string](policy.WithAttempts(0)), // a typo: at least 1
	)
	if err := p.Err(); err != nil {
		fmt.Println("startup:", err)
	}
	// Output:
	// startup: policy: layer 1 (retry): policy: invalid configuration: WithAttempts: must be at least 1, got 0 (use WithUnlimitedAttempts for no limit)
}

// Run runs a call through a single policy, without composing a pipeline.
func ExampleRun() {
	double := policy.New("double", func(ctx context.Context, next policy.Next[int]) (int, error) {
		v, err := next.Call(ctx)
		return 2 * v, err
	})
	v, err := policy.Run(context.Background(), double, func(context.Context) (int, error) { return 21, nil })
	fmt.Println(v, err)

	// An already-done ctx fails the call before the policy runs.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = policy.Run(ctx, double, func(context.Context) (int, error) { return 21, nil })
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// context canceled
}

// Do runs a call with no result; struct{} is the natural T for a pipeline
// that only guards such calls.
func ExampleDo() {
	audit := policy.New("audit", func(ctx context.Context, next policy.Next[struct{}]) (struct{}, error) {
		v, err := next.Call(ctx)
		fmt.Println("audit:", err)
		return v, err
	})
	send := func(context.Context) error { return errors.New("smtp: 421 try later") }

	err := policy.Do(context.Background(), audit, send)
	fmt.Println(err)

	// A pipeline has the same method.
	err = policy.Compose(audit).Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err)
	// Output:
	// audit: smtp: 421 try later
	// smtp: 421 try later
	// audit: <nil>
	// <nil>
}

// New is the quickest way to write a policy of your own. This one refuses
// calls that carry no deadline.
func ExampleNew() {
	errNoDeadline := errors.New("guard: call has no deadline")
	requireDeadline := policy.New("require-deadline", func(ctx context.Context, next policy.Next[string]) (string, error) {
		if _, ok := ctx.Deadline(); !ok {
			return "", errNoDeadline
		}
		return next.Call(ctx)
	})
	fetch := func(context.Context) (string, error) { return "data", nil }

	_, err := policy.Run(context.Background(), requireDeadline, fetch)
	fmt.Println(err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := policy.Run(ctx, requireDeadline, fetch)
	fmt.Println(v, err)
	fmt.Println(requireDeadline) // its String method returns the name
	// Output:
	// guard: call has no deadline
	// data <nil>
	// require-deadline
}

// A classifier decides outcomes from the result too: here an HTTP status of
// 500 or more is a Failure even with a nil error. Every policy in the
// pipeline sees the same outcome through Next.Classify.
func ExamplePipeline_WithClassifier() {
	report := policy.New("report", func(ctx context.Context, next policy.Next[int]) (int, error) {
		code, err := next.Call(ctx)
		fmt.Println(code, next.Classify(ctx, code, err))
		return code, err
	})
	byStatus := func(code int, err error) policy.Outcome {
		if err != nil || code >= 500 {
			return policy.Failure
		}
		return policy.Success
	}
	status := func(code int) policy.Func[int] {
		return func(context.Context) (int, error) { return code, nil }
	}

	plain := policy.Compose(report)
	_, _ = plain.Run(context.Background(), status(503)) // default: a nil error is a Success

	classified := plain.WithClassifier(byStatus)
	_, _ = classified.Run(context.Background(), status(503))
	_, _ = classified.Run(context.Background(), status(200))
	// Output:
	// 503 success
	// 503 failure
	// 200 success
}

// A result a policy throws away (here the failed attempts of a Retry) goes
// to the pipeline's discard hook; the one returned to the caller never
// does. Without a hook, a result that is an io.Closer is closed.
func ExamplePipeline_WithDiscard() {
	p := policy.Compose(policy.Retry[string](policy.WithBackoff(policy.Constant(0)))).
		WithDiscard(func(v string) { fmt.Println("discarded", v) })

	attempt := 0
	v, err := p.Run(context.Background(), func(context.Context) (string, error) {
		attempt++
		if attempt < 3 {
			return fmt.Sprint("response ", attempt), errors.New("503")
		}
		return "response 3", nil
	})
	fmt.Println(v, err)
	// Output:
	// discarded response 1
	// discarded response 2
	// response 3 <nil>
}

// Layers and String describe a pipeline, outermost first, for logs and tests.
// Nested pipelines are flattened.
func ExamplePipeline_Layers() {
	pass := func(name string) policy.Policy[int] {
		return policy.New(name, func(ctx context.Context, next policy.Next[int]) (int, error) {
			return next.Call(ctx)
		})
	}
	inner := policy.Compose(pass("breaker(payments)"), pass("limit(10/s)"))
	p := policy.Compose(pass("retry(3)"), inner, pass("timeout(1s)"))
	fmt.Println(p.Layers())
	// Output:
	// [retry(3) breaker(payments) limit(10/s) timeout(1s)]
}

func ExamplePipeline_String() {
	pass := func(name string) policy.Policy[int] {
		return policy.New(name, func(ctx context.Context, next policy.Next[int]) (int, error) {
			return next.Call(ctx)
		})
	}
	fmt.Println(policy.Compose(pass("retry(3)"), pass("breaker(payments)")))
	fmt.Println(policy.Compose[int]())
	// Output:
	// retry(3) → breaker(payments) → fn
	// fn
}

// Attempt tells a call which attempt it is. A ctx that no retry or hedge has
// marked is attempt 1, so a first call costs nothing; Retry marks the
// attempts after it.
func ExampleAttempt() {
	fetch := func(ctx context.Context) (string, error) {
		n := policy.Attempt(ctx)
		fmt.Println("attempt", n)
		if n < 3 {
			return "", errors.New("flaky")
		}
		return "ok", nil
	}
	retry := policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(0)))
	v, err := policy.Compose(retry).Run(context.Background(), fetch)
	fmt.Println(v, err)
	// Output:
	// attempt 1
	// attempt 2
	// attempt 3
	// ok <nil>
}

// Every result is a Success, a Failure or Ignored. The caller's own
// cancellation is Ignored: it says nothing about the dependency's health.
func ExampleOutcome() {
	outcome := policy.New("outcome", func(ctx context.Context, next policy.Next[int]) (int, error) {
		v, err := next.Call(ctx)
		fmt.Println(next.Classify(ctx, v, err))
		return v, err
	})
	p := policy.Compose(outcome)
	ctx := context.Background()

	_, _ = p.Run(ctx, func(context.Context) (int, error) { return 1, nil })
	_, _ = p.Run(ctx, func(context.Context) (int, error) { return 0, errors.New("connection refused") })

	ctx, cancel := context.WithCancel(ctx)
	_, _ = p.Run(ctx, func(ctx context.Context) (int, error) {
		cancel() // the caller gives up while the call runs
		return 0, ctx.Err()
	})
	// Output:
	// success
	// failure
	// ignored
}

func ExampleRetry() {
	r := policy.Retry[string](
		policy.WithAttempts(4),
		policy.WithBackoff(policy.Exponential(time.Millisecond, 10*time.Millisecond)),
		policy.WithJitter(policy.FullJitter),
		policy.WithOnRetry(func(_ context.Context, attempt int, err error, _ time.Duration) {
			fmt.Printf("retrying (attempt %d) after: %v\n", attempt, err)
		}),
	)
	calls := 0
	v, err := policy.Run(context.Background(), r, func(ctx context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("connection refused")
		}
		return fmt.Sprintf("answered on attempt %d", policy.Attempt(ctx)), nil
	})
	fmt.Println(v, err)
	fmt.Println(r)
	// Output:
	// retrying (attempt 2) after: connection refused
	// retrying (attempt 3) after: connection refused
	// answered on attempt 3 <nil>
	// retry(attempts=4 backoff=exponential(1ms..10ms) jitter=full)
}

func ExampleRetry_exhausted() {
	errDown := errors.New("service down")
	r := policy.Retry[int](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(time.Millisecond)))
	_, err := policy.Run(context.Background(), r, func(context.Context) (int, error) { return 0, errDown })
	fmt.Println(err)
	fmt.Println(errors.Is(err, policy.ErrRetriesExhausted), errors.Is(err, errDown))
	// Output:
	// policy: retries exhausted after 2 attempts: service down
	// true true
}

func ExampleRetryLayer_RetryIf() {
	// Retry a result that the classifier calls a success: a job still pending.
	r := policy.Retry[string](policy.WithBackoff(policy.Constant(time.Millisecond))).
		RetryIf(func(status string, _ error) bool { return status == "pending" })
	polls := 0
	v, err := policy.Run(context.Background(), r, func(context.Context) (string, error) {
		polls++
		if polls < 3 {
			return "pending", nil
		}
		return "done", nil
	})
	fmt.Println(v, err, polls)
	// Output: done <nil> 3
}

func ExampleRetryLayer_AbortIf() {
	errBadRequest := errors.New("bad request")
	r := policy.Retry[int]().AbortIf(func(_ int, err error) bool { return errors.Is(err, errBadRequest) })
	calls := 0
	_, err := policy.Run(context.Background(), r, func(context.Context) (int, error) {
		calls++
		return 0, errBadRequest
	})
	fmt.Println(err, calls)
	// Output: bad request 1
}

func ExampleBackoff_Delay() {
	b := policy.Exponential(100*time.Millisecond, time.Second)
	fmt.Println(b.Delay(1), b.Delay(2), b.Delay(3), b.Delay(4), b.Delay(5))
	fmt.Println(policy.Linear(time.Second, 500*time.Millisecond, 2*time.Second).Delay(4), policy.Constant(time.Second).Delay(9))
	// Output:
	// 100ms 200ms 400ms 800ms 1s
	// 2s 1s
}

// ExponentialFactor grows the delay by a factor other than 2.
func ExampleExponentialFactor() {
	b := policy.ExponentialFactor(100*time.Millisecond, time.Second, 1.5)
	fmt.Println(b, b.Delay(1), b.Delay(2), b.Delay(3), b.Delay(4), b.Delay(9))
	// Output:
	// exponential(100ms..1s x1.5) 100ms 150ms 225ms 337.5ms 1s
}

// The jitters that take a parameter: ± a fraction of the delay, and + up to
// a fixed duration. WithSeed makes the draws repeatable.
func ExampleWithProportionalJitter() {
	var delays []time.Duration
	r := policy.Retry[int](policy.WithAttempts(4), policy.WithBackoff(policy.Constant(time.Millisecond)),
		policy.WithProportionalJitter(0.5), policy.WithAbsoluteJitter(time.Millisecond), policy.WithSeed(7),
		policy.WithOnRetry(func(_ context.Context, _ int, _ error, d time.Duration) { delays = append(delays, d) }))
	_, _ = policy.Run(context.Background(), r, func(context.Context) (int, error) { return 0, errors.New("down") })
	for _, d := range delays {
		// Each delay is in [0.5ms, 1.5ms] + [0, 1ms].
		fmt.Println(d >= 500*time.Microsecond && d <= 2500*time.Microsecond)
	}
	fmt.Println(r)
	// Output:
	// true
	// true
	// true
	// retry(attempts=4 backoff=constant(1ms) jitter=±50% jitter=+1ms)
}

// A Retry-After longer than the Retry would wait on its own (here an open
// breaker's 30s against a backoff of at most 10s) ends the retry at once:
// the caller fails fast instead of stalling.
func ExampleWithMaxRetryAfter() {
	open := &openError{wait: 30 * time.Second}
	r := policy.Retry[int]() // Exponential(100ms, 10s)
	_, err := policy.Run(context.Background(), r, func(context.Context) (int, error) { return 0, open })
	fmt.Println(err)
	fmt.Println(errors.Is(err, policy.ErrRetryAfterTooLong), errors.Is(err, ion.ErrRejected))

	// WithMaxRetryAfter sets how long a Retry-After may be to be waited out.
	r = policy.Retry[int](policy.WithMaxRetryAfter(time.Minute), policy.WithAttempts(2))
	fmt.Println(r.Err())
	// Output:
	// policy: retry-after too long after 1 attempt: open, retry after 30s
	// true true
	// <nil>
}

// openError is a rejection that asks to wait, as an open breaker's does.
type openError struct{ wait time.Duration }

func (e *openError) Error() string             { return "open, retry after " + e.wait.String() }
func (e *openError) RetryAfter() time.Duration { return e.wait }
func (e *openError) Is(target error) bool      { return target == ion.ErrRejected }

func ExampleNewBudget() {
	// At most one retry per two calls, shared by every call through the
	// policies that use the budget.
	budget := policy.NewBudget(0.5, 0)
	r := policy.Retry[int](policy.WithBudget(budget), policy.WithBackoff(policy.Constant(0)))
	var attempts int
	for range 3 {
		_, err := policy.Run(context.Background(), r, func(context.Context) (int, error) {
			attempts++
			return 0, errors.New("down")
		})
		fmt.Println(errors.Is(err, policy.ErrRetryBudget))
	}
	fmt.Println("attempts:", attempts)
	// Output:
	// true
	// true
	// true
	// attempts: 4
}

// SetLimits changes a live budget's limits and keeps what it has counted:
// under the new ratio of 2, the two calls counted allow 4 retries, one of
// which was already granted.
func ExampleBudget_SetLimits() {
	budget := policy.NewBudget(1, 0) // one retry per call
	r := policy.Retry[int](policy.WithBudget(budget), policy.WithBackoff(policy.Constant(0)), policy.WithAttempts(5))
	attempts := 0
	down := func(context.Context) (int, error) {
		attempts++
		return 0, errors.New("down")
	}
	_, err := policy.Run(context.Background(), r, down)
	fmt.Println(attempts, errors.Is(err, policy.ErrRetryBudget))

	fmt.Println(budget.SetLimits(2, 0))
	attempts = 0
	_, err = policy.Run(context.Background(), r, down)
	fmt.Println(attempts, errors.Is(err, policy.ErrRetryBudget))

	err = budget.SetLimits(-1, 2)
	fmt.Println(errors.Is(err, ion.ErrInvalidConfig), err)
	// Output:
	// 2 true
	// <nil>
	// 4 true
	// true policy: invalid configuration: SetLimits ratio: must be a finite number >= 0, got -1
}

func ExampleTimeout() {
	t := policy.Timeout[string](time.Millisecond)
	_, err := policy.Run(context.Background(), t, func(ctx context.Context) (string, error) {
		_, hasDeadline := ctx.Deadline()
		<-ctx.Done()
		fmt.Println("deadline:", hasDeadline, "cause:", context.Cause(ctx))
		return "", ctx.Err()
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, policy.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// deadline: true cause: policy: timeout
	// policy: timeout after 1ms: context deadline exceeded
	// true true
}

// The abandoned call keeps running after the Timeout returned; when it
// returns at last, its result goes to the pipeline's discard hook.
func ExampleWithAbandon() {
	t := policy.Timeout[string](time.Millisecond, policy.WithAbandon())
	discarded := make(chan string)
	p := policy.Compose(t).WithDiscard(func(v string) { discarded <- v })
	release := make(chan struct{})
	_, err := p.Run(context.Background(), func(context.Context) (string, error) {
		<-release // ignores ctx
		return "late", nil
	})
	fmt.Println(err, t.Abandoned())
	close(release) // the abandoned call returns
	fmt.Println("discarded:", <-discarded)
	// Output:
	// policy: timeout after 1ms 1
	// discarded: late
}

func ExampleFallback() {
	p := policy.Compose(
		policy.Fallback("cached answer"),
		policy.Retry[string](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(time.Millisecond))),
	)
	v, err := p.Run(context.Background(), func(context.Context) (string, error) {
		return "", errors.New("upstream unavailable")
	})
	fmt.Println(v, err)
	fmt.Println(p)
	// Output:
	// cached answer <nil>
	// fallback(value) → retry(attempts=2 backoff=constant(1ms)) → fn
}

func ExampleFallbackFunc() {
	f := policy.FallbackFunc(func(_ context.Context, err error) (string, error) {
		return "default (because " + err.Error() + ")", nil
	})
	v, err := policy.Run(context.Background(), f, func(context.Context) (string, error) {
		return "", errors.New("timeout")
	})
	fmt.Println(v, err)
	// Output: default (because timeout) <nil>
}

func ExampleHedge() {
	h := policy.Hedge[string](time.Millisecond, policy.WithHedges(2))
	v, err := policy.Run(context.Background(), h, func(ctx context.Context) (string, error) {
		if policy.Attempt(ctx) != 2 {
			<-ctx.Done() // stuck; cancelled when another attempt wins
			return "", ctx.Err()
		}
		return "answer from the first hedge", nil
	})
	fmt.Println(v, err)
	fmt.Println(h)
	// Output:
	// answer from the first hedge <nil>
	// hedge(delay=1ms hedges=2)
}

func ExampleHedgeFunc() {
	// Hedge n starts n milliseconds after the attempt before it.
	h := policy.HedgeFunc[int](func(n int) time.Duration { return time.Duration(n) * time.Millisecond })
	v, err := policy.Run(context.Background(), h, func(ctx context.Context) (int, error) {
		if policy.Attempt(ctx) == 1 {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return policy.Attempt(ctx), nil
	})
	fmt.Println(v, err)
	// Output: 2 <nil>
}

// Example_pipeline composes the four call-shaping policies in the
// recommended order: Fallback outermost, then Retry, Hedge, and Timeout
// bounding each attempt.
func Example_pipeline() {
	p := policy.Compose(
		policy.Fallback("stale"),
		policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(time.Millisecond))),
		policy.Hedge[string](time.Millisecond),
		policy.Timeout[string](time.Second),
	)
	fmt.Println(p)
	v, err := p.Run(context.Background(), func(ctx context.Context) (string, error) {
		if policy.Attempt(ctx) < 3 {
			return "", errors.New("flaky")
		}
		return "fresh", nil
	})
	fmt.Println(v, err)
	// Output:
	// fallback(value) → retry(attempts=3 backoff=constant(1ms)) → hedge(delay=1ms hedges=1) → timeout(1s) → fn
	// fresh <nil>
}
