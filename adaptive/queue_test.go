package adaptive_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

// waitFor starts a call of priority prio through p that records its name
// in order when it runs, and waits until it is queued.
func waitFor(p policy.Policy[int], prio adaptive.Priority, name string, mu *sync.Mutex, order *[]string, errs chan<- error) {
	go func() { // owner: the test; exits when served or rejected; joined by reading errs
		ctx := adaptive.ContextWithPriority(context.Background(), prio)
		_, err := policy.Run(ctx, p, func(context.Context) (int, error) {
			mu.Lock()
			*order = append(*order, name)
			mu.Unlock()
			return 0, nil
		})
		errs <- err
	}()
	synctest.Wait()
}

func TestLimiterWaitServesHighestPriorityFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(time.Second), adaptive.WithMaxQueue(10))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		var mu sync.Mutex
		var order []string
		errs := make(chan error, 4)
		waitFor(p, adaptive.Low, "low", &mu, &order, errs)
		waitFor(p, adaptive.Normal, "normal 1", &mu, &order, errs)
		waitFor(p, adaptive.Critical, "critical", &mu, &order, errs)
		waitFor(p, adaptive.Normal, "normal 2", &mu, &order, errs)
		assert.Equal(t, 4, lim.Stats().Queued)
		close(release)
		wg.Wait()
		for range 4 {
			require.NoError(t, <-errs)
		}
		assert.Equal(t, []string{"critical", "normal 1", "normal 2", "low"}, order, "highest priority first, FIFO within one")
		assert.Equal(t, adaptive.Stats{Limit: 1}, lim.Stats())
	})
}

func TestLimiterMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(50*time.Millisecond))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		start := time.Now()
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
		assert.Equal(t, 50*time.Millisecond, time.Since(start), "the call waited its max wait")
		assert.ErrorIs(t, err, adaptive.ErrLimited)
		assert.ErrorIs(t, err, ion.ErrRejected)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, lim.Stats().Queued, "the waiter left the queue")
		close(release)
		wg.Wait()
	})
}

func TestLimiterCtxEndsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(time.Second))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_, err := policy.Run(ctx, p, func(context.Context) (int, error) { return 0, nil })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ion.ErrRejected, "the caller's own deadline is not a rejection")
		_, shed := lim.Shedding()
		assert.False(t, shed, "the caller's own deadline is not shedding")
		assert.Zero(t, lim.Stats().Queued)
		close(release)
		wg.Wait()
		assert.Equal(t, adaptive.Stats{Limit: 1}, lim.Stats())
	})
}

func TestLimiterFullQueueEvictsLowerPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(time.Second), adaptive.WithMaxQueue(1))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		var mu sync.Mutex
		var order []string
		lowErr, highErr := make(chan error, 1), make(chan error, 1)
		waitFor(p, adaptive.Sheddable, "sheddable", &mu, &order, lowErr)
		waitFor(p, adaptive.High, "high", &mu, &order, highErr)
		err := <-lowErr
		assert.ErrorIs(t, err, adaptive.ErrLimited, "the sheddable waiter was evicted at once")
		// A normal call finds a full queue with nothing below it: rejected.
		_, err = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
		assert.ErrorIs(t, err, adaptive.ErrLimited)
		prio, _ := lim.Shedding()
		assert.Equal(t, adaptive.Normal, prio)
		close(release)
		wg.Wait()
		require.NoError(t, <-highErr)
		assert.Equal(t, []string{"high"}, order)
	})
}

func TestLimiterAdaptiveLIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(time.Second),
			adaptive.WithMaxQueue(10), adaptive.WithAdaptiveLIFO(2))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		var mu sync.Mutex
		var order []string
		errs := make(chan error, 3)
		for _, name := range []string{"a", "b", "c"} {
			waitFor(p, adaptive.Normal, name, &mu, &order, errs)
		}
		close(release)
		wg.Wait()
		for range 3 {
			require.NoError(t, <-errs)
		}
		// Three waiting: newest first; two: newest; one: the last.
		assert.Equal(t, []string{"c", "b", "a"}, order)
	})
}

func TestLimiterCoDelDropsFromStandingQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(time.Second),
			adaptive.WithMaxQueue(10), adaptive.WithCoDel(5*time.Millisecond, 100*time.Millisecond))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		slow := func(d time.Duration) func(context.Context) (int, error) {
			return func(context.Context) (int, error) { time.Sleep(d); return 0, nil }
		}
		first := make(chan error, 1)
		go func() { _, err := policy.Run(context.Background(), p, slow(200*time.Millisecond)); first <- err }() // joined by <-first
		synctest.Wait()
		time.Sleep(20 * time.Millisecond)
		second := make(chan error, 1)
		go func() { _, err := policy.Run(context.Background(), p, slow(0)); second <- err }() // joined by <-second
		synctest.Wait()
		close(release) // t = 20 ms: the first waiter is served after 20 ms; the interval starts
		wg.Wait()
		// At t = 220 ms the first call ends; the second waiter has waited
		// 200 ms and the last interval's lowest wait was 20 ms > 5 ms: the
		// queue stood, so the waiter is dropped rather than served.
		require.NoError(t, <-first)
		err := <-second
		assert.ErrorIs(t, err, adaptive.ErrLimited)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "standing queue")
	})
}
