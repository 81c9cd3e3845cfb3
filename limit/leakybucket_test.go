package limit_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
)

func TestLeakyBucketAllowN(t *testing.T) {
	lim := limit.NewLeakyBucket(2, 3)
	require.NoError(t, lim.Err())
	runSteps(t, lim, []step{
		{0, 3, true}, // starts empty: the whole capacity fits
		{0, 1, false},
		{499 * time.Millisecond, 1, false},
		{500 * time.Millisecond, 1, true}, // one unit leaked
		{500 * time.Millisecond, 1, false},
		{time.Hour, 4, false}, // above the capacity: never
		{time.Hour, 3, true},
		{time.Hour, 0, true},
		{time.Hour, -1, false},
	})
}

func TestLeakyBucketLevel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewLeakyBucket(1, 4)
		assert.Zero(t, lim.Level(), "starts empty")
		assert.Equal(t, 4, lim.Available())
		assert.Equal(t, 4, lim.Capacity())
		assert.Equal(t, limit.Rate(1), lim.Rate())
		require.True(t, lim.AllowN(time.Now(), 3))
		assert.InDelta(t, 3, lim.Level(), 1e-9)
		assert.Equal(t, 1, lim.Available())
		time.Sleep(1500 * time.Millisecond)
		assert.InDelta(t, 1.5, lim.Level(), 1e-9, "it leaks at the rate")
		assert.Equal(t, 2, lim.Available(), "whole units only")

		r := lim.ReserveN(time.Now(), 4)
		require.True(t, r.OK())
		assert.InDelta(t, 5.5, lim.Level(), 1e-9, "a reservation fills above the capacity")
		assert.Equal(t, 0, lim.Available())
		assert.Equal(t, 1500*time.Millisecond, r.Delay())
		r.Cancel()
		assert.InDelta(t, 1.5, lim.Level(), 1e-9)

		require.NoError(t, lim.SetCapacity(10))
		assert.Equal(t, 10, lim.Capacity())
		assert.InDelta(t, 1.5, lim.Level(), 1e-9, "a new capacity keeps the level")
		assert.Equal(t, 8, lim.Available(), "and gives room at once")
		require.NoError(t, lim.SetRate(2))
		require.NoError(t, lim.SetTemporaryLimit(1, 1, time.Second))
		assert.InDelta(t, 1.5, lim.Level(), 1e-9, "the level is kept under a temporary capacity")
		assert.Equal(t, 0, lim.Available(), "above the temporary capacity: nothing fits")
		lim.ClearTemporaryLimit()
		assert.Equal(t, 10, lim.Capacity())
		assert.InDelta(t, 1.5, lim.Level(), 1e-9)

		inf := limit.NewLeakyBucket(limit.Inf, 3)
		assert.Zero(t, inf.Level())
		assert.Equal(t, 3, inf.Available())
	})
}

func TestLeakyBucketWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewLeakyBucket(10, 2)
		start := time.Now()
		for range 4 {
			require.NoError(t, lim.Wait(t.Context()))
		}
		assert.Equal(t, 200*time.Millisecond, time.Since(start), "two at once, then evenly spaced every 100 ms")
		require.ErrorIs(t, lim.WaitN(t.Context(), 3), limit.ErrExceedsBurst)
		require.ErrorIs(t, lim.Admit(t.Context(), 0), limit.ErrLimited)
		require.NoError(t, lim.Admit(t.Context(), time.Second))
		assert.Equal(t, 300*time.Millisecond, time.Since(start))
	})
}

func TestLeakyBucketBadInputFailsClosed(t *testing.T) {
	for _, tc := range badLimits {
		t.Run(tc.name, func(t *testing.T) {
			lim := limit.NewLeakyBucket(tc.rate, tc.burst)
			param := tc.param
			if param == "burst" {
				param = "capacity"
			}
			requireConfigError(t, lim.Err(), param)
			assert.False(t, lim.Allow())
			assert.ErrorIs(t, lim.Wait(context.Background()), ion.ErrInvalidConfig)
			assert.ErrorIs(t, lim.SetCapacity(1), ion.ErrInvalidConfig)
			assert.Zero(t, lim.Level())
			assert.Zero(t, lim.Available())
			assert.Contains(t, lim.String(), "invalid")
		})
	}
}

// TestLeakyBucketEquivalentToTokenBucket checks that a leaky bucket and a
// token bucket of the same rate and size admit exactly the same requests.
func TestLeakyBucketEquivalentToTokenBucket(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		rate := limit.Rate(rng.Float64() * 100)
		size := 1 + rng.IntN(20)
		tb, lb := limit.NewTokenBucket(rate, size), limit.NewLeakyBucket(rate, size)
		at := time.Duration(0)
		for range 200 {
			at += time.Duration(rng.Int64N(int64(100 * time.Millisecond)))
			n := rng.IntN(size + 1)
			require.Equal(t, tb.AllowN(t0.Add(at), n), lb.AllowN(t0.Add(at), n),
				"rate %v size %d at %v n %d", rate, size, at, n)
		}
	}
}

func TestLeakyBucketString(t *testing.T) {
	assert.Equal(t, "leaky-bucket 10/s capacity 20", limit.NewLeakyBucket(10, 20).String())
	assert.Equal(t, "leaky-bucket(q) 10/s capacity 20", limit.NewLeakyBucket(10, 20, limit.WithName("q")).String())
}

// TestLeakyCancelAfterSlowerSetRate is TestCancelAfterSlowerSetRate for
// the leaky bucket: the level must come back down by the whole
// reservation.
func TestLeakyCancelAfterSlowerSetRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lb := limit.NewLeakyBucket(1000, 10)
		for range 10 {
			lb.Allow()
		}
		res := lb.ReserveN(time.Now(), 5)
		require.NoError(t, lb.SetRate(1))
		res.Cancel()
		assert.InDelta(t, 10, lb.Level(), 0.001, "level after cancelling the only reservation")
	})
}
