package limit_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/limit"
)

// TestEpochLayout checks the padding that keeps an epoch's state on a cache
// line of its own, away from the parameters every call reads.
func TestEpochLayout(t *testing.T) {
	tat, params, want := limit.EpochLayout()
	if unsafe.Sizeof(uintptr(0)) == 8 {
		assert.Equal(t, want, params, "paramsSize must be the size of params")
		assert.EqualValues(t, 128, tat, "tat must start the epoch's third 64-byte line")
	}
	assert.LessOrEqual(t, params, want, "the padding before tat must not be negative")
}

// TestLockFreeAdmissionMatchesTheLockedOne runs the same random calls on two
// buckets, one admitting through the lock-free path (as Allow, WaitN and
// Admit do) and one through the reservation under the mutex, and requires
// the same decisions, the same waits and the same tokens after every call:
// the lock-free path is exact, not an approximation. The times jump back
// and forth, beyond a fast bucket's window (about 2 ms at 1e12/s) too, and
// the limits change in between.
func TestLockFreeAdmissionMatchesTheLockedOne(t *testing.T) {
	rates := []limit.Rate{0, 1e-3, 0.7, 10, 1000, 1e9, 1e12, limit.Inf}
	waits := []time.Duration{0, time.Microsecond, 100 * time.Millisecond, time.Hour, 1 << 62}
	steps := []time.Duration{0, 0, time.Nanosecond, time.Microsecond, time.Millisecond, -time.Millisecond,
		50 * time.Millisecond, time.Second, -time.Second, time.Hour}
	for seed := range uint64(40) {
		synctest.Test(t, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			rate, burst := rates[rng.IntN(len(rates))], 1+rng.IntN(20)
			lockFree, locked := limit.NewTokenBucket(rate, burst), limit.NewTokenBucket(rate, burst)
			both := func(f func(*limit.TokenBucket) error) {
				require.NoError(t, f(lockFree))
				require.NoError(t, f(locked))
			}
			now := time.Now()
			for i := range 400 {
				now = now.Add(steps[rng.IntN(len(steps))])
				switch rng.IntN(20) {
				case 0:
					r := rates[rng.IntN(len(rates))]
					both(func(b *limit.TokenBucket) error { return b.SetRate(r) })
				case 1:
					n := 1 + rng.IntN(20)
					both(func(b *limit.TokenBucket) error { return b.SetBurst(n) })
				case 2:
					n := rng.IntN(5)
					both(func(b *limit.TokenBucket) error { b.DrainTo(n); return nil })
				default:
					n, maxWait := 1+rng.IntN(burst+2), waits[rng.IntN(len(waits))]
					w1, ok1 := limit.AdmitAt(lockFree, now, n, maxWait, false)
					w2, ok2 := limit.AdmitAt(locked, now, n, maxWait, true)
					require.Equalf(t, ok2, ok1, "seed %d step %d: admitted", seed, i)
					require.Equalf(t, w2, w1, "seed %d step %d: wait", seed, i)
				}
				require.Equalf(t, locked.TokensAt(now), lockFree.TokensAt(now), "seed %d step %d: tokens", seed, i)
			}
		})
	}
}

// TestCancelAfterLockFreeAllowIsNotExact guards the test for "nothing
// changed since the reservation": a lock-free admission does not count in
// the bucket's change counter, so the test also compares the state. Put
// back exactly as before the reservation, the bucket would also give back
// the token Allow took after it.
func TestCancelAfterLockFreeAllowIsNotExact(t *testing.T) {
	lim := limit.NewTokenBucket(limit.PerHour(1), 2)
	r := lim.ReserveN(t0, 1)
	require.True(t, r.OK())
	require.True(t, lim.AllowN(t0, 1))
	r.CancelAt(t0)
	assert.InDelta(t, 1, lim.TokensAt(t0), 1e-9, "r's token is back, Allow's is not")
	runSteps(t, lim, []step{{0, 2, false}, {0, 1, true}, {0, 1, false}})
}

// TestCancelCountsLockFreeAllows checks that tokens taken by Allow after a
// reservation count, in tokens, as reservations made after it: they took
// what the reservation left, so a later reservation counts on the
// reservation's own tokens, which its cancel must keep. The rate may
// change in between, so the count crosses epochs.
func TestCancelCountsLockFreeAllows(t *testing.T) {
	for _, change := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			tb := limit.NewTokenBucket(1000, 10)
			first := tb.ReserveN(time.Now(), 5) // 5 tokens left
			require.True(t, first.OK())
			for range 5 {
				require.True(t, tb.Allow()) // lock-free: 0 left
			}
			if change {
				require.NoError(t, tb.SetRate(1))
			}
			second := tb.ReserveN(time.Now(), 3) // -3: counts on 3 of first's tokens
			require.True(t, second.OK())
			first.Cancel()
			assert.InDelta(t, -1, tb.Tokens(), 1e-3, "change %v: first gives back the 2 tokens second does not count on", change)
		})
	}
}

// TestStalledAllowCountedBeforeAReservation stalls a lock-free Allow
// between counting its token and its compare-and-swap, and makes a
// reservation meanwhile: the reservation's record includes the stalled
// token, so the stalled swap must never succeed after it (the state only
// rises), and it does not. The token then stays counted on both sides of
// the reservation, and the refund is exact.
func TestStalledAllowCountedBeforeAReservation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := limit.NewTokenBucket(limit.PerHour(1), 10)
		now := time.Now()
		finish := limit.StalledAllow(tb, now, 1)
		require.NotNil(t, finish)
		r := tb.ReserveN(now, 5) // 5 left
		require.True(t, r.OK())
		assert.False(t, finish(), "a swap stalled across a reservation must fail")
		require.True(t, tb.AllowN(now, 5)) // 0 left, taking what r left
		r.CancelAt(now)
		assert.InDelta(t, 5, tb.TokensAt(now), 1e-9, "r gives back all 5: nothing after it counts on its tokens")
	})
}

// TestStalledAllowAcrossARefund stalls a lock-free Allow, then makes two
// reservations (which count the stalled token as taken before them) and
// refunds the first so that the state comes back to the very value the
// stalled Allow loaded, while the second still stands. The stalled swap must
// fail: it would take its token after the second reservation, which counts
// it as taken before, and that reservation's refund would then miss it.
// Such a refund therefore puts a new epoch in force.
func TestStalledAllowAcrossARefund(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := limit.NewTokenBucket(limit.PerHour(1), 10)
		now := time.Now()
		require.True(t, tb.AllowN(now, 3))
		first := tb.ReserveN(now, 2) // 5 left
		require.True(t, first.OK())
		finish := limit.StalledAllow(tb, now, 1)
		require.NotNil(t, finish)
		second := tb.ReserveN(now, 2) // 3 left
		require.True(t, second.OK())
		first.CancelAt(now) // gives back 2: the state is again what finish loaded
		require.InDelta(t, 5, tb.TokensAt(now), 1e-9)
		assert.False(t, finish(), "a swap stalled across a reservation that still stands must fail")
	})
}

// TestStalledAllowAcrossAnExactUndo stalls a lock-free Allow across a
// reservation and its cancel with nothing changed in between, which puts
// the state back in place to the very value the stalled Allow loaded. The
// stalled swap then succeeds, and rightly: the state is what it decided on,
// and the only reservation that counted its token as taken before it is
// gone. Another reservation, made before the stall, is still refunded
// exactly.
func TestStalledAllowAcrossAnExactUndo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := limit.NewTokenBucket(limit.PerHour(1), 10)
		now := time.Now()
		before := tb.ReserveN(now, 3) // 7 left
		require.True(t, before.OK())
		finish := limit.StalledAllow(tb, now, 1)
		require.NotNil(t, finish)
		r := tb.ReserveN(now, 5)
		require.True(t, r.OK())
		r.CancelAt(now)
		require.InDelta(t, 7, tb.TokensAt(now), 1e-9, "the bucket is exactly as before r")
		assert.True(t, finish(), "the state is the value the stalled Allow loaded")
		assert.InDelta(t, 6, tb.TokensAt(now), 1e-9)
		before.CancelAt(now)
		assert.InDelta(t, 9, tb.TokensAt(now), 1e-9, "before is still refunded its 3")
	})
}

// TestStalledAllowAfterAReservationOnlyShrinksTheRefund stalls a lock-free
// Allow after a reservation, and its swap then fails: its count stays (a
// phantom), which can only make the reservation's refund smaller, never
// larger. Without the stall the refund is exact.
func TestStalledAllowAfterAReservationOnlyShrinksTheRefund(t *testing.T) {
	for _, stall := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			tb := limit.NewTokenBucket(limit.PerHour(1), 10)
			now := time.Now()
			r := tb.ReserveN(now, 5) // 5 left
			require.True(t, r.OK())
			if stall {
				finish := limit.StalledAllow(tb, now, 4)
				require.NotNil(t, finish)
				tb.DrainTo(0)
				require.False(t, finish(), "the drain changed the state")
			} else {
				tb.DrainTo(0)
			}
			require.True(t, tb.ReserveN(now, 2).OK()) // -2
			r.CancelAt(now)
			// Exactly: the later reservation (2) fits in what r left (5), so r
			// gives back all 5 tokens. With the phantom 4 counted as taken
			// after r, the later tokens (6) exceed what r left by 1: r keeps 1.
			want := map[bool]float64{false: 3, true: 2}[stall]
			assert.InDelta(t, want, tb.TokensAt(now), 1e-9, "stall %v", stall)
		})
	}
}

// TestStalledAllowAcrossALimitChange stalls a lock-free Allow across
// SetRate, which seals the epoch it loaded: its swap must fail, and the
// token it took before the change is still counted after it.
func TestStalledAllowAcrossALimitChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := limit.NewTokenBucket(1000, 10)
		now := time.Now()
		r := tb.ReserveN(now, 5) // 5 left
		finish := limit.StalledAllow(tb, now, 1)
		require.NotNil(t, finish)
		require.NoError(t, tb.SetRate(1))
		assert.False(t, finish(), "a swap on a sealed epoch must fail")
		require.True(t, tb.AllowN(now, 5)) // taken across the change: 0 left
		require.True(t, tb.ReserveN(now, 3).OK())
		r.CancelAt(now)
		// After r: 5 taken + 3 reserved + the phantom 1, less the 5 r left:
		// 4, more than the debt (3), so r keeps 3 and gives back 2.
		assert.InDelta(t, -1, tb.TokensAt(now), 1e-9)
	})
}

// TestLockFreeAdmissionStressNeverOverAdmits races every kind of call on
// one bucket: lock-free admissions (Allow, AllowN, Admit) against
// reservations kept or cancelled, waits given up, limit changes, temporary
// limits and drains. The rate is so slow that nothing refills during the
// run (and never more than 2 per hour), so the tokens used (admissions,
// reservations kept, and whatever is left at the end) can never exceed the
// burst, whatever the interleaving (with and without the contended mode): a
// refund too large, a lost count or a state applied to another epoch's
// parameters would show as more.
func TestLockFreeAdmissionStressNeverOverAdmits(t *testing.T) {
	const burst, goroutines, calls = 300, 8, 1500
	for _, mix := range []string{"admissions and refunds", "everything", "everything, contended"} {
		t.Run(mix, func(t *testing.T) {
			tb := limit.NewTokenBucket(limit.PerHour(1), burst)
			var used atomic.Int64
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 3))
					ops := 5
					if mix != "admissions and refunds" {
						ops = 10
					}
					for i := range calls {
						if mix == "everything, contended" && i%16 == g {
							limit.Contend(tb) // admissions run under the mutex until it is found free
						}
						n := 1 + rng.IntN(3)
						switch rng.IntN(ops) {
						case 0:
							if tb.Allow() {
								used.Add(1)
							}
						case 1:
							if tb.AllowN(time.Now(), n) {
								used.Add(int64(n))
							}
						case 2:
							if tb.Admit(context.Background(), 0) == nil {
								used.Add(1)
							}
						case 3:
							// A reservation, cancelled as of its own time
							// (so the refund is due) or kept if it needs
							// no wait.
							at := time.Now()
							r := tb.ReserveN(at, n)
							if !r.OK() {
								break
							}
							if r.DelayFrom(at) > 0 || rng.IntN(2) == 0 {
								r.CancelAt(at)
							} else {
								used.Add(int64(n))
							}
						case 4:
							// A wait given up (its tokens go back), and one
							// that cannot fit in its deadline (refused).
							ctx, cancel := context.WithCancel(context.Background())
							done := make(chan error, 1)
							// Owner: this case; ends when ctx does; joined below.
							go func() { done <- tb.WaitN(ctx, n) }()
							cancel()
							if <-done == nil {
								used.Add(int64(n))
							}
							ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
							if tb.WaitN(ctx, n) == nil {
								used.Add(int64(n))
							}
							cancel()
						case 5:
							_ = tb.SetRate(limit.PerHour(float64(1 + rng.IntN(2))))
						case 6:
							_ = tb.SetBurst(burst/2 + rng.IntN(burst))
						case 7:
							_ = tb.SetTemporaryLimit(limit.PerHour(2), burst/2+rng.IntN(burst), time.Duration(1+rng.IntN(1000))*time.Microsecond)
						case 8:
							tb.ClearTemporaryLimit()
						default:
							tb.DrainTo(burst/2 + rng.IntN(burst))
						}
					}
				})
			}
			wg.Wait()
			tb.ClearTemporaryLimit()
			require.NoError(t, tb.SetBurst(burst))
			for tb.Allow() {
				used.Add(1)
			}
			assert.LessOrEqual(t, used.Load(), int64(burst), "tokens used over the run")
			t.Logf("%s: %d of %d tokens used", mix, used.Load(), burst)
		})
	}
}

// TestCancelRacingLockFreeAllowsNeverOverRefunds races the one refund that
// depends on the lock-free count: reservations made on a bucket that
// Allow drains concurrently, then cancelled while Allow keeps taking. Allow
// takes what each reservation left; a refund that missed those takes
// would give back tokens that later reservations count on.
func TestCancelRacingLockFreeAllowsNeverOverRefunds(t *testing.T) {
	const burst = 64
	for round := range 50 {
		tb := limit.NewTokenBucket(limit.PerHour(1), burst)
		at := time.Now()
		var used atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 3 {
			wg.Go(func() {
				<-start
				for range burst {
					if tb.AllowN(at, 1) {
						used.Add(1)
					}
				}
			})
		}
		var held []*limit.Reservation
		close(start)
		for range 8 {
			if r := tb.ReserveN(at, 4); r.OK() {
				held = append(held, r)
			}
		}
		for _, r := range held {
			r.CancelAt(at)
		}
		wg.Wait()
		for tb.AllowN(at, 1) {
			used.Add(1)
		}
		require.LessOrEqualf(t, used.Load(), int64(burst), "round %d: tokens used with every reservation cancelled", round)
	}
}
