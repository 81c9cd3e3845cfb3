package limit_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
)

// FuzzNewTokenBucket builds limiters from arbitrary rates and bursts and
// uses them at arbitrary times. Properties: no panic; an invalid
// configuration fails closed with ErrInvalidConfig; a valid one never admits
// more than its burst at one instant (nothing fails open), and a time
// earlier than the last mints nothing.
func FuzzNewTokenBucket(f *testing.F) {
	f.Add(10.0, 5, 1, int64(0))
	f.Add(1e12, 1000, 1000, int64(1))
	f.Add(1e-10, 1, 2, int64(-1))
	f.Add(math.NaN(), 1, 1, int64(5))
	f.Add(math.Inf(1), 0, math.MaxInt, int64(1)<<62)
	f.Add(-1.0, -1, -1, int64(math.MinInt64))
	f.Add(0.0, 3, 1, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, rate float64, burst, n int, dt int64) {
		at := t0.Add(time.Duration(dt))
		for _, lim := range []interface {
			allowerN
			Err() error
			ReserveN(time.Time, int) *limit.Reservation
		}{
			limit.NewTokenBucket(limit.Rate(rate), burst),
			limit.NewLeakyBucket(limit.Rate(rate), burst),
		} {
			if err := lim.Err(); err != nil {
				if !errors.Is(err, ion.ErrInvalidConfig) {
					t.Fatalf("Err() = %v, want an error matching ErrInvalidConfig", err)
				}
				if lim.AllowN(at, 1) || lim.ReserveN(at, 1).OK() {
					t.Fatal("a limiter that failed closed admitted a request")
				}
				continue
			}
			lim.AllowN(at, n)
			if r := lim.ReserveN(at, n); r.OK() {
				if r.DelayFrom(at) < 0 {
					t.Fatalf("negative delay %v", r.DelayFrom(at))
				}
				r.CancelAt(at)
			}
			if rate >= math.MaxFloat64 || math.IsInf(rate, 1) || burst > 1<<12 {
				continue // unlimited, or a burst too large to count one by one
			}
			later := at.Add(time.Hour)
			admitted := 0
			for range burst + 2 {
				if lim.AllowN(later, 1) {
					admitted++
				}
			}
			if admitted > burst {
				t.Fatalf("admitted %d at one instant with burst %d", admitted, burst)
			}
			if admitted < burst && rate*3600 >= float64(burst) && dt < 1<<61 && dt > -1<<61 {
				t.Fatalf("admitted %d after an idle hour, want the whole burst %d", admitted, burst)
			}
			if lim.AllowN(at, 1) && admitted == burst {
				t.Fatal("an earlier time minted a token")
			}
		}
	})
}
