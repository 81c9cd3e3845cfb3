package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// TestFailsafeGoCallerCancellationCountsAsFailure guards against
// failsafe-go's default (v0.9.8): a breaker opened after a single call whose
// caller cancelled its own ctx.
func TestFailsafeGoCallerCancellationCountsAsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("t", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(1),
			breaker.WithSuccessThreshold(1))
		p := breaker.Policy[int](cb)
		cancelled := func() error {
			ctx, cancel := context.WithCancel(context.Background())
			_, err := policy.Run(ctx, p, func(ctx context.Context) (int, error) {
				cancel() // the caller gives up while the call runs
				<-ctx.Done()
				return 0, ctx.Err()
			})
			return err
		}
		for range 5 {
			require.ErrorIs(t, cancelled(), context.Canceled)
		}
		assert.Equal(t, breaker.Closed, cb.State(), "the caller's cancellation is not a failure")
		assert.Equal(t, int64(5), cb.Snapshot().Ignored)

		// A context error from downstream, with the caller's ctx alive, is.
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) {
			return 0, context.DeadlineExceeded
		})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, breaker.Open, cb.State(), "a downstream timeout is a failure")

		// In the half-open state a cancelled probe gives its slot back.
		time.Sleep(30 * time.Second)
		require.ErrorIs(t, cancelled(), context.Canceled)
		require.Equal(t, breaker.HalfOpen, cb.State(), "a cancelled probe neither closes nor opens")
		_, err = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 1, nil })
		require.NoError(t, err, "the cancelled probe's slot was released")
		assert.Equal(t, breaker.Closed, cb.State())
	})
}

func TestPolicyAlreadyDoneCtx(t *testing.T) {
	cb := breaker.New("t", breaker.WithConsecutiveFailures(1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Execute directly: policy.Run would check ctx before the breaker.
	_, err := breaker.Policy[int](cb).Execute(ctx, policy.Next[int]{})
	require.ErrorIs(t, err, context.Canceled, "an already-done ctx fails the call before the breaker")
	s := cb.Snapshot()
	assert.Zero(t, s.Successes+s.Failures+s.Ignored+s.Rejected, "nothing was asked or counted")
}

// TestPolicyClassifierOnResult shows the pipeline's classifier deciding on
// the result: a 503 with a nil error is a Failure.
func TestPolicyClassifierOnResult(t *testing.T) {
	cb := breaker.New("t", breaker.WithConsecutiveFailures(2))
	p := policy.Compose(breaker.Policy[int](cb)).WithClassifier(func(status int, err error) policy.Outcome {
		switch {
		case err != nil || status >= 500:
			return policy.Failure
		case status == http.StatusTooManyRequests:
			return policy.Ignored
		}
		return policy.Success
	})
	status := func(code int) policy.Func[int] {
		return func(context.Context) (int, error) { return code, nil }
	}
	ctx := context.Background()
	_, _ = p.Run(ctx, status(503))
	_, _ = p.Run(ctx, status(429)) // ignored: the run of failures goes on
	assert.Equal(t, int64(1), cb.Snapshot().Counts.ConsecutiveFailures)
	v, err := p.Run(ctx, status(503))
	require.NoError(t, err, "the caller still gets the result")
	assert.Equal(t, 503, v)
	assert.Equal(t, breaker.Open, cb.State(), "two 503s with nil errors open the breaker")
}

func TestPolicyPanicRecordsFailureAndRepanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("t", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(1),
			breaker.WithSuccessThreshold(1))
		p := breaker.Policy[int](cb)
		boom := func(context.Context) (int, error) { panic("boom") }
		require.PanicsWithValue(t, "boom", func() { _, _ = policy.Run(context.Background(), p, boom) },
			"the panic propagates unchanged")
		require.Equal(t, breaker.Open, cb.State(), "a panic is a failure")
		assert.Equal(t, int64(1), cb.Snapshot().Failures)

		time.Sleep(30 * time.Second)
		require.PanicsWithValue(t, "boom", func() { _, _ = policy.Run(context.Background(), p, boom) })
		require.Equal(t, breaker.Open, cb.State(), "a panicking probe re-opens")
		time.Sleep(30 * time.Second)
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 1, nil })
		require.NoError(t, err, "the panicking probe's slot was released")
		assert.Equal(t, breaker.Closed, cb.State())
	})
}

// TestPolicyGoexitRecordsFailure: a call that ends its goroutine with
// runtime.Goexit (t.FailNow in a test's function, which recover cannot see)
// counts as a failure, on the closed path and as a half-open probe, whose
// slot it frees.
func TestPolicyGoexitRecordsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("t", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(1),
			breaker.WithSuccessThreshold(1))
		p := breaker.Policy[int](cb)
		goexit := func() {
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) {
					runtime.Goexit()
					return 0, nil
				})
			}()
			<-done
		}
		goexit()
		require.Equal(t, breaker.Open, cb.State(), "a call that called Goexit is a failure")
		assert.Equal(t, int64(1), cb.Snapshot().Failures)

		time.Sleep(30 * time.Second)
		goexit()
		require.Equal(t, breaker.Open, cb.State(), "so is such a probe: it re-opens the breaker")
		time.Sleep(30 * time.Second)
		_, err := policy.Run(context.Background(), p, ok)
		require.NoError(t, err, "the probe's slot was freed")
		assert.Equal(t, breaker.Closed, cb.State())
		assert.Equal(t, int64(2), cb.Snapshot().Failures)
	})
}

// TestPolicyClassifierPanicFreesProbeSlot guards a bug: the adapter marked
// the call returned before classifying it, so a panicking classifier left
// the call unreported and, in the half-open state, kept its probe slot until
// the breaker changed state.
func TestPolicyClassifierPanicFreesProbeSlot(t *testing.T) {
	for _, traced := range []bool{false, true} {
		t.Run(fmt.Sprintf("traced=%t", traced), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := []breaker.Option{breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(1),
					breaker.WithSuccessThreshold(1), breaker.WithOpenDuration(time.Minute)}
				if traced {
					opts = append(opts, breaker.WithTracer(observe.NewRecorder()))
				}
				cb := breaker.New("t", opts...)
				panicky := true
				p := policy.Compose(breaker.Policy[int](cb)).WithClassifier(func(_ int, err error) policy.Outcome {
					if panicky {
						panic("classifier")
					}
					return policy.Success
				})
				run := func() error { _, err := p.Run(context.Background(), ok); return err }
				require.PanicsWithValue(t, "classifier", func() { _ = run() }, "the panic propagates unchanged")
				assert.Equal(t, int64(1), cb.Snapshot().Failures, "a panicking classifier counts as a failure")
				require.Equal(t, breaker.Open, cb.State())

				time.Sleep(time.Minute)
				require.PanicsWithValue(t, "classifier", func() { _ = run() })
				require.Equal(t, breaker.Open, cb.State(), "the probe failed and re-opened the breaker")
				time.Sleep(time.Minute)
				panicky = false
				require.NoError(t, run(), "the panicking probe's slot was freed")
				assert.Equal(t, breaker.Closed, cb.State())
			})
		})
	}
}

func TestPolicyRejections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("payments", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Minute))
		p := breaker.Policy[string](cb)
		ctx := context.Background()
		_, _ = policy.Run(ctx, p, func(context.Context) (string, error) { return "", errBoom })
		time.Sleep(15 * time.Second)
		ran := false
		_, err := policy.Run(ctx, p, func(context.Context) (string, error) { ran = true; return "", nil })
		assert.False(t, ran, "an open breaker does not call next")
		require.ErrorIs(t, err, breaker.ErrOpen)
		require.ErrorIs(t, err, ion.ErrRejected)
		assert.NotErrorIs(t, err, breaker.ErrHalfOpenBusy)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "payments", oe.Name)
		assert.Equal(t, "breaker: payments: open", err.Error())
		d, ok := ion.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, 45*time.Second, d, "Retry-After is the time left until half-open")
		assert.Equal(t, "breaker: open", (&breaker.OpenError{}).Error())
		assert.Equal(t, breaker.ErrOpen, errors.Unwrap(err))

		cb.Trip()
		_, err = policy.Run(ctx, p, func(context.Context) (string, error) { return "", nil })
		assert.Same(t, breaker.ErrOpen, err, "a forced-open breaker returns ErrOpen itself")
		_, ok = ion.RetryAfter(err)
		assert.False(t, ok, "a forced-open breaker does not know when to come back")
		assert.Equal(t, int64(2), cb.Snapshot().Rejected)
		assert.ErrorIs(t, breaker.ErrHalfOpenBusy, ion.ErrRejected)
	})
}

func TestPolicyNilBreakerAndString(t *testing.T) {
	p := breaker.Policy[int](nil)
	_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 1, nil })
	require.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.Equal(t, "breaker(nil)", p.(interface{ String() string }).String())

	pl := policy.Compose(breaker.Policy[int](breaker.New("payments")))
	assert.Equal(t, []string{"breaker(payments)"}, pl.Layers())
}

func TestPolicyTracer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		cb := breaker.New("db", breaker.WithConsecutiveFailures(2), breaker.WithTracer(rec))
		p := breaker.Policy[int](cb)
		ctx := context.Background()
		_, _ = policy.Run(ctx, p, func(context.Context) (int, error) { return 1, nil })
		_, _ = policy.Run(ctx, p, func(context.Context) (int, error) { return 0, errBoom })
		cctx, cancel := context.WithCancel(ctx)
		_, _ = policy.Run(cctx, p, func(ctx context.Context) (int, error) { cancel(); return 0, ctx.Err() })
		assert.Panics(t, func() {
			_, _ = policy.Run(ctx, p, func(context.Context) (int, error) { panic("x") })
		})
		_, rejected := policy.Run(ctx, p, func(context.Context) (int, error) { return 1, nil })

		spans := rec.Spans()
		require.Len(t, spans, 5, "one span per execution")
		want := []struct {
			outcome string
			err     error
		}{{"success", nil}, {"failure", errBoom}, {"ignored", context.Canceled}, {"failure", nil}, {"rejected", rejected}}
		for i, w := range want {
			assert.Equal(t, "breaker(db)", spans[i].Name)
			assert.True(t, spans[i].Ended, "span %d ended", i)
			assert.Equal(t, w.outcome, spans[i].Outcome, "span %d outcome", i)
			if i == 3 {
				// A panic is recorded on the span as *ion.PanicError, as by
				// every adapter, and goes on.
				var pe *ion.PanicError
				require.ErrorAs(t, spans[i].Err, &pe, "span %d error", i)
				assert.Equal(t, "x", pe.Value)
				continue
			}
			assert.ErrorIs(t, spans[i].Err, w.err, "span %d error", i)
		}
		assert.ErrorIs(t, rejected, breaker.ErrOpen)
	})
}

func TestPipelineErrReportsMisconfiguredBreaker(t *testing.T) {
	bad := breaker.New("x", breaker.WithConsecutiveFailures(-1))
	err := policy.Compose(policy.Retry[int](), breaker.Policy[int](bad)).Err()
	var le *policy.LayerError
	require.ErrorAs(t, err, &le, "Pipeline.Err finds the misconfigured breaker")
	assert.Equal(t, 1, le.Index)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.NoError(t, policy.Compose(breaker.Policy[int](breaker.New("ok"))).Err())
	assert.ErrorIs(t, policy.Compose(breaker.Policy[int](nil)).Err(), ion.ErrInvalidConfig)
}
