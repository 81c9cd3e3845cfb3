package policy_test

// Tests of the policy core's scripted behaviour written with policytest: the
// core's own contracts (Next.Call may be called again, Next.Classify's
// outcomes, ctx and deadlines passed through, panics passing through
// layers) exercised through small policies built with policy.New. The
// helpers are prefixed with "usage" to stay clear of the names of other test
// files in this package.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

var errUsageBoom = errors.New("usage: boom")

// usageRetry calls next up to attempts times while the outcome is a Failure,
// as a retry must: the outcome comes from Next.Classify, so a classifier and
// the caller's cancellation are honoured.
func usageRetry[T any](attempts int) policy.Policy[T] {
	return policy.New("usage-retry", func(ctx context.Context, next policy.Next[T]) (T, error) {
		for n := 1; ; n++ {
			v, err := next.Call(ctx)
			if n == attempts || next.Classify(ctx, v, err) != policy.Failure {
				return v, err
			}
		}
	})
}

// usageBulkhead lets at most size calls run next at once; the others wait
// for a slot (block true) or are rejected (block false). The slot is
// released with defer, so also when next panics.
func usageBulkhead[T any](size int, block bool) policy.Policy[T] {
	slots := make(chan struct{}, size)
	errFull := reject.New("usage: bulkhead full")
	return policy.New("usage-bulkhead", func(ctx context.Context, next policy.Next[T]) (T, error) {
		var zero T
		if block {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return zero, ctx.Err()
			}
		} else {
			select {
			case slots <- struct{}{}:
			default:
				return zero, errFull
			}
		}
		defer func() { <-slots }()
		return next.Call(ctx)
	})
}

// usageTimeout bounds each call to d.
func usageTimeout[T any](d time.Duration) policy.Policy[T] {
	return policy.New("usage-timeout", func(ctx context.Context, next policy.Next[T]) (T, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return next.Call(ctx)
	})
}

// usageOutcomes records the outcome every call through it had, as seen by
// a policy at its position.
type usageOutcomes[T any] struct {
	mu  sync.Mutex
	got []policy.Outcome
}

func (o *usageOutcomes[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	v, err := next.Call(ctx)
	o.mu.Lock()
	o.got = append(o.got, next.Classify(ctx, v, err))
	o.mu.Unlock()
	return v, err
}

func (o *usageOutcomes[T]) String() string { return "usage-outcomes" }

func (o *usageOutcomes[T]) outcomes() []policy.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]policy.Outcome(nil), o.got...)
}

func TestUsageRetryCallsNextAgain(t *testing.T) {
	tests := []struct {
		name      string
		fn        policy.Func[int]
		wantV     int
		wantErr   error
		wantCalls int
	}{
		{"succeeds first time", policytest.FailTimes(0, errUsageBoom, 42), 42, nil, 1},
		{"recovers on the third call", policytest.FailTimes(2, errUsageBoom, 42), 42, nil, 3},
		{"gives up after three calls", policytest.FailTimes(5, errUsageBoom, 42), 0, errUsageBoom, 3},
		{"scripted sequence", policytest.Sequence(
			policytest.Fail[int](errUsageBoom), policytest.Ok(7), policytest.Ok(8)), 7, nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := policytest.Record(tc.fn)
			p := policy.Compose(usageRetry[int](3))
			v, err := p.Run(context.Background(), rec.Func)
			assert.Equal(t, tc.wantV, v)
			assert.Equal(t, tc.wantErr, err, "the last error is returned as is")
			assert.Equal(t, tc.wantCalls, rec.Count(), "Next.Call may be called again and reaches fn each time")
		})
	}
}

func TestUsageClassifierDrivesRetry(t *testing.T) {
	byStatus := func(code int, err error) policy.Outcome {
		if err != nil || code >= 500 {
			return policy.Failure
		}
		return policy.Success
	}
	policytest.AssertOutcome(t, byStatus, 503, nil, policy.Failure)
	policytest.AssertOutcome(t, nil, 503, nil, policy.Success)

	backend := func() *policytest.Recorder[int] {
		return policytest.Record(policytest.Sequence(policytest.Ok(503), policytest.Ok(503), policytest.Ok(200)))
	}
	plain := policy.Compose(usageRetry[int](3))
	rec := backend()
	code, err := plain.Run(context.Background(), rec.Func)
	require.NoError(t, err)
	assert.Equal(t, 503, code)
	assert.Equal(t, 1, rec.Count(), "by default a 503 with a nil error is a Success: no retry")

	rec = backend()
	code, err = plain.WithClassifier(byStatus).Run(context.Background(), rec.Func)
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, 3, rec.Count(), "the pipeline's classifier reaches the policies in it")
}

func TestUsageCallerCancellationIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outcomes := &usageOutcomes[string]{}
		p := policy.Compose(usageRetry[string](3), outcomes)
		policytest.AssertLayers(t, p, "usage-retry", "usage-outcomes")

		rec := policytest.Record(policytest.Latency(time.Second, "late"))
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := p.Run(ctx, rec.Func)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 1, rec.Count(), "the caller's own deadline is Ignored: never retried")
		assert.Equal(t, []policy.Outcome{policy.Ignored}, outcomes.outcomes())
	})
}

func TestUsageInnerTimeoutIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outcomes := &usageOutcomes[string]{}
		p := policy.Compose(usageRetry[string](2), outcomes, usageTimeout[string](50*time.Millisecond))
		rec := policytest.Record(policytest.Latency(80*time.Millisecond, "ok"))

		start := time.Now()
		_, err := p.Run(t.Context(), rec.Func)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "two attempts of 50ms")
		assert.Equal(t, []policy.Outcome{policy.Failure, policy.Failure}, outcomes.outcomes(),
			"a timeout fired inside the pipeline is a Failure for the policies outside it")
		for i, c := range rec.Calls() {
			assert.Equal(t, 50*time.Millisecond, c.Deadline.Sub(c.Start), "call %d saw the per-attempt deadline", i+1)
			assert.Equal(t, 1, c.Attempt, "policy.New layers do not mark attempts")
		}
	})
}

func TestUsageBulkheadBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers, size = 6, 2
		p := policy.Compose(usageBulkhead[int](size, true))
		rec := policytest.Record(policytest.Latency(time.Second, 1))
		start := time.Now()
		var wg sync.WaitGroup
		for range callers {
			// Owner: this test; exits when its call returns; joined by wg.Wait.
			wg.Go(func() {
				_, err := p.Run(t.Context(), rec.Func)
				assert.NoError(t, err)
			})
		}
		synctest.Wait()
		assert.Equal(t, size, rec.Running(), "only size calls run at once")
		wg.Wait()
		assert.Equal(t, callers, rec.Count())
		assert.Equal(t, size, rec.MaxConcurrent(), "the bulkhead bounds concurrency")
		assert.Equal(t, callers/size*time.Second, time.Since(start), "three waves of one second")
	})
}

func TestUsageBulkheadRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy.Compose(usageBulkhead[int](1, false))
		rec := policytest.Record(policytest.Latency(time.Second, 1))
		done := make(chan struct{})
		// Owner: this test; exits when its call returns after 1s; joined by <-done.
		go func() {
			defer close(done)
			_, _ = p.Run(t.Context(), rec.Func)
		}()
		synctest.Wait()
		_, err := p.Run(t.Context(), rec.Func)
		policytest.RequireRejected(t, err)
		<-done
		assert.Equal(t, 1, rec.Count(), "a rejected call never reaches fn")
	})
}

func TestUsagePanicPassesThroughAndReleases(t *testing.T) {
	p := policy.Compose(usageRetry[int](3), usageBulkhead[int](1, false))
	rec := policytest.Record(policytest.Panics[int]("crash"))
	assert.PanicsWithValue(t, "crash", func() { _, _ = p.Run(context.Background(), rec.Func) },
		"a panic passes through every layer to the caller")
	assert.Equal(t, 1, rec.Count(), "a panic is not retried")
	assert.Zero(t, rec.Running())

	ok := policytest.Record(policytest.FailTimes(0, errUsageBoom, 5))
	v, err := p.Run(context.Background(), ok.Func)
	require.NoError(t, err, "the bulkhead slot was released by defer during the panic")
	assert.Equal(t, 5, v)
}

func TestUsageNewLayersZeroAllocs(t *testing.T) {
	// Checked around a plain function: a Recorder allocates per call, since
	// it keeps a history.
	p := policy.Compose(usageRetry[int](3), usageBulkhead[int](4, false))
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	allocs := testing.AllocsPerRun(100, func() { _, _ = p.Run(ctx, fn) })
	assert.Zero(t, allocs, "layers built with policy.New add no allocation per call")
}

// usagePlain is a layer without a String method.
type usagePlain struct{}

func (usagePlain) Execute(ctx context.Context, next policy.Next[int]) (int, error) {
	return next.Call(ctx)
}

func TestUsageBadInputFailsClosed(t *testing.T) {
	ctx := context.Background()
	var nilCtx context.Context // nil on purpose: no call may panic on it
	ok := func(context.Context) (int, error) { return 1, nil }
	okDo := func(context.Context) error { return nil }
	invalid := policy.Compose[int](usagePlain{}, nil)
	tests := []struct {
		name  string
		err   error
		param string
	}{
		{"Compose nil layer", invalid.Err(), "Compose layer 1"},
		{"Compose invalid nested pipeline", policy.Compose[int](invalid).Err(), "Compose layer 1"},
		{"Pipeline.Run nil ctx", usageErr(policy.Compose[int]().Run(nilCtx, ok)), "ctx"},
		{"Pipeline.Do nil ctx", policy.Compose[int]().Do(nilCtx, okDo), "ctx"},
		{"Pipeline.Do invalid", invalid.Do(ctx, okDo), "Compose layer 1"},
		{"Pipeline.Execute invalid", usageErr(policy.Run[int](ctx, invalid, ok)), "Compose layer 1"},
		{"Run nil ctx", usageErr(policy.Run[int](nilCtx, usagePlain{}, ok)), "ctx"},
		{"Do nil ctx", policy.Do[int](nilCtx, usagePlain{}, okDo), "ctx"},
		{"Do nil fn", policy.Do[int](ctx, usagePlain{}, nil), "fn"},
		{"New nil fn", usageErr(policy.Run(ctx, policy.New[int]("x", nil), ok)), "fn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policytest.AssertInvalidConfig(t, tc.err, tc.param)
		})
	}
}

// usageErr returns the error of a (value, error) pair.
func usageErr[T any](_ T, err error) error { return err }

func TestUsageNestedPipelineKeepsItsClassifier(t *testing.T) {
	byStatus := func(code int, err error) policy.Outcome {
		if err != nil || code >= 500 {
			return policy.Failure
		}
		return policy.Success
	}
	outcomes := &usageOutcomes[int]{}
	inner := policy.Compose[int](usageRetry[int](3), outcomes).WithClassifier(byStatus)
	outer := policy.Compose[int](usagePlain{}, inner)
	assert.Equal(t, []string{"policy_test.usagePlain", "usage-retry → usage-outcomes → fn"}, outer.Layers(),
		"a layer without String is described by its type; a classified pipeline stays one layer")

	rec := policytest.Record(policytest.Sequence(policytest.Ok(503), policytest.Ok(200)))
	code, err := outer.Run(context.Background(), rec.Func)
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, []policy.Outcome{policy.Failure, policy.Success}, outcomes.outcomes(),
		"the nested pipeline classifies with its own classifier")

	// The same pipeline as a layer with more layers inside it.
	rec = policytest.Record(policytest.Sequence(policytest.Ok(503), policytest.Ok(200)))
	code, err = policy.Compose[int](inner, usagePlain{}).Run(context.Background(), rec.Func)
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, 2, rec.Count())
}

// TestUsageRetryTimeoutAttempts drives Ion's own Retry and Timeout with
// scripted calls: the Recorder sees each attempt's number, its start on the
// bubble's clock and the per-attempt deadline, and Delay's error carries the
// timeout's cause.
func TestUsageRetryTimeoutAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy.Compose(
			policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(10*time.Millisecond))),
			policy.Timeout[string](50*time.Millisecond),
		)
		// Two attempts too slow for the timeout, then a fast one.
		slow := policytest.Record(policytest.Latency(time.Second, "late"))
		fast := policytest.Record(policytest.Latency(time.Millisecond, "ok"))
		fn := func(ctx context.Context) (string, error) {
			if policy.Attempt(ctx) < 3 {
				return slow.Func(ctx)
			}
			return fast.Func(ctx)
		}

		start := time.Now()
		v, err := p.Run(t.Context(), fn)
		require.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, []int{1, 2}, slow.Attempts(), "each attempt's ctx carries its number")
		assert.Equal(t, []int{3}, fast.Attempts())
		// 50ms timeout + 10ms backoff, twice, then 1ms.
		assert.Equal(t, 121*time.Millisecond, time.Since(start))
		for i, c := range append(slow.Calls(), fast.Calls()...) {
			assert.Equal(t, 50*time.Millisecond, c.Deadline.Sub(c.Start), "attempt %d saw the per-attempt deadline", i+1)
		}
		assert.Equal(t, start.Add(60*time.Millisecond), slow.Calls()[1].Start, "the second attempt started after timeout + backoff")

		// Delay's error wraps the Timeout's cause as well as the ctx error.
		_, err = policy.Compose(policy.Timeout[string](5*time.Millisecond)).Run(t.Context(), policytest.Latency(time.Second, "late"))
		assert.ErrorIs(t, err, policy.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestClassify(t *testing.T) {
	var got []policy.Outcome
	record := policy.New("record", func(ctx context.Context, next policy.Next[int]) (int, error) {
		v, err := next.Call(ctx)
		got = append(got, next.Classify(ctx, v, err))
		return v, err
	})
	boom := errors.New("boom")
	ctx := context.Background()
	p := policy.Compose(record)
	_, _ = p.Run(ctx, answer)
	_, _ = p.Run(ctx, func(context.Context) (int, error) { return 0, boom })
	// A 503 with a nil error is a Failure for a custom classifier.
	c := p.WithClassifier(func(v int, err error) policy.Outcome {
		if err != nil || v >= 500 {
			return policy.Failure
		}
		return policy.Success
	})
	_, _ = c.Run(ctx, func(context.Context) (int, error) { return 503, nil })
	_, _ = c.Run(ctx, func(context.Context) (int, error) { return 200, nil })
	// The caller's own cancellation is Ignored, even for a classifier.
	cctx, cancel := context.WithCancel(ctx)
	_, _ = c.Run(cctx, func(context.Context) (int, error) { cancel(); return 0, context.Canceled })
	// A rejection by an inner policy is Ignored, even for a classifier: it
	// says nothing about the dependency.
	_, _ = c.Run(ctx, func(context.Context) (int, error) { return 0, fmt.Errorf("inner: %w", ion.ErrRejected) })
	assert.Equal(t, []policy.Outcome{policy.Success, policy.Failure, policy.Failure, policy.Success, policy.Ignored, policy.Ignored}, got)
	assert.Equal(t, "success failure ignored Outcome(9)",
		policy.Success.String()+" "+policy.Failure.String()+" "+policy.Ignored.String()+" "+policy.Outcome(9).String())
}
