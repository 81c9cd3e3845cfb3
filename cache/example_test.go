package cache_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ionkit/ion/cache"
	"github.com/ionkit/ion/policy"
)

type cityKey struct{}

func cityOf(ctx context.Context) string { c, _ := ctx.Value(cityKey{}).(string); return c }

func ExampleNew() {
	// Forecasts are cached for a minute by the city the call carries.
	forecasts := cache.New[string](cityOf, time.Minute, cache.WithName("forecasts"))
	fmt.Println(forecasts)

	fetches := 0
	fetch := func(ctx context.Context) (string, error) {
		fetches++
		return "sunny in " + cityOf(ctx), nil
	}
	for range 3 {
		ctx := context.WithValue(context.Background(), cityKey{}, "Lyon")
		v, err := policy.Run(ctx, forecasts, fetch)
		fmt.Println(v, err)
	}
	fmt.Println("fetches:", fetches)
	// Output:
	// cache(forecasts ttl=1m0s)
	// sunny in Lyon <nil>
	// sunny in Lyon <nil>
	// sunny in Lyon <nil>
	// fetches: 1
}

// mapStore is a Store over a map; a real one might sit on a shared cache
// server.
type mapStore struct {
	mu sync.Mutex
	m  map[string]cache.Entry[string]
}

func (s *mapStore) Get(k string) (cache.Entry[string], bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	return e, ok
}

func (s *mapStore) Set(k string, e cache.Entry[string]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = e
}

func (s *mapStore) Delete(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
}

func ExampleNewWithStore() {
	store := &mapStore{m: map[string]cache.Entry[string]{}}
	forecasts := cache.NewWithStore[string](store, cityOf, time.Minute)

	ctx := context.WithValue(context.Background(), cityKey{}, "Oslo")
	v, _ := policy.Run(ctx, forecasts, func(context.Context) (string, error) { return "snow", nil })
	fmt.Println(v)
	e, ok := store.Get("Oslo")
	fmt.Println(e.Value, ok)
	// Output:
	// snow
	// snow true
}
