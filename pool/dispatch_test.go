package pool_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// The tests in this file cover the hand-off to parked workers: at most
// pool.WakeLimit() workers are on their way to a task at once, and further
// tasks accepted for idle workers are set aside (counted as Queued) until a
// worker starts or finishes. They hold woken workers "on their way" with the
// start hook, inside a synctest bubble so that every wait is exact.

// setAside is how many tasks each test sets aside beyond the wake limit.
const setAside = 3

// transit holds every worker woken with a task before it counts itself
// started, until release is closed.
type transit struct {
	release chan struct{}
}

func newTransit() *transit { return &transit{release: make(chan struct{})} }

func (tr *transit) hook() { <-tr.release }

// mustClose closes p gracefully: nothing may be discarded.
func mustClose(t *testing.T, p *pool.Pool) {
	t.Helper()
	n, err := p.Close(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
}

// idlePool returns a hand-off pool of WakeLimit()+setAside workers, all
// started and parked, whose woken workers wait for tr.release. It must be
// called inside a synctest bubble.
func idlePool(t *testing.T, tr *transit, opts ...pool.Option) *pool.Pool {
	t.Helper()
	n := pool.WakeLimit() + setAside
	return parkedPool(t, tr, n, n, 0, opts...)
}

// parkedPool returns pool.New(size, queue, opts...) with parked workers
// started and parked, whose woken workers wait for tr.release. It must be
// called inside a synctest bubble.
func parkedPool(t *testing.T, tr *transit, parked, size, queue int, opts ...pool.Option) *pool.Pool {
	t.Helper()
	p := pool.New(size, queue, append(opts, pool.WithStartHook(tr.hook))...)
	require.NoError(t, p.Err())
	g := newGate()
	fill(t, p, g, parked) // new workers: not woken, so not held
	g.open()
	synctest.Wait()
	m := p.Snapshot()
	require.Equal(t, parked, m.Workers, "every worker started")
	require.Zero(t, m.Running, "every worker parked")
	return p
}

// submitN submits task n times, each of which must be accepted.
func submitN(t *testing.T, p *pool.Pool, n int, task pool.Task) {
	t.Helper()
	for range n {
		require.NoError(t, p.Submit(context.Background(), task))
	}
}

// counter is a task that counts its runs.
type counter struct{ n atomic.Int64 }

func (c *counter) task(context.Context) error { c.n.Add(1); return nil }

func TestHandOffBeyondWakeLimitIsSetAside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		p := idlePool(t, tr)
		limit := pool.WakeLimit()
		var c counter
		for range limit + setAside {
			require.NoError(t, p.Submit(context.Background(), c.task), "an idle worker is free for each task")
		}
		synctest.Wait()
		m := p.Snapshot()
		assert.Equal(t, limit, m.Running, "WakeLimit workers are woken at once")
		assert.Equal(t, setAside, m.Queued, "the others wait, set aside for idle workers")
		assert.Zero(t, c.n.Load(), "no worker has started")

		close(tr.release)
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, int64(limit+setAside), c.n.Load(), "every task ran once")
		m = p.Snapshot()
		assert.Zero(t, m.Queued+m.Running)
		assert.Equal(t, uint64(2*(limit+setAside)), m.Completed, "the fill and the tasks")
		mustClose(t, p)
	})
}

func TestSetAsideTasksDoNotWaitForRunningOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		p := idlePool(t, tr)
		limit := pool.WakeLimit()
		g := newGate()
		submitN(t, p, limit, g.task)
		var c counter
		submitN(t, p, setAside, c.task)
		close(tr.release)
		synctest.Wait()
		// The woken workers block in their tasks; each woke an idle worker
		// for a set-aside task as it started.
		assert.Equal(t, int64(setAside), c.n.Load(), "set-aside tasks ran on idle workers while the first tasks still run")
		assert.Equal(t, limit, p.Snapshot().Running)
		g.open()
		mustClose(t, p)
	})
}

// TestFreedReservationTakesQueuedTask checks that when a set-aside task
// leaves p.ready other than through its idle worker (a busy worker takes it,
// or its caller withdraws it), the freed idle worker is given the oldest
// queued task rather than left free while tasks wait in the queue.
func TestFreedReservationTakesQueuedTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		limit := pool.WakeLimit()
		idle := limit + setAside
		// One more worker than those parked: it starts for the first task
		// that finds every idle worker taken, and is never held on its way.
		p := parkedPool(t, tr, idle, idle+1, 2)

		held := newGate()
		submitN(t, p, limit+setAside, held.task) // woken (held) and set aside
		first := newGate()
		require.NoError(t, p.Submit(context.Background(), first.task)) // the extra worker
		<-first.started
		var c counter
		submitN(t, p, 2, c.task) // queued
		synctest.Wait()
		require.Equal(t, setAside, pool.SetAside(p))
		require.Equal(t, setAside+2, p.Snapshot().Queued)

		// The extra worker finishes and takes a set-aside task: the idle
		// worker set aside for it now waits for the oldest queued task.
		first.open()
		synctest.Wait()
		assert.Equal(t, setAside, pool.SetAside(p), "the queued task took the freed reservation")
		assert.Equal(t, setAside+1, p.Snapshot().Queued)

		close(tr.release)
		held.open()
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, int64(2), c.n.Load())
		mustClose(t, p)
	})
}

func TestWithdrawnReservationTakesQueuedTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		limit := pool.WakeLimit()
		p := parkedPool(t, tr, limit+1, limit+1, 1)

		var c counter
		submitN(t, p, limit, c.task) // woken, held
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := policy.Run(ctx, pool.Policy[int](p), func(context.Context) (int, error) { return 1, nil })
			errc <- err
		}()
		synctest.Wait()
		require.Equal(t, 1, pool.SetAside(p), "the call is set aside for the last idle worker")
		require.NoError(t, p.Submit(context.Background(), c.task)) // queued: no free idle worker
		require.Equal(t, 2, p.Snapshot().Queued)

		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
		assert.Equal(t, 1, pool.SetAside(p), "the queued task took the withdrawn call's reservation")
		require.NoError(t, p.TrySubmit(c.task), "queued: no idle worker is free, and the queue has room again")
		require.ErrorIs(t, p.TrySubmit(c.task), pool.ErrQueueFull)
		assert.Equal(t, 1, pool.SetAside(p))
		close(tr.release)
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, int64(limit+2), c.n.Load())
		mustClose(t, p)
	})
}

func TestCloseHandsSetAsideTasksToIdleWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		p := idlePool(t, tr)
		limit := pool.WakeLimit()
		var c counter
		submitN(t, p, limit+setAside, c.task)
		done := make(chan error, 1)
		go func() {
			_, err := p.Close(context.Background())
			done <- err
		}()
		synctest.Wait()
		m := p.Snapshot()
		assert.True(t, m.Closed)
		assert.Zero(t, m.Queued, "Close wakes a worker for every set-aside task")
		assert.Equal(t, limit+setAside, m.Running)
		require.ErrorIs(t, p.TrySubmit(c.task), pool.ErrClosed)

		close(tr.release)
		require.NoError(t, <-done)
		assert.Equal(t, int64(limit+setAside), c.n.Load(), "Close ran every accepted task")
		assert.Zero(t, p.Snapshot().Workers)
	})
}

func TestForcedCloseRunsSetAsideTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		var discarded atomic.Int64
		p := idlePool(t, tr, pool.WithDiscardHandler(func(context.Context, pool.Task, error) { discarded.Add(1) }))
		limit := pool.WakeLimit()
		var cancelled atomic.Int64
		task := func(ctx context.Context) error {
			if context.Cause(ctx) == pool.ErrClosed {
				cancelled.Add(1)
			}
			return nil
		}
		submitN(t, p, limit+setAside, task)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan int, 1)
		go func() {
			n, err := p.Close(ctx)
			assert.ErrorIs(t, err, context.Canceled)
			done <- n
		}()
		synctest.Wait()
		close(tr.release)
		// Handed to workers by the intake's closing, before the force, but
		// not started: their ctx is done when they would start, so they are
		// not run and are reported instead, like every task whose ctx ended
		// before it started.
		assert.Zero(t, <-done, "nothing was queued when the close was forced")
		require.NoError(t, p.Drain(context.Background()))
		assert.Zero(t, cancelled.Load(), "no task starts with a done ctx")
		assert.Equal(t, int64(limit+setAside), discarded.Load(), "every task not run is reported")
		m := p.Snapshot()
		assert.Equal(t, uint64(limit+setAside), m.Completed, "the tasks that parked the workers")
		assert.Equal(t, uint64(limit+setAside), m.Discarded)
	})
}

func TestPolicyCallerWithdrawsSetAsideCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		p := idlePool(t, tr)
		limit := pool.WakeLimit()
		var c counter
		submitN(t, p, limit, c.task)
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
		require.Equal(t, 1, p.Snapshot().Queued, "the call is set aside")
		cancel()
		require.ErrorIs(t, <-errc, context.Canceled, "a set-aside call is withdrawn when its caller gives up")
		m := p.Snapshot()
		assert.Zero(t, m.Queued)
		assert.Equal(t, uint64(1), m.Discarded)

		close(tr.release)
		require.NoError(t, p.Wait(context.Background()))
		assert.False(t, ran.Load(), "a withdrawn call never runs")
		assert.Equal(t, int64(limit), c.n.Load())
		mustClose(t, p)
	})
}

func TestResizeDownKeepsWorkersForSetAsideTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTransit()
		p := idlePool(t, tr)
		limit := pool.WakeLimit()
		var c counter
		submitN(t, p, limit+setAside, c.task)
		synctest.Wait()
		require.NoError(t, p.Resize(1))
		synctest.Wait()
		assert.Equal(t, setAside, p.Snapshot().Queued, "the idle workers set aside stay")

		close(tr.release)
		require.NoError(t, p.Wait(context.Background()))
		synctest.Wait()
		assert.Equal(t, int64(limit+setAside), c.n.Load(), "no set-aside task is stranded by the shrink")
		assert.Equal(t, 1, p.Snapshot().Workers, "the extra workers exit once done")
		mustClose(t, p)
	})
}

// TestHandOffStressNoTaskStranded races submitters against workers starting
// and parking, in real time: a set-aside task must always be picked up,
// whichever of the submitter and a starting worker sees the other first.
func TestHandOffStressNoTaskStranded(t *testing.T) {
	p := newPool(t, 8, 0)
	var c counter
	const submitters, each = 4, 2000
	var wg sync.WaitGroup
	for range submitters {
		wg.Go(func() {
			var mine sync.WaitGroup
			task := func(context.Context) error {
				if c.n.Add(1)%7 == 0 {
					runtime.Gosched()
				}
				mine.Done()
				return nil
			}
			for i := range each {
				mine.Add(1)
				if err := p.Submit(context.Background(), task); err != nil {
					mine.Done()
					t.Errorf("Submit = %v", err)
				}
				if i%64 == 63 {
					// Let this submitter's tasks finish now and then, so
					// that later submissions find parked workers again.
					mine.Wait()
				}
			}
			mine.Wait()
		})
	}
	// A stranded task would never finish: fail instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { wg.Wait(); cancel() }()
	<-ctx.Done()
	require.ErrorIs(t, ctx.Err(), context.Canceled, "a task was stranded: %+v", p.Snapshot())
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, int64(submitters*each), c.n.Load())
	assert.Zero(t, p.Snapshot().Queued)
}
