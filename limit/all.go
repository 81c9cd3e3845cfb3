package limit

import (
	"context"
	"math"
	"strings"
	"time"
)

// Member is a limiter that [All] can combine: one that can reserve tokens
// at an explicit time and give them back exactly. [*TokenBucket],
// [*LeakyBucket], [*AllOf] and the limiters returned by [Keyed.Key] and
// [Keyed.By] are Members. The interface is closed (its other methods are
// unexported): an all-or-nothing charge must refund the members it charged
// before one refused, which a user's [Limiter] cannot promise.
type Member interface {
	Limiter
	// memberErr returns the configuration error that makes the member fail
	// closed, or nil.
	memberErr() error
	// peekAt reports, without changing state, the wait for n > 0 tokens at
	// ns (0, true when available; exceeds for n above the burst).
	peekAt(ctx context.Context, ns, n int64) (int64, bool)
	// reserveAt takes n > 0 tokens at ns within maxWait ns, as
	// bucket.reserve does, and returns what it took.
	reserveAt(ctx context.Context, ns, n, maxWait int64) (claim, int64, bool)
	// tokensAt returns the tokens available at ns.
	tokensAt(ctx context.Context, ns int64) float64
}

// claim is what a reservation took: a bucket's ticket, the claims of the
// members of an AllOf, or nothing.
type claim struct {
	b    *bucket
	t    ticket
	subs []claim
}

// cancel gives back what c took at ns; see bucket.cancel for force.
func (c *claim) cancel(ns int64, force bool) {
	if c.b != nil {
		c.b.cancel(c.t, ns, force)
	}
	for i := range c.subs {
		c.subs[i].cancel(ns, force)
	}
}

// reserveAll charges n > 0 tokens to each of len(dst) limiters, all as of
// one time, or to none; it is the mechanism of [AllOf] (and so of the
// limiters built on it, such as package httplimit's). The request runs at the latest of the limiters'
// first free slots, ns + the wait, and every limiter is charged as of that
// slot, so that none sees its requests run faster than its rate. peek(i,
// at) and take(i, slot) are limiter i's peekAt and reserveAt (take with no
// wait). It returns the wait, -1 and true with dst filled; or false with
// the wait that would have been needed (exceeds for an n above a burst) and
// the index of the limiter that needed it.
//
// The first pass finds the slot; the second charges every limiter at it. A
// concurrent request can take a limiter's slot in between: then the
// charges made are refunded (exactly, unless yet another request charged
// the same bucket in between, which never admits more than the limits) and
// the passes repeat from the later slot.
func reserveAll(dst []claim, ns, n, maxWait int64, peek func(i int, at int64) (int64, bool), take func(i int, slot int64) (claim, bool)) (int64, int, bool) {
	at := ns
	for {
		w, worst := int64(0), -1
		for i := range dst {
			tw, ok := peek(i, at)
			if !ok && tw == exceeds {
				return exceeds, i, false
			}
			if tw > w {
				w, worst = tw, i
			}
		}
		if w > maxWait-(at-ns) {
			return min(w, int64(never)-(at-ns)) + (at - ns), worst, false
		}
		if w >= maxOffset-at {
			// No slot before the end of representable time. Charging a
			// bucket there, even to fail, would move its window and change
			// what it admits at earlier times.
			return int64(never), max(worst, 0), false
		}
		slot := satAdd(at, w)
		j := 0
		for ; j < len(dst); j++ {
			c, ok := take(j, slot)
			if !ok {
				break
			}
			dst[j] = c
		}
		if j == len(dst) {
			return slot - ns, -1, true
		}
		// The rollback is dated ns, the request's own time, so that the
		// refill each charge at the later slot spent goes back too.
		for i := j - 1; i >= 0; i-- {
			dst[i].cancel(ns, true)
		}
		if slot == at && w > 0 {
			// The slot saturated at the end of representable time: no
			// later slot exists.
			return int64(never), max(worst, 0), false
		}
		at = slot
	}
}

// AllOf is a limiter that admits a request only when every one of its
// members admits it, and then charges all of them: "10 per second and
// 1,000 per hour" is All(perSecond, perHour), and per user it is
// All(perSecond.By(user), perHour.By(user)) with two [Keyed] limiters.
//
// Admission is all-or-nothing: a request refused by one member consumes
// nothing at any (a member charged before another refused is refunded
// exactly). [AllOf.WaitN] waits for the largest of the members' delays and
// charges every member as of the time the request will run, so that no
// member sees its requests run faster than its rate; if the ctx ends first,
// every member is refunded. [AllOf.ReserveN] returns one [Reservation] over
// all members, whose Cancel refunds each. An AllOf is itself a [Member], so
// AllOf values nest, and a [Limiter], so [Policy] takes it.
//
// A member from [Keyed.By] derives its key from the ctx of Wait, WaitN and
// Admit; AllowN, ReserveN and TokensAt, which take no ctx, give it
// context.Background().
//
// Each call locks each member's bucket briefly, twice (find the slot, then
// charge it); AllowN and WaitN do not allocate for up to four members
// beyond what a keyed member does. The zero value fails closed with an
// error matching ion.ErrInvalidConfig: use [All]. An AllOf is safe for
// concurrent use by multiple goroutines.
type AllOf struct {
	members []Member
	inline  [5]Member // holds members when they are few, saving an allocation
	err     error
	live    bool
}

var errZeroAllOf = zeroValueError("AllOf", "All")

// All returns the limiter that admits a request only when every member
// admits it (see [AllOf]). With no member, a nil member, or a member that
// failed closed, the limiter fails closed: every call returns an error
// matching ion.ErrInvalidConfig that names it.
func All(members ...Member) *AllOf {
	a := &AllOf{}
	if len(members) <= len(a.inline) {
		a.members = a.inline[:len(members)]
		copy(a.members, members)
	} else {
		a.members = append([]Member(nil), members...)
	}
	if len(members) == 0 {
		a.err = configError("members", "none given")
	}
	for i, m := range members {
		var err error
		if m == nil {
			err = configError("members", "member %d is nil", i)
		} else {
			err = m.memberErr()
		}
		if err != nil && a.err == nil {
			a.err = err
		}
	}
	a.live = a.err == nil
	return a
}

// Err returns the configuration error that makes the limiter fail closed,
// or nil.
func (a *AllOf) Err() error {
	if a.live {
		return nil
	}
	if a.err != nil {
		return a.err
	}
	return errZeroAllOf
}

func (a *AllOf) memberErr() error { return a.Err() }

// reserve charges n > 0 tokens to every member as of ns, or to none; see
// reserveAll. dst must hold len(a.members) claims.
func (a *AllOf) reserve(ctx context.Context, dst []claim, ns, n, maxWait int64) (int64, bool) {
	wait, _, ok := reserveAll(dst, ns, n, maxWait,
		func(i int, at int64) (int64, bool) { return a.members[i].peekAt(ctx, at, n) },
		func(i int, slot int64) (claim, bool) {
			c, _, ok := a.members[i].reserveAt(ctx, slot, n, 0)
			return c, ok
		})
	return wait, ok
}

// claims returns room for the claims of one request: buf when it is large
// enough (the caller's stack, for the calls that keep no claim).
func (a *AllOf) claims(buf []claim) []claim {
	if len(a.members) <= len(buf) {
		return buf[:len(a.members)]
	}
	return make([]claim, len(a.members))
}

// Allow is shorthand for AllowN(time.Now(), 1).
func (a *AllOf) Allow() bool { return a.allowN(nowNs(), 1, true) }

// AllowN reports whether every member has n tokens at now, and takes them
// from all of them if so; otherwise it takes nothing. It never blocks. n = 0
// is always allowed; a negative n, an n above a member's burst or a limiter
// that failed closed are refused without changing state.
func (a *AllOf) AllowN(now time.Time, n int) bool { return a.allowN(offsetOf(now), n, false) }

func (a *AllOf) allowN(ns int64, n int, clock bool) bool {
	if !a.live || n < 0 {
		return false
	}
	if n == 0 {
		return true
	}
	var buf [4]claim
	dst := a.claims(buf[:])
	ctx := context.Background()
	wait, ok := a.reserve(ctx, dst, ns, int64(n), 0)
	if !ok && clock && wait != exceeds {
		if now, later := fresher(ns); later {
			_, ok = a.reserve(ctx, dst, now, int64(n), 0)
		}
	}
	return ok
}

// Wait is shorthand for WaitN(ctx, 1).
func (a *AllOf) Wait(ctx context.Context) error { return a.waitN(ctx, 1, -1) }

// WaitN blocks until every member has given the caller n tokens, which
// takes the largest of the members' delays, then returns nil. It fails as
// [TokenBucket.WaitN] does; if ctx ends during the wait, every member is
// refunded and ctx.Err() is returned.
func (a *AllOf) WaitN(ctx context.Context, n int) error { return a.waitN(ctx, n, -1) }

// Admit implements [Limiter]: it admits one call through every member,
// waiting at most maxWait (and strictly before ctx's deadline), and
// otherwise fails at once with a [*LimitedError], consuming nothing.
func (a *AllOf) Admit(ctx context.Context, maxWait time.Duration) error {
	return a.waitN(ctx, 1, max(int64(maxWait), 0))
}

func (a *AllOf) waitN(ctx context.Context, n int, maxWait int64) error {
	if ctx == nil {
		return errNilCtx
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case !a.live:
		return a.Err()
	case n < 0:
		return ErrNegativeN
	case n == 0:
		return nil
	}
	var buf [4]claim
	dst := a.claims(buf[:])
	ns := nowNs()
	wait, ok := a.reserve(ctx, dst, ns, int64(n), budget(ctx, ns, maxWait))
	if !ok && wait != exceeds {
		if now, later := fresher(ns); later {
			wait, ok = a.reserve(ctx, dst, now, int64(n), budget(ctx, now, maxWait))
		}
	}
	if !ok {
		return rejection(wait, "")
	}
	if wait > 0 && !sleep(ctx, wait) {
		now := nowNs()
		for i := range dst {
			dst[i].cancel(now, true)
		}
		return ctx.Err()
	}
	return nil
}

// ReserveN reserves n tokens from every member at now, or from none, and
// returns one [Reservation] over all of them: its Delay is the largest of
// the members' delays, and its Cancel refunds each member exactly as that
// member's own reservation would be. It never blocks. A reservation that
// is not OK changed nothing.
func (a *AllOf) ReserveN(now time.Time, n int) *Reservation {
	ns := offsetOf(now)
	r := &Reservation{actNs: ns}
	switch {
	case !a.live || n < 0:
		return r
	case n == 0:
		r.ok = true
		return r
	}
	dst := make([]claim, len(a.members))
	if wait, ok := a.reserve(context.Background(), dst, ns, int64(n), math.MaxInt64); ok {
		r.ok, r.c, r.actNs = true, claim{subs: dst}, ns+wait
	}
	return r
}

// TokensAt returns the tokens each member has available at now, in the
// order the members were given (see [TokenBucket.TokensAt]); nil for a
// limiter that failed closed. It changes nothing and allocates the slice.
func (a *AllOf) TokensAt(now time.Time) []float64 {
	if !a.live {
		return nil
	}
	ns := offsetOf(now)
	out := make([]float64, len(a.members))
	for i, m := range a.members {
		out[i] = m.tokensAt(context.Background(), ns)
	}
	return out
}

// String describes the limiter, as in "all(token-bucket 10/s burst 10,
// token-bucket 0.2777777777777778/s burst 1000)".
func (a *AllOf) String() string {
	if !a.live {
		return "all invalid: " + a.Err().Error()
	}
	var b strings.Builder
	b.WriteString("all(")
	for i, m := range a.members {
		if i > 0 {
			b.WriteString(", ")
		}
		if s, ok := m.(interface{ String() string }); ok {
			b.WriteString(s.String())
		} else {
			b.WriteString("?")
		}
	}
	b.WriteString(")")
	return b.String()
}

func (a *AllOf) peekAt(ctx context.Context, ns, n int64) (int64, bool) {
	w := int64(0)
	for _, m := range a.members {
		tw, ok := m.peekAt(ctx, ns, n)
		if !ok && tw == exceeds {
			return exceeds, false
		}
		w = max(w, tw)
	}
	return w, w == 0
}

func (a *AllOf) reserveAt(ctx context.Context, ns, n, maxWait int64) (claim, int64, bool) {
	dst := make([]claim, len(a.members))
	wait, ok := a.reserve(ctx, dst, ns, n, maxWait)
	if !ok {
		return claim{}, wait, false
	}
	return claim{subs: dst}, wait, true
}

func (a *AllOf) tokensAt(ctx context.Context, ns int64) float64 {
	tok := math.Inf(1)
	for _, m := range a.members {
		tok = min(tok, m.tokensAt(ctx, ns))
	}
	return tok
}

// The members of this file's siblings: the buckets' methods.

func (lim *TokenBucket) memberErr() error {
	if lim == nil {
		return configError("members", "nil *TokenBucket")
	}
	return lim.Err()
}

func (lim *TokenBucket) peekAt(_ context.Context, ns, n int64) (int64, bool) {
	return lim.c.b.peek(ns, n)
}

func (lim *TokenBucket) reserveAt(_ context.Context, ns, n, maxWait int64) (claim, int64, bool) {
	return lim.c.reserveAt(ns, n, maxWait)
}

func (lim *TokenBucket) tokensAt(_ context.Context, ns int64) float64 { return lim.c.tokensAt(ns) }

func (lim *LeakyBucket) memberErr() error {
	if lim == nil {
		return configError("members", "nil *LeakyBucket")
	}
	return lim.Err()
}

func (lim *LeakyBucket) peekAt(_ context.Context, ns, n int64) (int64, bool) {
	return lim.c.b.peek(ns, n)
}

func (lim *LeakyBucket) reserveAt(_ context.Context, ns, n, maxWait int64) (claim, int64, bool) {
	return lim.c.reserveAt(ns, n, maxWait)
}

func (lim *LeakyBucket) tokensAt(_ context.Context, ns int64) float64 { return lim.c.tokensAt(ns) }

func (c *core) reserveAt(ns, n, maxWait int64) (claim, int64, bool) {
	t, wait, ok := c.b.reserve(ns, n, maxWait)
	return claim{b: &c.b, t: t}, wait, ok
}
