package sem_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func ok(context.Context) (string, error) { return "ok", nil }

func TestPolicyRunsAndReleases(t *testing.T) {
	s := sem.NewWeighted(3)
	bulkhead := sem.Policy[string](s, sem.WithWeight(2))
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      policy.Func[string]
		want    string
		wantErr error
	}{
		{"success", ok, "ok", nil},
		{"error", func(context.Context) (string, error) { return "", errBoom }, "", errBoom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := policy.Run(context.Background(), bulkhead, func(ctx context.Context) (string, error) {
				assert.Equal(t, int64(1), s.Available(), "the call must hold its weight while it runs")
				return tc.fn(ctx)
			})
			assert.Equal(t, tc.want, v)
			assert.ErrorIs(t, err, tc.wantErr)
			if tc.wantErr == nil {
				assert.NoError(t, err)
			}
			assert.Equal(t, int64(3), s.Available(), "the permits must be released after the call")
		})
	}
}

func TestPolicyRejectsWhenFull(t *testing.T) {
	rec := observe.NewRecorder()
	s := sem.NewWeighted(2, sem.WithMetrics(rec), sem.WithName("db"))
	bulkhead := sem.Policy[string](s)
	require.True(t, s.TryAcquire(2))
	called := false
	v, err := policy.Run(context.Background(), bulkhead, func(context.Context) (string, error) {
		called = true
		return "ok", nil
	})
	assert.False(t, called, "a rejected call must not run")
	assert.Empty(t, v)
	assert.Same(t, sem.ErrFull, err, "without a max wait the bulkhead rejects at once with ErrFull")
	assert.ErrorIs(t, err, ion.ErrRejected)
	assert.Equal(t, int64(1), rec.Count("ion_sem_acquire_total", observe.L("name", "db"), observe.L("result", "rejected")))
	assert.Zero(t, s.Waiting(), "a bulkhead without max wait never queues")
	s.Release(2)
}

func TestPolicyDoesNotBargeUnderFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(3)
		require.True(t, s.TryAcquire(2))
		w := newWaiters(t, s)
		w.queue(2)
		_, err := policy.Run(t.Context(), sem.Policy[string](s), ok)
		assert.ErrorIs(t, err, sem.ErrFull, "FIFO: the bulkhead must not take the free permit ahead of a waiter")
		s.Release(2)
		assert.Equal(t, []int{0}, w.take())
		s.Release(2)
	})
}

func TestPolicyMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		s := sem.NewWeighted(1, sem.WithMetrics(rec), sem.WithAcquireTimeout(time.Hour))
		bulkhead := sem.Policy[string](s, sem.WithMaxWait(time.Second))
		require.True(t, s.TryAcquire(1))

		start := time.Now()
		_, err := policy.Run(t.Context(), bulkhead, ok)
		assert.Equal(t, time.Second, time.Since(start), "the max wait replaces the semaphore's acquire timeout")
		assert.ErrorIs(t, err, sem.ErrFull)
		assert.ErrorIs(t, err, ion.ErrRejected)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, int64(1), rec.Count("ion_sem_acquire_total", observe.L("name", ""), observe.L("result", "timeout")))

		go func() { // owner: the test; exits after the release; joined by synctest.Wait
			time.Sleep(500 * time.Millisecond)
			s.Release(1)
		}()
		v, err := policy.Run(t.Context(), bulkhead, ok)
		require.NoError(t, err, "a permit freed within the max wait serves the call")
		assert.Equal(t, "ok", v)
		synctest.Wait()
		assert.Equal(t, int64(1), s.Available())
	})
}

func TestPolicyCallerCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		s := sem.NewWeighted(1, sem.WithTracer(rec))
		bulkhead := sem.Policy[string](s, sem.WithMaxWait(time.Hour))

		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := bulkhead.Execute(canceled, policy.Next[string]{})
		assert.ErrorIs(t, err, context.Canceled, "an already-done ctx fails the call even with a free permit")
		assert.NotErrorIs(t, err, ion.ErrRejected, "the caller's own cancellation is not a rejection")
		assert.Equal(t, int64(1), s.Available())

		require.True(t, s.TryAcquire(1))
		ctx, cancel2 := context.WithTimeout(t.Context(), time.Minute)
		defer cancel2()
		_, err = policy.Run(ctx, bulkhead, ok)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline bounds the wait")
		assert.NotErrorIs(t, err, sem.ErrFull)
		s.Release(1)

		spans := rec.Spans()
		require.Len(t, spans, 2)
		for _, sp := range spans {
			assert.True(t, sp.Ended)
			assert.Equal(t, "ignored", sp.Outcome, "the caller's own cancellation is ignored")
		}
	})
}

// TestFailsafeGoBulkheadPanicLeaksPermit guards against failsafe-go's
// bulkhead bug: a panic in the call, recovered upstream, leaked its permit
// for good.
func TestFailsafeGoBulkheadPanicLeaksPermit(t *testing.T) {
	rec := observe.NewRecorder()
	s := sem.NewWeighted(1, sem.WithTracer(rec))
	bulkhead := sem.Policy[string](s)
	for range 3 {
		func() {
			defer func() {
				r := recover()
				assert.Equal(t, "boom", r, "the panic must reach the caller unchanged")
			}()
			_, _ = policy.Run(context.Background(), bulkhead, func(context.Context) (string, error) {
				panic("boom")
			})
			t.Fatal("the panic was swallowed")
		}()
		require.Equal(t, int64(1), s.Available(), "a panicking call must release its permit")
	}
	spans := rec.Spans()
	require.Len(t, spans, 3)
	assert.Equal(t, "failure", spans[0].Outcome, "a panic is recorded as a failure")
	var perr *ion.PanicError
	require.ErrorAs(t, spans[0].Err, &perr)
	assert.Equal(t, "boom", perr.Value)
	v, err := policy.Run(context.Background(), bulkhead, ok)
	assert.NoError(t, err, "the bulkhead must still admit calls after panics")
	assert.Equal(t, "ok", v)
}

func TestPolicyGoexitReleases(t *testing.T) {
	rec := observe.NewRecorder()
	s := sem.NewWeighted(1, sem.WithTracer(rec))
	bulkhead := sem.Policy[string](s)
	done := make(chan struct{})
	go func() { // owner: the test; ends by runtime.Goexit inside the call; joined by <-done
		defer close(done)
		_, _ = policy.Run(context.Background(), bulkhead, func(context.Context) (string, error) {
			runtime.Goexit()
			return "", nil
		})
	}()
	<-done
	assert.Equal(t, int64(1), s.Available(), "runtime.Goexit in the call must release its permit")
	spans := rec.Spans()
	require.Len(t, spans, 1)
	assert.Equal(t, "failure", spans[0].Outcome)
	assert.NoError(t, spans[0].Err, "Goexit is not a panic")
}

func TestPolicyTracer(t *testing.T) {
	rec := observe.NewRecorder()
	s := sem.NewWeighted(1, sem.WithTracer(rec), sem.WithName("db"))
	bulkhead := sem.Policy[string](s)
	errBoom := errors.New("boom")

	_, _ = policy.Run(context.Background(), bulkhead, ok)
	_, _ = policy.Run(context.Background(), bulkhead, func(context.Context) (string, error) { return "", errBoom })
	require.True(t, s.TryAcquire(1))
	_, _ = policy.Run(context.Background(), bulkhead, ok)
	s.Release(1)

	spans := rec.Spans()
	require.Len(t, spans, 3, "one span per call")
	want := []struct {
		outcome string
		err     error
	}{{"success", nil}, {"failure", errBoom}, {"rejected", sem.ErrFull}}
	for i, w := range want {
		assert.Equal(t, bulkhead.(interface{ String() string }).String(), spans[i].Name)
		assert.True(t, spans[i].Ended)
		assert.Equal(t, w.outcome, spans[i].Outcome, "span %d", i)
		assert.Equal(t, w.err, spans[i].Err, "span %d", i)
	}
}

func TestPolicyClassifier(t *testing.T) {
	rec := observe.NewRecorder()
	s := sem.NewWeighted(1, sem.WithTracer(rec))
	p := policy.Compose(sem.Policy[int](s)).WithClassifier(func(v int, err error) policy.Outcome {
		if v == 503 {
			return policy.Failure
		}
		return policy.Success
	})
	_, err := p.Run(context.Background(), func(context.Context) (int, error) { return 503, nil })
	require.NoError(t, err)
	require.Len(t, rec.Spans(), 1)
	assert.Equal(t, "failure", rec.Spans()[0].Outcome, "the span must use the pipeline's classifier")
}

func TestPolicyInvalid(t *testing.T) {
	valid := sem.NewWeighted(3)
	tests := []struct {
		name  string
		s     *sem.Weighted
		opts  []sem.PolicyOption
		param string
	}{
		{"nil semaphore", nil, nil, "Policy"},
		{"fail-closed semaphore", sem.NewWeighted(0), nil, "capacity"},
		{"zero weight", valid, []sem.PolicyOption{sem.WithWeight(0)}, "WithWeight"},
		{"negative weight", valid, []sem.PolicyOption{sem.WithWeight(-1)}, "WithWeight"},
		{"weight above capacity", valid, []sem.PolicyOption{sem.WithWeight(4)}, "WithWeight"},
		{"negative max wait", valid, []sem.PolicyOption{sem.WithMaxWait(-time.Second)}, "WithMaxWait"},
		{"nil option", valid, []sem.PolicyOption{nil}, "opts"},
		{"first error wins", valid, []sem.PolicyOption{sem.WithMaxWait(-1), nil}, "WithMaxWait"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bulkhead := sem.Policy[string](tc.s, tc.opts...)
			called := false
			_, err := policy.Run(context.Background(), bulkhead, func(context.Context) (string, error) {
				called = true
				return "", nil
			})
			assert.False(t, called, "an invalid bulkhead must fail closed without running the call")
			require.ErrorIs(t, err, ion.ErrInvalidConfig)
			var cerr *ion.ConfigError
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, tc.param, cerr.Param)
			assert.Contains(t, bulkhead.(interface{ String() string }).String(), "bulkhead(invalid: ")
		})
	}
	assert.Equal(t, int64(3), valid.Available())
}

func TestPolicyNilCtx(t *testing.T) {
	s := sem.NewWeighted(1)
	//lint:ignore SA1012 the test checks that a nil ctx fails closed
	_, err := sem.Policy[string](s).Execute(nil, policy.Next[string]{})
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.Equal(t, int64(1), s.Available())
}

func TestPolicyString(t *testing.T) {
	tests := []struct {
		s    *sem.Weighted
		opts []sem.PolicyOption
		want string
	}{
		{sem.NewWeighted(10), nil, "bulkhead(capacity 10, FIFO, weight 1, no wait)"},
		{sem.NewWeighted(10, sem.WithName("db"), sem.WithFairness(sem.LIFO)),
			[]sem.PolicyOption{sem.WithWeight(2), sem.WithMaxWait(50 * time.Millisecond)},
			"bulkhead(db, capacity 10, LIFO, weight 2, max wait 50ms)"},
	}
	for _, tc := range tests {
		p := sem.Policy[int](tc.s, tc.opts...)
		assert.Equal(t, tc.want, p.(interface{ String() string }).String())
		assert.Equal(t, []string{tc.want}, policy.Compose(p).Layers())
	}
}

func TestPolicyBoundsConcurrency(t *testing.T) {
	const capacity = 4
	for _, f := range fairnesses {
		t.Run(f.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(capacity, sem.WithFairness(f))
				bulkhead := sem.Policy[int](s, sem.WithWeight(2), sem.WithMaxWait(time.Hour))
				var inFlight, peak atomic.Int64
				var served atomic.Int64
				var wg sync.WaitGroup
				for range 20 {
					wg.Go(func() { // owner: the test; exits after its call; joined by wg.Wait
						_, err := policy.Run(t.Context(), bulkhead, func(context.Context) (int, error) {
							n := inFlight.Add(1)
							for {
								p := peak.Load()
								if n <= p || peak.CompareAndSwap(p, n) {
									break
								}
							}
							time.Sleep(time.Millisecond)
							inFlight.Add(-1)
							return 0, nil
						})
						if err == nil {
							served.Add(1)
						}
					})
				}
				wg.Wait()
				assert.Equal(t, int64(20), served.Load(), "every call is served within the max wait")
				assert.Equal(t, int64(capacity/2), peak.Load(), "weight 2 of capacity 4: at most two calls at once")
				assert.Equal(t, int64(capacity), s.Available())
			})
		})
	}
}

func TestPolicyZeroAllocs(t *testing.T) {
	rec := observe.NewRecorder()
	for _, tc := range []struct {
		name string
		s    *sem.Weighted
	}{
		{"no sinks", sem.NewWeighted(10)},
		{"metrics", sem.NewWeighted(10, sem.WithMetrics(rec))},
	} {
		p := policy.Compose(sem.Policy[string](tc.s))
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			if v, err := p.Run(ctx, ok); v != "ok" || err != nil {
				t.Fatalf("Run = %q, %v", v, err)
			}
		})
		assert.Zero(t, allocs, "%s: a call through the bulkhead must not allocate", tc.name)
		allocs = testing.AllocsPerRun(1000, func() {
			require.True(t, tc.s.TryAcquire(10))
			if _, err := p.Run(ctx, ok); err != sem.ErrFull {
				t.Fatalf("Run err = %v, want ErrFull", err)
			}
			tc.s.Release(10)
		})
		assert.Zero(t, allocs, "%s: a rejection must not allocate", tc.name)
	}
}

func TestPipelineErrReportsMisconfiguredBulkhead(t *testing.T) {
	err := policy.Compose(sem.Policy[int](sem.NewWeighted(2), sem.WithWeight(3))).Err()
	var le *policy.LayerError
	require.ErrorAs(t, err, &le, "Pipeline.Err finds the misconfigured bulkhead")
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.NoError(t, policy.Compose(sem.Policy[int](sem.NewWeighted(2))).Err())
}
