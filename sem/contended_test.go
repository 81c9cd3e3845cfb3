package sem_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/sem"
)

// In the contended mode every operation keeps its meaning: the same
// checks, the same results, the same errors as without it; and the mode
// ends after CalmAfter operations that found the lock free.
func TestContendedModeKeepsSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(3)
		sem.Contend(s)
		require.True(t, s.TryAcquire(2))
		require.NoError(t, s.Acquire(context.Background(), 1))
		assert.False(t, s.TryAcquire(1), "no permit is free")

		// A waiter queues; under FIFO nobody barges past it, and the
		// release that frees its permits serves it.
		got := make(chan error, 1)
		go func() { got <- s.Acquire(context.Background(), 2) }() // owner: this test; exits when served; joined by <-got
		synctest.Wait()
		require.Equal(t, 1, s.Waiting())
		sem.Contend(s)
		require.NoError(t, s.Release(1))
		assert.False(t, s.TryAcquire(1), "a free permit is reserved for the FIFO queue's head")
		require.NoError(t, s.Release(1))
		require.NoError(t, <-got, "the release served the waiter")
		assert.Zero(t, s.Waiting())

		// An over-release is caught and reported as without the mode.
		sem.Contend(s)
		require.NoError(t, s.Release(3))
		require.ErrorIs(t, s.Release(1), sem.ErrOverRelease)
		assert.Equal(t, int64(3), s.Available())

		// A debt left by a shrink is paid before permits are freed.
		require.True(t, s.TryAcquire(3))
		require.NoError(t, s.SetCapacity(1))
		sem.Contend(s)
		require.NoError(t, s.Release(1), "pays the debt")
		assert.Zero(t, s.Available())
		require.NoError(t, s.Release(1), "pays the debt")
		assert.Zero(t, s.Available())
		require.NoError(t, s.Release(1), "frees the one permit of the new capacity")
		assert.Equal(t, int64(1), s.Available())

		// Calm operations end the mode: at most CalmAfter of them (the
		// ones above count too), two per round.
		sem.Contend(s)
		for range sem.CalmAfter / 2 {
			require.True(t, s.TryAcquire(1))
			require.NoError(t, s.Release(1))
		}
		assert.False(t, sem.Contended(s), "the mode ends once the lock was found free %d times in a row", sem.CalmAfter)
		assert.Equal(t, int64(1), s.Available())
	})
}

// TestContendedModeStress mixes every operation, from more goroutines than
// there are Ps, while the callers turn the contended mode on again and again
// (it ends by itself), so that fast paths with and without the lock, blocked
// lock holders and waiters all meet. The permits in use never exceed the
// capacity, every permit is back at the end, and nobody is left queued.
func TestContendedModeStress(t *testing.T) {
	const (
		goroutines = 16
		capacity   = 6
	)
	cycles := 5_000
	if testing.Short() || raceEnabled {
		cycles = 1_000
	}
	for _, f := range fairnesses {
		t.Run(f.String(), func(t *testing.T) {
			s := sem.NewWeighted(capacity, sem.WithFairness(f))
			var inUse atomic.Int64
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() { // owner: this test; exits after its cycles; joined by wg.Wait
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					for i := range cycles {
						if i%16 == g%16 {
							sem.Contend(s)
						}
						n := 1 + rng.Int64N(3)
						if i%2 == 0 {
							if !s.TryAcquire(n) {
								continue
							}
						} else if err := s.Acquire(context.Background(), n); err != nil {
							t.Errorf("Acquire: %v", err)
							return
						}
						if !holdThenRelease(t, s, &inUse, nil, n, capacity, i%3 == 0) {
							return
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(capacity), s.Available(), "%v: every permit must be back", f)
			assert.Zero(t, s.Waiting(), "%v: nobody may be left queued", f)
		})
	}
}
