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

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// With WithBaseContext(ctx), a task still queued when ctx was cancelled ran
// anyway (with a done ctx) and its Future reported the task's own result,
// while the same pool with a pass-through task policy did not run it and
// reported context.Canceled. Every path now follows one rule: a task whose
// ctx is done when a worker takes it is not run, is reported with the ctx's
// error, and counts as discarded.
func TestBaseContextCancelledQueuedTaskRuns(t *testing.T) {
	passThrough := policy.New("pass", func(ctx context.Context, next policy.Next[any]) (any, error) { return next.Call(ctx) })
	for name, opts := range map[string][]pool.Option{
		"no task policy":           nil,
		"pass-through task policy": {pool.WithTaskPolicy(passThrough)},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base, cancel := context.WithCancel(context.Background())
				var discarded []error
				opts := append(opts, pool.WithBaseContext(base), pool.WithDiscardHandler(func(_ context.Context, _ pool.Task, err error) {
					discarded = append(discarded, err) // on the worker, before Close returns
				}))
				p := newPool(t, 1, 4, opts...)
				g := newGate()
				fill(t, p, g, 1)
				var ran atomic.Int64
				f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { ran.Add(1); return 7, nil })
				require.NoError(t, err)
				require.NoError(t, p.Submit(context.Background(), func(context.Context) error { ran.Add(1); return nil }))
				cancel()
				g.open()
				v, err := f.Wait(context.Background())
				assert.ErrorIs(t, err, context.Canceled, "the Future reports the base context's error")
				assert.Zero(t, v)
				require.NoError(t, p.Wait(context.Background()))
				assert.Zero(t, ran.Load(), "no task starts after its base context is done")
				require.Len(t, discarded, 1, "the Submit task is reported to the discard handler")
				assert.ErrorIs(t, discarded[0], context.Canceled)
				m := p.Snapshot()
				assert.Equal(t, uint64(2), m.Discarded, "both tasks count as discarded")
				assert.Equal(t, uint64(1), m.Completed, "the gate task")
				assert.Zero(t, m.Failed)
			})
		})
	}
}

// A task's ctx carries its submitter's deadline: a task still queued when
// the deadline passes is not run either, and reports DeadlineExceeded.
func TestSubmitterDeadlinePassedWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 4)
		g := newGate()
		fill(t, p, g, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var ran atomic.Int64
		f, err := pool.Go(ctx, p, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
		require.NoError(t, err)
		time.Sleep(2 * time.Second)
		g.open()
		_, err = f.Wait(context.Background())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, ran.Load())
	})
}

// A submitter's cancellation without a deadline is not part of a
// fire-and-forget task's ctx (the task outlives the request that submitted
// it): such a task still runs.
func TestSubmitterCancelDoesNotStopAcceptedTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 4)
		g := newGate()
		fill(t, p, g, 1)
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		require.NoError(t, p.Submit(ctx, func(ctx context.Context) error { ran <- ctx.Err(); return nil }))
		cancel()
		g.open()
		assert.NoError(t, <-ran, "the task runs with a live ctx")
	})
}

// A Policy call taken by a worker just as its caller gives up is not run.
func TestPolicyCallerCancelledBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 4)
		g := newGate()
		fill(t, p, g, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var ran atomic.Int64
		_, err := policy.Run(ctx, pool.Policy[int](p), func(context.Context) (int, error) { ran.Add(1); return 1, nil })
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "Run = %v", err)
		g.open()
		require.NoError(t, p.Wait(context.Background()))
		assert.Zero(t, ran.Load())
		assert.Equal(t, uint64(1), p.Snapshot().Discarded)
	})
}
