package ionredis_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverTime reads Redis's clock, the one the limiter runs on.
func serverTime(t testing.TB, c redis.UniversalClient) time.Time {
	t.Helper()
	now, err := c.Time(context.Background()).Result()
	require.NoError(t, err)
	return now
}

// TestLimiter_fleet: replicas (separate clients, several goroutines each)
// hammering one shared limit admit, over the whole run and over every
// sliding window of it, no more than rate*window + burst, and not much less
// than the rate.
func TestLimiter_fleet(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		const (
			rate     = 200.0
			burst    = 20
			replicas = 4
			workers  = 4
			run      = 600 * time.Millisecond
		)
		name := uniq(t)
		ctl := tg.client(t)
		var (
			mu    sync.Mutex
			times []time.Time // local completion time of each admission
			maxRT time.Duration
		)
		t0 := serverTime(t, ctl)
		stop := time.Now().Add(run)
		var wg sync.WaitGroup
		for range replicas {
			lim := ionredis.NewLimiter(tg.client(t), name, ionredis.Window{Rate: rate, Burst: burst},
				ionredis.WithTimeout(time.Second))
			for range workers {
				wg.Go(func() {
					for time.Now().Before(stop) {
						start := time.Now()
						err := lim.Admit(context.Background(), 0)
						end := time.Now()
						mu.Lock()
						maxRT = max(maxRT, end.Sub(start))
						if err == nil {
							times = append(times, end)
						}
						mu.Unlock()
						if err != nil && !errors.Is(err, limit.ErrLimited) {
							t.Error(err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		elapsed := serverTime(t, ctl).Sub(t0)
		ideal := rate * elapsed.Seconds()
		t.Logf("%s: admitted %d in %v (ideal %.0f, burst %d, slowest round trip %v)", tg.name, len(times), elapsed, ideal, burst, maxRT)
		assert.LessOrEqual(t, float64(len(times)), ideal+burst+1, "never more than rate*elapsed + burst")
		assert.GreaterOrEqual(t, float64(len(times)), 0.5*ideal, "the fleet gets the rate it is allowed (loosely: CI machines are busy)")

		// Every sliding window of 100ms: a local completion time trails the
		// server's decision by at most one round trip.
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		w := 100 * time.Millisecond
		bound := rate*(w+maxRT).Seconds() + burst + 1
		j := 0
		for i := range times {
			for times[i].Sub(times[j]) > w {
				j++
			}
			if n := i - j + 1; float64(n) > bound {
				t.Fatalf("%d admitted within %v, bound %.1f", n, w, bound)
			}
		}
	})
}
