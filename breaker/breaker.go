package breaker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/contend"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Breaker is a circuit breaker: it stops calls to a dependency that keeps
// failing, lets a few probes through after a while, and resumes when they
// succeed. See the package doc for the state machine and the trip rules.
//
// Most callers want [Policy], which runs calls through the breaker as a layer
// of a [policy.Pipeline]; middleware that cannot wrap a function uses the
// two-step [Breaker.Allow] and [Ticket.Done]. A Breaker is not generic, so
// one breaker can guard calls of any result type.
//
// A Breaker has no goroutine and no timer: the open state expires when it is
// next looked at ([Breaker.State], [Breaker.Allow], [Breaker.Snapshot]).
// The zero value fails closed: every call returns an error matching
// ion.ErrInvalidConfig that says to use [New], and nothing panics. A Breaker
// is safe for concurrent use by multiple goroutines.
type Breaker struct {
	// Immutable after New.
	name     string
	spanName string
	err      error     // the configuration error; every call returns it
	epoch    time.Time // the breaker's clock is time.Since(epoch), monotonic

	listeners []func(Transition)
	logger    observe.Logger
	tracer    observe.Tracer
	inst      *instruments // nil without a Metrics sink
	notifies  bool         // someone listens to transitions

	// cur is the current generation (see generation); nil only in a zero
	// Breaker, which fails closed.
	cur atomic.Pointer[generation]

	// p holds the tunable parameters, immutable, replaced whole by
	// Reconfigure with mu held: the state that mu guards (the window, the
	// burst ring, the random source) always has the shape of the p read
	// under mu. A path without mu loads p once and uses that one.
	p atomic.Pointer[params]
	// windowed mirrors p.windowed, so that a closed-state success reads
	// one flag, as it did before parameters could change.
	windowed atomic.Bool

	// Totals since New that the generations do not hold: failures, ignored
	// results, rejections and slow calls, and the successes that arrived
	// after their generation retired.
	failures, ignored, rejected, slowCalls, lateSuccesses atomic.Int64

	// mu guards the fields below. It is held for transitions, half-open
	// admission and results, windowed results, the failure-burst rule and
	// the notification queue; never while user code runs.
	mu sync.Mutex
	// mode is the contended mode of the generations' result words (see
	// internal/contend): while it is on, closed successes are counted with
	// mu held. Beside mu, whose line it is written with.
	mode      contend.Mode
	succBase  int64      // the successes of retired generations
	trips     int        // openings since the breaker last closed, for the backoff
	win       window     // the rate rules' window; reset on entering Closed
	failTimes []int64    // WithFailuresWithin: the last burst failure times, a ring
	failNext  int        // where the next failure time goes in failTimes
	rng       *rand.Rand // WithJitter's random source; nil without jitter

	// Half-open probes: probes[i] is the sequence number of the probe in slot
	// i, 0 when free; free lists the free slots. Reset on entering HalfOpen.
	probes      []uint64
	free        []int32
	inFlight    int
	hoSuccesses int
	seq         uint64 // the last probe sequence number handed out

	// The notification queue: transitions not yet delivered, pending[head:],
	// and whether a goroutine is delivering them.
	pending  []Transition
	head     int
	draining bool
}

// instruments are the metric instruments, resolved once in New.
type instruments struct {
	state       observe.Gauge
	transitions [numStates][numStates]observe.Counter
	calls       [3]observe.Counter // by policy.Outcome
	rejections  observe.Counter
}

// New returns a closed breaker named name, configured by opts. Without
// options it trips after 5 consecutive failures, stays open 30 s, then lets
// 3 probes through at once and closes after 2 successes.
//
// New never panics. An invalid option (see each With function) makes the
// breaker fail closed: it reads as [ForcedOpen], every [Breaker.Allow] and
// [Policy] call returns a [*ion.ConfigError] naming the option, and
// [Breaker.Err] reports it. New allocates the breaker, its first generation
// and, for a rate rule, its window; it starts no goroutine.
func New(name string, opts ...Option) *Breaker {
	c := newConfig(opts)
	b := &Breaker{
		name:     name,
		spanName: "breaker(" + name + ")",
		epoch:    time.Now(),
	}
	if c.err != nil {
		b.err = c.err
		b.p.Store(&params{})
		b.cur.Store(&generation{b: b, state: ForcedOpen})
		return b
	}
	p := newParams(&c)
	b.p.Store(p)
	b.windowed.Store(p.windowed)
	if p.burstWithin > 0 {
		b.failTimes = make([]int64, 0, p.burst)
	}
	if p.windowed {
		b.win = newWindow(p)
	}
	if p.jitter > 0 {
		b.rng = newRand(p.seed)
	}
	b.listeners = c.listeners
	b.logger = c.logger
	b.tracer = c.tracer
	if m := c.metrics; m != nil {
		b.inst = newInstruments(m, name)
	}
	b.notifies = len(b.listeners) > 0 || b.logger != nil || b.inst != nil
	b.cur.Store(b.newGeneration(Closed, 0))
	return b
}

// newGeneration returns a generation in state s that began at now. It must
// be called with b.mu held, or from New.
func (b *Breaker) newGeneration(s State, now int64) *generation {
	g := &generation{b: b, state: s, since: now}
	g.fast.Store(s == Closed && b.p.Load().slowDur == 0)
	if s == Open {
		g.until = now + b.openDurationLocked()
	}
	return g
}

// newRand returns the random source of WithJitter for seed.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func newInstruments(m observe.Metrics, name string) *instruments {
	n := observe.L("name", name)
	in := &instruments{
		state:      m.Gauge("ion_breaker_state", n),
		rejections: m.Counter("ion_breaker_rejections_total", n),
	}
	for o := policy.Success; o <= policy.Ignored; o++ {
		in.calls[o] = m.Counter("ion_breaker_calls_total", n, observe.L("outcome", o.String()))
	}
	for from := range State(numStates) {
		for to := range State(numStates) {
			if from != to {
				in.transitions[from][to] = m.Counter("ion_breaker_transitions_total", n,
					observe.L("from", from.String()), observe.L("to", to.String()))
			}
		}
	}
	in.state.Set(float64(Closed))
	return in
}

// errZero is the error of every call on a zero Breaker.
var errZero = ion.NewConfigError("breaker", "Breaker", "zero value; use New")

// Err returns the configuration error that makes the breaker fail closed,
// or nil. A zero Breaker (not built by [New]) fails closed with an error
// matching ion.ErrInvalidConfig.
func (b *Breaker) Err() error {
	if b.cur.Load() == nil {
		return errZero
	}
	return b.err
}

// now returns the breaker's monotonic clock, in nanoseconds since New.
func (b *Breaker) now() int64 { return int64(time.Since(b.epoch)) }

// State returns the state at the moment it is read. An open breaker whose
// open duration has elapsed becomes [HalfOpen] here (notifying listeners),
// so State is exact without a timer. State does not block beyond a short
// lock when the open state expires; on the common path it is one atomic
// load (plus a clock read while open). A zero Breaker reads as [ForcedOpen].
func (b *Breaker) State() State {
	g := b.cur.Load()
	if g == nil {
		return ForcedOpen
	}
	if g.state != Open || b.now() < g.until {
		return g.state
	}
	b.mu.Lock()
	notify := b.expireLocked(b.now())
	s := b.cur.Load().state
	b.mu.Unlock()
	if notify {
		b.drain()
	}
	return s
}

// Trip forces the breaker open: every call is rejected with [ErrOpen] until
// [Breaker.Reset]. Results of calls already running are ignored. Trip on a
// breaker that fails closed does nothing.
func (b *Breaker) Trip() { b.force(ForcedOpen, false) }

// Disable lets every call through and stops the breaker from changing state
// on its own until [Breaker.Enable] or [Breaker.Reset]; outcomes are still
// counted in the [Snapshot]. Disable on a breaker that fails closed does
// nothing.
func (b *Breaker) Disable() { b.force(Disabled, false) }

// Enable closes a disabled breaker, with empty counts. On a breaker in any
// other state it does nothing.
func (b *Breaker) Enable() { b.force(Closed, true) }

// Reset closes the breaker from any state, with an empty window, no
// consecutive failures and no open-duration growth; results of calls that
// started before it are counted in the totals but change nothing else. Reset
// of a closed breaker starts a new generation without a transition: its
// [Counts] start from zero and no listener is called. Reset on a breaker
// that fails closed does nothing.
func (b *Breaker) Reset() { b.force(Closed, false) }

// force moves the breaker to the manual state to; with onlyDisabled, only
// from Disabled.
func (b *Breaker) force(to State, onlyDisabled bool) {
	if b.err != nil || b.cur.Load() == nil {
		return
	}
	b.mu.Lock()
	now := b.now()
	notify := false
	switch from := b.cur.Load().state; {
	case onlyDisabled && from != Disabled:
	case from == to && to == Closed:
		b.retireLocked(b.newGeneration(Closed, now))
		b.resetClosedLocked(now)
	case from != to:
		b.setStateLocked(to, now)
		notify = true
	}
	b.mu.Unlock()
	if notify {
		b.drain()
	}
}

// expireLocked moves an open breaker whose open duration has elapsed to
// HalfOpen and reports whether it did. It must be called with b.mu held.
func (b *Breaker) expireLocked(now int64) bool {
	g := b.cur.Load()
	if g.state != Open || now < g.until {
		return false
	}
	// The breaker became half-open at until, not when someone noticed.
	b.setStateLocked(HalfOpen, g.until)
	return true
}

// retireLocked makes next the current generation: it marks the current one
// retired and folds its successes into the totals (see generation). It must
// be called with b.mu held.
func (b *Breaker) retireLocked(next *generation) State {
	old := b.cur.Load()
	w := old.word.Load()
	for !old.word.CompareAndSwap(w, w|retiredBit) {
		w = old.word.Load()
	}
	b.succBase += old.succHi.Load() + int64(w&succMask)
	b.cur.Store(next)
	return old.state
}

// resetClosedLocked empties the closed state's rules. It must be called with
// b.mu held.
func (b *Breaker) resetClosedLocked(now int64) {
	b.trips = 0
	b.win.reset(now)
	b.failTimes, b.failNext = b.failTimes[:0], 0
}

// setStateLocked moves the breaker to state to at time now, starting a new
// generation, and queues the notification. It must be called with b.mu held.
func (b *Breaker) setStateLocked(to State, now int64) {
	if to == Open {
		b.trips++
	}
	from := b.retireLocked(b.newGeneration(to, now))
	switch to {
	case Closed:
		b.resetClosedLocked(now)
	case HalfOpen:
		clear(b.probes)
		b.probes, b.free = b.probes[:0], b.free[:0]
		b.inFlight, b.hoSuccesses = 0, 0
	}
	if b.notifies {
		b.pending = append(b.pending, Transition{Name: b.name, From: from, To: to, At: b.epoch.Add(time.Duration(now))})
	}
}

// maxOpen bounds an open duration so that now+d never overflows.
const maxOpen = int64(1) << 62

// openDurationLocked returns the duration of the opening that b.trips
// counts, with backoff and jitter. It must be called with b.mu held.
func (b *Breaker) openDurationLocked() int64 {
	p := b.p.Load()
	d := float64(p.openDur)
	if p.backoffMax > 0 && b.trips > 1 {
		d *= math.Pow(p.backoffFactor, float64(b.trips-1))
	}
	if p.jitter > 0 {
		d *= 1 + p.jitter*(2*b.rng.Float64()-1)
	}
	if p.backoffMax > 0 && d > float64(p.backoffMax) {
		d = float64(p.backoffMax)
	}
	if d >= float64(maxOpen) {
		return maxOpen
	}
	return int64(d)
}
