// Package cache provides result caching as a policy: a call whose key has a
// fresh cached result is answered from the cache without running.
//
// # Model
//
// A [Cache] is a [policy.Policy]. Each call's key comes from its ctx (a
// request's identity travels there: a URL, a user id, a query). On a hit
// the cached value and error are returned at once; on a miss the call runs
// and its result is stored when the pipeline's classifier calls it a
// Success ([policy.Next.Classify]). A stored result is fresh for the TTL
// given to [New]; after that:
//
//   - With [WithStaleWhileRevalidate](d), for d after expiry a call is
//     answered with the stale value at once while one refresh per key runs
//     in the background.
//   - With [WithStaleIfError](d), for d after expiry a call whose own run
//     fails is answered with the stale value (and a nil error) instead of
//     the failure; the failed result goes to the pipeline's discard hook.
//   - Failures are not cached unless [WithNegativeTTL] asks for it.
//
// A rejection by an inner policy and the caller's own cancellation are
// never cached. Values are shared, not copied: a pointer, slice or map in a
// cached value is seen by every caller and must not be mutated. Do not
// cache values that own resources (an *http.Response and its body): cache
// what you read from them.
//
// A cache does not coalesce: concurrent misses of one key all run. Put a
// coalesce.Group right inside the cache to run them once:
// policy.Compose(cache, group, breaker, ...).
//
// # Storage
//
// [New] keeps entries in memory, at most [WithMaxEntries] of them (10,000
// by default), evicting the least recently used. [NewWithStore] takes any
// [Store], such as one over a shared cache server. Entries past every
// window are dropped when they are next looked up or evicted.
//
// # Background refresh
//
// A stale-while-revalidate refresh runs on a goroutine of the Cache, with
// the values of the call that found the entry stale but not its
// cancellation, bounded by [WithRefreshTimeout] (the TTL by default). At
// most one refresh per key runs at a time; ion_cache_refreshing counts them.
//
// # Metrics
//
//	ion_cache_requests_total{name,result}   counter: result=hit|stale|miss
//	ion_cache_refreshing{name}              gauge: background refreshes in flight
package cache

import (
	"context"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Cache answers calls from stored results by key. It is a [policy.Policy];
// place it outside the layers that guard the dependency (breaker, limiter,
// bulkhead, retry), so a hit costs them nothing.
//
// The zero value is not usable: every call returns an error matching
// ion.ErrInvalidConfig; use [New] or [NewWithStore]. A Cache is safe for
// concurrent use by multiple goroutines.
type Cache[T any] struct {
	key   func(ctx context.Context) string
	store Store[T]
	ttl   time.Duration
	cfg   config

	mHit, mStale, mMiss observe.Counter // nil without a Metrics sink
	mRefreshing         observe.Gauge

	// mu guards the field below.
	mu         sync.Mutex
	refreshing map[string]struct{} // keys with a background refresh in flight
}

// Entry is one stored result.
type Entry[T any] struct {
	Value   T
	Err     error     // the call's error: nil for a success, non-nil for a negative entry
	Expires time.Time // fresh until then
}

// Store keeps entries by key. Implementations must be safe for concurrent
// use; Get runs on every call through the cache, so it should be fast.
type Store[T any] interface {
	// Get returns the entry stored for key, if any.
	Get(key string) (Entry[T], bool)
	// Set stores e for key, replacing any entry.
	Set(key string, e Entry[T])
	// Delete removes the entry for key, if any.
	Delete(key string)
}

var errZero = ion.NewConfigError("cache", "Cache", "zero value; use New")

// New returns a Cache that keeps results in memory for ttl, by the key that
// key returns for a call's ctx, with at most [WithMaxEntries] entries
// (evicting the least recently used).
//
// New never panics. A nil key, a ttl that is not positive, a nil option or
// an invalid option value makes every call fail with an error matching
// ion.ErrInvalidConfig that names the parameter.
func New[T any](key func(ctx context.Context) string, ttl time.Duration, opts ...Option) *Cache[T] {
	c := newConfig(opts)
	return build(newMemory[T](c.maxEntries), key, ttl, c)
}

// NewWithStore returns a Cache like [New] that keeps its entries in store
// ([WithMaxEntries] does not apply: the store bounds itself). A nil store
// makes every call fail with an error matching ion.ErrInvalidConfig.
func NewWithStore[T any](store Store[T], key func(ctx context.Context) string, ttl time.Duration, opts ...Option) *Cache[T] {
	c := newConfig(opts)
	if store == nil {
		c.fail(ion.NewConfigError("cache", "store", "nil Store"))
	}
	return build(store, key, ttl, c)
}

func build[T any](store Store[T], key func(context.Context) string, ttl time.Duration, c config) *Cache[T] {
	if key == nil {
		c.fail(ion.NewConfigError("cache", "key", "nil function"))
	}
	if ttl <= 0 {
		c.fail(ion.NewConfigError("cache", "ttl", "%v is not positive", ttl))
	}
	if c.refreshTimeout == 0 {
		c.refreshTimeout = ttl
	}
	ch := &Cache[T]{key: key, store: store, ttl: ttl, cfg: c}
	if c.metrics != nil && c.err == nil {
		name := observe.L("name", c.name)
		ch.mHit = c.metrics.Counter("ion_cache_requests_total", name, observe.L("result", "hit"))
		ch.mStale = c.metrics.Counter("ion_cache_requests_total", name, observe.L("result", "stale"))
		ch.mMiss = c.metrics.Counter("ion_cache_requests_total", name, observe.L("result", "miss"))
		ch.mRefreshing = c.metrics.Gauge("ion_cache_refreshing", name)
	}
	return ch
}

// Err returns the configuration error that makes every call fail, or nil.
func (c *Cache[T]) Err() error {
	if c.store == nil && c.cfg.err == nil {
		return errZero
	}
	return c.cfg.err
}

// String describes the Cache for a pipeline's description.
func (c *Cache[T]) String() string {
	if err := c.Err(); err != nil {
		return "cache(invalid: " + err.Error() + ")"
	}
	s := "cache("
	if c.cfg.name != "" {
		s += c.cfg.name + " "
	}
	s += "ttl=" + c.ttl.String()
	if c.cfg.swr > 0 {
		s += " stale-while-revalidate=" + c.cfg.swr.String()
	}
	if c.cfg.sie > 0 {
		s += " stale-if-error=" + c.cfg.sie.String()
	}
	if c.cfg.negTTL > 0 {
		s += " negative=" + c.cfg.negTTL.String()
	}
	return s + ")"
}

// Execute answers the call from the cache when it can, and otherwise runs
// next and stores a successful result (see the package doc for the
// windows).
//
// A hit returns at once without blocking. A miss runs next on the caller's
// goroutine. An already-done ctx returns ctx.Err() without looking up or
// running anything. A panic in next propagates unchanged and stores
// nothing.
//
// Cost: a hit is one Store.Get (for the in-memory store, one lock and a
// map lookup, no allocation); a miss adds the call and one Store.Set.
func (c *Cache[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	if err := c.Err(); err != nil {
		return zero, err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	k := c.key(ctx)
	now := time.Now()
	e, found := c.store.Get(k)
	if found {
		switch {
		case now.Before(e.Expires):
			count(c.mHit)
			return e.Value, e.Err
		case e.Err == nil && c.cfg.swr > 0 && now.Before(e.Expires.Add(c.cfg.swr)):
			count(c.mStale)
			c.refresh(ctx, k, next)
			return e.Value, nil
		case e.Err != nil || !now.Before(e.Expires.Add(max(c.cfg.swr, c.cfg.sie))):
			// Past every window: forget it.
			c.store.Delete(k)
			found = false
		}
	}
	count(c.mMiss)
	v, err := next.Call(ctx)
	switch next.Classify(ctx, v, err) {
	case policy.Success:
		c.store.Set(k, Entry[T]{Value: v, Err: err, Expires: time.Now().Add(c.ttl)})
	case policy.Failure:
		if found && c.cfg.sie > 0 && time.Now().Before(e.Expires.Add(c.cfg.sie)) {
			next.Discard(v)
			return e.Value, nil
		}
		if c.cfg.negTTL > 0 {
			c.store.Set(k, Entry[T]{Value: v, Err: err, Expires: time.Now().Add(c.cfg.negTTL)})
		}
	}
	return v, err
}

// refresh starts a background refresh of key k unless one is in flight.
func (c *Cache[T]) refresh(ctx context.Context, k string, next policy.Next[T]) {
	c.mu.Lock()
	if _, busy := c.refreshing[k]; busy {
		c.mu.Unlock()
		return
	}
	if c.refreshing == nil {
		c.refreshing = make(map[string]struct{})
	}
	c.refreshing[k] = struct{}{}
	n := len(c.refreshing)
	c.mu.Unlock()
	c.setRefreshing(n)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.refreshTimeout)
	// Owner: the Cache. Exit: when next returns, at the latest when rctx
	// times out for a function that honours its ctx. Join: none; the
	// refreshing map and gauge count it while it runs.
	go func() {
		defer cancel()
		defer func() {
			c.mu.Lock()
			delete(c.refreshing, k)
			n := len(c.refreshing)
			c.mu.Unlock()
			c.setRefreshing(n)
			// A panic in a background refresh has no caller to go to: it is
			// dropped with its result, and the stale entry stays until its
			// window ends.
			_ = recover()
		}()
		v, err := next.Call(rctx)
		if next.Classify(rctx, v, err) == policy.Success {
			c.store.Set(k, Entry[T]{Value: v, Err: err, Expires: time.Now().Add(c.ttl)})
			return
		}
		next.Discard(v)
	}()
}

func (c *Cache[T]) setRefreshing(n int) {
	if c.mRefreshing != nil {
		c.mRefreshing.Set(float64(n))
	}
}

func count(ctr observe.Counter) {
	if ctr != nil {
		ctr.Add(1)
	}
}

// Invalidate removes the entry for key, so the next call with that key
// runs. It does not stop a background refresh already in flight.
func (c *Cache[T]) Invalidate(key string) {
	if c.Err() == nil {
		c.store.Delete(key)
	}
}
