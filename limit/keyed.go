package limit

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/ionkit/ion/observe"
)

// Keyed is a set of token buckets, one per key (a tenant, a client IP, a
// host), all with the same rate and burst. A key's bucket is created full on
// first use.
//
// Memory is bounded by the number of keys and by idle time: Keyed remembers
// at most WithMaxKeys keys (10,000 by default), evicting the least recently
// used one to make room, and forgets idle keys lazily, a few per call,
// without a goroutine or a timer. By default a key is forgotten once it has
// been idle for the time its bucket takes to refill from empty (burst/rate),
// when its bucket is full again: that loses nothing (a forgotten key comes
// back with a full bucket), and a key used steadily under its limit is kept,
// so the steady state does not allocate. WithIdleTTL forgets keys after a
// fixed idle time instead. A key evicted to make room loses its debt, so
// under more than WithMaxKeys active keys a key can be admitted up to a
// burst early: size the bound above the number of keys active at once. A
// key is never forgotten while a call is using its bucket, so eviction
// never races a call into charging a forgotten bucket.
//
// Each call locks the set briefly to find the key (a map lookup and a move
// to the front of the recency list), then the key's bucket. Use
// [Keyed.By] to put a Keyed behind [Policy]. There is no usable zero value:
// use [NewKeyed]. A Keyed is safe for concurrent use by multiple goroutines.
type Keyed[K comparable] struct {
	s     store[K]
	l     limits
	err   error
	name  string
	named bool
	m     *instruments
	tr    observe.Tracer
}

// NewKeyed returns a keyed limiter whose keys each get a token bucket of
// burst tokens refilled at rate (see [NewTokenBucket] for the values
// accepted; invalid ones make the limiter fail closed). The options used are
// WithName, WithLogger, WithMetrics, WithTracer, WithMaxKeys and
// WithIdleTTL.
func NewKeyed[K comparable](rate Rate, burst int, opts ...Option) *Keyed[K] {
	cfg := newConfig("keyed", opts)
	lim := &Keyed[K]{l: limits{rate: rate, burst: burst}, name: cfg.name, named: cfg.name != "keyed"}
	lim.err = cfg.err
	if lim.err == nil {
		lim.err = checkLimits(rate, burst, "", "burst")
	}
	cfg.logConfigError(lim.err)
	lim.m, lim.tr = newInstruments(cfg), cfg.tracer
	lim.s.setup(cfg, newStoreInstruments(cfg))
	return lim
}

// Err returns the configuration error that makes the limiter fail closed,
// or nil.
func (lim *Keyed[K]) Err() error { return lim.err }

// Allow is shorthand for AllowN(time.Now(), key, 1).
func (lim *Keyed[K]) Allow(key K) bool { return lim.allowN(nowNs(), key, 1, true) }

// AllowN reports whether n tokens are available to key at now, and takes
// them if so; see [TokenBucket.AllowN]. It never blocks.
func (lim *Keyed[K]) AllowN(now time.Time, key K, n int) bool {
	return lim.allowN(offsetOf(now), key, n, false)
}

func (lim *Keyed[K]) allowN(ns int64, key K, n int, clock bool) bool {
	if lim.err != nil || n < 0 {
		return false
	}
	if n == 0 {
		return true
	}
	e := lim.s.get(key, ns, lim.l)
	ok := e.b.take(ns, int64(n))
	if !ok && clock {
		if now, later := fresher(ns); later {
			ok = e.b.take(now, int64(n))
		}
	}
	e.release()
	lim.m.record(ok)
	return ok
}

// Wait is shorthand for WaitN(ctx, key, 1).
func (lim *Keyed[K]) Wait(ctx context.Context, key K) error { return lim.waitN(ctx, key, 1, -1) }

// WaitN blocks until n tokens are key's; it behaves and fails as
// [TokenBucket.WaitN] does.
func (lim *Keyed[K]) WaitN(ctx context.Context, key K, n int) error {
	return lim.waitN(ctx, key, n, -1)
}

func (lim *Keyed[K]) waitN(ctx context.Context, key K, n int, maxWait int64) error {
	if ctx == nil {
		return errNilCtx
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case lim.err != nil:
		return lim.err
	case n < 0:
		return ErrNegativeN
	case n == 0:
		return nil
	}
	ns := nowNs()
	e := lim.s.get(key, ns, lim.l)
	b := &e.b
	t, wait, ok := b.reserve(ns, int64(n), budget(ctx, ns, maxWait))
	if !ok {
		if now, later := fresher(ns); later {
			t, wait, ok = b.reserve(now, int64(n), budget(ctx, now, maxWait))
		}
	}
	// The reservation (a debt while it waits) keeps the bucket from being
	// forgotten losslessly; a TTL may forget it, and then a refund to the
	// forgotten bucket is moot.
	e.release()
	if !ok {
		lim.m.record(false)
		return rejection(wait, "")
	}
	if wait > 0 && !sleep(ctx, wait) {
		b.cancel(t, nowNs(), false)
		return ctx.Err()
	}
	lim.m.record(true)
	lim.m.waited(time.Duration(wait))
	return nil
}

// ReserveN reserves n tokens for key at now; see [TokenBucket.ReserveN].
func (lim *Keyed[K]) ReserveN(now time.Time, key K, n int) *Reservation {
	ns := offsetOf(now)
	if lim.err != nil || n < 0 {
		return &Reservation{}
	}
	e := lim.s.get(key, ns, lim.l)
	r := &Reservation{b: &e.b, actNs: ns, ok: true}
	if n > 0 {
		t, wait, ok := e.b.reserve(ns, int64(n), math.MaxInt64)
		r.ok, r.t, r.actNs = ok, t, ns+wait
	}
	e.release()
	return r
}

// Tokens returns the tokens available to key now, without creating the key:
// a key not remembered has a full bucket.
func (lim *Keyed[K]) Tokens(key K) float64 {
	if lim.err != nil {
		return 0
	}
	if e := lim.s.lookup(key); e != nil {
		return e.b.tokensAt(nowNs())
	}
	if lim.l.rate.isInf() {
		return math.Inf(1)
	}
	return float64(lim.l.burst)
}

// Len returns the number of keys remembered.
func (lim *Keyed[K]) Len() int { return lim.s.len() }

// By returns a [Limiter] over lim for [Policy]: each call's key is key(ctx).
// key runs on the caller's goroutine, outside any lock; a nil key makes
// every call fail with an error matching ion.ErrInvalidConfig.
func (lim *Keyed[K]) By(key func(ctx context.Context) K) Limiter {
	return &keyedView[K]{lim: lim, key: key}
}

// String describes the limiter, as in "keyed 10/s burst 20".
func (lim *Keyed[K]) String() string {
	s := "keyed"
	if lim.named {
		s += "(" + lim.name + ")"
	}
	if lim.err != nil {
		return s + " invalid: " + lim.err.Error()
	}
	if lim.l.rate.isInf() {
		return s + " unlimited"
	}
	return s + " " + lim.l.rate.String() + " burst " + strconv.Itoa(lim.l.burst)
}

func (lim *Keyed[K]) tracer() observe.Tracer { return lim.tr }

type keyedView[K comparable] struct {
	lim *Keyed[K]
	key func(ctx context.Context) K
}

var errNilKeyFunc = configError("key", "nil key function")

func (v *keyedView[K]) Admit(ctx context.Context, maxWait time.Duration) error {
	if v.key == nil {
		return errNilKeyFunc
	}
	if ctx == nil {
		return errNilCtx
	}
	return v.lim.waitN(ctx, v.key(ctx), 1, max(int64(maxWait), 0))
}

func (v *keyedView[K]) String() string { return v.lim.String() }

func (v *keyedView[K]) tracer() observe.Tracer { return v.lim.tr }
