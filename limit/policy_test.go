package limit_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// counted returns a Func that counts its calls and returns v, err.
func counted[T any](calls *int, v T, err error) policy.Func[T] {
	return func(context.Context) (T, error) {
		*calls++
		return v, err
	}
}

func TestPolicyRejectsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		p := limit.Policy[string](lim)
		calls := 0
		v, err := policy.Run(t.Context(), p, counted(&calls, "ok", nil))
		require.NoError(t, err)
		assert.Equal(t, "ok", v)

		start := time.Now()
		_, err = policy.Run(t.Context(), p, counted(&calls, "ok", nil))
		assert.Zero(t, time.Since(start), "rejected at once")
		assert.Equal(t, 1, calls, "a rejected call does not run")
		require.ErrorIs(t, err, limit.ErrLimited)
		require.ErrorIs(t, err, ion.ErrRejected)
		var le *limit.LimitedError
		require.True(t, errors.As(err, &le))
		d, ok := ion.RetryAfter(err)
		require.True(t, ok)
		assert.Equal(t, time.Second, d, "ion.RetryAfter gives the wait")
		assert.Equal(t, "limit: rate limited, retry after 1s", err.Error())
	})
}

func TestPolicyWithMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(2, 1)
		p := limit.Policy[int](lim, limit.WithMaxWait(time.Second))
		calls := 0
		start := time.Now()
		for range 3 {
			_, err := policy.Run(t.Context(), p, counted(&calls, 1, nil))
			require.NoError(t, err)
		}
		assert.Equal(t, 3, calls)
		assert.Equal(t, time.Second, time.Since(start), "two waits of 500 ms")

		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := policy.Run(ctx, p, counted(&calls, 1, nil))
		require.ErrorIs(t, err, limit.ErrLimited, "a wait that cannot fit the ctx deadline fails at once")
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, 3, calls)

		p2 := limit.Policy[int](lim, limit.WithMaxWait(100*time.Millisecond))
		_, err = policy.Run(t.Context(), p2, counted(&calls, 1, nil))
		require.ErrorIs(t, err, limit.ErrLimited, "a wait beyond the max wait fails at once")

		_, err = policy.Run(t.Context(), p, counted(&calls, 1, nil))
		require.NoError(t, err, "the failed calls consumed nothing")
		assert.Equal(t, 1500*time.Millisecond, time.Since(start))
	})
}

func TestPolicyWaitCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		lim := limit.NewTokenBucket(1, 1, limit.WithTracer(rec))
		p := limit.Policy[int](lim, limit.WithMaxWait(time.Hour))
		require.True(t, lim.Allow())
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		done := make(chan error)
		go func() {
			_, err := policy.Run(ctx, p, counted(&calls, 1, nil))
			done <- err
		}()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		assert.Zero(t, calls)
		spans := rec.Spans()
		require.Len(t, spans, 1)
		assert.Equal(t, "ignored", spans[0].Outcome, "the caller's own cancellation is not a rejection")
	})
}

func TestPolicyDoneContext(t *testing.T) {
	lim := limit.NewTokenBucket(1, 1)
	p := limit.Policy[int](lim)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_, err := p.Execute(ctx, policy.Next[int]{})
	require.ErrorIs(t, err, context.Canceled)
	_, err = policy.Compose(p).Run(context.Background(), counted(&calls, 1, nil))
	require.NoError(t, err)
	assert.Equal(t, 1, calls, "the done ctx consumed no token")
}

func TestPolicyBadConfigFailsClosed(t *testing.T) {
	calls := 0
	for name, p := range map[string]policy.Policy[int]{
		"nil limiter":      limit.Policy[int](nil),
		"negative maxWait": limit.Policy[int](limit.NewTokenBucket(1, 1), limit.WithMaxWait(-time.Second)),
		"nil option":       limit.Policy[int](limit.NewTokenBucket(1, 1), nil),
		"bad limiter":      limit.Policy[int](limit.NewTokenBucket(-1, 1)),
		"nil key func":     limit.Policy[int](limit.NewKeyed[string](1, 1).By(nil)),
	} {
		_, err := policy.Run(context.Background(), p, counted(&calls, 1, nil))
		assert.ErrorIsf(t, err, ion.ErrInvalidConfig, "%s must fail closed", name)
	}
	assert.Zero(t, calls)
	var nilCtx context.Context
	assert.ErrorIs(t, limit.NewKeyed[string](1, 1).By(func(context.Context) string { return "" }).Admit(nilCtx, 0), ion.ErrInvalidConfig)
}

func TestPolicyString(t *testing.T) {
	pipe := policy.Compose(
		limit.Policy[int](limit.NewTokenBucket(10, 20)),
		limit.Policy[int](limit.NewLeakyBucket(5, 1, limit.WithName("q"))),
		limit.Policy[int](userLimiter{}),
	)
	assert.Equal(t, []string{"limit(token-bucket 10/s burst 20)", "limit(leaky-bucket(q) 5/s capacity 1)", "limit"}, pipe.Layers())
}

// userLimiter is a Limiter written by a user: it admits calls whose ctx
// carries no "deny" value.
type userLimiter struct{}

type denyKey struct{}

func (userLimiter) Admit(ctx context.Context, _ time.Duration) error {
	if ctx.Value(denyKey{}) != nil {
		return &limit.LimitedError{Delay: time.Minute}
	}
	return nil
}

func TestPolicyUserLimiter(t *testing.T) {
	p := limit.Policy[int](userLimiter{})
	calls := 0
	_, err := policy.Run(context.Background(), p, counted(&calls, 1, nil))
	require.NoError(t, err)
	_, err = policy.Run(context.WithValue(context.Background(), denyKey{}, true), p, counted(&calls, 1, nil))
	require.ErrorIs(t, err, limit.ErrLimited)
	assert.Equal(t, 1, calls)
}

func TestPolicyTracing(t *testing.T) {
	rec := observe.NewRecorder()
	lim := limit.NewTokenBucket(1, 2, limit.WithTracer(rec))
	p := limit.Policy[int](lim)
	calls := 0
	boom := errors.New("boom")
	_, _ = policy.Run(context.Background(), p, counted(&calls, 1, nil))
	_, _ = policy.Run(context.Background(), p, counted(&calls, 0, boom))
	_, _ = policy.Run(context.Background(), p, counted(&calls, 1, nil))
	spans := rec.Spans()
	require.Len(t, spans, 3, "one span per execution")
	for _, s := range spans {
		assert.Equal(t, "limit(token-bucket 1/s burst 2)", s.Name)
		assert.True(t, s.Ended)
	}
	assert.Equal(t, "success", spans[0].Outcome)
	assert.Equal(t, "failure", spans[1].Outcome)
	assert.ErrorIs(t, spans[1].Err, boom)
	assert.Equal(t, "rejected", spans[2].Outcome)
	assert.ErrorIs(t, spans[2].Err, limit.ErrLimited)
}

func TestPolicyPanicPropagates(t *testing.T) {
	for _, traced := range []bool{false, true} {
		rec := observe.NewRecorder()
		opts := []limit.BucketOption{}
		if traced {
			opts = append(opts, limit.WithTracer(rec))
		}
		p := limit.Policy[int](limit.NewTokenBucket(limit.Inf, 0, opts...))
		assert.PanicsWithValue(t, "kaboom", func() {
			_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { panic("kaboom") })
		}, "a panic in the call is never swallowed")
		if traced {
			spans := rec.Spans()
			require.Len(t, spans, 1)
			assert.Equal(t, "failure", spans[0].Outcome)
			var pe *ion.PanicError
			require.True(t, errors.As(spans[0].Err, &pe))
			assert.Equal(t, "kaboom", pe.Value)
		}
	}
}

func TestPolicyGoexitEndsSpan(t *testing.T) {
	rec := observe.NewRecorder()
	p := limit.Policy[int](limit.NewTokenBucket(limit.Inf, 0, limit.WithTracer(rec)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) {
			runtime.Goexit()
			return 0, nil
		})
	}()
	<-done
	spans := rec.Spans()
	require.Len(t, spans, 1)
	assert.True(t, spans[0].Ended, "runtime.Goexit in the call still ends the span")
	assert.Equal(t, "failure", spans[0].Outcome)
}

type tenantKey struct{}

func tenantOf(ctx context.Context) string {
	s, _ := ctx.Value(tenantKey{}).(string)
	return s
}

func TestPolicyKeyed(t *testing.T) {
	keyed := limit.NewKeyed[string](limit.PerHour(1), 1)
	for name, lim := range map[string]limit.Limiter{
		"keyed": keyed.By(tenantOf),
	} {
		t.Run(name, func(t *testing.T) {
			p := limit.Policy[int](lim)
			calls := 0
			a := context.WithValue(context.Background(), tenantKey{}, "a")
			b := context.WithValue(context.Background(), tenantKey{}, "b")
			_, err := policy.Run(a, p, counted(&calls, 1, nil))
			require.NoError(t, err)
			_, err = policy.Run(a, p, counted(&calls, 1, nil))
			require.ErrorIs(t, err, limit.ErrLimited, "tenant a is limited")
			_, err = policy.Run(b, p, counted(&calls, 1, nil))
			require.NoError(t, err, "tenant b has its own bucket")
			assert.Equal(t, 2, calls)
			assert.Contains(t, p.(interface{ String() string }).String(), "limit(")
		})
	}
}

func TestPolicyZeroAllocs(t *testing.T) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	for _, lim := range []limit.Limiter{limit.NewTokenBucket(1e9, 1e6), limit.NewLeakyBucket(1e9, 1e6)} {
		pipe := policy.Compose(limit.Policy[int](lim))
		allocs := testing.AllocsPerRun(1000, func() { _, _ = pipe.Run(ctx, fn) })
		assert.Zero(t, allocs, "an admitted call through the policy must not allocate")
	}
}

func TestPipelineErrReportsMisconfiguredLimiter(t *testing.T) {
	for name, p := range map[string]*policy.Pipeline[int]{
		"bad rate":   policy.Compose(limit.Policy[int](limit.NewTokenBucket(limit.PerSecond(-1), 1))),
		"nil":        policy.Compose(limit.Policy[int](nil)),
		"bad option": policy.Compose(limit.Policy[int](limit.NewTokenBucket(limit.PerSecond(1), 1), limit.WithMaxWait(-time.Second))),
	} {
		var le *policy.LayerError
		require.ErrorAs(t, p.Err(), &le, "%s: Pipeline.Err finds the misconfigured limiter", name)
		assert.ErrorIs(t, p.Err(), ion.ErrInvalidConfig, name)
	}
	assert.NoError(t, policy.Compose(limit.Policy[int](limit.NewTokenBucket(limit.PerSecond(1), 1))).Err())
}
