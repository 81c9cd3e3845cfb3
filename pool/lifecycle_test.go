package pool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

func TestExactlyOnceAcrossClose(t *testing.T) {
	const tasks = 10_000
	p := pool.New(4, 64)
	var runs [tasks]atomic.Int32
	var accepted [tasks]bool
	var wg sync.WaitGroup
	var submitted atomic.Int64
	half := make(chan struct{}) // closed when half the tasks were submitted
	closed := make(chan struct{})
	const submitters = 8
	for g := range submitters {
		wg.Go(func() {
			for i := g; i < tasks; i += submitters {
				err := p.Submit(context.Background(), func(context.Context) error {
					runs[i].Add(1)
					return nil
				})
				switch {
				case err == nil:
					accepted[i] = true
				case !errors.Is(err, pool.ErrClosed):
					t.Errorf("Submit = %v, want nil or ErrClosed", err)
				}
				if submitted.Add(1) == tasks/2 {
					close(half)
				}
			}
		})
	}
	go func() {
		defer close(closed)
		<-half // Close lands in the middle of the stream
		n, err := p.Close(context.Background())
		assert.NoError(t, err)
		assert.Zero(t, n)
	}()
	wg.Wait()
	<-closed

	var nAccepted, nRun uint64
	for i := range tasks {
		r := runs[i].Load()
		if accepted[i] {
			nAccepted++
			assert.Equal(t, int32(1), r, "accepted task %d must run exactly once", i)
		} else {
			assert.Zero(t, r, "refused task %d must never run", i)
		}
		nRun += uint64(r)
	}
	assert.Equal(t, nAccepted, nRun, "executed == accepted")
	m := p.Snapshot()
	assert.Equal(t, nAccepted, m.Completed, "every accepted task is counted as completed")
	assert.Equal(t, uint64(tasks)-nAccepted, m.Rejected, "every refused submission is counted")
	assert.Zero(t, m.Queued+m.Running+m.Workers, "a closed pool has nothing left")
}

func TestSubmitRacingClose(t *testing.T) {
	const goroutines = 10_000
	p := pool.New(4, 16)
	var ran [goroutines]atomic.Bool
	var errs [goroutines]error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range goroutines {
		wg.Go(func() {
			<-start
			errs[i] = p.Submit(context.Background(), func(context.Context) error {
				ran[i].Store(true)
				return nil
			})
		})
	}
	close(start)
	n, err := p.Close(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	wg.Wait()
	var okCount int
	for i := range goroutines {
		switch {
		case errs[i] == nil:
			okCount++
			assert.True(t, ran[i].Load(), "submit %d was accepted, so it must have run by the time Close returned", i)
		case errors.Is(errs[i], pool.ErrClosed):
			assert.False(t, ran[i].Load(), "submit %d got ErrClosed, so it must not run", i)
		default:
			t.Fatalf("submit %d = %v, want nil or ErrClosed", i, errs[i])
		}
	}
	assert.Equal(t, uint64(okCount), p.Snapshot().Completed)
}

func TestHundredPoolsLeakNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent() // a snapshot taken now, before any pool exists
	for i := range 100 {
		p := pool.New(4, i%3)
		for range 10 {
			require.NoError(t, p.Submit(context.Background(), nop))
		}
		n, err := p.Close(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
	}
	goleak.VerifyNone(t, before)
}

func TestPoolLostQueuedTasksOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 100)
		g := newGate()
		fill(t, p, g, 1)
		var ran atomic.Int64
		for range 100 {
			require.NoError(t, p.TrySubmit(func(context.Context) error { ran.Add(1); return nil }))
		}
		type result struct {
			n   int
			err error
		}
		res := make(chan result, 1)
		go func() {
			n, err := p.Close(context.Background())
			res <- result{n, err}
		}()
		waitClosed(t, p)
		assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrClosed, "Close stops intake at once")
		g.open()
		r := <-res
		require.NoError(t, r.err)
		assert.Zero(t, r.n)
		assert.Equal(t, int64(100), ran.Load(), "Close must run every queued task")
		m := p.Snapshot()
		assert.Zero(t, m.Queued, "nothing stays queued after Close")
		assert.Equal(t, uint64(101), m.Completed)
	})
}

func TestPoolNilTaskAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var panics atomic.Int64
		for range 100 {
			p := pool.New(8, 8, pool.WithPanicHandler(func(*ion.PanicError) { panics.Add(1) }))
			g := newGate()
			fill(t, p, g, 8)
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				_, err := p.Close(context.Background())
				assert.NoError(t, err)
			}()
			waitClosed(t, p)
			g.open() // the workers were busy when Close began
			<-closed
			assert.ErrorIs(t, p.Submit(context.Background(), nil), pool.ErrNilTask, "a nil task is an error, also after Close")
			assert.ErrorIs(t, p.Submit(context.Background(), nop), pool.ErrClosed)
			assert.Zero(t, p.Snapshot().Panicked, "a worker must never run a nil task after Close")
		}
		assert.Zero(t, panics.Load(), "no spurious panics")
	})
}

func TestPoolDrainPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// An idle pool drains at once: no polling interval.
		p := pool.New(2, 4)
		start := time.Now()
		require.NoError(t, p.Drain(context.Background()))
		assert.Zero(t, time.Since(start), "draining an idle pool must not wait (no polling)")

		// A busy pool drains the moment its last task ends.
		p = pool.New(2, 4)
		for i := range 4 {
			require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
				time.Sleep(time.Duration(i+1) * 7 * time.Millisecond)
				return nil
			}))
		}
		start = time.Now()
		require.NoError(t, p.Drain(context.Background()))
		// Worker 1 runs tasks of 7ms then 21ms; worker 2 runs 14ms then 28ms.
		assert.Equal(t, 42*time.Millisecond, time.Since(start), "Drain must return when the last task ends, not on a poll tick")
		assert.Equal(t, uint64(4), p.Snapshot().Completed)
		assert.ErrorIs(t, p.Submit(context.Background(), nop), pool.ErrClosed, "Drain stops intake")
	})
}

func TestDrainCtxEndsLeavesPoolDraining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 4)
		var ran atomic.Int64
		for range 3 {
			require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
				time.Sleep(10 * time.Millisecond)
				ran.Add(1)
				return nil
			}))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Millisecond)
		defer cancel()
		err := p.Drain(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "Drain returns its ctx error")
		assert.Zero(t, p.Snapshot().Discarded, "Drain never discards")
		n, err := p.Close(context.Background())
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, int64(3), ran.Load(), "a timed-out Drain leaves the accepted tasks running")
	})
}

func TestCloseForced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var discarded []error
		p := pool.New(1, 4, pool.WithDiscardHandler(func(_ context.Context, task pool.Task, err error) {
			mu.Lock()
			discarded = append(discarded, err)
			mu.Unlock()
			if task == nil {
				t.Error("the discard handler must get the task")
			}
		}))
		cause := make(chan error, 1)
		require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		}))
		var ran atomic.Bool
		for range 2 {
			require.NoError(t, p.Submit(context.Background(), func(context.Context) error { ran.Store(true); return nil }))
		}
		f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { ran.Store(true); return 1, nil })
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		n, err := p.Close(ctx)
		assert.Equal(t, 3, n, "Close must report how many accepted tasks will not run")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "a forced Close returns its ctx error")
		assert.ErrorIs(t, <-cause, pool.ErrClosed, "a forced Close cancels running tasks with cause ErrClosed")
		_, ferr := f.Wait(context.Background())
		assert.ErrorIs(t, ferr, pool.ErrClosed, "a discarded Go call reports ErrClosed")
		assert.ErrorIs(t, ferr, context.DeadlineExceeded, "and the reason")
		mu.Lock()
		require.Len(t, discarded, 2, "every discarded Submit task goes to the discard handler")
		for _, e := range discarded {
			assert.ErrorIs(t, e, pool.ErrClosed)
			assert.ErrorIs(t, e, context.DeadlineExceeded)
		}
		mu.Unlock()
		assert.False(t, ran.Load(), "discarded tasks never run")

		n, err = p.Close(context.Background())
		require.NoError(t, err, "a second Close waits for the cancelled task's worker")
		assert.Zero(t, n, "only the forcing Close reports discarded tasks")
		m := p.Snapshot()
		assert.Equal(t, uint64(3), m.Discarded)
		assert.Equal(t, uint64(1), m.Failed)
		assert.Zero(t, m.Workers)
	})
}

func TestCloseIdempotentAndConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(2, 2)
		g := newGate()
		fill(t, p, g, 2)
		var wg sync.WaitGroup
		var returned atomic.Int64
		for range 4 {
			wg.Go(func() {
				n, err := p.Close(context.Background())
				assert.NoError(t, err)
				assert.Zero(t, n)
				returned.Add(1)
			})
		}
		waitClosed(t, p)
		assert.Zero(t, returned.Load(), "Close must wait for running tasks")
		g.open()
		wg.Wait()
		n, err := p.Close(context.Background())
		assert.NoError(t, err)
		assert.Zero(t, n)
		require.NoError(t, p.Drain(context.Background()), "Drain after Close returns at once")
		require.NoError(t, p.Wait(context.Background()), "Wait on a closed, idle pool returns at once")
	})
}

func TestCloseWithDoneCtx(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	p := pool.New(1, 1)
	n, err := p.Close(done)
	assert.NoError(t, err, "closing a pool with nothing to do succeeds even with a done ctx")
	assert.Zero(t, n)

	p = pool.New(1, 2)
	g := newGate()
	fill(t, p, g, 1)
	require.NoError(t, p.TrySubmit(nop))
	n, err = p.Close(done)
	assert.ErrorIs(t, err, context.Canceled, "a done ctx forces the close of a busy pool")
	assert.Equal(t, 1, n)
	g.open()
	_, err = p.Close(context.Background())
	require.NoError(t, err)
	_, err = p.Close(nilCtx)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.ErrorIs(t, p.Drain(nilCtx), ion.ErrInvalidConfig)
	assert.ErrorIs(t, p.Wait(nilCtx), ion.ErrInvalidConfig)
}

func TestBlockedSubmittersRefusedOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 0)
		g := newGate()
		fill(t, p, g, 1)
		errc := make(chan error, 2)
		for range 2 {
			go func() { errc <- p.Submit(context.Background(), nop) }()
		}
		waitBlocked(t, p, 2)
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_, err := p.Close(context.Background())
			assert.NoError(t, err)
		}()
		assert.ErrorIs(t, <-errc, pool.ErrClosed, "a blocked submitter is refused when the pool closes")
		assert.ErrorIs(t, <-errc, pool.ErrClosed)
		g.open()
		<-closed
		assert.Equal(t, uint64(2), p.Snapshot().Rejected)
	})
}

func TestCloseFromInsideTask(t *testing.T) {
	for _, name := range []string{"Close", "Drain", "Wait"} {
		t.Run(name, func(t *testing.T) {
			p := pool.New(2, 8)
			var ran atomic.Int64
			g := newGate()
			require.NoError(t, p.Submit(context.Background(), g.task))
			<-g.started
			for range 4 {
				require.NoError(t, p.TrySubmit(func(context.Context) error { ran.Add(1); return nil }))
			}
			errc := make(chan error, 1)
			require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) error {
				// The task passes its own ctx (or one derived from it):
				// that is how the pool knows not to wait for this task.
				ctx = context.WithValue(ctx, derivedKey{}, 1)
				var err error
				switch name {
				case "Close":
					_, err = p.Close(ctx)
				case "Drain":
					err = p.Drain(ctx)
				case "Wait":
					err = p.Wait(ctx)
				}
				errc <- err
				return nil
			}))
			g.open()
			require.NoError(t, <-errc, "%s from inside a task must not deadlock", name)
			assert.Equal(t, int64(4), ran.Load(), "%s from a task waits for the other tasks", name)
			n, err := p.Close(context.Background())
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
}

func TestTwoTasksWaitInside(t *testing.T) {
	p := pool.New(2, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) error {
			defer wg.Done()
			return p.Wait(ctx)
		}))
	}
	wg.Wait()
	require.NoError(t, p.Wait(context.Background()))
	_, err := p.Close(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(2), p.Snapshot().Completed, "two tasks waiting for each other must both return")
}

func TestWait(t *testing.T) {
	p := newPool(t, 2, 4)
	require.NoError(t, p.Wait(context.Background()), "an idle pool is idle at once")
	g := newGate()
	fill(t, p, g, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled, "Wait returns its ctx error")
	assert.NotEqual(t, context.Canceled, err, "wrapped")

	errc := make(chan error, 1)
	go func() { errc <- p.Wait(context.Background()) }()
	g.open()
	require.NoError(t, <-errc)
	assert.False(t, p.Snapshot().Closed, "Wait does not close")
	require.NoError(t, p.Submit(context.Background(), nop), "the pool is usable after Wait")
}

func TestExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var expired []error
		p := pool.New(1, 4, pool.WithMaxQueueWait(10*time.Millisecond),
			pool.WithDiscardHandler(func(_ context.Context, _ pool.Task, err error) {
				mu.Lock()
				expired = append(expired, err)
				mu.Unlock()
			}))
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
			time.Sleep(50 * time.Millisecond)
			return nil
		}))
		var ran atomic.Int64
		for range 2 {
			require.NoError(t, p.Submit(context.Background(), func(context.Context) error { ran.Add(1); return nil }))
		}
		f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
		require.NoError(t, err)
		time.Sleep(45 * time.Millisecond)
		fresh := make(chan struct{})
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error { close(fresh); return nil }))
		_, ferr := f.Wait(context.Background())
		assert.ErrorIs(t, ferr, pool.ErrExpired, "a Go call that waited too long reports ErrExpired")
		<-fresh
		require.NoError(t, p.Wait(context.Background()))
		assert.Zero(t, ran.Load(), "expired tasks are not run")
		mu.Lock()
		assert.Equal(t, []error{pool.ErrExpired, pool.ErrExpired}, expired, "each expired Submit task is reported")
		mu.Unlock()
		m := p.Snapshot()
		assert.Equal(t, uint64(3), m.Expired)
		assert.Equal(t, uint64(2), m.Completed, "the fresh task still runs")
		_, err = p.Close(context.Background())
		require.NoError(t, err)
	})
}

func TestExpiredLIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 4, pool.WithQueueOrder(pool.LIFO), pool.WithMaxQueueWait(10*time.Millisecond))
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
			time.Sleep(30 * time.Millisecond)
			return nil
		}))
		var order []string
		var mu sync.Mutex
		task := func(name string) pool.Task {
			return func(context.Context) error {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return nil
			}
		}
		require.NoError(t, p.TrySubmit(task("old")))
		time.Sleep(25 * time.Millisecond)
		require.NoError(t, p.TrySubmit(task("new1")))
		require.NoError(t, p.TrySubmit(task("new2")))
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, []string{"new2", "new1"}, order, "LIFO runs the newest first and expires the oldest")
		assert.Equal(t, uint64(1), p.Snapshot().Expired)
		_, err := p.Close(context.Background())
		require.NoError(t, err)
	})
}

func TestExpiredMakesRoomForSubmitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var expired atomic.Int64
		p := pool.New(1, 1, pool.WithMaxQueueWait(10*time.Millisecond),
			pool.WithDiscardHandler(func(context.Context, pool.Task, error) { expired.Add(1) }))
		release := make(chan struct{})
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error { <-release; return nil }))
		require.NoError(t, p.TrySubmit(nop))
		assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrQueueFull, "the queue holds a fresh task")
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, p.TrySubmit(nop), "a stale task must give its slot to a new one")
		assert.Equal(t, int64(1), expired.Load())

		// A blocked submitter is admitted ahead of a newcomer when a slot expires.
		errc := make(chan error, 1)
		go func() { errc <- p.Submit(context.Background(), nop) }()
		synctest.Wait()
		time.Sleep(20 * time.Millisecond)
		assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrQueueFull, "the expired slot goes to the blocked submitter first")
		require.NoError(t, <-errc)
		close(release)
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, uint64(2), p.Snapshot().Expired)
		_, err := p.Close(context.Background())
		require.NoError(t, err)
	})
}

// waitClosed waits until every goroutine of the bubble is blocked and
// checks that Close or Drain has begun on p. It must be called inside a
// synctest bubble.
func waitClosed(t *testing.T, p *pool.Pool) {
	t.Helper()
	synctest.Wait()
	require.True(t, p.Snapshot().Closed, "Close has begun")
}

// TestPoolCloseReturnsBeforeExpiryReports guards the bug that a worker
// that found the queued tasks expired on its last look at a closed pool
// unregistered itself, letting Close return, before it reported them: Close
// returned nil while a discard handler was still running on a worker and a
// Future was not yet ready. Every report must be delivered before Close
// returns, and nothing may run on a worker after.
func TestPoolCloseReturnsBeforeExpiryReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var closed, lateReport atomic.Bool
		var reported atomic.Int64
		p := pool.New(1, 2, pool.WithMaxQueueWait(time.Millisecond),
			pool.WithDiscardHandler(func(_ context.Context, _ pool.Task, err error) {
				time.Sleep(time.Millisecond) // a handler that takes a moment
				assert.ErrorIs(t, err, pool.ErrExpired)
				reported.Add(1)
				lateReport.Store(closed.Load())
			}))
		ctx := context.Background()
		require.NoError(t, p.Submit(ctx, func(context.Context) error { time.Sleep(5 * time.Millisecond); return nil }))
		require.NoError(t, p.Submit(ctx, nop)) // queued; expires behind the first
		f, err := pool.Go(ctx, p, func(context.Context) (int, error) { return 1, nil })
		require.NoError(t, err) // queued; expires too
		n, err := p.Close(ctx)
		closed.Store(true)
		require.NoError(t, err)
		require.Zero(t, n)
		m := p.Snapshot()
		assert.Equal(t, uint64(2), m.Expired)
		assert.Equal(t, int64(1), reported.Load(), "the discard handler has been called when Close returns")
		select {
		case <-f.Done():
		default:
			t.Fatal("the expired Future is not ready when Close returns")
		}
		_, err = f.Wait(ctx)
		assert.ErrorIs(t, err, pool.ErrExpired)
		synctest.Wait()
		assert.False(t, lateReport.Load(), "no report may run after Close returned nil")
		assert.Zero(t, p.Snapshot().Workers)
	})
}

// Go and Policy calls are recognised by their ctx like tasks; a task of
// another pool is not one of p's tasks, even when it was submitted with a
// ctx of p's.
func TestCloseFromInsideGoAndPolicyCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(2, 8)
		f, err := pool.Go(context.Background(), p, func(ctx context.Context) (int, error) { return 1, p.Wait(ctx) })
		require.NoError(t, err)
		_, err = f.Wait(context.Background())
		require.NoError(t, err, "Wait from a Go call must not wait for itself")
		_, err = policy.Run(context.Background(), pool.Policy[int](p), func(ctx context.Context) (int, error) { return 1, p.Wait(ctx) })
		require.NoError(t, err, "Wait from a Policy call must not wait for itself")

		other := pool.New(1, 1)
		running := make(chan struct{})
		release := make(chan struct{})
		require.NoError(t, other.Submit(context.Background(), func(context.Context) error {
			close(running)
			<-release
			return nil
		}))
		<-running
		pctx := make(chan context.Context, 1)
		require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) error { pctx <- ctx; <-release; return nil }))
		ptask := <-pctx
		// Wait with a ctx of p's task on other: other's task is not p's, so
		// other's Wait waits for it (and times out here).
		wctx, wcancel := context.WithTimeout(ptask, time.Second)
		defer wcancel()
		assert.ErrorIs(t, other.Wait(wctx), context.DeadlineExceeded, "a ctx of another pool's task does not count as one of ours")
		close(release)
		_, err = p.Close(context.Background())
		require.NoError(t, err)
		_, err = other.Close(context.Background())
		require.NoError(t, err)
	})
}

// derivedKey marks a ctx derived from a task's own.
type derivedKey struct{}
