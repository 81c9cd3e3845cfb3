package pool_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

func TestPolicyRunsOnWorker(t *testing.T) {
	p := newPool(t, 2, 4, pool.WithName("io"))
	pipe := policy.Compose(pool.Policy[string](p))
	assert.Equal(t, []string{"pool(io)"}, pipe.Layers())
	v, err := pipe.Run(context.Background(), func(ctx context.Context) (string, error) {
		return "ran", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "ran", v)
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, uint64(1), p.Snapshot().Completed, "the call ran as a task of the pool")
	assert.Equal(t, "pool(nil)", pool.Policy[int](nil).(interface{ String() string }).String())
}

func TestPolicyCallerContext(t *testing.T) {
	base := context.WithValue(context.Background(), ctxKey("base"), "b")
	p := newPool(t, 1, 1, pool.WithBaseContext(base))
	ctx := context.WithValue(context.Background(), ctxKey("caller"), "c")
	v, err := policy.Run(ctx, pool.Policy[[2]any](p), func(ctx context.Context) ([2]any, error) {
		return [2]any{ctx.Value(ctxKey("caller")), ctx.Value(ctxKey("base"))}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, [2]any{"c", "b"}, v, "a Policy call sees the caller's and the base context's values")
}

func TestPolicyCallerCancelWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1)
		ctx, cancel := context.WithCancel(context.Background())
		proceed := make(chan struct{})
		var nextReturned atomic.Bool
		type result struct {
			v   int
			err error
		}
		res := make(chan result, 1)
		go func() {
			v, err := policy.Run(ctx, pool.Policy[int](p), func(ctx context.Context) (int, error) {
				<-ctx.Done()
				<-proceed // next keeps running after its ctx is cancelled
				nextReturned.Store(true)
				return 5, ctx.Err()
			})
			res <- result{v, err}
		}()
		synctest.Wait()
		cancel()
		synctest.Wait()
		assert.Empty(t, res, "Execute must not return while next still runs on the worker")
		close(proceed)
		r := <-res
		assert.True(t, nextReturned.Load(), "next had returned before Execute did")
		assert.ErrorIs(t, r.err, context.Canceled, "the caller's cancellation reached next's ctx")
		assert.Equal(t, 5, r.v, "Execute returns what next returned")
	})
}

func TestPolicyCallerCancelWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 2)
		g := newGate()
		fill(t, p, g, 1)
		ctx, cancel := context.WithCancel(context.Background())
		var ran atomic.Bool
		errc := make(chan error, 1)
		go func() {
			_, err := policy.Run(ctx, pool.Policy[int](p), func(context.Context) (int, error) {
				ran.Store(true)
				return 1, nil
			})
			errc <- err
		}()
		synctest.Wait()
		require.Equal(t, 1, p.Snapshot().Queued)
		cancel()
		err := <-errc
		require.ErrorIs(t, err, context.Canceled, "a queued call is withdrawn when its caller gives up")
		m := p.Snapshot()
		assert.Zero(t, m.Queued, "the withdrawn call leaves the queue")
		assert.Equal(t, uint64(1), m.Discarded)
		g.open()
		require.NoError(t, p.Wait(context.Background()))
		assert.False(t, ran.Load(), "a withdrawn call never runs")
	})
}

func TestPolicyCallerCancelWhileBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 0)
		g := newGate()
		fill(t, p, g, 1)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := policy.Run(ctx, pool.Policy[int](p), func(context.Context) (int, error) { return 1, nil })
			errc <- err
		}()
		waitBlocked(t, p, 1)
		cancel()
		assert.ErrorIs(t, <-errc, context.Canceled)
		assert.Equal(t, uint64(1), p.Snapshot().Rejected)
		g.open()
	})
}

func TestPolicyRejectsAndFailsClosed(t *testing.T) {
	rec := observe.NewRecorder()
	p := pool.New(1, 1, pool.WithTracer(rec))
	pol := pool.Policy[int](p)
	fn := func(context.Context) (int, error) { return 1, nil }
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := policy.Run(done, pol, fn)
	assert.ErrorIs(t, err, context.Canceled, "an already-done ctx fails the call")
	_, err = pol.Execute(nilCtx, policy.Next[int]{})
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "nil ctx")
	_, err = policy.Run(context.Background(), pool.Policy[int](nil), fn)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "nil pool fails closed")

	_, err = p.Close(context.Background())
	require.NoError(t, err)
	_, err = policy.Run(context.Background(), pol, fn)
	assert.ErrorIs(t, err, pool.ErrClosed)
	assert.ErrorIs(t, err, ion.ErrRejected, "a closed pool's refusal is a rejection")
	spans := rec.Spans()
	require.Len(t, spans, 1, "one span per execution that got past input checks")
	assert.Equal(t, observe.SpanRecord{Name: "pool.execute", Ended: true, Outcome: "rejected", Err: err}, spans[0])
}

func TestPolicySpans(t *testing.T) {
	rec := observe.NewRecorder()
	p := newPool(t, 1, 1, pool.WithTracer(rec))
	pol := pool.Policy[int](p)
	_, err := policy.Run(context.Background(), pol, func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	_, err = policy.Run(context.Background(), pol, func(context.Context) (int, error) { return 0, errors.New("x") })
	require.Error(t, err)
	spans := rec.Spans()
	require.Len(t, spans, 2, "a Policy call is one span, not one per side")
	assert.Equal(t, "success", spans[0].Outcome)
	assert.Equal(t, "failure", spans[1].Outcome)
}

func TestPolicyPanicIsReturned(t *testing.T) {
	p := newPool(t, 1, 1)
	_, err := policy.Run(context.Background(), pool.Policy[int](p), func(context.Context) (int, error) {
		panic("worker")
	})
	var pe *ion.PanicError
	require.ErrorAs(t, err, &pe, "a panic in next comes back as a PanicError, not a crash")
	assert.Equal(t, "worker", pe.Value)
}

func TestPolicyForcedClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 2)
		pol := pool.Policy[int](p)
		running := make(chan error, 1)
		queued := make(chan error, 1)
		go func() {
			_, err := policy.Run(context.Background(), pol, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, context.Cause(ctx)
			})
			running <- err
		}()
		synctest.Wait()
		go func() {
			_, err := policy.Run(context.Background(), pol, func(context.Context) (int, error) { return 1, nil })
			queued <- err
		}()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		n, err := p.Close(ctx)
		assert.Equal(t, 1, n)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, <-queued, pool.ErrClosed, "a queued Policy call is discarded by a forced Close")
		assert.Equal(t, pool.ErrClosed, <-running, "a running Policy call's ctx is cancelled by a forced Close, with cause ErrClosed")
		_, err = p.Close(context.Background())
		require.NoError(t, err)
	})
}

func TestPolicyBaseCancelledWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base, cancelBase := context.WithCancel(context.Background())
		p := newPool(t, 1, 2, pool.WithBaseContext(base))
		g := newGate()
		fill(t, p, g, 1)
		errc := make(chan error, 1)
		go func() {
			_, err := policy.Run(context.Background(), pool.Policy[int](p), func(context.Context) (int, error) { return 1, nil })
			errc <- err
		}()
		synctest.Wait()
		require.Equal(t, 1, p.Snapshot().Queued)
		cancelBase()
		assert.ErrorIs(t, <-errc, context.Canceled, "a queued call is withdrawn when the base context ends")
		g.open()
	})
}

func TestPolicyExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1, pool.WithMaxQueueWait(time.Millisecond))
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
			time.Sleep(5 * time.Millisecond)
			return nil
		}))
		_, err := policy.Run(context.Background(), pool.Policy[int](p), func(context.Context) (int, error) { return 1, nil })
		assert.ErrorIs(t, err, pool.ErrExpired, "a Policy call that waited too long is rejected with ErrExpired")
		assert.ErrorIs(t, err, ion.ErrRejected)
	})
}

// TestPoolPolicyForcedCloseLooksLikeAFailure guards the bug that a Policy
// call running on a worker when a forced Close cut it got its ctx
// cancelled with a plain context.Canceled, and its caller, whose ctx was
// live, the call's own context.Canceled: an outer breaker counted the
// pool's shutdown as a failure of the dependency. The call's ctx must be
// cancelled with cause ErrClosed, as a task's is, and an error it returns
// then must match ErrClosed (a rejection, classified Ignored), while a
// result, a panic, and an error that already says ErrClosed pass
// unchanged.
func TestPoolPolicyForcedCloseLooksLikeAFailure(t *testing.T) {
	errDown := errors.New("dependency down")
	tests := []struct {
		name    string
		ret     func(ctx context.Context) (int, error) // after the call's ctx ended
		want    []error                                // matched by the caller's error
		text    string                                 // the caller's error text, if any
		value   int
		outcome policy.Outcome
	}{
		{"ctx error", func(ctx context.Context) (int, error) { return 0, ctx.Err() },
			[]error{pool.ErrClosed, ion.ErrRejected, context.Canceled}, "pool: closed while the call ran: context canceled", 0, policy.Ignored},
		{"own error", func(context.Context) (int, error) { return 0, errDown },
			[]error{pool.ErrClosed, ion.ErrRejected, errDown}, "pool: closed while the call ran: dependency down", 0, policy.Ignored},
		{"the cause", func(ctx context.Context) (int, error) { return 0, context.Cause(ctx) },
			[]error{pool.ErrClosed}, "pool: closed", 0, policy.Ignored},
		{"a result", func(context.Context) (int, error) { return 7, nil }, nil, "", 7, policy.Success},
		{"a panic", func(context.Context) (int, error) { panic("late") }, nil, "ion: panic: late", 0, policy.Failure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := pool.New(1, 1)
				var outcome policy.Outcome
				outer := policy.New("outer", func(ctx context.Context, next policy.Next[int]) (int, error) {
					v, err := next.Call(ctx)
					outcome = next.Classify(ctx, v, err) // as a breaker outside the pool would
					return v, err
				})
				type result struct {
					v   int
					err error
				}
				var cause error
				done := make(chan result, 1)
				// Owner: this test. Exit: when the forced Close below cuts
				// the call. Join: <-done.
				go func() {
					v, err := policy.Compose(outer, pool.Policy[int](p)).Run(context.Background(), func(ctx context.Context) (int, error) {
						<-ctx.Done()
						cause = context.Cause(ctx)
						return tc.ret(ctx)
					})
					done <- result{v, err}
				}()
				synctest.Wait()
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				_, err := p.Close(ctx)
				require.ErrorIs(t, err, context.DeadlineExceeded, "the Close is forced")
				r := <-done

				assert.Equal(t, pool.ErrClosed, cause, "the cut call's context.Cause is ErrClosed, as a task's")
				assert.Equal(t, tc.value, r.v)
				for _, w := range tc.want {
					assert.ErrorIs(t, r.err, w)
				}
				if tc.text == "" {
					assert.NoError(t, r.err)
				} else {
					assert.EqualError(t, r.err, tc.text)
				}
				if tc.name == "a panic" {
					var pe *ion.PanicError
					assert.ErrorAs(t, r.err, &pe, "a panic is the call's own fault, not the pool's shutdown")
				}
				assert.Equal(t, tc.outcome, outcome, "the outer layer's classification")
			})
		})
	}
	t.Run("base context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errGone := errors.New("base gone")
			base, cancelBase := context.WithCancelCause(context.Background())
			p := pool.New(1, 1, pool.WithBaseContext(base))
			var cause error
			done := make(chan error, 1)
			// Owner: this test. Exit: when the end of the base context cuts
			// the call. Join: <-done.
			go func() {
				_, err := policy.Run(context.Background(), pool.Policy[int](p), func(ctx context.Context) (int, error) {
					<-ctx.Done()
					cause = context.Cause(ctx)
					return 0, ctx.Err()
				})
				done <- err
			}()
			synctest.Wait()
			cancelBase(errGone)
			err := <-done
			assert.Equal(t, errGone, cause, "the cut call's cause is the base context's")
			assert.ErrorIs(t, err, errGone)
			assert.ErrorIs(t, err, context.Canceled)
			_, err = p.Close(context.Background())
			require.NoError(t, err)
		})
	})
	t.Run("caller cancelled too", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := pool.New(1, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			// Owner: this test. Exit: when the call, cut by the forced
			// Close, returns. Join: <-done.
			go func() {
				_, err := policy.Run(ctx, pool.Policy[int](p), func(cctx context.Context) (int, error) {
					<-cctx.Done()
					cancel() // the caller gives up as well before the call returns
					return 0, cctx.Err()
				})
				done <- err
			}()
			synctest.Wait()
			cctx, ccancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer ccancel()
			_, err := p.Close(cctx)
			require.Error(t, err)
			err = <-done
			assert.Equal(t, context.Canceled, err, "the caller's own cancellation explains the error: it is not wrapped")
		})
	})
}

func TestPipelineErrReportsMisconfiguredPool(t *testing.T) {
	bad := pool.New(0, 1)
	err := policy.Compose(pool.Policy[int](bad)).Err()
	var le *policy.LayerError
	require.ErrorAs(t, err, &le, "Pipeline.Err finds the misconfigured pool")
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.ErrorIs(t, policy.Compose(pool.Policy[int](nil)).Err(), ion.ErrInvalidConfig)
	good := pool.New(1, 1)
	defer good.Close(context.Background())
	assert.NoError(t, policy.Compose(pool.Policy[int](good)).Err())
}
