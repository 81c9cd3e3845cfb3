package policy

import (
	"container/list"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
)

// ErrTooManyKeys is returned by a [KeyedLayer] when a call's key is new, the
// layer already holds its maximum number of keys, and every key it holds has
// a call in flight, so none can be forgotten to make room. It matches
// ion.ErrRejected.
var ErrTooManyKeys error = reject.New("policy: keyed: too many keys in use")

// KeyedOption configures [Keyed]: [WithMaxKeys] and [WithIdleTTL].
type KeyedOption interface{ applyKeyed(*keyedConfig) }

type keyedConfig struct {
	maxKeys int
	idleTTL time.Duration
	err     error
}

type keyedOption func(*keyedConfig)

func (o keyedOption) applyKeyed(c *keyedConfig) { o(c) }

// WithMaxKeys bounds the number of keys, and so of policies, a [Keyed]
// layer holds at once (default 1,024). When a new key arrives at the bound,
// the least recently used key without a call in flight is forgotten; when
// every key has a call in flight the new call is rejected with
// [ErrTooManyKeys]. An n below 1 is invalid.
func WithMaxKeys(n int) KeyedOption {
	return keyedOption(func(c *keyedConfig) {
		if n < 1 {
			if c.err == nil {
				c.err = ion.NewConfigError("policy", "WithMaxKeys", "must be at least 1, got %d", n)
			}
			return
		}
		c.maxKeys = n
	})
}

// WithIdleTTL forgets a key, and its policy, when no call has used it for d
// (default 10 minutes). The next call with that key builds a fresh policy.
// Forgetting is lazy: it happens during later calls, so an idle layer costs
// no goroutine or timer. A d of 0 keeps keys until [WithMaxKeys] evicts them;
// a negative d is invalid.
func WithIdleTTL(d time.Duration) KeyedOption {
	return keyedOption(func(c *keyedConfig) {
		if d < 0 {
			if c.err == nil {
				c.err = ion.NewConfigError("policy", "WithIdleTTL", "must not be negative, got %v", d)
			}
			return
		}
		c.idleTTL = d
	})
}

// KeyedLayer is the policy built by [Keyed]: it routes each call to the
// policy of the call's key, building that policy on first use and forgetting
// it when idle or when the layer is full.
//
// A KeyedLayer is safe for concurrent use by multiple goroutines.
type KeyedLayer[T any, K comparable] struct {
	key     func(ctx context.Context) (K, error)
	build   func(key K) Policy[T]
	maxKeys int
	idleTTL time.Duration
	err     error
	desc    string

	// mu guards the fields below.
	mu      sync.Mutex
	entries map[K]*list.Element // the keys held, each an element of lru
	lru     list.List           // *keyedEntry values, most recently used first
}

// keyedEntry is one key's policy. inflight and last are guarded by the
// layer's mu.
type keyedEntry[T any, K comparable] struct {
	key      K
	p        Policy[T]
	inflight int       // calls running through p
	last     time.Time // when a call last started or ended
}

// Keyed returns a policy that runs each call through the policy of its key,
// so that each key (a destination host, a tenant, an API key) gets a breaker,
// a bulkhead or a limiter of its own:
//
//	perHost := policy.Keyed(hostOf, func(host string) policy.Policy[*http.Response] {
//		return breaker.Policy[*http.Response](breaker.New(host))
//	}, policy.WithMaxKeys(256))
//
// key takes the call's key from its ctx; an error from key fails the call
// at once with that error wrapped, without running it. build returns the
// policy of a new key; it is called at most once per key for as long as the
// key is held, outside the layer's lock, and a nil result fails the call
// with an error matching ion.ErrInvalidConfig. When two calls with a new key
// race, both may call build and one result is kept.
//
// Memory is bounded: at most [WithMaxKeys] keys are held (default 1,024),
// and a key unused for [WithIdleTTL] (default 10 minutes) is forgotten, with
// its policy and the state inside it. A key with a call in flight is never
// forgotten. Eviction is lazy, done by later calls: no goroutine, no timer.
//
// Cost: one lock, one map lookup and a clock reading per call, plus the
// key's policy. A nil key or build function, or an invalid option, makes
// every call fail with an error matching ion.ErrInvalidConfig.
func Keyed[T any, K comparable](key func(ctx context.Context) (K, error), build func(key K) Policy[T], opts ...KeyedOption) *KeyedLayer[T, K] {
	c := keyedConfig{maxKeys: 1024, idleTTL: 10 * time.Minute}
	for i, o := range opts {
		if o == nil {
			if c.err == nil {
				c.err = ion.NewConfigError("policy", fmt.Sprintf("option %d", i), "nil option")
			}
			continue
		}
		o.applyKeyed(&c)
	}
	switch {
	case c.err != nil:
	case key == nil:
		c.err = ion.NewConfigError("policy", "key", "nil key function")
	case build == nil:
		c.err = ion.NewConfigError("policy", "build", "nil build function")
	}
	k := &KeyedLayer[T, K]{key: key, build: build, maxKeys: c.maxKeys, idleTTL: c.idleTTL, err: c.err}
	if k.err != nil {
		k.desc = "keyed(invalid: " + k.err.Error() + ")"
	} else {
		k.desc = "keyed(max=" + strconv.Itoa(k.maxKeys) + " ttl=" + k.idleTTL.String() + ")"
	}
	k.entries = make(map[K]*list.Element)
	return k
}

// Err returns the configuration error that makes k fail closed, or nil.
func (k *KeyedLayer[T, K]) Err() error { return k.err }

// String describes the policy, for example "keyed(max=1024 ttl=10m0s)".
func (k *KeyedLayer[T, K]) String() string { return k.desc }

// Len returns the number of keys k holds now.
func (k *KeyedLayer[T, K]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.entries)
}

// Execute implements [Policy]: it runs next through the policy of the key
// that k's key function returns for ctx. See [Keyed].
func (k *KeyedLayer[T, K]) Execute(ctx context.Context, next Next[T]) (T, error) {
	var zero T
	if k.err != nil {
		return zero, k.err
	}
	key, err := k.key(ctx)
	if err != nil {
		return zero, fmt.Errorf("policy: keyed: key: %w", err)
	}
	e, err := k.acquire(key)
	if err != nil {
		return zero, err
	}
	// The release runs on every path, a panic included, so a key with a
	// call in flight is never stuck "in use".
	defer k.release(e)
	return e.p.Execute(ctx, next)
}

// acquire returns key's entry with one more call in flight, building the
// policy if the key is new.
func (k *KeyedLayer[T, K]) acquire(key K) (*keyedEntry[T, K], error) {
	now := time.Now()
	k.mu.Lock()
	k.expireLocked(now)
	if el, ok := k.entries[key]; ok {
		e := el.Value.(*keyedEntry[T, K])
		e.inflight++
		e.last = now
		k.lru.MoveToFront(el)
		k.mu.Unlock()
		return e, nil
	}
	k.mu.Unlock()

	// build is user code: it never runs under the lock.
	p := k.build(key)
	if p == nil {
		return nil, ion.NewConfigError("policy", "build", "nil policy for key %v", key)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if el, ok := k.entries[key]; ok { // another call built it first: use that one
		e := el.Value.(*keyedEntry[T, K])
		e.inflight++
		e.last = now
		k.lru.MoveToFront(el)
		return e, nil
	}
	if len(k.entries) >= k.maxKeys && !k.evictLocked() {
		return nil, ErrTooManyKeys
	}
	e := &keyedEntry[T, K]{key: key, p: p, inflight: 1, last: now}
	k.entries[key] = k.lru.PushFront(e)
	return e, nil
}

// release ends one call of e.
func (k *KeyedLayer[T, K]) release(e *keyedEntry[T, K]) {
	now := time.Now()
	k.mu.Lock()
	e.inflight--
	e.last = now
	k.mu.Unlock()
}

// expireLocked forgets the keys idle for the TTL, from the least recently
// used end, stopping at the first one still fresh or in use: the list is
// ordered by the start of the last call, so the scan is amortized O(1).
// It must be called with k.mu held.
func (k *KeyedLayer[T, K]) expireLocked(now time.Time) {
	if k.idleTTL == 0 {
		return
	}
	for el := k.lru.Back(); el != nil; el = k.lru.Back() {
		e := el.Value.(*keyedEntry[T, K])
		if e.inflight > 0 || now.Sub(e.last) < k.idleTTL {
			return
		}
		k.lru.Remove(el)
		delete(k.entries, e.key)
	}
}

// evictLocked forgets the least recently used key without a call in flight
// and reports whether it found one. It must be called with k.mu held.
func (k *KeyedLayer[T, K]) evictLocked() bool {
	for el := k.lru.Back(); el != nil; el = el.Prev() {
		e := el.Value.(*keyedEntry[T, K])
		if e.inflight == 0 {
			k.lru.Remove(el)
			delete(k.entries, e.key)
			return true
		}
	}
	return false
}
