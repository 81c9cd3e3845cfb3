package httplimit

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/limit"
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

// MultiTier is a rate limiter for calls to an HTTP API (a client following
// a server's limits, or a gateway in front of one): every request passes up
// to five tiers of token buckets, each with its own rate and burst (see
// [WithTier]):
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
// The tiers are limit's building blocks: the global tier is a
// limit.TokenBucket, every other tier a limit.Keyed, and a request is
// charged through limit.All over its tiers. Admission is therefore
// all-or-nothing: a request is admitted only if every tier admits it, and a
// request refused by any tier consumes nothing at any tier (a tier charged
// before another refused is refunded exactly; only a concurrent request on
// the same bucket in between can make that refund partial, which never
// admits more than the limits). [MultiTier.Wait] waits for the largest
// delay over the tiers and charges every tier as of the time the request
// will run, so that no tier sees its requests run faster than its rate; if
// the ctx ends first, every tier is refunded.
//
// The per-route and per-id buckets are bounded as in limit.Keyed: each
// tier remembers at most WithMaxKeys keys and forgets idle ones lazily, so
// memory never grows without bound with distinct ids, and a bucket is never
// forgotten while a call is charging it.
//
// A MultiTier can follow a server's rate-limit headers
// ([MultiTier.UpdateFromHeader]) and be paused as a whole
// ([MultiTier.Pause]). [MultiTier.Stats] returns counters with true
// averages. Use [MultiTier.By] to put a MultiTier behind limit.Policy.
//
// Each call builds the request's view of its tiers (a few small
// allocations) and locks each bucket it passes briefly; a route key that is
// not a configured pattern is built per call. The zero value fails closed:
// every call refuses, and those that return an error return one matching
// ion.ErrInvalidConfig that says to use [New]. A MultiTier is safe for
// concurrent use by multiple goroutines.
type MultiTier struct {
	live   bool  // built by New without error; false in a zero value
	err    error // a configuration error: every call returns it
	name   string
	named  bool
	cfg    *config // to build the buckets again on Reset
	logger observe.Logger
	tr     observe.Tracer
	m      *instruments
	tiers  [scopeCount]tierSpec
	routes []route

	st     atomic.Pointer[buckets] // replaced by Reset
	paused atomic.Int64            // ns until which everything is refused; math.MinInt64: not paused

	// mu guards learnt.
	mu sync.Mutex
	// learnt holds what a server's headers taught about a bucket (a route
	// key, or the key of the server bucket several routes share): a
	// mapping, a hold, a burst. Lazily initialized; at most maxKeys entries.
	learnt map[string]*learnt

	requests, allowed, limited, cancelled atomic.Int64
	limitedBy                             [scopeCount]atomic.Int64
	waits, waitSum, waitMax               atomic.Int64
}

// buckets are the tiers' limiters; Reset replaces them all at once.
type buckets struct {
	global *limit.TokenBucket     // nil: no global tier
	routes []*limit.Keyed[string] // one per pattern, then the unmatched routes'; nil: unlimited
	ids    [scopeCount]*limit.Keyed[string]
	keys   *keySum // the route tier's key gauge, summed over its limiters
}

// learnt is what a server's headers said about one bucket.
type learnt struct {
	alias string // a route's server bucket, which it shares with others; "": none
	home  int    // a server bucket's limiter, in buckets.routes: the first route's mapped to it
	hold  int64  // ns before which the bucket admits nothing; 0: none
	burst int    // the burst learnt from X-RateLimit-Limit; 0: none
}

var errZeroMultiTier = configError("MultiTier", "the zero value is not usable: use New")

// New returns a multi-tier limiter, configured by options: WithTier for the
// tiers' rates and bursts (by default Global 100/s burst 100, Route 50/s
// burst 50, Resource 20/s burst 20, no SubResource or User tier), WithRoute
// for per-route limits, WithMajorParams, WithMaxKeys and WithIdleTTL for the
// keyed tiers, and WithName, WithLogger, WithMetrics and WithTracer. Every
// bucket starts full. An invalid option makes the limiter fail closed:
// every call returns an error matching ion.ErrInvalidConfig.
func New(opts ...Option) *MultiTier {
	cfg := newConfig(opts)
	m := &MultiTier{
		err: cfg.err, name: cfg.name, named: cfg.name != kind, cfg: cfg,
		logger: cfg.logger, tr: cfg.tracer, tiers: cfg.tiers,
	}
	m.paused.Store(math.MinInt64)
	for _, spec := range cfg.routes {
		r, err := parseRoute(spec.pattern, cfg.majors)
		if err != nil && m.err == nil {
			m.err = err
		}
		r.rate, r.burst = spec.rate, spec.burst
		m.routes = append(m.routes, r)
	}
	cfg.logConfigError(m.err)
	if m.err != nil {
		return m
	}
	m.m = newInstruments(cfg)
	m.st.Store(m.newBuckets())
	m.live = true
	return m
}

// newBuckets builds the tiers' limiters, full.
func (m *MultiTier) newBuckets() *buckets {
	cfg := m.cfg
	st := &buckets{}
	if g := m.tiers[Global]; g.set {
		st.global = limit.NewTokenBucket(g.rate, g.burst, limit.WithName(m.name))
	}
	keyed := func(s Scope, rate limit.Rate, burst int) *limit.Keyed[string] {
		opts := []limit.KeyedOption{limit.WithName(m.name), limit.WithIdleTTL(cfg.idleTTL)}
		if cfg.maxKeys > 0 {
			opts = append(opts, limit.WithMaxKeys(cfg.maxKeys))
		}
		if cfg.logger != nil {
			opts = append(opts, limit.WithLogger(cfg.logger))
		}
		if cfg.metrics != nil {
			tm := tierMetrics{m: cfg.metrics, tier: s.String()}
			if s == Route {
				tm.sum, tm.slot = st.keys, len(st.routes)
			}
			opts = append(opts, limit.WithMetrics(tm))
		}
		return limit.NewKeyed[string](rate, burst, opts...)
	}
	st.keys = &keySum{vals: make([]atomic.Uint64, len(m.routes)+1)}
	for _, r := range m.routes {
		var k *limit.Keyed[string]
		if !isInf(r.rate) {
			k = keyed(Route, r.rate, r.burst)
		}
		st.routes = append(st.routes, k)
	}
	var def *limit.Keyed[string]
	if d := m.tiers[Route]; d.set {
		def = keyed(Route, d.rate, d.burst)
	}
	st.routes = append(st.routes, def)
	for s := Resource; s < scopeCount; s++ {
		if t := m.tiers[s]; t.set {
			st.ids[s] = keyed(s, t.rate, t.burst)
		}
	}
	return st
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

// RouteKey returns the key of req's route bucket: the canonical pattern of
// the route it matches (with its major parameters' values), or its
// normalized method and path. Equal requests always get equal keys.
func (m *MultiTier) RouteKey(req Request) string {
	key, _, _ := m.route(req)
	return key
}

// route returns req's route key, the part of it that holds major
// parameters, and the index of its limiter in buckets.routes (the last for
// a route no pattern matches).
func (m *MultiTier) route(req Request) (string, string, int) {
	path := trimPath(req.Path)
	best := -1
	for i := range m.routes {
		r := &m.routes[i]
		if (best < 0 || r.literals > m.routes[best].literals) && r.match(req.Method, path) {
			best = i
		}
	}
	if best >= 0 {
		r := &m.routes[best]
		key := r.keyFor(path)
		return key, key[len(r.key):], best
	}
	return normalizedKey(req.Method, path), "", len(m.routes)
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

// plan is one request's tiers: the limiters to charge, with their scopes,
// rates and bursts, and the hold learnt for its route.
type plan struct {
	members [scopeCount]limit.Member
	scopes  [scopeCount]Scope
	rates   [scopeCount]limit.Rate
	bursts  [scopeCount]int
	k       int
	hold    int64
}

func (p *plan) add(s Scope, mem limit.Member, rate limit.Rate, burst int) {
	p.members[p.k], p.scopes[p.k], p.rates[p.k], p.bursts[p.k] = mem, s, rate, burst
	p.k++
}

// routeBucket returns the limiter and key of req's route bucket (the
// server bucket it was mapped to, if any), its rate and burst, and its hold;
// a nil limiter when the route is not limited.
func (m *MultiTier) routeBucket(st *buckets, req Request) (*limit.Keyed[string], string, limit.Rate, int, int64) {
	key, _, idx := m.route(req)
	var hold int64
	burst := 0
	m.mu.Lock()
	if l := m.learnt[key]; l != nil && l.alias != "" {
		key = l.alias
	}
	if l := m.learnt[key]; l != nil {
		if l.alias == "" && l.home >= 0 {
			idx = l.home
		}
		hold, burst = l.hold, l.burst
	}
	m.mu.Unlock()
	rate, def := m.tiers[Route].rate, m.tiers[Route].burst
	if idx < len(m.routes) {
		rate, def = m.routes[idx].rate, m.routes[idx].burst
	}
	if burst == 0 {
		burst = def
	}
	return st.routes[idx], key, rate, burst, hold
}

// plan returns req's tiers.
func (m *MultiTier) plan(st *buckets, req Request) plan {
	var p plan
	if st.global != nil {
		p.add(Global, st.global, m.tiers[Global].rate, m.tiers[Global].burst)
	}
	if k, key, rate, burst, hold := m.routeBucket(st, req); k != nil {
		p.add(Route, k.Key(key), rate, burst)
		p.hold = hold
	}
	for s := Resource; s < scopeCount; s++ {
		if k, id := st.ids[s], tierID(s, req); k != nil && id != "" {
			p.add(s, k.Key(id), m.tiers[s].rate, m.tiers[s].burst)
		}
	}
	return p
}

// start returns when a request arriving at ns may start: after a pause and
// the route's hold, which admit it as if it arrived when they end; and the
// tier that holds it (Global for a pause).
func (m *MultiTier) start(ns int64, p *plan) (int64, Scope) {
	at, held := max(ns, m.paused.Load()), Global
	if p.hold != 0 && p.hold > at {
		at, held = p.hold, Route
	}
	return at, held
}

// exceeds returns the tier whose burst n exceeds, if any: such a request
// can never be admitted.
func (p *plan) exceeds(n int) (Scope, bool) {
	for i := range p.k {
		if !isInf(p.rates[i]) && n > p.bursts[i] {
			return p.scopes[i], true
		}
	}
	return Global, false
}

// blame returns the tier that refused n tokens at now: the one that needs
// the longest wait for them.
func (p *plan) blame(all *limit.AllOf, now time.Time, n int) Scope {
	worst, w := Global, -1.0
	if all == nil {
		return worst
	}
	for i, tok := range all.TokensAt(now) {
		if tok >= float64(n) {
			continue
		}
		wait := math.Inf(1)
		if r := float64(p.rates[i]); r > 0 {
			wait = (float64(n) - tok) / r
		}
		if wait > w {
			worst, w = p.scopes[i], wait
		}
	}
	return worst
}

// isInf reports whether r admits everything (limit.Inf).
func isInf(r limit.Rate) bool { return float64(r) >= math.MaxFloat64 }

// unlimited gives the Reservations of requests that no tier limits.
var unlimited = limit.NewTokenBucket(limit.Inf, 0)

// Allow is shorthand for AllowN(time.Now(), req, 1).
func (m *MultiTier) Allow(req Request) bool { return m.allowN(time.Now(), req, 1, true) }

// AllowN reports whether every tier of req has n tokens at now, and takes
// them from all of them if so; otherwise it takes nothing. It never blocks.
// n = 0 is always allowed; a negative n, an n above a tier's burst, a pause
// or a limiter that failed closed are refused without changing state.
func (m *MultiTier) AllowN(now time.Time, req Request, n int) bool {
	return m.allowN(now, req, n, false)
}

func (m *MultiTier) allowN(now time.Time, req Request, n int, clock bool) bool {
	if !m.live || n < 0 {
		return false
	}
	if n == 0 {
		return true
	}
	p := m.plan(m.st.Load(), req)
	ns := offsetOf(now)
	if at, held := m.start(ns, &p); at > ns {
		m.count(false, held)
		return false
	}
	if s, ok := p.exceeds(n); ok {
		m.count(false, s)
		return false
	}
	if p.k == 0 {
		m.count(true, Global)
		return true
	}
	all := limit.All(p.members[:p.k]...)
	var ok bool
	if clock && n == 1 {
		ok = all.Allow() // confirms a refusal with a fresher clock reading
	} else {
		ok = all.AllowN(now, n)
	}
	if ok {
		m.count(true, Global)
	} else {
		m.count(false, p.blame(all, now, n))
	}
	return ok
}

// Wait is shorthand for WaitN(ctx, req, 1).
func (m *MultiTier) Wait(ctx context.Context, req Request) error { return m.waitN(ctx, req, 1, -1) }

// WaitN blocks until every tier of req has given it n tokens, which takes
// the largest of the tiers' delays (and the rest of a pause or hold), then
// returns nil. It fails as limit.TokenBucket.WaitN does, and its
// *limit.LimitedError names the tier that could not admit the request in
// time; if ctx ends during the wait, every tier is refunded and ctx.Err()
// is returned.
func (m *MultiTier) WaitN(ctx context.Context, req Request, n int) error {
	return m.waitN(ctx, req, n, -1)
}

var errNilCtx = configError("ctx", "nil Context")

// waitN is WaitN with a bound on the wait in ns (negative: none but ctx's
// deadline).
//
// The tiers are charged by limit.AllOf's own WaitN and Admit, which refuse
// a wait that cannot fit before charging anything: a refused request never
// holds a reservation that other requests could see, even for a moment.
// A pause or a hold is waited out first, uncharged; a request that could
// not be admitted in time even after it is refused at once.
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
		return limit.ErrNegativeN
	case n == 0:
		return nil
	}
	p := m.plan(m.st.Load(), req)
	if _, ok := p.exceeds(n); ok {
		return limit.ErrExceedsBurst
	}
	now := time.Now()
	ns := offsetOf(now)
	budget := budgetOf(ctx, now, maxWait)
	at, held := m.start(ns, &p)
	var all *limit.AllOf
	if p.k > 0 {
		all = limit.All(p.members[:p.k]...)
	}
	if at > ns {
		// The wait after the pause or hold, estimated from the tiers'
		// tokens then: refuse at once a request that could not fit.
		hold := at - ns
		est, s := p.estimate(all, now.Add(time.Duration(hold)), n)
		if hold > budget || est > budget-hold || at >= maxOffset-1 {
			if hold <= budget && est > 0 {
				held = s
			}
			m.count(false, held)
			delay := int64(never)
			if est < int64(never)-hold {
				delay = hold + est
			}
			return &limit.LimitedError{Delay: time.Duration(delay), Tier: held.String()}
		}
		if !sleep(ctx, time.Duration(hold)) {
			m.cancelled.Add(1)
			return ctx.Err()
		}
		if maxWait >= 0 {
			maxWait -= hold
		}
	}
	var err error
	switch {
	case all == nil:
	case n == 1 && maxWait >= 0:
		err = all.Admit(ctx, time.Duration(maxWait))
	default:
		err = all.WaitN(ctx, n)
	}
	waited := time.Since(now)
	var le *limit.LimitedError
	switch {
	case err == nil:
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		m.cancelled.Add(1)
		return err
	case errors.As(err, &le):
		s := p.blame(all, time.Now(), n)
		m.count(false, s)
		return &limit.LimitedError{Delay: le.Delay, Tier: s.String()}
	default:
		return err
	}
	m.count(true, Global)
	m.waits.Add(1)
	m.waitSum.Add(int64(waited))
	for old := m.waitMax.Load(); int64(waited) > old && !m.waitMax.CompareAndSwap(old, int64(waited)); old = m.waitMax.Load() {
	}
	m.m.waited(waited)
	return nil
}

// estimate returns the wait for n tokens at t over the tiers, from their
// tokens and rates, and the tier that needs it longest.
func (p *plan) estimate(all *limit.AllOf, t time.Time, n int) (int64, Scope) {
	if all == nil {
		return 0, Global
	}
	w, worst := 0.0, Global
	for i, tok := range all.TokensAt(t) {
		if tok >= float64(n) {
			continue
		}
		r := float64(p.rates[i])
		if r <= 0 {
			return int64(never), p.scopes[i]
		}
		if d := (float64(n) - tok) / r * 1e9; d > w {
			w, worst = d, p.scopes[i]
		}
	}
	return int64(min(math.Ceil(w), float64(never))), worst
}

// ReserveN reserves n tokens at now from every tier of req, or from none,
// and returns one limit.Reservation over all of them: its Delay is the
// largest of the tiers' delays (and the rest of a pause or hold), and its
// Cancel refunds each tier. It never blocks and is not counted in [Stats].
// A reservation that is not OK changed nothing.
func (m *MultiTier) ReserveN(now time.Time, req Request, n int) *limit.Reservation {
	if !m.live || n < 0 {
		return new(limit.Reservation)
	}
	p := m.plan(m.st.Load(), req)
	if _, ok := p.exceeds(n); ok {
		return new(limit.Reservation)
	}
	ns := offsetOf(now)
	at, _ := m.start(ns, &p)
	if at >= maxOffset-1 {
		return new(limit.Reservation) // held until the end of representable time
	}
	start := now.Add(time.Duration(at - ns))
	if p.k == 0 || n == 0 {
		return unlimited.ReserveN(start, n)
	}
	return limit.All(p.members[:p.k]...).ReserveN(start, n)
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
	for s := range scopeCount {
		out[s] = math.Inf(1)
	}
	st := m.st.Load()
	if st.global != nil {
		out[Global] = st.global.TokensAt(now)
	}
	if k, key, _, _, _ := m.routeBucket(st, req); k != nil {
		out[Route] = k.TokensAt(now, key)
	}
	for s := Resource; s < scopeCount; s++ {
		if k, id := st.ids[s], tierID(s, req); k != nil && id != "" {
			out[s] = k.TokensAt(now, id)
		}
	}
	return out
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
		return timeOf(ns).Round(0) // wall clock only
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
	}
	if b := m.st.Load(); b != nil {
		for _, k := range b.routes {
			if k != nil {
				st.Keys[Route] += k.Len()
			}
		}
		for s := Resource; s < scopeCount; s++ {
			if b.ids[s] != nil {
				st.Keys[s] = b.ids[s].Len()
			}
		}
	}
	if st.Waits > 0 {
		st.AvgWait = st.TotalWait / time.Duration(st.Waits)
	}
	return st
}

// Reset refills every bucket (forgetting the keyed ones and what headers
// taught, which come back as configured), ends any pause and zeroes the
// counters.
func (m *MultiTier) Reset() {
	if m.live {
		m.st.Store(m.newBuckets())
		m.mu.Lock()
		m.learnt = nil
		m.mu.Unlock()
	}
	m.Resume()
	for _, c := range []*atomic.Int64{&m.requests, &m.allowed, &m.limited, &m.cancelled, &m.waits, &m.waitSum, &m.waitMax} {
		c.Store(0)
	}
	for s := range scopeCount {
		m.limitedBy[s].Store(0)
	}
}

// By returns a limit.Limiter over m for limit.Policy: each call's request
// is req(ctx). req runs on the caller's goroutine, outside any lock; a nil
// req makes every call fail with an error matching ion.ErrInvalidConfig.
// With WithTracer, limit.Policy traces each call with m's Tracer.
func (m *MultiTier) By(req func(ctx context.Context) Request) limit.Limiter {
	return &view{m: m, req: req}
}

// String describes the limiter, as in "multi-tier global 100/s burst 100,
// route 50/s burst 50, resource 20/s burst 20".
func (m *MultiTier) String() string {
	s := kind
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

type view struct {
	m   *MultiTier
	req func(ctx context.Context) Request
}

var errNilRequestFunc = configError("req", "nil request function")

func (v *view) Admit(ctx context.Context, maxWait time.Duration) error {
	if v.req == nil {
		return errNilRequestFunc
	}
	if ctx == nil {
		return errNilCtx
	}
	return v.m.waitN(ctx, v.req(ctx), 1, max(int64(maxWait), 0))
}

func (v *view) String() string { return v.m.String() }

// Tracer makes limit.Policy trace with the limiter's Tracer.
func (v *view) Tracer() observe.Tracer { return v.m.tr }

// Time: offsets in ns from the package's base time, as limit keeps them,
// so that a pause and a hold are one atomic word each.

var base = time.Now()

const maxOffset = 1 << 62

func nowNs() int64 { return int64(time.Since(base)) }

// offsetOf returns t as ns since base, clamped to ±2^62 (±146 years).
func offsetOf(t time.Time) int64 {
	return min(max(int64(t.Sub(base)), -maxOffset), maxOffset-1)
}

// timeOf returns the time ns after base.
func timeOf(ns int64) time.Time { return base.Add(time.Duration(ns)) }

// satAdd returns a+b for an offset a and b >= 0, saturating at maxOffset.
func satAdd(a, b int64) int64 {
	if a >= 0 && b > maxOffset-a {
		return maxOffset
	}
	return min(a+min(b, maxOffset-1), maxOffset)
}

// budgetOf returns the longest wait, in ns from now, that ctx and maxWait
// (when >= 0) allow: a wait must end strictly before ctx's deadline.
func budgetOf(ctx context.Context, now time.Time, maxWait int64) int64 {
	w := int64(math.MaxInt64)
	if dl, ok := ctx.Deadline(); ok {
		w = max(int64(dl.Sub(now))-1, 0)
	}
	if maxWait >= 0 {
		w = min(w, maxWait)
	}
	return w
}

// sleep waits d and reports true, or reports false as soon as ctx is done.
// Its timer is stopped on every path, so it works in a synctest bubble.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
