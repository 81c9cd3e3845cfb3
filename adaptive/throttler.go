package adaptive

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// buckets is the number of buckets of a Throttler's rolling window.
const buckets = 20

// Throttler is client-side adaptive throttling, as the Google SRE book
// describes it ("Handling Overload"): a client that sees its backend refuse
// calls stops sending what the backend would refuse anyway. Over a rolling
// window ([WithWindow]) it counts requests (every call offered, including
// those it rejected itself) and accepts (calls the backend answered), and
// rejects a new call locally with probability
//
//	max(0, (requests − K·accepts) / (requests + 1))
//
// with K from [WithK]. While the backend accepts everything no call is
// rejected; as its accepts fall, the client sends about K times what it
// accepts, keeping enough traffic to see it recover.
//
// With priorities ([Priority]) the same share of traffic is rejected, taken
// from the lowest priorities first: sheddable calls go first, critical calls
// are rejected only when everything below them is. [Throttler.Shedding]
// tells where that happens now.
//
// Calls go through a Throttler with its [ThrottlerPolicy]. The zero value is
// not usable; build one with [NewThrottler]. A Throttler is safe for
// concurrent use by multiple goroutines.
type Throttler struct {
	name    string
	metrics *throttlerInstruments
	tracer  observe.Tracer
	err     error
	// desc is its policies' String and span name, built for the K in
	// force by NewThrottler and by Reconfigure (under mu); nil in a zero
	// Throttler.
	desc atomic.Pointer[string]

	// mu guards the fields below.
	mu sync.Mutex

	// The parameters: set by NewThrottler, changed by Reconfigure.
	k         float64
	bucketLen time.Duration // 0 only in a zero Throttler
	seed      uint64        // the seed of rng ...
	seeded    bool          // ... when WithSeed chose it

	rng   *rand.Rand     // the random choices, seeded by WithSeed
	ring  [buckets]tally // the window's buckets; ring[head] is the newest
	head  int            // the bucket now counting
	start time.Time      // when ring[head] opened
	total tally          // the sum of ring
}

// tally counts requests and accepts per priority.
type tally struct {
	requests, accepts [levels]int64
}

func (t *tally) sub(o *tally) {
	for i := range levels {
		t.requests[i] -= o.requests[i]
		t.accepts[i] -= o.accepts[i]
	}
}

// NewThrottler returns a Throttler configured by opts: K 2, a two-minute
// window, a random seed. It never panics: an invalid option gives a
// Throttler whose every call fails closed with an error matching
// ion.ErrInvalidConfig that names the option.
func NewThrottler(opts ...ThrottlerOption) *Throttler {
	c := newThrottlerConfig(opts)
	seed := c.seed
	if !c.seeded {
		seed = rand.Uint64()
	}
	t := &Throttler{
		name:      c.name,
		k:         c.k,
		bucketLen: c.window / buckets,
		seed:      seed,
		seeded:    c.seeded,
		tracer:    c.tracer,
		err:       c.err,
		rng:       newRand(seed),
		start:     time.Now(),
	}
	t.desc.Store(describeThrottler(c.name, c.k))
	if t.err == nil {
		t.metrics = newThrottlerInstruments(c.metrics, c.name)
	}
	return t
}

// newThrottlerConfig returns the defaults with opts applied, in order.
func newThrottlerConfig(opts []ThrottlerOption) throttlerConfig {
	c := throttlerConfig{k: 2, window: 2 * time.Minute}
	for i, o := range opts {
		if o == nil {
			c.fail(configError("opts", "nil ThrottlerOption at position %d", i))
			continue
		}
		o.applyThrottler(&c)
	}
	return c
}

// newRand returns the random source of a Throttler seeded with seed.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// advanceLocked rolls the window forward to now. It must be called with
// t.mu held.
func (t *Throttler) advanceLocked(now time.Time) {
	elapsed := now.Sub(t.start)
	if elapsed < t.bucketLen {
		return
	}
	n := int(elapsed / t.bucketLen)
	if n >= buckets {
		t.ring, t.total = [buckets]tally{}, tally{}
	} else {
		for range n {
			t.head = (t.head + 1) % buckets
			t.total.sub(&t.ring[t.head])
			t.ring[t.head] = tally{}
		}
	}
	t.start = t.start.Add(time.Duration(n) * t.bucketLen)
}

// rejectionLocked returns the probability that a call of priority p is
// rejected now. It must be called with t.mu held.
func (t *Throttler) rejectionLocked(p Priority) float64 {
	var r, a float64
	for i := range levels {
		r += float64(t.total.requests[i])
		a += float64(t.total.accepts[i])
	}
	rate := max(0, (r-t.k*a)/(r+1))
	if rate == 0 {
		return 0
	}
	// Of the rate·r requests to shed, the lower priorities take what
	// their share of the traffic can; p takes the rest, up to all of its
	// own.
	excess := rate * r
	for i := range p.index() {
		excess -= float64(t.total.requests[i])
	}
	if excess <= 0 {
		return 0
	}
	own := float64(t.total.requests[p.index()])
	if own <= excess {
		return 1
	}
	return excess / own
}

// admit counts a request of priority p at now and reports whether it may
// be sent.
func (t *Throttler) admit(now time.Time, p Priority) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked(now)
	reject := t.rejectionLocked(p)
	t.ring[t.head].requests[p.index()]++
	t.total.requests[p.index()]++
	return reject == 0 || t.rng.Float64() >= reject
}

// record counts the accept of a request of priority p that the backend
// answered, at now.
func (t *Throttler) record(now time.Time, p Priority) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked(now)
	t.ring[t.head].accepts[p.index()]++
	t.total.accepts[p.index()]++
}

// RejectionRate returns the share of calls the throttler rejects now, over
// all priorities: max(0, (requests − K·accepts) / (requests + 1)) over the
// window. It takes t's lock briefly. A fail-closed Throttler reports 1.
func (t *Throttler) RejectionRate() float64 {
	if t.err != nil {
		return 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked(time.Now())
	var r, a float64
	for i := range levels {
		r += float64(t.total.requests[i])
		a += float64(t.total.accepts[i])
	}
	return max(0, (r-t.k*a)/(r+1))
}

// Shedding reports the highest priority whose calls the throttler rejects
// now (with a non-zero probability), and true; or false when it rejects
// none. A fail-closed Throttler reports Critical and true.
func (t *Throttler) Shedding() (Priority, bool) {
	if t.err != nil {
		return Critical, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked(time.Now())
	for p := Critical; p >= Sheddable; p-- {
		if t.rejectionLocked(p) > 0 {
			return p, true
		}
	}
	return Normal, false
}

// Err returns the configuration error that makes t fail closed, or nil.
func (t *Throttler) Err() error { return t.err }

// ThrottlerPolicy returns a [policy.Policy] that runs each call under t.
// The call's priority is read from its ctx ([PriorityFromContext]). A call
// the throttler rejects returns at once without running, with [ErrThrottled]
// (which matches ion.ErrRejected). The pipeline's classifier decides what
// the backend accepted: a Failure is a refusal, anything else (a Success,
// or an Ignored call such as the caller's own cancellation) counts as
// accepted, so only failures make the throttler reject.
//
// A panic in the call counts as a refusal and goes on up the stack. An
// already-done ctx fails the call before it counts. A nil t or a
// fail-closed t gives a policy whose every call returns an error matching
// ion.ErrInvalidConfig. With a Tracer ([WithTracer]) each call gets one
// span. The policy adds no allocation of its own.
func ThrottlerPolicy[T any](t *Throttler) policy.Policy[T] {
	p := &throttlerPolicy[T]{t: t}
	switch {
	case t == nil:
		p.err = configError("ThrottlerPolicy", "nil *Throttler")
	case t.err != nil:
		p.err = t.err
	}
	if p.err != nil {
		p.invalid = "adaptive throttler(invalid: " + p.err.Error() + ")"
	}
	return p
}

type throttlerPolicy[T any] struct {
	t       *Throttler
	err     error
	invalid string // String when err is set; otherwise t.describe()
}

// Err returns the configuration error that makes every call fail, or nil,
// so that policy.Pipeline.Err can report a misconfigured throttler at
// startup.
func (p *throttlerPolicy[T]) Err() error { return p.err }

// Execute implements policy.Policy.
func (p *throttlerPolicy[T]) Execute(ctx context.Context, next policy.Next[T]) (v T, err error) {
	if p.err != nil {
		return v, p.err
	}
	if ctx == nil {
		return v, errNilCtx
	}
	if err := ctx.Err(); err != nil {
		return v, &ctxError{err: err}
	}
	t := p.t
	var span observe.Span
	if t.tracer != nil {
		ctx, span = t.tracer.Start(ctx, t.describe())
	}
	prio := PriorityFromContext(ctx)
	sent := t.admit(time.Now(), prio)
	t.metrics.count(sent)
	if !sent {
		if span != nil {
			span.End("rejected", ErrThrottled)
		}
		return v, ErrThrottled
	}
	if span != nil {
		// Only with a span: a panic must end it before it goes on up the
		// stack. The panic is not recorded as an accept.
		returned := false
		defer func() {
			if !returned {
				r := recover()
				var perr error
				if r != nil {
					perr = ion.NewPanicError(r)
				}
				span.End(policy.Failure.String(), perr)
				if r != nil {
					panic(r)
				}
			}
		}()
		v, err = next.Call(ctx)
		returned = true
	} else {
		v, err = next.Call(ctx)
	}
	outcome := next.Classify(ctx, v, err)
	if outcome != policy.Failure {
		t.record(time.Now(), prio)
	}
	if span != nil {
		span.End(outcome.String(), err)
	}
	return v, err
}

// String describes the policy, as in "adaptive throttler(api, K 2)", with
// the K in force.
func (p *throttlerPolicy[T]) String() string {
	if p.err != nil {
		return p.invalid
	}
	return p.t.describe()
}

// describe returns the String and span name of t's policies.
func (t *Throttler) describe() string {
	if d := t.desc.Load(); d != nil {
		return *d
	}
	return *describeThrottler("", 0) // a zero Throttler's
}

func describeThrottler(name string, k float64) *string {
	ks := strconv.FormatFloat(k, 'g', -1, 64)
	d := "adaptive throttler(K " + ks + ")"
	if name != "" {
		d = "adaptive throttler(" + name + ", K " + ks + ")"
	}
	return &d
}
