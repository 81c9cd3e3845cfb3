package policy_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func TestFallbackTriggers(t *testing.T) {
	ctx := context.Background()
	rejected := &limitedErr{wait: time.Second}
	tests := []struct {
		name     string
		classify policy.Classifier[string]
		fn       func(cancel context.CancelFunc) policy.Func[string]
		wantV    string
		wantErr  error
	}{
		{"success is kept", nil,
			func(context.CancelFunc) policy.Func[string] {
				return func(context.Context) (string, error) { return "fresh", nil }
			}, "fresh", nil},
		{"failure is replaced", nil,
			func(context.CancelFunc) policy.Func[string] {
				return func(context.Context) (string, error) { return "", errTransient }
			}, "stale", nil},
		{"rejection is replaced", nil,
			func(context.CancelFunc) policy.Func[string] {
				return func(context.Context) (string, error) { return "", rejected }
			}, "stale", nil},
		{"rejection is replaced whatever the classifier says",
			func(string, error) policy.Outcome { return policy.Success },
			func(context.CancelFunc) policy.Func[string] {
				return func(context.Context) (string, error) { return "", rejected }
			}, "stale", nil},
		{"an error the classifier calls a success is kept",
			func(string, error) policy.Outcome { return policy.Success },
			func(context.CancelFunc) policy.Func[string] {
				return func(context.Context) (string, error) { return "404", errPermanent }
			}, "404", errPermanent},
		{"a failed result without error is replaced",
			func(v string, err error) policy.Outcome {
				if v == "503" {
					return policy.Failure
				}
				return policy.Success
			},
			func(context.CancelFunc) policy.Func[string] {
				return func(context.Context) (string, error) { return "503", nil }
			}, "stale", nil},
		{"caller cancellation is never replaced", nil,
			func(cancel context.CancelFunc) policy.Func[string] {
				return func(ctx context.Context) (string, error) { cancel(); return "", ctx.Err() }
			}, "", context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			p := policy.Compose[string](policy.Fallback("stale")).WithClassifier(tc.classify)
			v, err := p.Run(cctx, tc.fn(cancel))
			assert.Equal(t, tc.wantV, v)
			assert.Equal(t, tc.wantErr, err)
		})
	}
}

func TestFallbackFunc(t *testing.T) {
	ctx := context.Background()
	var seen []error
	f := policy.FallbackFunc(func(_ context.Context, err error) (string, error) {
		seen = append(seen, err)
		if err == errPermanent {
			return "", errTransient
		}
		return "cached", nil
	})
	v, err := policy.Run(ctx, f, func(context.Context) (string, error) { return "", errPermanent })
	assert.Equal(t, errTransient, err, "the fallback function's own error is returned")
	assert.Empty(t, v)
	v, err = policy.Run(ctx, f, func(context.Context) (string, error) { return "", errTransient })
	require.NoError(t, err)
	assert.Equal(t, "cached", v)
	v, err = policy.Run(ctx, f, func(context.Context) (string, error) { return "live", nil })
	require.NoError(t, err)
	assert.Equal(t, "live", v)
	assert.Equal(t, []error{errPermanent, errTransient}, seen, "the function receives the failed call's error")
	assert.Equal(t, "fallback(func)", f.String())
	assert.Equal(t, "fallback(value)", policy.Fallback(1).String())
}

func TestFallbackOverTimeoutAndRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		p := policy.Compose(
			policy.Fallback("stale", policy.WithMetrics(rec), policy.WithName("fetch")),
			policy.Retry[string](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(time.Second))),
			policy.Timeout[string](time.Second),
		)
		start := time.Now()
		v, err := p.Run(t.Context(), waitForCtx(time.Hour, "live"))
		require.NoError(t, err)
		assert.Equal(t, "stale", v, "the fallback answers when the retried timeouts run out")
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.Equal(t, int64(1), rec.Count("ion_policy_fallbacks_total", observe.L("name", "fetch"), observe.L("policy", "fallback")))
		assert.Equal(t, []string{"fallback(fetch)", "retry(attempts=2 backoff=constant(1s))", "timeout(1s)"}, p.Layers())
	})
}

func TestFallbackZeroAllocs(t *testing.T) {
	ctx := context.Background()
	ok := func(context.Context) (string, error) { return "x", nil }
	failing := func(context.Context) (string, error) { return "", errTransient }
	rec := observe.NewRecorder()
	byValue := policy.Compose(policy.Fallback("stale", policy.WithMetrics(rec)))
	byFunc := policy.Compose(policy.FallbackFunc(func(context.Context, error) (string, error) { return "stale", nil }))
	for name, run := range map[string]func(){
		"value success":  func() { _, _ = byValue.Run(ctx, ok) },
		"func success":   func() { _, _ = byFunc.Run(ctx, ok) },
		"value fallback": func() { _, _ = byValue.Run(ctx, failing) },
		"func fallback":  func() { _, _ = byFunc.Run(ctx, failing) },
	} {
		assert.Zero(t, testing.AllocsPerRun(1000, run), "%s: Fallback must not allocate", name)
	}
}

func TestFallbackBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		f     *policy.FallbackLayer[int]
		param string
	}{
		{"nil func", policy.FallbackFunc[int](nil), "FallbackFunc fn"},
		{"nil option", policy.Fallback(1, nil), "option 0"},
		{"nil tracer", policy.Fallback(1, policy.WithTracer(nil)), "WithTracer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *ion.ConfigError
			require.ErrorAs(t, tc.f.Err(), &ce)
			assert.Equal(t, tc.param, ce.Param)
			_, err := policy.Run(context.Background(), tc.f, func(context.Context) (int, error) { return 0, errTransient })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "an invalid fallback fails closed, it does not answer its value")
			assert.Contains(t, tc.f.String(), "fallback(invalid: ")
		})
	}
}

func TestFallbackObserve(t *testing.T) {
	rec := observe.NewRecorder()
	f := policy.FallbackFunc(func(context.Context, error) (int, error) { return 0, errPermanent },
		policy.WithTracer(rec), policy.WithLogger(rec))
	_, err := policy.Run(context.Background(), f, func(context.Context) (int, error) { return 0, &limitedErr{} })
	assert.Equal(t, errPermanent, err)
	_, err = policy.Run(context.Background(), f, func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	spans := rec.Spans()
	require.Len(t, spans, 2)
	assert.Equal(t, "failure", spans[0].Outcome)
	assert.Equal(t, "success", spans[1].Outcome)
	require.Len(t, rec.Logs(), 1)
	assert.Equal(t, "fallback function failed", rec.Logs()[0].Msg)

	// A rejection that reaches the caller ends its span as "rejected".
	rec2 := observe.NewRecorder()
	_, _ = policy.Run(context.Background(), policy.Retry[int](policy.WithTracer(rec2), policy.WithAttempts(1)),
		func(context.Context) (int, error) { return 0, &limitedErr{} })
	assert.Equal(t, "rejected", rec2.Spans()[0].Outcome)
}

func TestFallbackDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	direct := policy.New("direct", func(_ context.Context, n policy.Next[int]) (int, error) {
		return policy.Fallback(5).Execute(ctx, n)
	})
	v, err := policy.Run(context.Background(), direct, func(context.Context) (int, error) { called = true; return 1, nil })
	assert.ErrorIs(t, err, context.Canceled, "an already-done ctx is the caller's cancellation: no fallback")
	assert.Zero(t, v)
	assert.False(t, called)
}
