package limit

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/ionkit/ion/observe"
)

// Limiter is what [Policy] needs from a rate limiter: a way to admit one
// call, at once or within a bounded wait. [*TokenBucket], [*LeakyBucket] and
// [*AllOf] implement it; [Keyed.By] returns one that derives the key of each
// call from its ctx. Users may implement it to put another limiter behind
// [Policy].
type Limiter interface {
	// Admit admits one call for ctx. With maxWait <= 0 it never blocks: it
	// returns nil or, without consuming anything, an error matching
	// ErrLimited (a *LimitedError whose Delay says when to come back).
	// With maxWait > 0 it may wait, up to maxWait and strictly before ctx's
	// deadline; a wait that could not finish in time fails at once with the
	// same rejection, consuming nothing. A ctx that ends during the wait
	// returns ctx.Err() and gives the tokens back. An already-done ctx
	// returns ctx.Err() at once.
	Admit(ctx context.Context, maxWait time.Duration) error
}

// tracerOf is implemented by the package's limiters (and By views), so that
// Policy can trace with the limiter's Tracer.
type tracerOf interface {
	tracer() observe.Tracer
}

// core is the engine and the wiring shared by TokenBucket and LeakyBucket.
type core struct {
	b     bucket
	live  bool  // built by init without error; false in a zero value
	err   error // a configuration error: every call returns it
	kind  string
	name  string
	named bool
	m     *instruments
	tr    observe.Tracer
}

func (c *core) init(kind string, r Rate, burst int, burstName string, opts []BucketOption) {
	c.b.keepLevel = burstName == "capacity"
	cfg := newConfig(kind, opts, BucketOption.applyBucket)
	c.kind, c.name, c.named = kind, cfg.name, cfg.name != kind
	c.err = cfg.err
	if c.err == nil {
		c.err = checkLimits(r, burst, "", burstName)
	}
	c.m, c.tr = newInstruments(cfg), cfg.tracer
	if c.err != nil {
		cfg.logConfigError(c.err)
		r, burst = 0, 0 // a bucket that admits nothing, should any path reach it
	}
	c.b.init(limits{rate: r, burst: burst}, nowNs())
	c.live = c.err == nil
}

// fault returns the error every call of a core that is not live returns:
// its configuration error, or zero for a zero value.
func (c *core) fault(zero error) error {
	if c.err != nil {
		return c.err
	}
	return zero
}

// allowN takes n tokens at ns. clock says that ns is a clock reading taken
// by the caller, so a refusal is confirmed with a fresher one (see fresher).
func (c *core) allowN(ns int64, n int, clock bool) bool {
	if !c.live || n < 0 {
		return false
	}
	if n == 0 {
		return true
	}
	ok := c.b.take(ns, int64(n))
	if !ok && clock {
		if now, later := fresher(ns); later {
			ok = c.b.take(now, int64(n))
		}
	}
	c.m.record(ok)
	return ok
}

// waitN takes n tokens, waiting up to maxWait ns (negative: no bound but
// ctx's deadline).
func (c *core) waitN(ctx context.Context, n int, maxWait int64, zero error) error {
	if ctx == nil {
		return errNilCtx
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case !c.live:
		return c.fault(zero)
	case n < 0:
		return ErrNegativeN
	case n == 0:
		return nil
	}
	ns := nowNs()
	t, wait, ok := c.b.admit(ns, int64(n), budget(ctx, ns, maxWait))
	if !ok {
		if now, later := fresher(ns); later {
			t, wait, ok = c.b.admit(now, int64(n), budget(ctx, now, maxWait))
		}
	}
	if !ok {
		c.m.record(false)
		return rejection(wait, "")
	}
	if wait > 0 && !sleep(ctx, wait) {
		c.b.cancel(t, nowNs(), false)
		return ctx.Err()
	}
	c.m.record(true)
	c.m.waited(time.Duration(wait))
	return nil
}

func (c *core) reserveN(ns int64, n int) *Reservation {
	r := &Reservation{actNs: ns}
	switch {
	case !c.live || n < 0:
		return r
	case n == 0:
		r.ok = true
		return r
	}
	t, wait, ok := c.b.reserve(ns, int64(n), math.MaxInt64)
	if ok {
		r.ok, r.c, r.actNs = true, claim{b: &c.b, t: t}, ns+wait
	}
	return r
}

func (c *core) setLimits(r Rate, burst int, setRate, setBurst bool, burstName string, zero error) error {
	if !c.live {
		return c.fault(zero)
	}
	return c.b.update(nowNs(), func(perm limits) (limits, error) {
		if setRate {
			perm.rate = r
		}
		if setBurst {
			perm.burst = burst
		}
		return perm, checkLimits(perm.rate, perm.burst, "", burstName)
	})
}

func (c *core) setTemp(r Rate, burst int, d time.Duration, burstName string, zero error) error {
	switch {
	case !c.live:
		return c.fault(zero)
	case d <= 0:
		return configError("d", "must be positive, got %v", d)
	}
	if err := checkLimits(r, burst, "", burstName); err != nil {
		return err
	}
	ns := nowNs()
	c.b.setTemp(ns, limits{rate: r, burst: burst}, satAdd(ns, int64(d)))
	return nil
}

func (c *core) clearTemp() {
	if c.live {
		c.b.clearTemp(nowNs())
	}
}

func (c *core) tokensAt(ns int64) float64 {
	if !c.live {
		return 0
	}
	return c.b.tokensAt(ns)
}

func (c *core) limits() limits {
	if !c.live {
		return limits{}
	}
	return c.b.limitsAt(nowNs())
}

// describe returns "<kind> <rate> <burstName> <burst>", with the name in
// parentheses after the kind when one was given.
func (c *core) describe(burstName string, zero error) string {
	s := c.kind
	if c.named {
		s += "(" + c.name + ")"
	}
	if !c.live {
		return s + " invalid: " + c.fault(zero).Error()
	}
	l := c.limits()
	if l.rate.isInf() {
		return s + " unlimited"
	}
	return s + " " + l.rate.String() + " " + burstName + " " + strconv.Itoa(l.burst)
}

var errNilCtx = configError("ctx", "nil Context")

// rejection returns the error for a request reserve refused with wait.
func rejection(wait int64, tier string) error {
	if wait == exceeds {
		return ErrExceedsBurst
	}
	return &LimitedError{Delay: time.Duration(wait), Tier: tier}
}

// budget returns the longest wait, in ns from ns, that ctx and maxWait (when
// >= 0) allow: a wait must end strictly before ctx's deadline.
func budget(ctx context.Context, ns, maxWait int64) int64 {
	w := int64(math.MaxInt64)
	if dl, ok := ctx.Deadline(); ok {
		w = max(offsetOf(dl)-ns-1, 0)
	}
	if maxWait >= 0 {
		w = min(w, maxWait)
	}
	return w
}

// sleep waits d ns and reports true, or reports false as soon as ctx is
// done. Its timer is stopped on every path, so it works in a synctest
// bubble.
func sleep(ctx context.Context, d int64) bool {
	t := time.NewTimer(time.Duration(d))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
