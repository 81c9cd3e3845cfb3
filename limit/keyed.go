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
// burst early: size the bound above the number of keys active at once. A key
// is never forgotten while a call is using its bucket, so eviction never
// races a call into charging a forgotten bucket.
//
// Each call locks the set briefly to find the key (a map lookup and a move
// to the front of the recency list), then uses the key's bucket as
// [TokenBucket] does. Use [Keyed.By] to put a Keyed behind [Policy]. The
// zero value fails closed: every call refuses, and those that return an
// error return one matching ion.ErrInvalidConfig that says to use
// [NewKeyed]. A Keyed is safe for concurrent use by multiple goroutines.
type Keyed[K comparable] struct {
	s     store[K]
	l     limits
	live  bool // built by NewKeyed without error; false in a zero value
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
func NewKeyed[K comparable](rate Rate, burst int, opts ...KeyedOption) *Keyed[K] {
	cfg := newConfig("keyed", opts, KeyedOption.applyKeyed)
	lim := &Keyed[K]{l: limits{rate: rate, burst: burst}, name: cfg.name, named: cfg.name != "keyed"}
	lim.err = cfg.err
	if lim.err == nil {
		lim.err = checkLimits(rate, burst, "", "burst")
	}
	cfg.logConfigError(lim.err)
	lim.m, lim.tr = newInstruments(cfg), cfg.tracer
	lim.s.setup(cfg, newStoreInstruments(cfg))
	lim.live = lim.err == nil
	return lim
}

var errZeroKeyed = zeroValueError("Keyed", "NewKeyed")

// Err returns the configuration error that makes the limiter fail closed,
// or nil.
func (lim *Keyed[K]) Err() error {
	switch {
	case lim.live:
		return nil
	case lim.err != nil:
		return lim.err
	}
	return errZeroKeyed
}

// Allow is shorthand for AllowN(time.Now(), key, 1).
func (lim *Keyed[K]) Allow(key K) bool { return lim.allowN(nowNs(), key, 1, true) }

// AllowN reports whether n tokens are available to key at now, and takes
// them if so; see [TokenBucket.AllowN]. It never blocks.
func (lim *Keyed[K]) AllowN(now time.Time, key K, n int) bool {
	return lim.allowN(offsetOf(now), key, n, false)
}

func (lim *Keyed[K]) allowN(ns int64, key K, n int, clock bool) bool {
	if !lim.live || n < 0 {
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
	case !lim.live:
		return lim.Err()
	case n < 0:
		return ErrNegativeN
	case n == 0:
		return nil
	}
	ns := nowNs()
	e := lim.s.get(key, ns, lim.l)
	b := &e.b
	t, wait, ok := b.admit(ns, int64(n), budget(ctx, ns, maxWait))
	if !ok {
		if now, later := fresher(ns); later {
			t, wait, ok = b.admit(now, int64(n), budget(ctx, now, maxWait))
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
	if !lim.live || n < 0 {
		return &Reservation{}
	}
	r := &Reservation{actNs: ns, ok: true}
	if n > 0 {
		c, wait, ok := lim.reserveKey(key, ns, int64(n), math.MaxInt64)
		r.ok, r.c, r.actNs = ok, c, ns+wait
	}
	return r
}

// reserveKey is bucket.reserve on key's bucket, which it pins meanwhile.
func (lim *Keyed[K]) reserveKey(key K, ns, n, maxWait int64) (claim, int64, bool) {
	e := lim.s.get(key, ns, lim.l)
	t, wait, ok := e.b.reserve(ns, n, maxWait)
	e.release()
	return claim{b: &e.b, t: t}, wait, ok
}

// peekKey is bucket.peek on key's bucket, which it pins meanwhile.
func (lim *Keyed[K]) peekKey(key K, ns, n int64) (int64, bool) {
	e := lim.s.get(key, ns, lim.l)
	w, ok := e.b.peek(ns, n)
	e.release()
	return w, ok
}

// DrainTo lowers the tokens available to key now to at most n, to follow a
// remote count such as an X-RateLimit-Remaining header; see
// [TokenBucket.DrainTo]. It never adds tokens; a negative n drains to 0. It
// does nothing on a limiter that failed closed.
func (lim *Keyed[K]) DrainTo(key K, n int) {
	if !lim.live {
		return
	}
	ns := nowNs()
	e := lim.s.get(key, ns, lim.l)
	e.b.drainTo(ns, int64(max(n, 0)))
	e.release()
}

// SetBurst gives key a burst of its own from now on, keeping the tokens
// accrued (capped at the new burst), as when a server reports the limit it
// applies to one route. The key's rate stays the limiter's. A key with a
// burst of its own is not forgotten when idle (forgetting it would bring
// back the default); it is still evicted to make room under WithMaxKeys,
// and forgotten after WithIdleTTL. An invalid burst (see [NewTokenBucket])
// returns an error matching ion.ErrInvalidConfig and changes nothing; so
// does a limiter that failed closed, with its error.
func (lim *Keyed[K]) SetBurst(key K, burst int) error {
	if !lim.live {
		return lim.Err()
	}
	ns := nowNs()
	e := lim.s.get(key, ns, lim.l)
	err := e.b.update(ns, func(perm limits) (limits, error) {
		perm.burst = burst
		return perm, checkLimits(perm.rate, perm.burst, "", "burst")
	})
	if err == nil {
		e.own.Store(true)
	}
	e.release()
	return err
}

// Tokens is shorthand for TokensAt(time.Now(), key).
func (lim *Keyed[K]) Tokens(key K) float64 { return lim.tokensAt(key, nowNs()) }

// TokensAt returns the tokens available to key at now (see
// [TokenBucket.TokensAt]), without creating the key or changing anything: a
// key not remembered has a full bucket. It is 0 for a limiter that failed
// closed.
func (lim *Keyed[K]) TokensAt(now time.Time, key K) float64 { return lim.tokensAt(key, offsetOf(now)) }

func (lim *Keyed[K]) tokensAt(key K, ns int64) float64 {
	if !lim.live {
		return 0
	}
	if e := lim.s.lookup(key); e != nil {
		return e.b.tokensAt(ns)
	}
	if lim.l.rate.isInf() {
		return math.Inf(1)
	}
	return float64(lim.l.burst)
}

// Len returns the number of keys remembered.
func (lim *Keyed[K]) Len() int {
	if !lim.live {
		return 0
	}
	return lim.s.len()
}

// By returns a [Limiter] over lim for [Policy] and [All]: each call's key is
// key(ctx). key runs on the caller's goroutine, outside any lock; a nil key
// makes every call fail with an error matching ion.ErrInvalidConfig.
func (lim *Keyed[K]) By(key func(ctx context.Context) K) Member {
	return &keyedView[K]{lim: lim, key: key}
}

// Key returns the limiter of one key, for [All]: "10/s and 1,000/hour for
// this user" is All(perSecond.Key(user), perHour.Key(user)). The key is
// looked up at each call, so the limiter stays valid however often the key
// is forgotten and remembered again. It allocates the small value it
// returns.
func (lim *Keyed[K]) Key(key K) Member {
	return &keyedView[K]{lim: lim, fixed: true, k: key}
}

// String describes the limiter, as in "keyed 10/s burst 20".
func (lim *Keyed[K]) String() string {
	s := "keyed"
	if lim.named {
		s += "(" + lim.name + ")"
	}
	if !lim.live {
		return s + " invalid: " + lim.Err().Error()
	}
	if lim.l.rate.isInf() {
		return s + " unlimited"
	}
	return s + " " + lim.l.rate.String() + " burst " + strconv.Itoa(lim.l.burst)
}

func (lim *Keyed[K]) tracer() observe.Tracer { return lim.tr }

// keyedView is the limiter of Keyed.By (the key of each call's ctx) and of
// Keyed.Key (one fixed key).
type keyedView[K comparable] struct {
	lim   *Keyed[K]
	key   func(ctx context.Context) K
	fixed bool // Key: k is the key, key is unused
	k     K
}

var errNilKeyFunc = configError("key", "nil key function")

func (v *keyedView[K]) keyOf(ctx context.Context) K {
	if v.fixed {
		return v.k
	}
	return v.key(ctx)
}

func (v *keyedView[K]) memberErr() error {
	switch {
	case v.lim == nil:
		return configError("members", "nil *Keyed")
	case !v.fixed && v.key == nil:
		return errNilKeyFunc
	}
	return v.lim.Err()
}

func (v *keyedView[K]) Admit(ctx context.Context, maxWait time.Duration) error {
	if err := v.memberErr(); err != nil {
		return err
	}
	if ctx == nil {
		return errNilCtx
	}
	return v.lim.waitN(ctx, v.keyOf(ctx), 1, max(int64(maxWait), 0))
}

func (v *keyedView[K]) peekAt(ctx context.Context, ns, n int64) (int64, bool) {
	return v.lim.peekKey(v.keyOf(ctx), ns, n)
}

func (v *keyedView[K]) reserveAt(ctx context.Context, ns, n, maxWait int64) (claim, int64, bool) {
	return v.lim.reserveKey(v.keyOf(ctx), ns, n, maxWait)
}

func (v *keyedView[K]) tokensAt(ctx context.Context, ns int64) float64 {
	return v.lim.tokensAt(v.keyOf(ctx), ns)
}

func (v *keyedView[K]) String() string { return v.lim.String() }

func (v *keyedView[K]) tracer() observe.Tracer { return v.lim.tr }
