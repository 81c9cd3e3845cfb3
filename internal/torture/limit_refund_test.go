package torture

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion/limit"
)

// TestLimitRateChangeBetweenReserveAndCancel changes the limits between
// reservations (or waits) and their cancels, at random, and checks the
// refund in tokens: reservations cancelled last-made-first (so none counts
// on another's tokens when it is cancelled) give back every token they
// took, whatever the rate did in between, leaving the bucket as it was
// before them (capped at the burst in force). A refund measured in time at
// the new rate left phantom debt instead.
func TestLimitRateChangeBetweenReserveAndCancel(t *testing.T) {
	type bucket interface {
		ReserveN(time.Time, int) *limit.Reservation
		WaitN(context.Context, int) error
		SetRate(limit.Rate) error
		SetTemporaryLimit(limit.Rate, int, time.Duration) error
		ClearTemporaryLimit()
	}
	tokens := func(b bucket) float64 {
		switch b := b.(type) {
		case *limit.TokenBucket:
			return b.Tokens()
		case *limit.LeakyBucket:
			return 10 - b.Level()
		}
		panic("unknown bucket")
	}
	rates := []limit.Rate{0.5, 1, 7, 100, 1000, 1e6}
	change := func(rng *rand.Rand, b bucket) {
		r := rates[rng.IntN(len(rates))]
		switch rng.IntN(3) {
		case 0:
			_ = b.SetRate(r)
		case 1:
			_ = b.SetTemporaryLimit(r, 10, time.Duration(1+rng.IntN(1000))*time.Second)
		default:
			b.ClearTemporaryLimit()
		}
	}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		synctest.Test(t, func(t *testing.T) {
			for _, b := range []bucket{limit.NewTokenBucket(100, 10), limit.NewLeakyBucket(100, 10)} {
				before := tokens(b)
				var held []*limit.Reservation
				for range 1 + rng.IntN(4) {
					held = append(held, b.ReserveN(time.Now(), 1+rng.IntN(10)))
					change(rng, b)
				}
				for i := len(held) - 1; i >= 0; i-- {
					held[i].Cancel()
					change(rng, b)
				}
				if got := tokens(b); math.Abs(got-before) > 1e-6 {
					t.Errorf("seed %d %T: %.6f tokens after cancelling every reservation, want %.6f", seed, b, got, before)
				}

				// The same with waiters that give up after a 429-style
				// temporary limit, one at a time, on an emptied bucket.
				if r := b.ReserveN(time.Now(), 10); !r.OK() {
					t.Fatalf("seed %d %T: ReserveN(10) not OK", seed, b)
				}
				before = tokens(b)
				for range 1 + rng.IntN(3) {
					ctx, cancel := context.WithCancel(context.Background())
					var wg sync.WaitGroup
					wg.Go(func() { _ = b.WaitN(ctx, 1+rng.IntN(10)) })
					synctest.Wait()
					change(rng, b)
					cancel()
					wg.Wait()
				}
				if got := tokens(b); math.Abs(got-before) > 1e-6 {
					t.Errorf("seed %d %T: %.6f tokens after every waiter gave up, want %.6f", seed, b, got, before)
				}
			}
		})
	}
}
