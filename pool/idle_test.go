package pool_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/pool"
)

// burst starts n workers of p at once (each task waits until all have
// started) and waits until they are all idle again. It must be called
// inside a synctest bubble.
func burst(t *testing.T, p *pool.Pool, n int) {
	t.Helper()
	g := newGate()
	fill(t, p, g, n)
	g.open()
	synctest.Wait()
	require.Equal(t, n, p.Snapshot().Workers)
}

func TestIdleWorkersRetire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Minute
		p := newPool(t, 64, 0, pool.WithIdleTimeout(d))
		burst(t, p, 64)
		time.Sleep(d - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 64, p.Snapshot().Workers, "no worker exits before the idle timeout")
		time.Sleep(d + time.Nanosecond) // 2d after the burst
		synctest.Wait()
		m := p.Snapshot()
		assert.Zero(t, m.Workers, "every worker idle for the timeout has exited")
		assert.Equal(t, 64, m.Size, "retiring workers does not change the size")

		// The pool starts workers again on demand.
		var ran atomic.Int64
		for range 3 {
			require.NoError(t, p.Submit(context.Background(), func(context.Context) error { ran.Add(1); return nil }))
		}
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, int64(3), ran.Load())
	})
}

// A worker that keeps taking tasks is not retired; only the ones idle for
// the whole timeout are.
func TestBusyWorkersStay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Minute
		p := newPool(t, 8, 0, pool.WithIdleTimeout(d))
		burst(t, p, 8)
		for range 10 {
			time.Sleep(d / 2)
			require.NoError(t, p.Submit(context.Background(), nop))
			synctest.Wait()
		}
		assert.Equal(t, 1, p.Snapshot().Workers, "the one busy worker stays; the seven idle ones exit")
	})
}

func TestIdleTimeoutDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 4, 0)
		burst(t, p, 4)
		time.Sleep(pool.DefaultIdleTimeout - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 4, p.Snapshot().Workers)
		time.Sleep(pool.DefaultIdleTimeout + time.Nanosecond)
		synctest.Wait()
		assert.Zero(t, p.Snapshot().Workers, "idle workers exit after the default idle timeout")
	})
}

func TestIdleTimeoutZeroKeepsWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 4, 0, pool.WithIdleTimeout(0))
		burst(t, p, 4)
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		assert.Equal(t, 4, p.Snapshot().Workers, "WithIdleTimeout(0) keeps idle workers until Close")
	})
}

// A submitter blocked on a full pool whose idle workers were retired earlier
// still wakes when a running task ends.
func TestBlockedSubmitterWakesAfterIdleRetirement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = time.Second
		p := newPool(t, 2, 0, pool.WithIdleTimeout(d))
		burst(t, p, 2)
		time.Sleep(3 * d)
		synctest.Wait()
		require.Zero(t, p.Snapshot().Workers)

		g := newGate()
		fill(t, p, g, 2) // two new workers, both busy
		accepted := make(chan error, 1)
		go func() { accepted <- p.Submit(context.Background(), nop) }()
		synctest.Wait()
		require.Equal(t, 1, p.Snapshot().Blocked, "the third submitter blocks")
		time.Sleep(3 * d) // the busy workers are not idle: none is retired
		synctest.Wait()
		require.Equal(t, 2, p.Snapshot().Workers)
		g.release <- struct{}{} // one task ends
		require.NoError(t, <-accepted, "the blocked submitter is admitted")
		g.open()
	})
}

// Retirement keeps the workers set aside for tasks handed to parked workers
// (see the hand-off tests) and runs nothing after Close.
func TestIdleSweepStopsAtClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(4, 0, pool.WithIdleTimeout(time.Second))
		burst(t, p, 4)
		mustClose(t, p)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Zero(t, p.Snapshot().Workers)
	})
}
