package limit

import (
	"sync"
	"sync/atomic"

	"github.com/ionkit/ion/observe"
)

// entry is one key's bucket in a store.
type entry[K comparable] struct {
	b bucket
	// own is set once the key has limits of its own (Keyed.SetBurst): the
	// sweep must not forget it and bring back the default.
	own atomic.Bool
	// pins counts the callers between store.get and entry.release: a pinned
	// entry is never removed, so that no call charges a bucket the store
	// has already forgotten (the next call would get a fresh, full one).
	// Incremented under the store's mu; decremented without it.
	pins atomic.Int32
	key  K
	// refill is the time (ns) the bucket takes to refill from empty under
	// the limits it was created with: the least idle time after which the
	// sweep may forget it by default. Set at creation.
	refill int64

	// Guarded by the store's mu.
	last       int64 // ns of the last use
	prev, next *entry[K]
}

// store is a bounded map from keys to buckets: at most maxKeys entries, the
// least recently used evicted first, and idle entries expired lazily (no
// goroutine, no timer), a few per access.
//
// Eviction never races use: get pins the entry it returns, under mu, and
// the caller releases it once its operation on the bucket is done; the
// sweep and the eviction for room, also under mu, skip pinned entries. A
// call therefore always charges the bucket that the next call of its key
// will find.
type store[K comparable] struct {
	ttl     int64 // ns; 0: an entry expires once idle for its refill time (lossless)
	maxKeys int
	m       *storeInstruments

	// mu guards the fields below.
	mu   sync.Mutex
	keys map[K]*entry[K] // lazily initialized
	lru  entry[K]        // sentinel of the recency list: lru.next is the most recent
}

// storeInstruments are a store's metrics; nil records nothing.
type storeInstruments struct {
	keys               observe.Gauge
	expired, displaced observe.Counter
}

func newStoreInstruments(c *config, labels ...observe.Label) *storeInstruments {
	if c.metrics == nil {
		return nil
	}
	name := append([]observe.Label{observe.L("name", c.name)}, labels...)
	return &storeInstruments{
		keys:      c.metrics.Gauge("ion_limit_keys", name...),
		expired:   c.metrics.Counter("ion_limit_evictions_total", append(name, observe.L("reason", "idle"))...),
		displaced: c.metrics.Counter("ion_limit_evictions_total", append(name, observe.L("reason", "capacity"))...),
	}
}

func (s *store[K]) setup(c *config, m *storeInstruments) {
	s.ttl, s.maxKeys, s.m = int64(c.idleTTL), c.maxKeys, m
	s.lru.next, s.lru.prev = &s.lru, &s.lru
}

// sweepPerAccess bounds the expired entries one access removes, so that an
// access costs O(1) amortized.
const sweepPerAccess = 2

// get returns key's entry at ns, creating it with limits l (full) if it is
// absent, marks it most recently used and pins it: the caller must call
// release once done with its bucket. It records metrics after releasing the
// lock.
func (s *store[K]) get(key K, ns int64, l limits) *entry[K] {
	var displaced, expired int
	s.mu.Lock()
	if s.keys == nil {
		s.keys = make(map[K]*entry[K])
	}
	e := s.keys[key]
	inserted := e == nil
	if inserted {
		e = &entry[K]{key: key}
		e.b.init(l, ns)
		e.refill = e.b.refill()
		// Make room from the least recently used end, skipping entries in
		// use; with more callers in flight than maxKeys, the store holds
		// one entry per caller until they release them.
		for v := s.lru.prev; len(s.keys) >= s.maxKeys && v != &s.lru; {
			prev := v.prev
			if v.pins.Load() == 0 {
				s.removeLocked(v)
				displaced++
			}
			v = prev
		}
		s.keys[key] = e
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
	}
	e.prev, e.next = &s.lru, s.lru.next
	e.next.prev, s.lru.next = e, e
	e.last = ns
	e.pins.Add(1)
	expired = s.sweepLocked(ns)
	n := len(s.keys)
	s.mu.Unlock()

	if m := s.m; m != nil && (inserted || expired > 0) {
		m.keys.Set(float64(n))
		if displaced > 0 {
			m.displaced.Add(int64(displaced))
		}
		if expired > 0 {
			m.expired.Add(int64(expired))
		}
	}
	return e
}

// release unpins e, which get returned.
func (e *entry[K]) release() { e.pins.Add(-1) }

// lookup returns key's entry, or nil, without creating it or touching its
// recency.
func (s *store[K]) lookup(key K) *entry[K] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[key]
}

// sweepLocked expires up to sweepPerAccess idle entries from the least
// recently used end, never the most recent one nor one in use, and returns
// how many. It must be called with s.mu held.
func (s *store[K]) sweepLocked(ns int64) int {
	n := 0
	for ; n < sweepPerAccess; n++ {
		e := s.lru.prev
		if e == &s.lru || e == s.lru.next || e.pins.Load() != 0 {
			break
		}
		if !s.expiredLocked(e, ns) {
			break
		}
		s.removeLocked(e)
	}
	return n
}

// expiredLocked reports whether the sweep may forget e at ns. With a TTL,
// e expires once idle that long. By default only what loses nothing is
// forgotten: a bucket full again and idle for at least its refill time (a
// key used steadily under its limit is kept rather than rebuilt between
// calls), and never a key with limits of its own.
// It must be called with s.mu held.
func (s *store[K]) expiredLocked(e *entry[K], ns int64) bool {
	idle := ns - e.last
	if s.ttl > 0 {
		return idle >= s.ttl
	}
	if idle < e.refill || e.own.Load() {
		return false // the first test spares the bucket's lock in the steady state
	}
	return e.b.forgettable(ns, idle)
}

// removeLocked unlinks e. It must be called with s.mu held.
func (s *store[K]) removeLocked(e *entry[K]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(s.keys, e.key)
}

// len returns the number of entries.
func (s *store[K]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
