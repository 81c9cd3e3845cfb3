package ionredis

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ionkit/ion/limit"
	"github.com/redis/go-redis/v9"
)

// Limiter is a rate limiter whose state lives in Redis, shared by every
// replica that builds one with the same name and windows: GCRA, decided by
// one Lua script in one round trip, on Redis's clock; concurrent Admits of
// one subject share their round trips (see the package doc, Coalesced
// decisions).
//
// A Limiter is a [limit.Limiter], so limit.Policy puts it in a pipeline
// unchanged; [Limiter.By] gives the keyed form (per tenant, user or API
// key). [Limiter.AllowN] returns the full answer: allowed, remaining,
// retry-after and reset-after.
//
// There is no usable zero value (its calls fail closed): use [NewLimiter].
// A Limiter is safe for
// concurrent use by multiple goroutines.
type Limiter struct {
	be       backend
	name     string // as given
	encName  string
	windows  []window
	burst    int64 // the smallest burst of the windows
	inf      bool  // every window is limit.Inf: no round trip
	readable bool
	failOpen bool
	fallback limit.Limiter
	keys     []string // the keys of the empty subject (Admit), built once
	batch    *batcher // lease mode (WithBatch), or nil
	co       coalescer
	args     []any // the windows' script arguments, built and boxed once
	args1    []any // the script's arguments for one token, no wait (read only)
	err      error
}

// NewLimiter returns a limiter of w (and of every [WithWindow]) on client,
// shared by every Limiter with the same name on the same Redis: name is the
// limit's identity across replicas, so two different limits need two names.
// client may be any go-redis client (standalone, Sentinel, Cluster, Ring;
// Valkey too).
//
// Bad parameters never panic: a nil client, an empty name, a NaN, negative
// or zero rate (limit.Inf is accepted: it admits everything without a round
// trip), a zero or negative burst, or an invalid option make the limiter
// fail closed, every call returning an error matching ion.ErrInvalidConfig
// that names the parameter.
//
// When Redis fails (timeout, error, open breaker) the call is rejected with
// a [*BackendError] unless [WithFailOpen] or [WithFallback] says otherwise.
func NewLimiter(client redis.UniversalClient, name string, w Window, opts ...LimiterOption) *Limiter {
	cfg := limiterConfig{common: common{timeout: DefaultTimeout}}
	for _, o := range opts {
		if o == nil {
			cfg.fail(configError("opts", "nil LimiterOption"))
			continue
		}
		o.applyLimiter(&cfg)
	}
	l := &Limiter{
		be:       backend{client: client, timeout: cfg.timeout, breaker: cfg.breaker},
		name:     name,
		encName:  encodeName(name),
		readable: cfg.readable,
		failOpen: cfg.failOpen,
		fallback: cfg.fallback,
		err:      cfg.err,
	}
	if l.err == nil && cfg.failOpen && cfg.fallback != nil {
		l.err = configError("WithFallback", "contradicts WithFailOpen: choose one failure mode")
	}
	l.compileWindows(w, cfg.extra)
	switch {
	case l.err != nil:
	case checkClient(client) != nil:
		l.err = checkClient(client)
	case name == "":
		l.err = configError("name", "must not be empty: it is the limit's identity across replicas")
	}
	if l.err != nil {
		l.windows = nil
		return l
	}
	if cfg.batch > 0 && !l.inf {
		if l.batch, l.err = newBatcher(l, cfg.batch, cfg.batchAge); l.err != nil {
			l.windows = nil
			return l
		}
	}
	l.be.m = newInstruments(cfg.metrics, "limit", name)
	l.keys = l.keysOf("")
	l.args1 = append([]any{1, 1, int64(0)}, l.args...)
	l.co.subs = make(map[string]*subject)
	return l
}

func (l *Limiter) compileWindows(w Window, extra []Window) {
	all := append([]Window{w}, extra...)
	l.inf = true
	l.burst = math.MaxInt64
	for i, w := range all {
		prefix := "w."
		if i > 0 {
			prefix = "WithWindow."
		}
		c, err := compile(w, prefix)
		if err != nil {
			if l.err == nil {
				l.err = err
			}
			continue
		}
		if c.inf {
			continue // an unlimited window never refuses: leave it out
		}
		l.inf = false
		l.burst = min(l.burst, c.burst)
		l.windows = append(l.windows, c)
		l.args = append(l.args, c.args[0], c.args[1]) // boxed once, not per call
	}
}

// keysOf returns the keys of subject's windows, all in one hash slot.
func (l *Limiter) keysOf(subject string) []string {
	prefix := "ion:rl:" + tag(l.encName, encodeSubject(subject, l.readable)) + ":"
	keys := make([]string, len(l.windows))
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	return keys
}

// Err returns the configuration error that makes the limiter fail closed,
// or nil.
func (l *Limiter) Err() error { return l.err }

// Result is the answer of [Limiter.AllowN].
type Result struct {
	// Allowed reports whether the request was admitted.
	Allowed bool
	// Remaining is how many more tokens the tightest window would admit at
	// once after this decision (0 after a refusal).
	Remaining int
	// RetryAfter is, after a refusal, how long until the request would
	// fit (assuming no one else takes tokens meanwhile); 0 when allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until every window is full again.
	ResetAfter time.Duration
	// Degraded reports that Redis could not decide and the failure mode
	// ([WithFailOpen], [WithFallback]) did: the counts above are then zero.
	Degraded bool
}

// Allow is shorthand for AllowN(ctx, key, 1).
func (l *Limiter) Allow(ctx context.Context, key string) (Result, error) {
	return l.AllowN(ctx, key, 1)
}

// AllowN asks, in one round trip and without waiting, whether n tokens are
// available to key in every window, and takes them from every window if
// so. It blocks only for the round trip (bounded by [WithTimeout]). The
// empty key is the limiter's unkeyed limit, the one Admit uses.
//
// A refusal returns Allowed false and a *limit.LimitedError, which matches
// limit.ErrLimited and ion.ErrRejected, carries the retry-after for
// ion.RetryAfter, and names the refusing window in its Tier; a refusal
// charges no window. n < 0 returns limit.ErrNegativeN and n above the
// smallest burst limit.ErrExceedsBurst, at once and without a round trip;
// n == 0 is allowed without one. A done ctx returns ctx.Err(). A Redis
// failure is handled by the failure mode: a [*BackendError] by default.
func (l *Limiter) AllowN(ctx context.Context, key string, n int) (Result, error) {
	if err := l.check(ctx, n); err != nil || n == 0 || l.inf {
		return Result{Allowed: err == nil}, err
	}
	keys := l.keys
	if key != "" {
		keys = l.keysOf(key)
	}
	d, err := l.counted(l.decide(ctx, keys, n, n, 0))
	if err != nil {
		return l.degraded(ctx, err, 0)
	}
	return d.result(), d.err(l)
}

// Wait is shorthand for WaitN(ctx, key, 1).
func (l *Limiter) Wait(ctx context.Context, key string) error { return l.WaitN(ctx, key, 1) }

// WaitN takes n tokens for key, waiting for them if need be until strictly
// before ctx's deadline. The tokens are reserved in the same round trip
// that decides; if the wait they need cannot end before the deadline, it
// fails at once with a *limit.LimitedError, reserving nothing. If ctx ends
// during the wait, the tokens are given back (one more round trip, bounded
// by the backend timeout) and ctx.Err() is returned. Bad n and Redis
// failures are handled as by [Limiter.AllowN].
func (l *Limiter) WaitN(ctx context.Context, key string, n int) error {
	if err := l.check(ctx, 0); err != nil {
		return err
	}
	keys := l.keys
	if key != "" {
		keys = l.keysOf(key)
	}
	return l.waitN(ctx, keys, n, -1)
}

// Admit implements limit.Limiter for the limiter's single, unkeyed limit,
// so that limit.Policy runs calls under it. See [limit.Limiter]: with
// maxWait <= 0 it never waits; otherwise it waits as [Limiter.WaitN] does,
// up to maxWait.
func (l *Limiter) Admit(ctx context.Context, maxWait time.Duration) error {
	return l.admit(ctx, "", l.keys, maxWait)
}

// By returns a limit.Limiter over l for limit.Policy: each call's key is
// key(ctx), such as the tenant or the API key the request carries. key runs
// on the caller's goroutine. A nil key makes every call fail with an error
// matching ion.ErrInvalidConfig.
func (l *Limiter) By(key func(ctx context.Context) string) limit.Limiter {
	return &keyedLimiter{l: l, key: key}
}

type keyedLimiter struct {
	l   *Limiter
	key func(context.Context) string
}

var errNilKey = configError("key", "nil key function")

func (k *keyedLimiter) Admit(ctx context.Context, maxWait time.Duration) error {
	if k.key == nil {
		return errNilKey
	}
	if ctx == nil {
		return errNilCtx
	}
	if err := k.l.check(ctx, 0); err != nil {
		return err
	}
	return k.l.admit(ctx, k.key(ctx), nil, maxWait)
}

// String describes the limiter, as in "redis-limit(api) 10/s burst 10 by key".
func (k *keyedLimiter) String() string { return k.l.String() + " by key" }

// admit takes one token of the subject named name, whose keys are keys (or
// nil: built when needed), waiting at most maxWait.
func (l *Limiter) admit(ctx context.Context, name string, keys []string, maxWait time.Duration) error {
	if maxWait <= 0 {
		if err := l.check(ctx, 1); err != nil || l.inf {
			return err
		}
		if l.batch == nil {
			return l.admitCoalesced(ctx, name, keys)
		}
	}
	if keys == nil {
		keys = l.keysOf(name)
	}
	if maxWait > 0 {
		return l.waitN(ctx, keys, 1, maxWait)
	}
	return l.batch.take(ctx, keys)
}

func (l *Limiter) waitN(ctx context.Context, keys []string, n int, maxWait time.Duration) error {
	if err := l.check(ctx, n); err != nil || n == 0 || l.inf {
		return err
	}
	budget := time.Duration(math.MaxInt64)
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl) - 1
	}
	if maxWait >= 0 {
		budget = min(budget, maxWait)
	}
	d, err := l.counted(l.decide(ctx, keys, n, n, max(budget, 0)))
	if err != nil {
		// The fallback may wait as long as this call could.
		_, err = l.degraded(ctx, err, max(budget, 1))
		return err
	}
	if !d.granted() {
		return d.err(l)
	}
	if d.wait <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d.wait {
		// The round trip ate the margin: the wait no longer fits.
		l.refund(ctx, keys, n)
		return &limit.LimitedError{Delay: d.wait}
	}
	t := time.NewTimer(d.wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.refund(ctx, keys, n)
		return ctx.Err()
	}
}

// refund gives n tokens back to keys' windows, best effort: its own round
// trip is bounded by the backend timeout, detached from ctx's cancellation.
func (l *Limiter) refund(ctx context.Context, keys []string, n int) {
	args := make([]any, 0, 1+len(l.windows))
	args = append(args, n)
	for _, w := range l.windows {
		args = append(args, w.args[0])
	}
	_ = l.be.do(context.WithoutCancel(ctx), "refund", func(ctx context.Context) error {
		return refundScript.Run(ctx, l.be.client, keys, args...).Err()
	})
}

var errNilCtx = configError("ctx", "nil Context")

var errZero = configError("Limiter", "the zero value is not usable: use NewLimiter")

// check validates a call: configuration, ctx, n.
func (l *Limiter) check(ctx context.Context, n int) error {
	switch {
	case l.err != nil:
		return l.err
	case l.be.client == nil:
		return errZero
	case ctx == nil:
		return errNilCtx
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case n < 0:
		return limit.ErrNegativeN
	case !l.inf && int64(n) > l.burst:
		return limit.ErrExceedsBurst
	}
	return nil
}

// decision is the script's answer.
type decision struct {
	grant, remaining int64
	wait, reset      time.Duration
	denyIdx          int
	// next is the wait until one token more than granted would fit, and
	// nextIdx the window (1-based) that holds it back; 0 unless the grant
	// was partial (fewer than asked, at least the least accepted).
	next    time.Duration
	nextIdx int
}

func (d decision) granted() bool { return d.grant > 0 }

func (d decision) result() Result {
	r := Result{Allowed: d.granted(), Remaining: int(d.remaining), ResetAfter: d.reset}
	if !r.Allowed {
		r.RetryAfter = d.wait
	}
	return r
}

func (d decision) err(l *Limiter) error {
	if d.granted() {
		return nil
	}
	return &limit.LimitedError{Delay: d.wait, Tier: l.tier(d.denyIdx)}
}

// tier returns the name of window idx (1-based), or "" for a limiter of
// one window or an index out of range.
func (l *Limiter) tier(idx int) string {
	if len(l.windows) > 1 && idx >= 1 && idx <= len(l.windows) {
		return l.windows[idx-1].name
	}
	return ""
}

// decide runs the script for n tokens (at least least of them), waiting at
// most maxWait.
func (l *Limiter) decide(ctx context.Context, keys []string, n, least int, maxWait time.Duration) (decision, error) {
	args := l.args1
	if n != 1 || least != 1 || maxWait != 0 {
		args = make([]any, 3, 3+len(l.args))
		args[0], args[1], args[2] = n, least, int64(maxWait/time.Microsecond)
		args = append(args, l.args...)
	}
	var vals []int64
	err := l.be.do(ctx, "limit", func(ctx context.Context) error {
		var err error
		vals, err = gcraScript.Run(ctx, l.be.client, keys, args...).Int64Slice()
		return err
	})
	if err != nil {
		return decision{}, err
	}
	if len(vals) != 7 {
		return decision{}, &BackendError{Op: "limit", Err: errBadReply}
	}
	return decision{
		grant:     vals[0],
		wait:      time.Duration(vals[1]) * time.Microsecond,
		remaining: vals[2],
		reset:     time.Duration(vals[3]) * time.Microsecond,
		denyIdx:   int(vals[4]),
		next:      time.Duration(vals[5]) * time.Microsecond,
		nextIdx:   int(vals[6]),
	}, nil
}

// count records decisions in the metrics: allowed granted, limited denied.
func (l *Limiter) count(allowed, limited int64) {
	if m := l.be.m; m != nil {
		if allowed > 0 {
			m.allowed.Add(allowed)
		}
		if limited > 0 {
			m.limited.Add(limited)
		}
	}
}

// counted counts d as one decision, allowed or limited, and returns it.
func (l *Limiter) counted(d decision, err error) (decision, error) {
	if err == nil {
		if d.granted() {
			l.count(1, 0)
		} else {
			l.count(0, 1)
		}
	}
	return d, err
}

// degraded applies the failure mode to a failed decision. A ctx error is
// returned as is: the caller gave up, Redis did not fail.
func (l *Limiter) degraded(ctx context.Context, err error, maxWait time.Duration) (Result, error) {
	if _, ok := err.(*BackendError); !ok {
		return Result{}, err
	}
	m := l.be.m
	switch {
	case l.failOpen:
		if m != nil {
			m.open.Add(1)
		}
		return Result{Allowed: true, Degraded: true}, nil
	case l.fallback != nil:
		if m != nil {
			m.local.Add(1)
		}
		ferr := l.fallback.Admit(ctx, maxWait)
		return Result{Allowed: ferr == nil, Degraded: true}, ferr
	}
	if m != nil {
		m.closed.Add(1)
	}
	return Result{}, err
}

// String describes the limiter, as in "redis-limit(api) 10/s burst 10".
func (l *Limiter) String() string {
	s := "redis-limit(" + l.name + ")"
	if l.err != nil {
		return s + " invalid: " + l.err.Error()
	}
	if l.inf {
		return s + " unlimited"
	}
	parts := make([]string, len(l.windows))
	for i, w := range l.windows {
		parts[i] = strconv.FormatFloat(1e6/float64(w.t), 'g', -1, 64) + "/s burst " + strconv.FormatInt(w.burst, 10)
	}
	return s + " " + strings.Join(parts, " and ")
}
