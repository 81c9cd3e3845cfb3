package ionredis_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var hourly5 = ionredis.Window{Rate: limit.PerHour(5), Burst: 5} // 720s per token

func TestLimiter_burstThenRefuse(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		lim := ionredis.NewLimiter(tg.client(t), uniq(t), hourly5, roomy)
		require.NoError(t, lim.Err())
		for i := range 5 {
			res, err := lim.Allow(ctx, "alice")
			require.NoError(t, err, "call %d within the burst", i)
			assert.True(t, res.Allowed)
			assert.Equal(t, 4-i, res.Remaining, "Remaining after call %d", i)
			// ResetAfter: the debt of i+1 tokens, 720s each.
			assert.InDelta(t, float64(time.Duration(i+1)*720*time.Second), float64(res.ResetAfter), float64(time.Second))
			assert.Zero(t, res.RetryAfter)
		}
		res, err := lim.Allow(ctx, "alice")
		require.Error(t, err)
		assert.False(t, res.Allowed)
		assert.ErrorIs(t, err, limit.ErrLimited)
		assert.ErrorIs(t, err, ion.ErrRejected)
		ra, ok := ion.RetryAfter(err)
		require.True(t, ok, "a refusal carries its retry-after")
		assert.InDelta(t, float64(720*time.Second), float64(ra), float64(time.Second))
		assert.Equal(t, ra, res.RetryAfter)

		// Another key is untouched.
		res, err = lim.Allow(ctx, "bob")
		require.NoError(t, err)
		assert.Equal(t, 4, res.Remaining)
	})
}

func TestLimiter_keyExpiresWhenFull(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		c := tg.client(t)
		lim := ionredis.NewLimiter(c, uniq(t), hourly5, roomy)
		_, err := lim.AllowN(ctx, "k", 2)
		require.NoError(t, err)
		key := lim.KeysOf("k")[0]
		ttl, err := c.PTTL(ctx, key).Result()
		require.NoError(t, err)
		assert.InDelta(t, float64(1440*time.Second), float64(ttl), float64(2*time.Second),
			"the key lives until the window is full again, no longer")
		if tg.mini != nil {
			tg.mini.FastForward(1441 * time.Second)
			assert.False(t, tg.mini.Exists(key), "the key is gone once the window is full")
		}
	})
}

func TestLimiter_multiWindowAllOrNothing(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		c := tg.client(t)
		lim := ionredis.NewLimiter(c, uniq(t),
			ionredis.Window{Rate: limit.PerHour(3), Burst: 3, Name: "short"},
			ionredis.WithWindow(ionredis.Window{Rate: limit.PerHour(1), Burst: 5, Name: "long"}), roomy)
		keys := lim.KeysOf("u")
		require.Len(t, keys, 2)
		_, err := lim.AllowN(ctx, "u", 2)
		require.NoError(t, err)
		before := mustGetAll(t, c, keys)

		// 2 more do not fit the short window (1 left): refused, neither charged.
		res, err := lim.AllowN(ctx, "u", 2)
		require.ErrorIs(t, err, limit.ErrLimited)
		var le *limit.LimitedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "short", le.Tier, "the refusing window is named")
		assert.False(t, res.Allowed)
		assert.Equal(t, before, mustGetAll(t, c, keys), "a refusal charges no window")

		// The one token left is still there.
		_, err = lim.AllowN(ctx, "u", 1)
		require.NoError(t, err)
		// Now the long window has 2 left but the short one none.
		_, err = lim.AllowN(ctx, "u", 1)
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "short", le.Tier)
	})
}

func mustGetAll(t *testing.T, c redis.UniversalClient, keys []string) []string {
	t.Helper()
	var out []string
	for _, k := range keys {
		v, err := c.Get(context.Background(), k).Result()
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

func TestLimiter_hashTagsOneSlotPerSubject(t *testing.T) {
	requireRealServer(t)
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cluster.addr}, ContextTimeoutEnabled: true})
	defer c.Close()
	lim := ionredis.NewLimiter(c, uniq(t), hourly5,
		ionredis.WithWindow(ionredis.Window{Rate: limit.PerSecond(10), Burst: 10}),
		ionredis.WithWindow(ionredis.Window{Rate: limit.PerMinute(100), Burst: 100}), roomy)
	slots := map[int64]bool{}
	for _, subject := range []string{"alice", "bob", "{}", "{x}", "a}b{c", "tenant-42", "{{{", "}}}"} {
		keys := lim.KeysOf(subject)
		first, err := c.ClusterKeySlot(ctx, keys[0]).Result()
		require.NoError(t, err)
		for _, k := range keys[1:] {
			s, err := c.ClusterKeySlot(ctx, k).Result()
			require.NoError(t, err)
			assert.Equal(t, first, s, "keys of subject %q share a slot", subject)
		}
		slots[first] = true
		// Three windows in one script: a CROSSSLOT error would fail here.
		_, err = lim.Allow(ctx, subject)
		require.NoError(t, err, "subject %q", subject)
	}
	assert.Greater(t, len(slots), 4, "braces in subjects do not steer them into one slot")
}

func TestLimiter_waitWithinDeadline(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		lim := ionredis.NewLimiter(tg.client(t), uniq(t), ionredis.Window{Rate: limit.PerSecond(50), Burst: 1}, roomy)
		require.NoError(t, lim.Wait(ctx, "w"))
		// The next token comes in ~20ms: a wait that fits succeeds.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start := time.Now()
		require.NoError(t, lim.Wait(wctx, "w"))
		assert.Greater(t, time.Since(start), 5*time.Millisecond, "Wait waited for the token")

		// A wait that cannot fit the deadline fails at once, reserving nothing.
		slow := ionredis.NewLimiter(tg.client(t), uniq(t), hourly5, roomy)
		_, err := slow.AllowN(ctx, "w", 5)
		require.NoError(t, err)
		c := tg.client(t)
		before := mustGetAll(t, c, slow.KeysOf("w"))
		sctx, cancel2 := context.WithTimeout(ctx, 5*time.Second)
		defer cancel2()
		start = time.Now()
		err = slow.Wait(sctx, "w")
		require.ErrorIs(t, err, limit.ErrLimited)
		assert.Less(t, time.Since(start), 2*time.Second, "fails up front, not at the deadline")
		ra, _ := ion.RetryAfter(err)
		assert.Greater(t, ra, 700*time.Second)
		assert.Equal(t, before, mustGetAll(t, c, slow.KeysOf("w")), "a wait that cannot fit reserves nothing")
	})
}

// signalMetrics is an observe.Metrics whose limit-allowed counter signals
// each decision that granted tokens, so a test knows a wait has reserved.
type signalMetrics struct {
	*observe.Recorder
	granted chan struct{}
}

func (m signalMetrics) Counter(name string, labels ...observe.Label) observe.Counter {
	c := m.Recorder.Counter(name, labels...)
	if name == "ion_redis_limit_requests_total" && labels[1].Value == "allowed" {
		return signalCounter{c, m.granted}
	}
	return c
}

type signalCounter struct {
	observe.Counter
	ch chan struct{}
}

func (s signalCounter) Add(d int64) { s.Counter.Add(d); s.ch <- struct{}{} }

func TestLimiter_cancelledWaitKeepsNoToken(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		c := tg.client(t)
		m := signalMetrics{observe.NewRecorder(), make(chan struct{}, 1)}
		lim := ionredis.NewLimiter(c, uniq(t), ionredis.Window{Rate: limit.PerMinute(1), Burst: 2}, ionredis.WithMetrics(m), roomy)
		_, err := lim.AllowN(ctx, "x", 2)
		require.NoError(t, err)
		<-m.granted
		before := mustGetAll(t, c, lim.KeysOf("x"))

		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		done := make(chan error, 1)
		go func() { done <- lim.Wait(wctx, "x") }() // joined below
		<-m.granted                                 // the wait reserved its token (~60s ahead)
		assert.NotEqual(t, before, mustGetAll(t, c, lim.KeysOf("x")), "the wait reserved")
		cancel()
		err = <-done
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, before, mustGetAll(t, c, lim.KeysOf("x")),
			"the cancelled wait gave its token back exactly")
	})
}

func TestLimiter_policyUnchanged(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		lim := ionredis.NewLimiter(tg.client(t), uniq(t), ionredis.Window{Rate: limit.PerHour(2), Burst: 2}, roomy)
		p := limit.Policy[int](lim)
		calls := 0
		fn := func(context.Context) (int, error) { calls++; return calls, nil }
		for range 2 {
			_, err := policy.Run(ctx, p, fn)
			require.NoError(t, err)
		}
		_, err := policy.Run(ctx, p, fn)
		require.ErrorIs(t, err, limit.ErrLimited)
		assert.Equal(t, 2, calls, "a rejected call does not run")

		// The keyed form: each tenant has its own limit.
		type tenantKey struct{}
		keyed := limit.Policy[int](lim.By(func(ctx context.Context) string { return ctx.Value(tenantKey{}).(string) }))
		a := context.WithValue(ctx, tenantKey{}, "a")
		b := context.WithValue(ctx, tenantKey{}, "b")
		for range 2 {
			_, err := policy.Run(a, keyed, fn)
			require.NoError(t, err)
		}
		_, err = policy.Run(a, keyed, fn)
		require.ErrorIs(t, err, limit.ErrLimited)
		_, err = policy.Run(b, keyed, fn)
		require.NoError(t, err, "tenant b is not limited by tenant a")
	})
}

func TestLimiter_badInput(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	w := ionredis.Window{Rate: 10, Burst: 10}
	tests := []struct {
		name  string
		lim   *ionredis.Limiter
		param string
	}{
		{"nil client", ionredis.NewLimiter(nil, "n", w), "client"},
		{"empty name", ionredis.NewLimiter(c, "", w), "name"},
		{"NaN rate", ionredis.NewLimiter(c, "n", ionredis.Window{Rate: limit.Rate(math.NaN()), Burst: 1}), "w.Rate"},
		{"negative rate", ionredis.NewLimiter(c, "n", ionredis.Window{Rate: -1, Burst: 1}), "w.Rate"},
		{"zero rate", ionredis.NewLimiter(c, "n", ionredis.Window{Rate: 0, Burst: 1}), "w.Rate"},
		{"zero burst", ionredis.NewLimiter(c, "n", ionredis.Window{Rate: 1}), "w.Burst"},
		{"negative burst", ionredis.NewLimiter(c, "n", ionredis.Window{Rate: 1, Burst: -1}), "w.Burst"},
		{"huge burst", ionredis.NewLimiter(c, "n", ionredis.Window{Rate: 1, Burst: 1<<30 + 1}), "w.Burst"},
		{"window too long", ionredis.NewLimiter(c, "n", ionredis.Window{Rate: limit.PerHour(1), Burst: 1 << 29}), "w.Burst"},
		{"bad extra window", ionredis.NewLimiter(c, "n", w, ionredis.WithWindow(ionredis.Window{Rate: 1})), "WithWindow.Burst"},
		{"nil option", ionredis.NewLimiter(c, "n", w, nil), "opts"},
		{"zero timeout", ionredis.NewLimiter(c, "n", w, ionredis.WithTimeout(0)), "WithTimeout"},
		{"nil breaker", ionredis.NewLimiter(c, "n", w, ionredis.WithBreaker(nil)), "WithBreaker"},
		{"nil metrics", ionredis.NewLimiter(c, "n", w, ionredis.WithMetrics(nil)), "WithMetrics"},
		{"nil fallback", ionredis.NewLimiter(c, "n", w, ionredis.WithFallback(nil)), "WithFallback"},
		{"two failure modes", ionredis.NewLimiter(c, "n", w, ionredis.WithFailOpen(),
			ionredis.WithFallback(limit.NewTokenBucket(1, 1))), "WithFallback"},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *ion.ConfigError
			require.ErrorAs(t, tc.lim.Err(), &ce)
			assert.Equal(t, tc.param, ce.Param)
			for what, err := range map[string]error{
				"Admit":  tc.lim.Admit(ctx, 0),
				"Wait":   tc.lim.Wait(ctx, "k"),
				"By":     tc.lim.By(func(context.Context) string { return "k" }).Admit(ctx, 0),
				"AllowN": func() error { _, err := tc.lim.AllowN(ctx, "k", 1); return err }(),
				"Policy": func() error { _, err := policy.Run(ctx, limit.Policy[int](tc.lim), okFn); return err }(),
			} {
				assert.ErrorIs(t, err, ion.ErrInvalidConfig, "%s fails closed", what)
			}
		})
	}

	lim := ionredis.NewLimiter(c, "n", ionredis.Window{Rate: 10, Burst: 3})
	_, err := lim.AllowN(ctx, "k", -1)
	assert.ErrorIs(t, err, limit.ErrNegativeN)
	_, err = lim.AllowN(ctx, "k", 4)
	assert.ErrorIs(t, err, limit.ErrExceedsBurst)
	res, err := lim.AllowN(ctx, "k", 0)
	assert.NoError(t, err)
	assert.True(t, res.Allowed)
	assert.ErrorIs(t, lim.By(nil).Admit(ctx, 0), ion.ErrInvalidConfig)
	//lint:ignore SA1012 a nil ctx is what is tested
	assert.ErrorIs(t, lim.Admit(nil, 0), ion.ErrInvalidConfig)
	done, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, lim.Admit(done, 0), context.Canceled, "a done ctx fails even with tokens left")
	assert.Empty(t, mr.Keys(), "no bad call reached Redis")

	inf := ionredis.NewLimiter(c, "inf", ionredis.Window{Rate: limit.Inf})
	require.NoError(t, inf.Err())
	for range 100 {
		require.NoError(t, inf.Admit(ctx, 0))
	}
}

func okFn(context.Context) (int, error) { return 1, nil }

// TestLimiter_remainingMatchesAcrossBackends: the integer arithmetic gives
// the same counts on every backend (a float script is off by one on
// miniredis).
func TestLimiter_fractionalIntervalExact(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		// 3 per hour: T = 1,200,000,000 µs; 1/7 per second: a fraction.
		lim := ionredis.NewLimiter(tg.client(t), uniq(t), ionredis.Window{Rate: limit.Per(1, 7*time.Hour) * 3, Burst: 7}, roomy)
		for i := range 7 {
			res, err := lim.Allow(ctx, "f")
			require.NoError(t, err)
			assert.Equal(t, 6-i, res.Remaining)
		}
		_, err := lim.Allow(ctx, "f")
		require.ErrorIs(t, err, limit.ErrLimited)
	})
}

func TestLimiter_concurrentExactBurst(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		lim := ionredis.NewLimiter(tg.client(t), uniq(t), ionredis.Window{Rate: limit.PerHour(10), Burst: 10},
			ionredis.WithTimeout(5*time.Second)) // 50 cold connections under -race
		var mu sync.Mutex
		allowed := 0
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				err := lim.Admit(ctx, 0)
				if err == nil {
					mu.Lock()
					allowed++
					mu.Unlock()
				} else if !errors.Is(err, limit.ErrLimited) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 10, allowed, "exactly the burst is admitted by 50 concurrent callers")
	})
}

func TestLimiter_intervalRoundedUp(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	for rate, want := range map[limit.Rate]string{
		1000:                 "1000/s",
		3:                    "2.999994000012/s",
		7000:                 "6993.006993006993/s",
		limit.PerMinute(1):   "0.016666666666666666/s",
		limit.PerSecond(1e6): "1e+06/s",
	} {
		lim := ionredis.NewLimiter(c, "r", ionredis.Window{Rate: rate, Burst: 1})
		assert.Equal(t, "redis-limit(r) "+want+" burst 1", lim.String(), "never faster than asked")
	}
	var ce *ion.ConfigError
	require.ErrorAs(t, ionredis.NewLimiter(c, "r", ionredis.Window{Rate: 1e6 + 1, Burst: 1}).Err(), &ce)
	assert.Equal(t, "w.Rate", ce.Param)
}
