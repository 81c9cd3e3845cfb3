package policy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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
