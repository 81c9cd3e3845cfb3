package ionredis_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countHook counts the commands a client sends: its round trips.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func TestBatch_tenTimesFewerRoundTrips(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		c := tg.client(t)
		var rt atomic.Int64
		c.AddHook(countHook{&rt})
		ctx := context.Background()
		lim := ionredis.NewLimiter(c, uniq(t), ionredis.Window{Rate: 100_000, Burst: 1000},
			ionredis.WithBatch(20, time.Minute), roomy)
		require.NoError(t, lim.Admit(ctx, 0)) // loads the script
		rt.Store(0)
		// 8 goroutines share each batch: callers that find it empty wait
		// for the refill in flight instead of asking Redis themselves.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 125 {
					assert.NoError(t, lim.Admit(ctx, 0))
				}
			})
		}
		wg.Wait()
		t.Logf("%s: %d round trips for 1,000 calls", tg.name, rt.Load())
		assert.LessOrEqual(t, rt.Load(), int64(1000/20+1), "one round trip per batch of 20")
	})
}

func TestBatch_refusalAndKeys(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	mr.SetTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	lim := ionredis.NewLimiter(c, "b", ionredis.Window{Rate: limit.PerMinute(6), Burst: 5}, ionredis.WithBatch(3, time.Minute))
	type k struct{}
	by := lim.By(func(ctx context.Context) string { return ctx.Value(k{}).(string) })
	a := context.WithValue(ctx, k{}, "a")
	for range 5 { // a batch of 3, then one of the 2 left
		require.NoError(t, by.Admit(a, 0))
	}
	err := by.Admit(a, 0)
	require.ErrorIs(t, err, limit.ErrLimited)
	ra, _ := ion.RetryAfter(err)
	assert.Equal(t, 10*time.Second, ra, "the refusal says when one token fits")
	require.NoError(t, by.Admit(context.WithValue(ctx, k{}, "b"), 0), "keys have their own batches")
}

func TestBatch_badConfig(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	w := ionredis.Window{Rate: 10, Burst: 10}
	for name, opt := range map[string]ionredis.LimiterOption{
		"n=1":        ionredis.WithBatch(1, time.Second),
		"n>burst":    ionredis.WithBatch(11, time.Second),
		"zero age":   ionredis.WithBatch(5, 0),
		"negative n": ionredis.WithBatch(-5, time.Second),
	} {
		var ce *ion.ConfigError
		require.ErrorAs(t, ionredis.NewLimiter(c, "n", w, opt).Err(), &ce, name)
		assert.Equal(t, "WithBatch", ce.Param, name)
	}
}

// TestBatch_fleetOverAdmission measures lease mode's over-admission: over
// the run, and over every sliding window, the fleet admits at most
// rate*d + burst + replicas*(n-1).
func TestBatch_fleetOverAdmission(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		const (
			rate     = 200.0
			burst    = 20
			n        = 10
			replicas = 4
			run      = 600 * time.Millisecond
		)
		name := uniq(t)
		ctl := tg.client(t)
		var (
			mu    sync.Mutex
			times []time.Time
		)
		t0 := serverTime(t, ctl)
		stop := time.Now().Add(run)
		var wg sync.WaitGroup
		for range replicas {
			lim := ionredis.NewLimiter(tg.client(t), name, ionredis.Window{Rate: rate, Burst: burst},
				ionredis.WithBatch(n, time.Second), roomy)
			for range 4 {
				wg.Go(func() {
					for time.Now().Before(stop) {
						err := lim.Admit(context.Background(), 0)
						if err == nil {
							mu.Lock()
							times = append(times, time.Now())
							mu.Unlock()
						} else if !errors.Is(err, limit.ErrLimited) {
							t.Error(err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		elapsed := serverTime(t, ctl).Sub(t0)
		limitAllows := rate*elapsed.Seconds() + burst
		bound := limitAllows + replicas*(n-1)
		t.Logf("%s: admitted %d in %v; the limit allows %.0f, lease mode's bound %.0f (over-admission measured: %.0f)",
			tg.name, len(times), elapsed, limitAllows, bound, float64(len(times))-limitAllows)
		assert.LessOrEqual(t, float64(len(times)), bound)

		// Every sliding window of 100ms (local times trail Redis's decisions
		// by a round trip, included in the slack of one window's rate).
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		w := 100 * time.Millisecond
		worst, j := 0, 0
		for i := range times {
			for times[i].Sub(times[j]) > w {
				j++
			}
			worst = max(worst, i-j+1)
		}
		winAllows := rate*w.Seconds() + burst
		t.Logf("%s: at most %d admitted in a %v window; the limit allows %.0f, lease mode's bound %.0f",
			tg.name, worst, w, winAllows, winAllows+replicas*(n-1))
		assert.LessOrEqual(t, float64(worst), 2*winAllows+replicas*(n-1))
	})
}

// TestBatch_localTakeDoesNotAllocate: in lease mode a call served from the
// replica's batch makes no round trip and no allocation.
func TestBatch_localTakeDoesNotAllocate(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	lim := ionredis.NewLimiter(c, "allocs", never, ionredis.WithBatch(1000, time.Hour))
	ctx := context.Background()
	if err := lim.Admit(ctx, 0); err != nil { // the refill
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(500, func() {
		if err := lim.Admit(ctx, 0); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
