package limit_test

import (
	"context"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
)

func TestKeyedPerKeyBuckets(t *testing.T) {
	lim := limit.NewKeyed[string](1, 2)
	require.NoError(t, lim.Err())
	assert.True(t, lim.AllowN(t0, "a", 2))
	assert.False(t, lim.AllowN(t0, "a", 1), "a is drained")
	assert.True(t, lim.AllowN(t0, "b", 2), "b has its own bucket")
	assert.True(t, lim.AllowN(t0.Add(time.Second), "a", 1), "a refills at its rate")
	assert.False(t, lim.AllowN(t0, "c", 3), "n above the burst")
	assert.False(t, lim.AllowN(t0, "c", -1))
	assert.True(t, lim.AllowN(t0, "c", 0))
	assert.Equal(t, 3, lim.Len())
	assert.Equal(t, 2.0, lim.Tokens("unknown"), "an unknown key has a full bucket")
	assert.Equal(t, 3, lim.Len(), "Tokens does not create the key")
	assert.Equal(t, "keyed 1/s burst 2", lim.String())
	assert.Equal(t, "keyed(tenants) 1/s burst 2", limit.NewKeyed[string](1, 2, limit.WithName("tenants")).String())
	assert.Equal(t, "keyed unlimited", limit.NewKeyed[int](limit.Inf, 0).String())
	assert.True(t, math.IsInf(limit.NewKeyed[int](limit.Inf, 0).Tokens(1), 1))
}

func TestKeyedWaitAndReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewKeyed[int](10, 1)
		start := time.Now()
		require.NoError(t, lim.Wait(t.Context(), 1))
		require.NoError(t, lim.Wait(t.Context(), 2))
		assert.Zero(t, time.Since(start), "two keys, two buckets")
		require.NoError(t, lim.WaitN(t.Context(), 1, 1))
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
		require.ErrorIs(t, lim.WaitN(t.Context(), 1, 2), limit.ErrExceedsBurst)
		require.ErrorIs(t, lim.WaitN(t.Context(), 1, -1), limit.ErrNegativeN)
		require.NoError(t, lim.WaitN(t.Context(), 1, 0))

		r := lim.ReserveN(time.Now(), 3, 1)
		require.True(t, r.OK())
		assert.Zero(t, r.Delay())
		r2 := lim.ReserveN(time.Now(), 3, 1)
		assert.Equal(t, 100*time.Millisecond, r2.Delay())
		r2.Cancel()
		assert.True(t, lim.ReserveN(time.Now(), 3, 0).OK())
		assert.False(t, lim.ReserveN(time.Now(), 3, -1).OK())
		assert.InDelta(t, 0, lim.Tokens(3), 1e-9)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- lim.Wait(ctx, 1) }()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		assert.InDelta(t, 0, lim.Tokens(1), 1e-9, "the cancelled wait gave its token back")
	})
}

func TestKeyedBadInputFailsClosed(t *testing.T) {
	for _, tc := range badLimits {
		t.Run(tc.name, func(t *testing.T) {
			lim := limit.NewKeyed[string](tc.rate, tc.burst)
			requireConfigError(t, lim.Err(), tc.param)
			assert.False(t, lim.Allow("a"))
			assert.ErrorIs(t, lim.Wait(context.Background(), "a"), ion.ErrInvalidConfig)
			assert.False(t, lim.ReserveN(t0, "a", 1).OK())
			assert.Zero(t, lim.Tokens("a"))
			assert.Zero(t, lim.Len(), "a failed-closed limiter remembers nothing")
			assert.Contains(t, lim.String(), "invalid")
		})
	}
}

// TestKeyedBoundedMemory feeds 100,000 distinct keys: the limiter never
// remembers more than WithMaxKeys, and its heap does not grow with the
// number of keys seen.
func TestKeyedBoundedMemory(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	lim := limit.NewKeyed[string](1, 1, limit.WithMaxKeys(1000))
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	for _, k := range keys[:10_000] {
		lim.AllowN(t0, k, 1)
	}
	require.Equal(t, 1000, lim.Len())
	before := heap()
	for _, k := range keys {
		lim.AllowN(t0, k, 1)
		if lim.Len() > 1000 {
			require.Failf(t, "unbounded", "Len() = %d, want <= 1000", lim.Len())
		}
	}
	after := heap()
	assert.Equal(t, 1000, lim.Len())
	assert.Less(t, int64(after)-int64(before), int64(1<<20),
		"heap grew by %d bytes between 10,000 and 100,000 distinct keys", int64(after)-int64(before))
	runtime.KeepAlive(keys)

	def := limit.NewKeyed[int](1, 1)
	for i := range 100_000 {
		def.AllowN(t0, i, 1)
	}
	assert.Equal(t, 10_000, def.Len(), "the default bound is 10,000 keys")
}

func TestKeyedLRUEviction(t *testing.T) {
	rec := observe.NewRecorder()
	lim := limit.NewKeyed[string](1, 1, limit.WithMaxKeys(2), limit.WithMetrics(rec), limit.WithName("k"))
	require.True(t, lim.AllowN(t0, "a", 1))
	require.True(t, lim.AllowN(t0, "b", 1))
	require.False(t, lim.AllowN(t0, "a", 1), "touches a: b is now the least recently used")
	require.True(t, lim.AllowN(t0, "c", 1), "evicts b")
	assert.Equal(t, 2, lim.Len())
	assert.Equal(t, 1.0, lim.Tokens("b"), "b was forgotten")
	assert.False(t, lim.AllowN(t0, "a", 1), "a was kept, still drained")
	name := observe.L("name", "k")
	assert.EqualValues(t, 1, rec.Count("ion_limit_evictions_total", name, observe.L("reason", "capacity")))
	assert.EqualValues(t, 2, rec.Value("ion_limit_keys", name))
}

func TestKeyedIdleExpiry(t *testing.T) {
	t.Run("lossless by default", func(t *testing.T) {
		rec := observe.NewRecorder()
		lim := limit.NewKeyed[string](10, 1, limit.WithMetrics(rec))
		require.True(t, lim.AllowN(t0, "a", 1))
		require.True(t, lim.AllowN(t0, "b", 1))
		require.True(t, lim.AllowN(t0.Add(50*time.Millisecond), "c", 1))
		assert.Equal(t, 3, lim.Len(), "a and b are not full yet: kept")
		require.True(t, lim.AllowN(t0.Add(100*time.Millisecond), "d", 1))
		assert.Equal(t, 2, lim.Len(), "a and b are full again: forgetting them loses nothing")
		assert.EqualValues(t, 2, rec.Count("ion_limit_evictions_total", observe.L("name", "keyed"), observe.L("reason", "idle")))
	})
	t.Run("with a TTL", func(t *testing.T) {
		lim := limit.NewKeyed[string](limit.PerHour(1), 1, limit.WithIdleTTL(time.Second))
		require.True(t, lim.AllowN(t0, "a", 1))
		require.True(t, lim.AllowN(t0.Add(500*time.Millisecond), "b", 1))
		require.True(t, lim.AllowN(t0.Add(time.Second), "c", 1))
		assert.Equal(t, 2, lim.Len(), "a idle for 1 s is forgotten, though its bucket is not full")
		assert.Equal(t, 1.0, lim.Tokens("a"))
	})
}

func TestKeyedRaceExactBurst(t *testing.T) {
	lim := limit.NewKeyed[string](limit.PerHour(1), 5)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			if lim.AllowN(t0, "hot", 1) {
				admitted.Add(1)
			}
			lim.AllowN(t0, strconv.Itoa(i%50), 1)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 5, admitted.Load(), "one key racing: exactly its burst is admitted")
}

func TestKeyedMetrics(t *testing.T) {
	rec := observe.NewRecorder()
	lim := limit.NewKeyed[int](1, 1, limit.WithMetrics(rec))
	lim.Allow(1)
	lim.Allow(1)
	name := observe.L("name", "keyed")
	assert.EqualValues(t, 1, rec.Count("ion_limit_requests_total", name, observe.L("result", "allowed")))
	assert.EqualValues(t, 1, rec.Count("ion_limit_requests_total", name, observe.L("result", "limited")))
	assert.EqualValues(t, 1, rec.Value("ion_limit_keys", name))
}

// admissionsPerKey runs callsPerKey concurrent calls of allow on each of
// keys keys, released at once, and returns how many each key admitted.
func admissionsPerKey(keys, callsPerKey int, allow func(key int) bool) []int32 {
	admitted := make([]atomic.Int32, keys)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range keys {
		for range callsPerKey {
			wg.Go(func() {
				<-start
				if allow(k) {
					admitted[k].Add(1)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	out := make([]int32, keys)
	for k := range admitted {
		out[k] = admitted[k].Load()
	}
	return out
}

// TestKeyedSweepRaceOverAdmits guards against a sweep forgetting a key
// between finding its bucket and charging it: the charge then landed in a
// forgotten bucket and the key's next call got a fresh, full one. With
// burst 1 and 1/hour, every key must admit exactly one call.
func TestKeyedSweepRaceOverAdmits(t *testing.T) {
	const rounds, keys, callsPerKey = 1000, 4, 4
	for r := range rounds {
		lim := limit.NewKeyed[string](limit.PerHour(1), 1)
		got := admissionsPerKey(keys, callsPerKey, func(k int) bool {
			return lim.Allow("r" + strconv.Itoa(r) + "-k" + strconv.Itoa(k))
		})
		for k, n := range got {
			require.EqualValues(t, 1, n, "round %d key %d: burst 1 at 1/h must admit exactly one call", r, k)
		}
	}
}

// TestKeyedStressAdmissionsPerKey hammers a Keyed from many goroutines,
// each key's calls mixed with calls on other keys (which sweep), and counts
// every admission of each key: a key never admits more than its burst plus
// what its rate refills, here nothing. Eviction for room is lossy by
// design, so WithMaxKeys leaves room for every key.
func TestKeyedStressAdmissionsPerKey(t *testing.T) {
	const keys, goroutines, loops, burst = 32, 8, 200, 3
	for _, opts := range [][]limit.KeyedOption{nil, {limit.WithMaxKeys(2 * keys)}, {limit.WithIdleTTL(time.Hour)}} {
		lim := limit.NewKeyed[int](limit.PerHour(1), burst, opts...)
		admitted := make([]atomic.Int32, keys)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range loops {
					k := (g + i) % keys
					if lim.Allow(k) {
						admitted[k].Add(1)
					}
					_ = lim.Allow(keys + (g*i)%keys) // another key's traffic
				}
			})
		}
		wg.Wait()
		for k := range admitted {
			assert.EqualValues(t, burst, admitted[k].Load(), "key %d: burst %d at 1/h", k, burst)
		}
	}
}

// TestKeyedSteadyStateUnderLimitDoesNotAllocate guards against keys under
// their limit being forgotten as soon as their bucket refilled and rebuilt
// on their next call: 1,000 tenants limited to 100/s, each sending 10/s,
// must be served without allocating.
func TestKeyedSteadyStateUnderLimitDoesNotAllocate(t *testing.T) {
	const tenants = 1000
	keys := make([]string, tenants)
	for i := range keys {
		keys[i] = "tenant-" + strconv.Itoa(i)
	}
	k := limit.NewKeyed[string](limit.PerSecond(100), 100)
	now := time.Now()
	step := time.Second / (10 * tenants)
	i := 0
	call := func() {
		now = now.Add(step)
		if !k.AllowN(now, keys[i%tenants], 1) {
			t.Fatal("a tenant under its limit was refused")
		}
		i++
	}
	for range 10 * tenants { // warm up: every tenant seen several times
		call()
	}
	if a := testing.AllocsPerRun(10*tenants, call); a != 0 {
		t.Fatalf("steady state allocates %.2f per call, want 0 (keys held: %d of %d)", a, k.Len(), tenants)
	}
	assert.Equal(t, tenants, k.Len(), "every active tenant is remembered")

	// Idle keys are still forgotten, once idle for their refill time (1 s):
	// memory is bounded by idle time as well as WithMaxKeys.
	now = now.Add(2 * time.Second)
	for range tenants {
		k.AllowN(now, "other", 0)
		k.AllowN(now, "other", 1)
		now = now.Add(time.Millisecond)
	}
	assert.Less(t, k.Len(), 10, "idle keys are forgotten")
}

// TestKeyedSetBurstAndDrainToOneKey: one key follows a server's count and
// limit; a key with a burst of its own is kept while idle, since
// forgetting it would bring back the default.
func TestKeyedSetBurstAndDrainToOneKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewKeyed[string](limit.PerSecond(1), 10)
		require.NoError(t, lim.SetBurst("a", 2))
		assert.InDelta(t, 2, lim.Tokens("a"), 1e-9, "the tokens are capped at the new burst")
		requireConfigError(t, lim.SetBurst("a", -1), "burst")
		lim.DrainTo("b", 3)
		assert.InDelta(t, 3, lim.Tokens("b"), 1e-9)
		lim.DrainTo("b", 5)
		assert.InDelta(t, 3, lim.Tokens("b"), 1e-9, "DrainTo never adds tokens")

		time.Sleep(time.Hour) // every key idle and full again
		for i := range 10 {
			lim.Allow("other" + strconv.Itoa(i)) // sweeps
		}
		assert.InDelta(t, 2, lim.Tokens("a"), 1e-9, "a keeps its own burst")
		assert.InDelta(t, 10, lim.Tokens("b"), 1e-9, "b was forgotten, losslessly")
		n := 0
		for lim.Allow("a") {
			n++
		}
		assert.Equal(t, 2, n)
	})
}
