package limit

import (
	"context"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/observe"
)

// Scope names a tier of a [MultiTier].
type Scope uint8

const (
	// Global is the one bucket every request passes.
	Global Scope = iota
	// Route is the bucket of the request's route (method and path pattern).
	Route
	// Resource is the bucket of the request's ResourceID.
	Resource
	// SubResource is the bucket of the request's ResourceID and
	// SubResourceID together.
	SubResource
	// User is the bucket of the request's UserID.
	User

	scopeCount
)

// Stats indexes its arrays by Scope.
var _ [scopeCount]struct{} = [len(Stats{}.LimitedBy)]struct{}{}

// String returns "global", "route", "resource", "sub-resource" or "user".
func (s Scope) String() string {
	switch s {
	case Global:
		return "global"
	case Route:
		return "route"
	case Resource:
		return "resource"
	case SubResource:
		return "sub-resource"
	case User:
		return "user"
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// Request describes one request to a [MultiTier]: its route and the ids
// that select its resource, sub-resource and user buckets. An empty id skips
// its tier.
type Request struct {
	Method        string // the HTTP method, such as "GET"; empty matches any
	Path          string // the request path, such as "/api/v1/users/42"; a query is ignored
	ResourceID    string // selects the Resource bucket, such as a guild or account id
	SubResourceID string // selects the SubResource bucket, within ResourceID
	UserID        string // selects the User bucket
}

// MultiTier is a rate limiter for API gateways and API clients: every
// request passes up to five tiers of token buckets, each with its own rate
// and burst (see [WithTier]):
//
//   - Global: one bucket for everything.
//   - Route: one bucket per route. A request's route is the most specific
//     pattern given by [WithRoute] that matches its method and path (the
//     most literal segments; the first given on a tie), matched segment by
//     segment, where a {name} segment matches any one segment. A request no
//     pattern matches gets a route of its own: its method and path with
//     every segment that looks like an id (all digits, a UUID, 16 or more
//     hex digits) replaced by {id}, so /users/42 and /users/43 share a
//     route while /v1/users does not become /v{id}/users. Route keys are
//     deterministic (see [MultiTier.RouteKey]); [WithMajorParams] splits a
//     route by the values of chosen parameters.
//   - Resource, SubResource, User: one bucket per id of the request, each
//     tier applied when the request carries its id and the tier is
//     configured. The tiers stack: a request with a resource and a user
//     passes both buckets.
//
// Admission is all-or-nothing: a request is admitted only if every tier
// admits it, and a request refused by any tier consumes nothing at any tier
// (a tier charged before another refused is refunded exactly; only a
// concurrent request on the same bucket in between can make that refund
// partial, which never admits more than the limits). [MultiTier.Wait] waits
// for the largest delay over the tiers and charges every tier as of the time
// the request will run, so that no tier sees its requests run faster than
// its rate; if the ctx ends first, every tier is refunded.
//
// The per-route and per-id buckets are bounded as in [Keyed]: each tier
// remembers at most WithMaxKeys keys and forgets idle ones lazily, so
// memory never grows without bound with distinct ids.
//
// A MultiTier can follow a server's rate-limit headers
// ([MultiTier.UpdateFromHeader]) and be paused as a whole
// ([MultiTier.Pause]). [MultiTier.Stats] returns counters with true
// averages. Use [MultiTier.By] to put a MultiTier behind [Policy].
//
// The zero value fails closed: every call refuses, and those that return an
// error return one matching ion.ErrInvalidConfig that says to use
// [NewMultiTier]. A MultiTier is safe for
// concurrent use by multiple goroutines.
type MultiTier struct {
	live   bool // built by NewMultiTier without error; false in a zero value
	err    error
	name   string
	named  bool
	logger observe.Logger
	tr     observe.Tracer
	m      *multiInstruments

	tiers  [scopeCount]tierSpec
	routes []route
	global bucket
	stores [scopeCount]store[string] // Route and the id tiers; Global unused

	paused atomic.Int64 // ns until which everything is refused; math.MinInt64: not paused

	requests, allowed, limited, cancelled atomic.Int64
	limitedBy                             [scopeCount]atomic.Int64
	waits, waitSum, waitMax               atomic.Int64
}

// NewMultiTier returns a multi-tier limiter, configured by options: WithTier
// for the tiers' rates and bursts (by default Global 100/s burst 100, Route
// 50/s burst 50, Resource 20/s burst 20, no SubResource or User tier),
// WithRoute for per-route limits, WithMajorParams, WithMaxKeys and
// WithIdleTTL for the keyed tiers, and WithName, WithLogger, WithMetrics
// and WithTracer. Every bucket starts full. An invalid option makes the
// limiter fail closed: every call returns an error matching
// ion.ErrInvalidConfig.
func NewMultiTier(opts ...MultiTierOption) *MultiTier {
	cfg := newConfig("multi-tier", opts, MultiTierOption.applyMultiTier)
	m := &MultiTier{
		err: cfg.err, name: cfg.name, named: cfg.name != "multi-tier",
		logger: cfg.logger, tr: cfg.tracer, tiers: cfg.tiers,
	}
	m.paused.Store(math.MinInt64)
	for _, spec := range cfg.routes {
		r, err := parseRoute(spec.pattern, limits{rate: spec.rate, burst: spec.burst}, cfg.majors)
		if err != nil && m.err == nil {
			m.err = err
		}
		m.routes = append(m.routes, r)
	}
	cfg.logConfigError(m.err)
	m.m = newMultiInstruments(cfg)
	ns := nowNs()
	g := m.tiers[Global]
	if !g.set {
		g.rate = Inf
	}
	m.global.init(limits{rate: g.rate, burst: g.burst}, ns)
	for s := Route; s < scopeCount; s++ {
		var si *storeInstruments
		if m.m != nil {
			si = newStoreInstruments(cfg, observe.L("tier", s.String()))
		}
		m.stores[s].setup(cfg, si)
	}
	m.live = m.err == nil
	return m
}

// Err returns the configuration error that makes the limiter fail closed,
// or nil.
func (m *MultiTier) Err() error {
	switch {
	case m.live:
		return nil
	case m.err != nil:
		return m.err
	}
	return errZeroMultiTier
}

var errZeroMultiTier = zeroValueError("MultiTier", "NewMultiTier")

// RouteKey returns the key of req's route bucket: the canonical pattern of
// the route it matches (with its major parameters' values), or its
// normalized method and path. Equal requests always get equal keys.
func (m *MultiTier) RouteKey(req Request) string {
	key, _, _ := m.route(req)
	return key
}

// route returns req's route key, the part of it that holds major
// parameters, and the limits of a new bucket for the route.
func (m *MultiTier) route(req Request) (string, string, limits) {
	path := trimPath(req.Path)
	var best *route
	for i := range m.routes {
		r := &m.routes[i]
		if (best == nil || r.literals > best.literals) && r.match(req.Method, path) {
			best = r
		}
	}
	if best != nil {
		key := best.keyFor(path)
		return key, key[len(best.key):], best.lim
	}
	d := m.tiers[Route]
	return normalizedKey(req.Method, path), "", limits{rate: d.rate, burst: d.burst}
}

// charge is what a request took, one claim per tier passed.
type charge struct {
	c [scopeCount]claim
	k int
}

// refund gives back every claim of c at ns, even past its time to act:
// the request did not run.
func (c *charge) refund(ns int64) {
	for i := c.k - 1; i >= 0; i-- {
		c.c[i].cancel(ns, true)
	}
	c.k = 0
}

// bucketFor returns req's bucket of tier s, or nil when the tier does not
// apply to it, the time (ns) before which the bucket admits nothing, and
// the pinned store entry that holds the bucket (nil for Global), which the
// caller must release once done with the bucket.
func (m *MultiTier) bucketFor(s Scope, req Request, ns int64) (*bucket, int64, *entry[string]) {
	switch s {
	case Global:
		if !m.tiers[Global].set {
			return nil, 0, nil
		}
		return &m.global, 0, nil
	case Route:
		if e := m.routeEntry(req, ns, ""); e != nil {
			return &e.b, e.hold.Load(), e
		}
		return nil, 0, nil
	}
	t, id := m.tiers[s], tierID(s, req)
	if id == "" || !t.set {
		return nil, 0, nil
	}
	e := m.stores[s].get(id, ns, limits{rate: t.rate, burst: t.burst})
	return &e.b, 0, e
}

// tierID returns req's key in the id tier s (Resource, SubResource or
// User), or "" when req has none.
func tierID(s Scope, req Request) string {
	switch s {
	case Resource:
		return req.ResourceID
	case SubResource:
		if req.SubResourceID == "" || req.ResourceID == "" {
			return ""
		}
		return req.ResourceID + "/" + req.SubResourceID
	case User:
		return req.UserID
	}
	return ""
}

// routeEntry returns req's route entry, pinned (the caller must release
// it), or nil when the route is not limited. A route mapped to a server
// bucket (X-RateLimit-Bucket) shares that bucket's entry; a non-empty
// serverBucket maps it now.
func (m *MultiTier) routeEntry(req Request, ns int64, serverBucket string) *entry[string] {
	key, major, l := m.route(req)
	if l.rate.isInf() {
		return nil
	}
	st := &m.stores[Route]
	e := st.get(key, ns, l)
	if serverBucket != "" {
		alias := "bucket " + serverBucket + major
		e.alias.Store(&alias)
		a := st.get(alias, ns, l)
		e.release()
		return a
	}
	if alias := e.alias.Load(); alias != nil {
		a := st.get(*alias, ns, l)
		e.release()
		return a
	}
	return e
}

// reserve charges n tokens to every tier of req, or to none. The request
// runs at the latest of the tiers' first free slots, ns + the wait, and
// every tier is charged as of that time, so that no tier ever sees its
// requests run faster than its rate. It returns the charge, the wait and
// true; or false with the tier that cannot admit the request within maxWait
// ns (the one needing the longest wait) and that wait (exceeds for an n
// above the tier's burst).
func (m *MultiTier) reserve(ns int64, req Request, n, maxWait int64) (charge, int64, Scope, bool) {
	var c charge
	var scopes [scopeCount]Scope
	var bs [scopeCount]*bucket
	var pinned [scopeCount]*entry[string]
	k := 0
	// A pause, or a hold on the route learnt from headers, admits a request
	// as if it arrived when it ends.
	at, held := max(ns, m.paused.Load()), Global
	if at-ns > maxWait {
		return c, at - ns, Global, false
	}
	// Every keyed bucket stays pinned until the request is charged or
	// refused, so no sweep can forget one in between.
	defer func() {
		for _, e := range pinned[:k] {
			if e != nil {
				e.release()
			}
		}
	}()
	for s := Global; s < scopeCount; s++ {
		if b, hold, e := m.bucketFor(s, req, ns); b != nil {
			scopes[k], bs[k], pinned[k] = s, b, e
			k++
			if hold != 0 && hold > at {
				at, held = hold, s
			}
		}
	}
	if at-ns > maxWait {
		return c, at - ns, held, false
	}
	// The tiers are charged all-or-nothing by the mechanism of AllOf, from
	// the end of the pause or hold.
	wait, worst, ok := reserveAll(c.c[:k], at, n, maxWait-(at-ns),
		func(i int, t int64) (int64, bool) { return bs[i].peek(t, n) },
		func(i int, slot int64) (claim, bool) {
			t, _, ok := bs[i].reserve(slot, n, 0)
			return claim{b: bs[i], t: t}, ok
		})
	switch {
	case ok:
		c.k = k
		return c, wait + (at - ns), Global, true
	case wait == exceeds:
		return c, exceeds, scopes[worst], false
	case worst < 0:
		worst = 0 // unreachable: a refusal names the tier that needed the wait
	}
	return c, min(wait, int64(never)-(at-ns)) + (at - ns), scopes[worst], false
}

// ReserveN reserves n tokens at now from every tier of req, or from none,
// and returns one [Reservation] over all of them: its Delay is the largest
// of the tiers' delays (and the rest of a pause or hold), and its Cancel
// refunds each tier. It never blocks and is not counted in [Stats]. A
// reservation that is not OK changed nothing.
func (m *MultiTier) ReserveN(now time.Time, req Request, n int) *Reservation {
	ns := offsetOf(now)
	r := &Reservation{actNs: ns}
	switch {
	case !m.live || n < 0:
		return r
	case n == 0:
		r.ok = true
		return r
	}
	if c, wait, _, ok := m.reserve(ns, req, int64(n), math.MaxInt64); ok {
		r.ok, r.c, r.actNs = true, claim{subs: append([]claim(nil), c.c[:c.k]...)}, ns+wait
	}
	return r
}

// TokensAt returns the tokens each tier of req has available at now,
// indexed by Scope: +Inf for a tier that does not apply to req or is
// unlimited, and 0 for every tier of a limiter that failed closed. It
// creates no bucket and changes nothing (a bucket not remembered is full);
// a pause or a hold learnt from headers is not counted in the tokens.
func (m *MultiTier) TokensAt(now time.Time, req Request) [5]float64 {
	var out [scopeCount]float64
	if !m.live {
		return out
	}
	ns := offsetOf(now)
	for s := range scopeCount {
		out[s] = math.Inf(1)
	}
	if m.tiers[Global].set {
		out[Global] = m.global.tokensAt(ns)
	}
	tokens := func(st *store[string], key string, l limits) float64 {
		e := st.lookup(key)
		if e != nil {
			if alias := e.alias.Load(); alias != nil {
				e = st.lookup(*alias)
			}
		}
		if e == nil {
			return float64(l.burst) // full
		}
		return e.b.tokensAt(ns)
	}
	if key, _, l := m.route(req); !l.rate.isInf() {
		out[Route] = tokens(&m.stores[Route], key, l)
	}
	for s := Resource; s < scopeCount; s++ {
		if t, id := m.tiers[s], tierID(s, req); id != "" && t.set {
			out[s] = tokens(&m.stores[s], id, limits{rate: t.rate, burst: t.burst})
		}
	}
	return out
}

// Allow is shorthand for AllowN(time.Now(), req, 1).
func (m *MultiTier) Allow(req Request) bool { return m.allowN(nowNs(), req, 1, true) }

// AllowN reports whether every tier of req has n tokens at now, and takes
// them from all of them if so; otherwise it takes nothing. It never blocks.
// n = 0 is always allowed; a negative n, an n above a tier's burst, a pause
// or a limiter that failed closed are refused without changing state.
func (m *MultiTier) AllowN(now time.Time, req Request, n int) bool {
	return m.allowN(offsetOf(now), req, n, false)
}

func (m *MultiTier) allowN(ns int64, req Request, n int, clock bool) bool {
	if !m.live || n < 0 {
		return false
	}
	if n == 0 {
		return true
	}
	_, wait, s, ok := m.reserve(ns, req, int64(n), 0)
	if !ok && clock && wait != exceeds {
		if now, later := fresher(ns); later {
			_, _, s, ok = m.reserve(now, req, int64(n), 0)
		}
	}
	m.count(ok, s)
	return ok
}

// Wait is shorthand for WaitN(ctx, req, 1).
func (m *MultiTier) Wait(ctx context.Context, req Request) error { return m.waitN(ctx, req, 1, -1) }

// WaitN blocks until every tier of req has given it n tokens, which takes
// the largest of the tiers' delays (and the rest of a pause), then returns
// nil. It fails as [TokenBucket.WaitN] does, and its [*LimitedError] names
// the tier that could not admit the request in time; if ctx ends during the
// wait, every tier is refunded and ctx.Err() is returned.
func (m *MultiTier) WaitN(ctx context.Context, req Request, n int) error {
	return m.waitN(ctx, req, n, -1)
}

func (m *MultiTier) waitN(ctx context.Context, req Request, n int, maxWait int64) error {
	if ctx == nil {
		return errNilCtx
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case !m.live:
		return m.Err()
	case n < 0:
		return ErrNegativeN
	case n == 0:
		return nil
	}
	ns := nowNs()
	c, wait, s, ok := m.reserve(ns, req, int64(n), budget(ctx, ns, maxWait))
	if !ok && wait != exceeds {
		if now, later := fresher(ns); later {
			c, wait, s, ok = m.reserve(now, req, int64(n), budget(ctx, now, maxWait))
		}
	}
	if !ok {
		if wait == exceeds {
			return ErrExceedsBurst
		}
		m.count(false, s)
		return &LimitedError{Delay: time.Duration(wait), Tier: s.String()}
	}
	if wait > 0 && !sleep(ctx, wait) {
		c.refund(nowNs())
		m.cancelled.Add(1)
		return ctx.Err()
	}
	m.count(true, s)
	m.waits.Add(1)
	m.waitSum.Add(wait)
	for old := m.waitMax.Load(); wait > old && !m.waitMax.CompareAndSwap(old, wait); old = m.waitMax.Load() {
	}
	m.m.waited(time.Duration(wait))
	return nil
}

func (m *MultiTier) count(ok bool, s Scope) {
	m.requests.Add(1)
	if ok {
		m.allowed.Add(1)
	} else {
		m.limited.Add(1)
		m.limitedBy[s].Add(1)
	}
	m.m.record(ok, s)
}

// Pause refuses every request until until: Allow returns false and Wait
// waits for the pause to end (within its ctx). A later Pause replaces the
// earlier one, even with an earlier time; a time in the past ends the pause.
// It needs no timer, so it works inside a synctest bubble.
func (m *MultiTier) Pause(until time.Time) {
	ns := offsetOf(until)
	if ns <= nowNs() {
		ns = math.MinInt64
	}
	m.paused.Store(ns)
	m.m.pause()
}

// PauseFor is shorthand for Pause(time.Now().Add(d)).
func (m *MultiTier) PauseFor(d time.Duration) { m.Pause(time.Now().Add(d)) }

// Resume ends a pause.
func (m *MultiTier) Resume() { m.paused.Store(math.MinInt64) }

// IsPaused reports whether the limiter is paused now.
func (m *MultiTier) IsPaused() bool { return m.paused.Load() > nowNs() }

// PausedUntil returns the end of the pause in force, or the zero Time when
// the limiter is not paused.
func (m *MultiTier) PausedUntil() time.Time {
	if ns := m.paused.Load(); ns > nowNs() {
		return base.Add(time.Duration(ns)).Round(0) // wall clock only
	}
	return time.Time{}
}

// Stats is a snapshot of a [MultiTier]'s counters since it was built or
// last [MultiTier.Reset].
type Stats struct {
	Requests  int64         // requests decided: Allowed + Limited
	Allowed   int64         // requests admitted, at once or after a wait
	Limited   int64         // requests refused
	LimitedBy [5]int64      // refusals by the tier that refused, indexed by Scope (a pause counts as Global)
	Cancelled int64         // waits ended by their ctx (refunded, not in Requests)
	Waits     int64         // requests admitted through Wait, WaitN or a Policy
	TotalWait time.Duration // the time those requests waited, in all
	AvgWait   time.Duration // TotalWait / Waits: the true mean, 0 without waits
	MaxWait   time.Duration // the longest of those waits
	Keys      [5]int        // buckets remembered by each keyed tier, indexed by Scope
	Paused    bool          // whether the limiter is paused now
}

// Stats returns a snapshot of the counters. The fields are read one by one,
// so a snapshot taken under load may be off by the requests in flight.
func (m *MultiTier) Stats() Stats {
	st := Stats{
		Requests:  m.requests.Load(),
		Allowed:   m.allowed.Load(),
		Limited:   m.limited.Load(),
		Cancelled: m.cancelled.Load(),
		Waits:     m.waits.Load(),
		TotalWait: time.Duration(m.waitSum.Load()),
		MaxWait:   time.Duration(m.waitMax.Load()),
		Paused:    m.IsPaused(),
	}
	for s := range scopeCount {
		st.LimitedBy[s] = m.limitedBy[s].Load()
		if s != Global {
			st.Keys[s] = m.stores[s].len()
		}
	}
	if st.Waits > 0 {
		st.AvgWait = st.TotalWait / time.Duration(st.Waits)
	}
	return st
}

// Reset refills every bucket (forgetting the keyed ones, which come back
// full), ends any pause and zeroes the counters.
func (m *MultiTier) Reset() {
	m.global.fill()
	for s := Route; s < scopeCount; s++ {
		m.stores[s].clear()
	}
	m.Resume()
	for _, c := range []*atomic.Int64{&m.requests, &m.allowed, &m.limited, &m.cancelled, &m.waits, &m.waitSum, &m.waitMax} {
		c.Store(0)
	}
	for s := range scopeCount {
		m.limitedBy[s].Store(0)
	}
}

// By returns a [Limiter] over m for [Policy]: each call's request is
// req(ctx). req runs on the caller's goroutine, outside any lock; a nil req
// makes every call fail with an error matching ion.ErrInvalidConfig.
func (m *MultiTier) By(req func(ctx context.Context) Request) Limiter {
	return &multiView{m: m, req: req}
}

// String describes the limiter, as in "multi-tier global 100/s burst 100,
// route 50/s burst 50, resource 20/s burst 20".
func (m *MultiTier) String() string {
	s := "multi-tier"
	if m.named {
		s += "(" + m.name + ")"
	}
	if !m.live {
		return s + " invalid: " + m.Err().Error()
	}
	sep := " "
	for sc, t := range m.tiers {
		if t.set {
			s += sep + Scope(sc).String() + " " + t.rate.String() + " burst " + strconv.Itoa(t.burst)
			sep = ", "
		}
	}
	return s
}

func (m *MultiTier) tracer() observe.Tracer { return m.tr }

type multiView struct {
	m   *MultiTier
	req func(ctx context.Context) Request
}

var errNilRequestFunc = configError("req", "nil request function")

func (v *multiView) Admit(ctx context.Context, maxWait time.Duration) error {
	if v.req == nil {
		return errNilRequestFunc
	}
	if ctx == nil {
		return errNilCtx
	}
	return v.m.waitN(ctx, v.req(ctx), 1, max(int64(maxWait), 0))
}

func (v *multiView) String() string { return v.m.String() }

func (v *multiView) tracer() observe.Tracer { return v.m.tr }

// multiInstruments are a MultiTier's metrics; nil records nothing.
type multiInstruments struct {
	instruments
	byTier [scopeCount]observe.Counter
	pauses observe.Counter
}

func newMultiInstruments(c *config) *multiInstruments {
	base := newInstruments(c)
	if base == nil {
		return nil
	}
	mi := &multiInstruments{instruments: *base}
	name := observe.L("name", c.name)
	for s := range scopeCount {
		mi.byTier[s] = c.metrics.Counter("ion_limit_tier_limited_total", name, observe.L("tier", s.String()))
	}
	mi.pauses = c.metrics.Counter("ion_limit_pauses_total", name)
	return mi
}

func (mi *multiInstruments) record(ok bool, s Scope) {
	if mi == nil {
		return
	}
	mi.instruments.record(ok)
	if !ok {
		mi.byTier[s].Add(1)
	}
}

func (mi *multiInstruments) waited(d time.Duration) {
	if mi != nil {
		mi.instruments.waited(d)
	}
}

func (mi *multiInstruments) pause() {
	if mi != nil {
		mi.pauses.Add(1)
	}
}
