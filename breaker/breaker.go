package breaker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

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
// The zero value is not usable; call [New]. A Breaker is safe for concurrent
// use by multiple goroutines.
type Breaker struct {
	// Immutable after New.
	name     string
	spanName string
	err      error     // the configuration error; every call returns it
	epoch    time.Time // the breaker's clock is time.Since(epoch), monotonic

	threshold   uint32  // consecutive failures that trip; 0 with a failure rate
	failureRate float64 // 0 = off
	slowDur     int64   // nanoseconds; 0 = no slow-call rule
	slowRate    float64
	timedCalls  uint64 // 1 with the slow-call rule: Allow reads the clock
	windowed    bool   // a rate rule is configured: closed results go through mu
	timed       bool   // the window is a time window

	openDur          int64
	backoffFactor    float64
	backoffMax       int64
	jitter           float64
	maxCalls         int
	successThreshold int

	listeners []func(Transition)
	logger    observe.Logger
	tracer    observe.Tracer
	inst      *instruments // nil without a Metrics sink
	notifies  bool         // someone listens to transitions

	// successes is the success total since New, for the Snapshot. Its cells
	// are written by every success, each on a cache line of its own; the
	// slice header here is only read.
	successes counter

	// The hot state, read and written without mu (see the word layout in
	// state.go). openUntil is stored before the word says Open.
	word      atomic.Uint64
	openUntil atomic.Int64 // nanoseconds since epoch; valid while Open
	_         [64]byte     // keep the counters' writes off the word's cache line

	// The other totals since New, for the Snapshot, written only by
	// failures, ignored results and rejections.
	failures, ignored, rejected, slowCalls atomic.Int64
	_                                      [64]byte

	// mu guards the fields below. It is held for transitions, half-open
	// admission and results, windowed results, and the notification queue;
	// never while user code runs.
	mu    sync.Mutex
	since int64  // when the current state began, nanoseconds since epoch
	trips int    // openings since the breaker last closed, for the backoff
	win   window // the rate rules' window; reset on entering Closed
	rng   *rand.Rand

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
// [Breaker.Err] reports it. New allocates the breaker, the cells of its
// success total (2 to 8 KiB, by GOMAXPROCS; see [Breaker.Snapshot]) and,
// for a rate rule, its window; it starts no goroutine.
func New(name string, opts ...Option) *Breaker {
	c := newConfig(opts)
	b := &Breaker{
		name:      name,
		spanName:  "breaker(" + name + ")",
		epoch:     time.Now(),
		successes: newCounter(),
	}
	if c.err != nil {
		b.err = c.err
		b.word.Store(pack(ForcedOpen, 0))
		return b
	}
	b.threshold = uint32(c.threshold)
	b.failureRate = c.failureRate
	b.slowDur = int64(c.slowDuration)
	b.slowRate = c.slowRate
	if b.slowDur > 0 {
		b.timedCalls = 1
	}
	b.windowed = c.failureRate > 0 || c.slowDuration > 0
	if b.windowed {
		b.win = newWindow(&c)
		b.timed = c.window == windowTime
	}
	b.openDur = int64(c.openDuration)
	b.backoffFactor = c.backoffFactor
	b.backoffMax = int64(c.backoffMax)
	b.jitter = c.jitter
	if c.jitter > 0 {
		b.rng = rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	}
	b.maxCalls = c.halfOpenMaxCalls
	b.successThreshold = c.successThreshold
	b.listeners = c.listeners
	b.logger = c.logger
	b.tracer = c.tracer
	if m := c.metrics; m != nil {
		b.inst = newInstruments(m, name)
	}
	b.notifies = len(b.listeners) > 0 || b.logger != nil || b.inst != nil
	return b
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

// Err returns the configuration error that makes the breaker fail closed,
// or nil.
func (b *Breaker) Err() error { return b.err }

// now returns the breaker's monotonic clock, in nanoseconds since New.
func (b *Breaker) now() int64 { return int64(time.Since(b.epoch)) }

// State returns the state at the moment it is read. An open breaker whose
// open duration has elapsed becomes [HalfOpen] here (notifying listeners),
// so State is exact without a timer. State does not block beyond a short
// lock when the open state expires; on the common path it is one atomic
// load (plus a clock read while open).
func (b *Breaker) State() State {
	w := b.word.Load()
	if stateOf(w) != Open || b.now() < b.openUntil.Load() {
		return stateOf(w)
	}
	b.mu.Lock()
	notify := b.expireLocked(b.now())
	s := stateOf(b.word.Load())
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
// started before a transition are ignored. Reset of a closed breaker clears
// its counts without a transition. Reset on a breaker that fails closed does
// nothing.
func (b *Breaker) Reset() { b.force(Closed, false) }

// force moves the breaker to the manual state to; with onlyDisabled, only
// from Disabled.
func (b *Breaker) force(to State, onlyDisabled bool) {
	if b.err != nil {
		return
	}
	b.mu.Lock()
	now := b.now()
	notify := false
	switch from := stateOf(b.word.Load()); {
	case onlyDisabled && from != Disabled:
	case from == to && to == Closed:
		b.clearClosedLocked(now)
	case from != to:
		b.setStateLocked(to, now)
		notify = true
	}
	b.mu.Unlock()
	if notify {
		b.drain()
	}
}

// clearClosedLocked empties the counts of a closed breaker without a
// transition. It must be called with b.mu held.
func (b *Breaker) clearClosedLocked(now int64) {
	for {
		w := b.word.Load()
		if b.word.CompareAndSwap(w, w&^failMask) {
			break
		}
	}
	b.win.reset(now)
	b.trips = 0
}

// expireLocked moves an open breaker whose open duration has elapsed to
// HalfOpen and reports whether it did. It must be called with b.mu held.
func (b *Breaker) expireLocked(now int64) bool {
	if stateOf(b.word.Load()) != Open {
		return false
	}
	until := b.openUntil.Load()
	if now < until {
		return false
	}
	// The breaker became half-open at until, not when someone noticed.
	b.setStateLocked(HalfOpen, until)
	return true
}

// setStateLocked moves the breaker to state to at time now, starting a new
// generation, and queues the notification. It must be called with b.mu held.
func (b *Breaker) setStateLocked(to State, now int64) {
	if to == Open {
		b.trips++
		// Stored before the word says Open, so a lock-free reader that sees
		// Open also sees this opening's deadline.
		b.openUntil.Store(now + b.openDurationLocked())
	}
	var from State
	for {
		// Lock-free closed-path results may change the failure count
		// concurrently; they never change the state or the generation.
		w := b.word.Load()
		from = stateOf(w)
		if b.word.CompareAndSwap(w, pack(to, nextGen(w))) {
			break
		}
	}
	b.since = now
	switch to {
	case Closed:
		b.trips = 0
		b.win.reset(now)
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
	d := float64(b.openDur)
	if b.backoffMax > 0 && b.trips > 1 {
		d *= math.Pow(b.backoffFactor, float64(b.trips-1))
	}
	if b.jitter > 0 {
		d *= 1 + b.jitter*(2*b.rng.Float64()-1)
	}
	if b.backoffMax > 0 && d > float64(b.backoffMax) {
		d = float64(b.backoffMax)
	}
	if d >= float64(maxOpen) {
		return maxOpen
	}
	return int64(d)
}
