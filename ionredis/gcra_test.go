package ionredis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ionkit/ion"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/redis/go-redis/v9"
)

// model is GCRA in Go, in integer microseconds, for one window: what the
// script must answer.
type model struct {
	t, tau, tat int64
}

func (m *model) allow(now, n int64) (ok bool, remaining, retry, reset int64) {
	tat := max(m.tat, now)
	if tat+n*m.t-m.tau > now {
		return false, 0, tat + n*m.t - m.tau - now, tat - now
	}
	m.tat = tat + n*m.t
	return true, (now - (m.tat - m.tau)) / m.t, 0, m.tat - now
}

// FuzzGCRA runs random sequences of requests and clock steps through the
// Lua script (on miniredis, whose clock the test sets) and through the
// model, and requires the same answers: allowed, remaining, retry-after and
// reset-after, to the microsecond.
func FuzzGCRA(f *testing.F) {
	f.Add(uint16(10), uint16(5), []byte{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 3, 200, 2, 10})
	f.Add(uint16(3), uint16(7), []byte{7, 0, 1, 0, 1, 255, 4, 128, 1, 1})
	f.Add(uint16(1000), uint16(1), []byte{1, 0, 1, 0, 1, 1, 1, 2})
	f.Fuzz(func(t *testing.T, rate, burst uint16, ops []byte) {
		if rate == 0 || burst == 0 || len(ops) > 200 {
			return
		}
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			t.Fatal(err)
		}
		defer mr.Close()
		c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
		defer c.Close()
		lim := ionredis.NewLimiter(c, "fuzz", ionredis.Window{Rate: limit.Rate(rate), Burst: int(burst)}, roomy)
		if err := lim.Err(); err != nil {
			t.Fatal(err)
		}
		interval := (1_000_000 + int64(rate) - 1) / int64(rate) // rounded up, as the limiter does
		m := model{t: interval, tau: interval * int64(burst)}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i+1 < len(ops); i += 2 {
			n := int64(ops[i]%uint8(min(burst, 255))) + 1
			now = now.Add(time.Duration(ops[i+1]) * time.Duration(interval) * time.Microsecond / 16)
			mr.SetTime(now)
			res, err := lim.AllowN(context.Background(), "k", int(n))
			ok, rem, retry, reset := m.allow(now.UnixMicro(), n)
			if err != nil && !errors.Is(err, limit.ErrLimited) {
				t.Fatal(err)
			}
			got := [4]int64{b2i(res.Allowed), int64(res.Remaining), res.RetryAfter.Microseconds(), res.ResetAfter.Microseconds()}
			want := [4]int64{b2i(ok), rem, retry, reset}
			if got != want {
				t.Fatalf("op %d: AllowN(%d) at +%v = %v, model %v (allowed, remaining, retry µs, reset µs)",
					i/2, n, now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), got, want)
			}
			if !ok {
				if ra, _ := ion.RetryAfter(err); ra.Microseconds() != retry {
					t.Fatalf("op %d: RetryAfter %v, want %dµs", i/2, ra, retry)
				}
			}
		}
	})
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
