package policy_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// checkConfigErr fails t unless err is a *ion.ConfigError matching
// ion.ErrInvalidConfig.
func checkConfigErr(t *testing.T, err error) {
	t.Helper()
	var ce *ion.ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ion.ErrInvalidConfig) || ce.Param == "" {
		t.Fatalf("error %v is not a *ion.ConfigError naming its parameter", err)
	}
}

// FuzzRetry builds a Retry from arbitrary settings and runs a failing call
// through it in a synctest bubble. Properties: no panic; invalid settings
// fail closed without calling fn; valid ones wait between 0 and the
// backoff's maximum before each retry and end with an error matching
// ErrRetriesExhausted and the last error.
func FuzzRetry(f *testing.F) {
	f.Add(3, uint8(2), int64(time.Millisecond), int64(0), int64(time.Second), uint8(0), uint64(1))
	f.Add(0, uint8(0), int64(-1), int64(0), int64(0), uint8(1), uint64(2))
	f.Add(5, uint8(1), int64(1), int64(math.MaxInt64), int64(math.MaxInt64), uint8(3), uint64(3))
	f.Add(-4, uint8(2), int64(math.MaxInt64), int64(0), int64(math.MaxInt64), uint8(9), uint64(4))
	f.Fuzz(func(t *testing.T, attempts int, kind uint8, initial, step, maxDelay int64, jitter uint8, seed uint64) {
		var b policy.Backoff
		switch kind % 3 {
		case 0:
			b = policy.Constant(time.Duration(initial))
		case 1:
			b = policy.Linear(time.Duration(initial), time.Duration(step), time.Duration(maxDelay))
		default:
			b = policy.Exponential(time.Duration(initial), time.Duration(maxDelay))
		}
		r := policy.Retry[int](policy.WithAttempts(attempts%12), policy.WithBackoff(b),
			policy.WithJitter(policy.Jitter(jitter%5)), policy.WithSeed(seed))
		synctest.Test(t, func(t *testing.T) {
			l := newCallLog()
			_, err := policy.Run(t.Context(), r, alwaysFail[int](l, errTransient))
			if r.Err() != nil {
				checkConfigErr(t, err)
				if l.count() != 0 {
					t.Fatal("an invalid Retry called fn")
				}
				return
			}
			if !errors.Is(err, policy.ErrRetriesExhausted) || !errors.Is(err, errTransient) {
				t.Fatalf("exhausted retry returned %v", err)
			}
			if l.count() != attempts%12 {
				t.Fatalf("made %d attempts, want %d", l.count(), attempts%12)
			}
			ceiling := b.Delay(math.MaxInt)
			if policy.Jitter(jitter%5) == policy.DecorrelatedJitter && kind%3 != 0 {
				ceiling = time.Duration(maxDelay) // decorrelated jitter ignores the schedule's shape
			}
			for i, d := range l.gaps() {
				if d < 0 || d > ceiling {
					t.Fatalf("wait %d = %v, want within [0, %v]", i+1, d, ceiling)
				}
			}
		})
	})
}

// FuzzBudget drives a Budget with deposits and withdrawals at arbitrary
// times. Properties: no panic; an invalid budget fails closed and grants
// nothing; a valid one never grants more than ratio × calls plus the floor
// for each second in which it granted from the floor.
func FuzzBudget(f *testing.F) {
	f.Add(0.1, 1, []byte{0, 1, 2, 3, 4, 5})
	f.Add(math.NaN(), 0, []byte{1})
	f.Add(2.0, -1, []byte{})
	f.Add(1e300, 1000, []byte{255, 0, 255})
	f.Fuzz(func(t *testing.T, ratio float64, floor int, ops []byte) {
		b := policy.NewBudget(ratio, floor)
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		var calls, granted int64
		seconds := map[int64]bool{}
		for _, op := range ops {
			now := t0.Add(time.Duration(op>>2) * 100 * time.Millisecond) // within ~6s: one window
			if op&1 == 0 {
				b.DepositAt(now)
				calls++
			} else if b.WithdrawAt(now) {
				granted++
				seconds[now.Unix()] = true
			}
		}
		if b.Err() != nil {
			checkConfigErr(t, b.Err())
			if granted != 0 {
				t.Fatal("an invalid budget granted an extra attempt")
			}
			return
		}
		limit := ratio*float64(calls) + float64(floor)*float64(len(seconds))
		if float64(granted) > limit {
			t.Fatalf("granted %d extra attempts, limit %v (%d calls)", granted, limit, calls)
		}
	})
}

// FuzzTimeout builds a Timeout with an arbitrary duration and mode.
// Properties: no panic; d <= 0 fails closed; a valid one returns a fast
// call's result unchanged and ends a stuck call with ErrTimeout at d.
func FuzzTimeout(f *testing.F) {
	f.Add(int64(time.Second), false)
	f.Add(int64(0), true)
	f.Add(int64(-1), false)
	f.Add(int64(math.MaxInt64), true)
	f.Fuzz(func(t *testing.T, d int64, abandon bool) {
		var opts []policy.TimeoutOption
		if abandon {
			opts = append(opts, policy.WithAbandon())
		}
		tl := policy.Timeout[int](time.Duration(d), opts...)
		synctest.Test(t, func(t *testing.T) {
			v, err := policy.Run(t.Context(), tl, func(context.Context) (int, error) { return 4, nil })
			if tl.Err() != nil {
				checkConfigErr(t, err)
				return
			}
			if v != 4 || err != nil {
				t.Fatalf("fast call = %v, %v", v, err)
			}
			if d > int64(time.Hour) {
				return // a stuck call would wait that long in fake time: fine, but pointless
			}
			start := time.Now()
			_, err = policy.Run(t.Context(), tl, waitForCtx(2*time.Duration(d)+time.Second, 1))
			if !errors.Is(err, policy.ErrTimeout) || time.Since(start) != time.Duration(d) {
				t.Fatalf("stuck call = %v after %v, want ErrTimeout after %v", err, time.Since(start), time.Duration(d))
			}
		})
	})
}

// FuzzHedge builds a Hedge with an arbitrary delay and hedge count and runs
// attempts with arbitrary latencies. Properties: no panic; invalid settings
// fail closed; a valid one returns a result from one of its attempts and
// leaves no goroutine behind (the bubble would deadlock otherwise).
func FuzzHedge(f *testing.F) {
	f.Add(int64(time.Millisecond), 2, []byte{5, 1, 9})
	f.Add(int64(-1), 1, []byte{})
	f.Add(int64(0), 0, []byte{0})
	f.Add(int64(0), 7, []byte{3, 3, 3, 3, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, delay int64, hedges int, latencies []byte) {
		h := policy.Hedge[int](time.Duration(delay), policy.WithHedges(hedges%10))
		synctest.Test(t, func(t *testing.T) {
			v, err := policy.Run(t.Context(), h, func(ctx context.Context) (int, error) {
				n := policy.Attempt(ctx)
				lat := time.Duration(0)
				if len(latencies) > 0 {
					lat = time.Duration(latencies[(n-1)%len(latencies)]) * time.Millisecond
				}
				select {
				case <-time.After(lat):
				case <-ctx.Done():
					return 0, ctx.Err()
				}
				if lat%3 == 0 {
					return 0, errTransient
				}
				return n, nil
			})
			if h.Err() != nil {
				checkConfigErr(t, err)
				return
			}
			if err != nil && !errors.Is(err, errTransient) {
				t.Fatalf("unexpected error %v", err)
			}
			if err == nil && (v < 1 || v > 1+hedges%10) {
				t.Fatalf("result %d is not from one of the attempts", v)
			}
		})
	})
}
