package bench_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/cachepolicy"

	"github.com/ionkit/ion/cache"
	"github.com/ionkit/ion/policy"
)

// The cache twins answer every call from a warm entry. Ion's cache has a TTL
// and a least-recently-used bound; failsafe-go's policy is given the
// simplest backend, a map under a mutex, with neither.

type cacheKey struct{}

func cacheKeyOf(ctx context.Context) string { k, _ := ctx.Value(cacheKey{}).(string); return k }

type fsMapCache struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *fsMapCache) Get(k string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *fsMapCache) Set(k string, v int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
}

// CacheHit: a call answered from the cache.
var cacheHit = register("CacheHit",
	impl{"ion", func(b *testing.B) {
		c := cache.New[int](cacheKeyOf, time.Hour)
		ctx := context.WithValue(bg, cacheKey{}, "k")
		if _, err := policy.Run(ctx, c, ionCall); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := policy.Run(ctx, c, ionCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](cachepolicy.New[int](&fsMapCache{m: map[string]int{}})).
			WithContext(cachepolicy.ContextWithCacheKey(bg, "k"))
		if _, err := ex.Get(fsCall); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := ex.Get(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkCacheHit(b *testing.B) { cacheHit.run(b) }

var cacheHitParallel = register("CacheHitParallel",
	impl{"ion", func(b *testing.B) {
		c := cache.New[int](cacheKeyOf, time.Hour)
		ctx := context.WithValue(bg, cacheKey{}, "k")
		if _, err := policy.Run(ctx, c, ionCall); err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := policy.Run(ctx, c, ionCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](cachepolicy.New[int](&fsMapCache{m: map[string]int{}})).
			WithContext(cachepolicy.ContextWithCacheKey(bg, "k"))
		if _, err := ex.Get(fsCall); err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ex.Get(fsCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
)

func BenchmarkCacheHitParallel(b *testing.B) { cacheHitParallel.run(b) }
