package policy_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

// passThrough is the cheapest possible layer: it only calls next.
type passThrough[T any] struct{ name string }

func (p passThrough[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	return next.Call(ctx)
}

func (p passThrough[T]) String() string { return p.name }

func answer(context.Context) (int, error) { return 42, nil }

func TestComposeZeroAllocs(t *testing.T) {
	p := policy.Compose[int](passThrough[int]{"a"}, passThrough[int]{"b"}, passThrough[int]{"c"})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		v, err := p.Run(ctx, answer)
		if v != 42 || err != nil {
			t.Fatalf("Run = %v, %v, want 42, nil", v, err)
		}
	})
	assert.Zero(t, allocs, "a 3-layer pipeline of pass-through policies must add no allocation per call")

	allocs = testing.AllocsPerRun(1000, func() {
		_ = p.Do(ctx, func(context.Context) error { return nil })
	})
	assert.Zero(t, allocs, "Do through a 3-layer pipeline must add no allocation per call")
}

func TestComposeOrder(t *testing.T) {
	var order []string
	layer := func(name string) policy.Policy[string] {
		return policy.New(name, func(ctx context.Context, next policy.Next[string]) (string, error) {
			order = append(order, name+">")
			v, err := next.Call(ctx)
			order = append(order, "<"+name)
			return name + "(" + v + ")", err
		})
	}
	p := policy.Compose(layer("a"), layer("b"), layer("c"))
	v, err := p.Run(context.Background(), func(context.Context) (string, error) {
		order = append(order, "fn")
		return "fn", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "a(b(c(fn)))", v, "Compose(a, b, c) must run fn as a(b(c(fn)))")
	assert.Equal(t, []string{"a>", "b>", "c>", "fn", "<c", "<b", "<a"}, order)
	assert.Equal(t, []string{"a", "b", "c"}, p.Layers())
	assert.Equal(t, "a → b → c → fn", p.String())
}

func TestComposeNested(t *testing.T) {
	inner := policy.Compose[int](passThrough[int]{"b"}, passThrough[int]{"c"})
	outer := policy.Compose[int](passThrough[int]{"a"}, inner, passThrough[int]{"d"})
	assert.Equal(t, []string{"a", "b", "c", "d"}, outer.Layers(), "a nested pipeline is flattened")
	v, err := outer.Run(context.Background(), answer)
	require.NoError(t, err)
	assert.Equal(t, 42, v)

	// A pipeline used as a layer through Execute with inner layers of its own.
	wrapped := policy.Compose[int](passThrough[int]{"x"}, inner.WithClassifier(nil), passThrough[int]{"y"})
	v, err = policy.Run[int](context.Background(), wrapped, answer)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
}

func TestComposeEmptyIsPassThrough(t *testing.T) {
	p := policy.Compose[int]()
	v, err := p.Run(context.Background(), answer)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	assert.Equal(t, "fn", p.String())
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	var nilPipeline *policy.Pipeline[int]
	tests := []struct {
		name string
		run  func() error
	}{
		{"nil layer", func() error {
			_, err := policy.Compose[int](passThrough[int]{"a"}, nil).Run(ctx, answer)
			return err
		}},
		{"nil nested pipeline", func() error {
			_, err := policy.Compose[int](nilPipeline).Run(ctx, answer)
			return err
		}},
		{"nil fn", func() error { _, err := policy.Compose[int]().Run(ctx, nil); return err }},
		{"nil ctx", func() error {
			var nilCtx context.Context // a nil ctx on purpose: Run must not panic
			_, err := policy.Compose[int]().Run(nilCtx, answer)
			return err
		}},
		{"nil do fn", func() error { return policy.Compose[int]().Do(ctx, nil) }},
		{"Run nil policy", func() error { _, err := policy.Run[int](ctx, nil, answer); return err }},
		{"Run nil fn", func() error { _, err := policy.Run[int](ctx, passThrough[int]{}, nil); return err }},
		{"Do nil policy", func() error { return policy.Do[int](ctx, nil, func(context.Context) error { return nil }) }},
		{"New nil fn", func() error { _, err := policy.Run(ctx, policy.New[int]("x", nil), answer); return err }},
		{"zero Next", func() error { _, err := policy.Next[int]{}.Call(ctx); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			var ce *ion.ConfigError
			assert.True(t, errors.As(err, &ce), "error must be a *ion.ConfigError naming the parameter")
		})
	}
	assert.ErrorIs(t, policy.Compose[int](nil).Err(), ion.ErrInvalidConfig)
	assert.Contains(t, policy.Compose[int](passThrough[int]{}, nil).String(), "layer 1")
}

func TestDoneContextFailsFast(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	fn := func(context.Context) (int, error) { called = true; return 1, nil }
	_, err := policy.Compose[int]().Run(ctx, fn)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = policy.Run[int](ctx, passThrough[int]{}, fn)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, policy.Do[int](ctx, passThrough[int]{}, func(context.Context) error { return nil }), context.Canceled)
	assert.ErrorIs(t, policy.Compose[int]().Do(ctx, func(context.Context) error { return nil }), context.Canceled)
	assert.False(t, called, "an already-done ctx must fail the call before fn runs")
}

// TestNestedClassifierLeaksOutward guards the bug where Pipeline.Execute,
// when the rest of the outer pipeline still had layers, installed the
// nested pipeline's classifier for them too: a layer of the outer pipeline
// after the nested one classified an error as the nested classifier said,
// so Compose(nested.WithClassifier(alwaysSuccess), breakerLayer) made the
// breaker see every error as a success. A probe after the nested pipeline
// must classify with the outer pipeline's (here the default) classifier.
func TestNestedClassifierLeaksOutward(t *testing.T) {
	var got policy.Outcome
	probe := policy.New("probe", func(ctx context.Context, next policy.Next[int]) (int, error) {
		v, err := next.Call(ctx)
		got = next.Classify(ctx, v, err)
		return v, err
	})
	everythingOK := func(int, error) policy.Outcome { return policy.Success }
	pass := policy.New("pass", func(ctx context.Context, n policy.Next[int]) (int, error) { return n.Call(ctx) })
	nested := policy.Compose[int](pass).WithClassifier(everythingOK)
	outer := policy.Compose[int](nested, probe)
	_, _ = outer.Run(context.Background(), func(context.Context) (int, error) { return 0, errors.New("boom") })
	if got != policy.Failure {
		t.Fatalf("the outer pipeline's layer classified an error as %v, want %v", got, policy.Failure)
	}
}

// TestNestedClassifierScope checks, layer by layer, which classifier each
// layer of nested pipelines sees: its own pipeline's, or the closest
// enclosing one's when its pipeline has none.
func TestNestedClassifierScope(t *testing.T) {
	const (
		outerMark = 100
		innerMark = 200
		deepMark  = 300
	)
	mark := func(m int) policy.Classifier[int] {
		return func(int, error) policy.Outcome { return policy.Outcome(m / 100) } // 1, 2 or 3: a marker, not a real outcome
	}
	seen := map[string]policy.Outcome{}
	probe := func(name string) policy.Policy[int] {
		return policy.New(name, func(ctx context.Context, next policy.Next[int]) (int, error) {
			v, err := next.Call(ctx)
			seen[name] = next.Classify(ctx, v, err)
			return v, err
		})
	}
	deep := policy.Compose(probe("deep")).WithClassifier(mark(deepMark))
	plain := policy.Compose(probe("plain")) // no classifier: flattened, uses the enclosing one
	inner := policy.Compose(probe("inner before"), deep, plain, probe("inner after")).WithClassifier(mark(innerMark))
	outer := policy.Compose(probe("outer before"), inner, probe("outer after")).WithClassifier(mark(outerMark))

	_, err := outer.Run(context.Background(), answer)
	require.NoError(t, err)
	want := map[string]policy.Outcome{
		"outer before": 1, "outer after": 1,
		"inner before": 2, "plain": 2, "inner after": 2,
		"deep": 3,
	}
	assert.Equal(t, want, seen, "each layer must classify with its own pipeline's classifier")

	// The same pipeline run as a layer of a policy with layers after it
	// (Execute with a non-empty next) keeps the scopes.
	clear(seen)
	wrapper := policy.Compose[int](outer, probe("tail"))
	_, err = wrapper.Run(context.Background(), answer)
	require.NoError(t, err)
	want["tail"] = policy.Success // the wrapper has no classifier: by default a nil error is a Success
	assert.Equal(t, want, seen)
}

// TestPipelineErrReportsMisconfiguredLayer: a pipeline that fails closed
// because one of its layers was misconfigured is found by Pipeline.Err at
// startup, not by the first call.
func TestPipelineErrReportsMisconfiguredLayer(t *testing.T) {
	ok := policy.Timeout[int](time.Second)
	custom := policy.New("custom", func(ctx context.Context, next policy.Next[int]) (int, error) { return next.Call(ctx) })
	badRetry := policy.Retry[int](policy.WithAttempts(0))
	badHedge := policy.Hedge[int](-1)

	require.NoError(t, policy.Compose[int](ok, custom, policy.Retry[int]()).Err(), "a valid pipeline reports nothing")
	require.NoError(t, policy.Compose[int]().Err())

	err := policy.Compose[int](ok, custom, badRetry, badHedge).Err()
	require.Error(t, err)
	var le *policy.LayerError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 2, le.Index, "the first misconfigured layer, counted from the outermost")
	assert.Equal(t, badRetry.String(), le.Layer)
	policytest.AssertInvalidConfig(t, err, "WithAttempts")
	assert.Equal(t, "policy: layer 2 (retry): "+badRetry.Err().Error(), err.Error())

	// A flattened nested pipeline counts in the flattened positions; one
	// with its own classifier reports inside the LayerError of its position.
	err = policy.Compose[int](ok, policy.Compose[int](custom, badHedge)).Err()
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 2, le.Index)
	policytest.AssertInvalidConfig(t, err, "Hedge delay")

	nested := policy.Compose[int](custom, badHedge).WithClassifier(func(int, error) policy.Outcome { return policy.Success })
	err = policy.Compose[int](ok, nested).Err()
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 1, le.Index, "the nested pipeline's position")
	var inner *policy.LayerError
	require.ErrorAs(t, le.Err, &inner)
	assert.Equal(t, 1, inner.Index, "the layer's position inside the nested pipeline")
	policytest.AssertInvalidConfig(t, err, "Hedge delay")

	// A nil layer is reported as before.
	policytest.AssertInvalidConfig(t, policy.Compose[int](ok, nil).Err(), "Compose layer 1")
}

// slowFail returns a recorded Func that fails with errTransient after d,
// or returns its ctx's error if ctx ends first.
func slowFail(d time.Duration) *policytest.Recorder[int] {
	return policytest.Record(policytest.Delay(d, policytest.FailTimes[int](math.MaxInt, errTransient, 0)))
}

// TestOrderRetryOfTimeout: Retry outside Timeout bounds each attempt; a
// timeout is a Failure, so it is retried, and the whole call lasts up to
// attempts × timeout + backoffs.
func TestOrderRetryOfTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := slowFail(time.Hour)
		p := policy.Compose(
			policy.Retry[int](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(100*time.Millisecond))),
			policy.Timeout[int](time.Second),
		)
		start := time.Now()
		_, err := p.Run(t.Context(), l.Func)
		assert.Equal(t, 3*time.Second+200*time.Millisecond, time.Since(start))
		assert.Equal(t, []time.Duration{0, 1100 * time.Millisecond, 2200 * time.Millisecond}, l.Starts())
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		assert.ErrorIs(t, err, policy.ErrTimeout, "the last attempt's timeout is wrapped")
	})
}

// TestOrderTimeoutOfRetry: Timeout outside Retry bounds the whole call; the
// Retry sees the deadline and neither sleeps nor starts an attempt that
// cannot fit.
func TestOrderTimeoutOfRetry(t *testing.T) {
	const ms = time.Millisecond
	t.Run("the deadline cuts a running attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := slowFail(500 * ms)
			p := policy.Compose(
				policy.Timeout[int](2500*ms),
				policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(100*ms))),
			)
			start := time.Now()
			_, err := p.Run(t.Context(), l.Func)
			assert.Equal(t, 2500*ms, time.Since(start))
			assert.Equal(t, []time.Duration{0, 600 * ms, 1200 * ms, 1800 * ms, 2400 * ms}, l.Starts())
			assert.ErrorIs(t, err, policy.ErrTimeout, "the outer timeout fired")
			var re *policy.RetryError
			assert.False(t, errors.As(err, &re), "the retry saw its ctx end (Ignored) and returned the attempt's error unchanged")
		})
	})
	t.Run("the retry gives up before the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := slowFail(500 * ms)
			p := policy.Compose(
				policy.Timeout[int](2350*ms),
				policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(100*ms))),
			)
			start := time.Now()
			_, err := p.Run(t.Context(), l.Func)
			assert.Equal(t, 2300*ms, time.Since(start), "no sleep that would end past the deadline")
			assert.Equal(t, 4, l.Count())
			assert.ErrorIs(t, err, policy.ErrRetryDeadline)
			assert.ErrorIs(t, err, errTransient)
			assert.NotErrorIs(t, err, policy.ErrTimeout, "the timeout never fired")
		})
	})
	t.Run("the caller cancels during a backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The retry's wait ends at once, and the Timeout outside passes the
			// caller's cancellation on unchanged: it did not fire.
			l := slowFail(500 * ms)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(700*ms, cancel)
			p := policy.Compose(
				policy.Timeout[int](time.Hour),
				policy.Retry[int](policy.WithAttempts(10), policy.WithBackoff(policy.Constant(time.Second))),
			)
			_, err := p.Run(ctx, l.Func)
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorIs(t, err, errTransient)
			assert.NotErrorIs(t, err, policy.ErrTimeout)
			assert.Equal(t, 1, l.Count())
		})
	})
}

// TestOrderRecommended runs the recommended order Fallback → Retry →
// (rejecting layer) → Timeout and checks that each policy sees what it
// should: the retry honours the rejection's delay, and the fallback
// answers once when everything inside failed.
func TestOrderRecommended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := policytest.Record(func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
		var rejections int
		open := policy.New("open-breaker", func(ctx context.Context, next policy.Next[string]) (string, error) {
			if rejections < 1 {
				rejections++
				return "", &limitedErr{wait: 2 * time.Second}
			}
			return next.Call(ctx)
		})
		var got []policy.Outcome
		p := policy.Compose(
			probe[string](&got),
			policy.Fallback("stale"),
			policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(100*time.Millisecond)),
				policy.WithMaxRetryAfter(2*time.Second)), // waits out the breaker's 2s, longer than the backoff
			open,
			policy.Timeout[string](time.Second),
		)
		start := time.Now()
		v, err := p.Run(t.Context(), l.Func)
		require.NoError(t, err)
		assert.Equal(t, "stale", v)
		// Attempt 1 rejected at 0 (retry after 2s); attempt 2 runs 2s..3s and
		// times out; attempt 3 runs 3.1s..4.1s and times out.
		assert.Equal(t, []time.Duration{2 * time.Second, 3100 * time.Millisecond}, l.Starts())
		assert.Equal(t, 4100*time.Millisecond, time.Since(start))
		assert.Equal(t, []policy.Outcome{policy.Success}, got)
		assert.Equal(t, []int{2, 3}, l.Attempts())
	})
}
