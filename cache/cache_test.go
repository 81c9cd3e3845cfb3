package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/cache"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type keyCtx struct{}

func withKey(ctx context.Context, k string) context.Context {
	return context.WithValue(ctx, keyCtx{}, k)
}

func keyOf(ctx context.Context) string { k, _ := ctx.Value(keyCtx{}).(string); return k }

// source is a scripted dependency: it answers "<key>#<n>" for its nth run,
// or fails while failing is set.
type source struct {
	runs    atomic.Int32
	failing atomic.Bool
}

var errDown = errors.New("down")

func (s *source) call(ctx context.Context) (string, error) {
	n := s.runs.Add(1)
	if s.failing.Load() {
		return "failed", errDown
	}
	return fmt.Sprintf("%s#%d", keyOf(ctx), n), nil
}

func get(t *testing.T, c *cache.Cache[string], s *source, key string) (string, error) {
	t.Helper()
	return policy.Run(withKey(t.Context(), key), c, s.call)
}

func TestFreshForTTLThenRunsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[string](keyOf, time.Minute)
		s := &source{}
		steps := []struct {
			after time.Duration
			want  string
		}{
			{0, "a#1"},
			{59 * time.Second, "a#1"}, // still fresh
			{time.Second, "a#2"},      // expired at exactly the TTL: runs again
			{30 * time.Second, "a#2"},
		}
		for _, st := range steps {
			time.Sleep(st.after)
			v, err := get(t, c, s, "a")
			require.NoError(t, err)
			assert.Equal(t, st.want, v, "after %v more", st.after)
		}
	})
}

func TestKeysAreSeparate(t *testing.T) {
	c := cache.New[string](keyOf, time.Minute)
	s := &source{}
	a, _ := get(t, c, s, "a")
	b, _ := get(t, c, s, "b")
	a2, _ := get(t, c, s, "a")
	assert.Equal(t, []string{"a#1", "b#2", "a#1"}, []string{a, b, a2})
}

func TestStaleWhileRevalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[string](keyOf, time.Minute, cache.WithStaleWhileRevalidate(30*time.Second))
		s := &source{}
		v, _ := get(t, c, s, "a")
		require.Equal(t, "a#1", v)

		time.Sleep(70 * time.Second) // expired, inside the stale window
		for range 5 {
			v, err := get(t, c, s, "a")
			require.NoError(t, err)
			assert.Equal(t, "a#1", v, "a stale value is served at once")
		}
		synctest.Wait() // the background refresh has finished
		assert.EqualValues(t, 2, s.runs.Load(), "five stale hits start one refresh")
		v, _ = get(t, c, s, "a")
		assert.Equal(t, "a#2", v, "the refreshed value is served")

		time.Sleep(91 * time.Second) // past TTL + stale window
		v, _ = get(t, c, s, "a")
		assert.Equal(t, "a#3", v, "past the stale window the call runs")
	})
}

func TestStaleWhileRevalidateRefreshFailureKeepsStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[string](keyOf, time.Minute, cache.WithStaleWhileRevalidate(time.Minute))
		s := &source{}
		get(t, c, s, "a")
		time.Sleep(61 * time.Second)
		s.failing.Store(true)
		v, err := get(t, c, s, "a")
		require.NoError(t, err)
		assert.Equal(t, "a#1", v)
		synctest.Wait()
		v, err = get(t, c, s, "a")
		require.NoError(t, err)
		assert.Equal(t, "a#1", v, "a failed refresh leaves the stale value")
	})
}

func TestStaleIfError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var discarded []string
		c := cache.New[string](keyOf, time.Minute, cache.WithStaleIfError(time.Minute))
		p := policy.Compose[string](c).WithDiscard(func(v string) { discarded = append(discarded, v) })
		s := &source{}
		run := func() (string, error) { return p.Run(withKey(t.Context(), "a"), s.call) }

		run()
		time.Sleep(90 * time.Second)
		s.failing.Store(true)
		v, err := run()
		require.NoError(t, err, "inside the stale-if-error window a failure is answered with the stale value")
		assert.Equal(t, "a#1", v)
		assert.Equal(t, []string{"failed"}, discarded, "the failed result goes to the discard hook")

		time.Sleep(31 * time.Second) // past TTL + window
		_, err = run()
		assert.ErrorIs(t, err, errDown, "past the window the failure reaches the caller")
	})
}

func TestFailuresAreNotCachedByDefault(t *testing.T) {
	c := cache.New[string](keyOf, time.Minute)
	s := &source{}
	s.failing.Store(true)
	_, err := get(t, c, s, "a")
	assert.ErrorIs(t, err, errDown)
	s.failing.Store(false)
	v, err := get(t, c, s, "a")
	require.NoError(t, err)
	assert.Equal(t, "a#2", v, "the failure was not cached")
}

func TestNegativeTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[string](keyOf, time.Minute, cache.WithNegativeTTL(10*time.Second))
		s := &source{}
		s.failing.Store(true)
		_, err := get(t, c, s, "a")
		require.ErrorIs(t, err, errDown)
		s.failing.Store(false)
		_, err = get(t, c, s, "a")
		assert.ErrorIs(t, err, errDown, "the failure is cached for the negative TTL")
		assert.EqualValues(t, 1, s.runs.Load())
		time.Sleep(10 * time.Second)
		v, err := get(t, c, s, "a")
		require.NoError(t, err)
		assert.Equal(t, "a#2", v)
	})
}

func TestRejectionsAndCancellationAreNotCached(t *testing.T) {
	c := cache.New[string](keyOf, time.Minute, cache.WithNegativeTTL(time.Minute))
	rejected := func(context.Context) (string, error) { return "", fmt.Errorf("full: %w", ion.ErrRejected) }
	_, err := policy.Run(withKey(t.Context(), "a"), c, rejected)
	require.ErrorIs(t, err, ion.ErrRejected)

	ctx, cancel := context.WithCancel(withKey(t.Context(), "a"))
	_, err = policy.Run(ctx, c, func(ctx context.Context) (string, error) { cancel(); return "", ctx.Err() })
	require.ErrorIs(t, err, context.Canceled)

	s := &source{}
	v, err := get(t, c, s, "a")
	require.NoError(t, err)
	assert.Equal(t, "a#1", v, "neither a rejection nor the caller's cancellation was cached")
}

func TestClassifierDecidesWhatIsCached(t *testing.T) {
	c := cache.New[string](keyOf, time.Minute)
	p := policy.Compose[string](c).WithClassifier(func(v string, err error) policy.Outcome {
		if v == "bad" {
			return policy.Failure
		}
		return policy.Success
	})
	runs := 0
	fn := func(context.Context) (string, error) { runs++; return "bad", nil }
	p.Run(withKey(t.Context(), "a"), fn)
	p.Run(withKey(t.Context(), "a"), fn)
	assert.Equal(t, 2, runs, "a result the classifier calls a failure is not cached")
}

func TestInvalidate(t *testing.T) {
	c := cache.New[string](keyOf, time.Minute)
	s := &source{}
	get(t, c, s, "a")
	c.Invalidate("a")
	v, _ := get(t, c, s, "a")
	assert.Equal(t, "a#2", v)
}

func TestLeastRecentlyUsedEviction(t *testing.T) {
	c := cache.New[string](keyOf, time.Hour, cache.WithMaxEntries(2))
	s := &source{}
	get(t, c, s, "a") // a#1
	get(t, c, s, "b") // b#2
	get(t, c, s, "a") // hit: a is now the most recently used
	get(t, c, s, "c") // c#3 evicts b
	assert.Equal(t, 2, cache.Len(c))
	a, _ := get(t, c, s, "a")
	b, _ := get(t, c, s, "b")
	assert.Equal(t, "a#1", a, "the recently used entry stayed")
	assert.Equal(t, "b#4", b, "the least recently used entry was evicted")
}

func TestBoundedMemoryWithManyKeys(t *testing.T) {
	c := cache.New[string](keyOf, time.Hour, cache.WithMaxEntries(1000))
	s := &source{}
	for i := range 100_000 {
		k := fmt.Sprint(i)
		v, err := get(t, c, s, k)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%s#%d", k, i+1), v)
	}
	assert.Equal(t, 1000, cache.Len(c), "the store never holds more than its bound")
}

func TestHitDoesNotAllocate(t *testing.T) {
	c := cache.New[string](keyOf, time.Hour)
	ctx := withKey(t.Context(), "a")
	fn := func(context.Context) (string, error) { return "v", nil }
	_, _ = policy.Run(ctx, c, fn)
	allocs := testing.AllocsPerRun(1000, func() { _, _ = policy.Run(ctx, c, fn) })
	assert.Zero(t, allocs, "a hit allocates nothing")
}

func TestStressConcurrentCallersGetTheirKeysValue(t *testing.T) {
	c := cache.New[string](keyOf, time.Millisecond, cache.WithMaxEntries(16),
		cache.WithStaleWhileRevalidate(time.Millisecond), cache.WithStaleIfError(time.Millisecond))
	var runs atomic.Int64
	fn := func(ctx context.Context) (string, error) {
		if runs.Add(1)%5 == 0 {
			return "", errDown
		}
		return "v:" + keyOf(ctx), nil
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				k := fmt.Sprint((w + i) % 40)
				v, err := policy.Run(withKey(context.Background(), k), c, fn)
				if err == nil && v != "v:"+k {
					t.Errorf("caller of %q got %q", k, v)
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, cache.Len(c), 16)
}

func TestBadConfigurationFailsClosed(t *testing.T) {
	fn := func(context.Context) (string, error) { return "ran", nil }
	cases := []struct {
		name  string
		c     *cache.Cache[string]
		param string
	}{
		{"zero value", &cache.Cache[string]{}, "use New"},
		{"nil key", cache.New[string](nil, time.Second), "key"},
		{"zero ttl", cache.New[string](keyOf, 0), "ttl"},
		{"negative ttl", cache.New[string](keyOf, -time.Second), "ttl"},
		{"nil option", cache.New[string](keyOf, time.Second, nil), "option 0"},
		{"max entries", cache.New[string](keyOf, time.Second, cache.WithMaxEntries(0)), "WithMaxEntries"},
		{"stale while revalidate", cache.New[string](keyOf, time.Second, cache.WithStaleWhileRevalidate(-1)), "WithStaleWhileRevalidate"},
		{"stale if error", cache.New[string](keyOf, time.Second, cache.WithStaleIfError(-1)), "WithStaleIfError"},
		{"negative ttl option", cache.New[string](keyOf, time.Second, cache.WithNegativeTTL(-1)), "WithNegativeTTL"},
		{"refresh timeout", cache.New[string](keyOf, time.Second, cache.WithRefreshTimeout(0)), "WithRefreshTimeout"},
		{"nil metrics", cache.New[string](keyOf, time.Second, cache.WithMetrics(nil)), "WithMetrics"},
		{"nil store", cache.NewWithStore[string](nil, keyOf, time.Second), "store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := policy.Run(withKey(t.Context(), "a"), tc.c, fn)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.ErrorContains(t, err, tc.param, "the error names the parameter")
			assert.Empty(t, v, "a misconfigured cache never runs the call")
			assert.Contains(t, tc.c.String(), "invalid")
			tc.c.Invalidate("a") // no panic
		})
	}
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		c := cache.New[string](keyOf, time.Minute, cache.WithName("c"), cache.WithMetrics(rec),
			cache.WithStaleWhileRevalidate(time.Minute))
		s := &source{}
		get(t, c, s, "a") // miss
		get(t, c, s, "a") // hit
		time.Sleep(61 * time.Second)
		get(t, c, s, "a") // stale
		synctest.Wait()
		for result, want := range map[string]int64{"hit": 1, "stale": 1, "miss": 1} {
			assert.Equal(t, want, rec.Count("ion_cache_requests_total", observe.L("name", "c"), observe.L("result", result)), result)
		}
		assert.Zero(t, rec.Value("ion_cache_refreshing", observe.L("name", "c")))
	})
}

func FuzzOptions(f *testing.F) {
	f.Add(int64(time.Second), 10, int64(0), int64(0), int64(0))
	f.Add(int64(-1), 0, int64(-5), int64(3), int64(-2))
	f.Fuzz(func(t *testing.T, ttl int64, maxEntries int, swr, sie, neg int64) {
		c := cache.New[string](keyOf, time.Duration(ttl), cache.WithMaxEntries(maxEntries),
			cache.WithStaleWhileRevalidate(time.Duration(swr)), cache.WithStaleIfError(time.Duration(sie)),
			cache.WithNegativeTTL(time.Duration(neg)))
		valid := ttl > 0 && maxEntries >= 1 && swr >= 0 && sie >= 0 && neg >= 0
		v, err := policy.Run(withKey(context.Background(), "k"), c, func(context.Context) (string, error) { return "ok", nil })
		if valid {
			if err != nil || v != "ok" {
				t.Fatalf("valid options: got %q, %v", v, err)
			}
			return
		}
		if !errors.Is(err, ion.ErrInvalidConfig) {
			t.Fatalf("invalid options accepted: got %q, %v", v, err)
		}
	})
}
