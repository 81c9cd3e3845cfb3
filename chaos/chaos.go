// Package chaos provides fault injection as policies: errors, latency,
// made-up results and user behaviour injected into a share of the calls
// through a pipeline, to rehearse failures on game days and to test that
// the rest of a pipeline (retries, breakers, fallbacks, timeouts) handles
// them.
//
// # Model
//
// An [Injector] is a [policy.Policy] built by one of four constructors:
//
//   - [Fault] returns an error instead of running the call.
//   - [Latency] waits before running the call (the wait ends early, with
//     the ctx's error, when the ctx ends).
//   - [Outcome] returns a given result instead of running the call.
//   - [Behavior] runs a function of the user's before the call (to burn
//     CPU, fill a disk, kill a connection); when it returns an error, that
//     error is returned instead of running the call.
//
// Each injects into a share of the calls, its rate (0 to 1). Which calls are
// chosen is random; with [WithSeed] it is drawn from a sequence the seed
// fixes, so a test run injects into the same calls (by arrival order) every
// time.
//
// # Switches
//
// [Injector.SetEnabled] turns injection on and off at run time (an
// injector starts enabled unless [WithEnabled](false) is given); while off
// it costs one atomic load per call and allocates nothing. Per call, a ctx
// from [Force] injects whatever the rate, and one from [Suppress] never
// injects. The switch wins over both: a disabled injector never injects.
//
// # Production use
//
// Chaos is meant for tests and for controlled experiments. In production,
// build injectors disabled ([WithEnabled](false)), turn them on for an
// experiment with a small rate and a short time, record
// ion_chaos_injections_total, and keep a way to turn them off at once. An
// injected fault is indistinguishable from a real one to everything around
// it: that is the point, and the danger.
//
// # Metrics
//
//	ion_chaos_injections_total{name,kind}   counter: kind=fault|latency|outcome|behavior
package chaos

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// Injector injects one kind of fault into a share of the calls through it.
// Build it with [Fault], [Latency], [Outcome] or [Behavior].
//
// The zero value is not usable: every call returns an error matching
// ion.ErrInvalidConfig. An Injector is safe for concurrent use by multiple
// goroutines.
type Injector[T any] struct {
	kind     string
	rate     float64
	err      error                           // Fault's error, Outcome's error
	delay    time.Duration                   // Latency's wait
	value    T                               // Outcome's value
	behavior func(ctx context.Context) error // Behavior's function
	seed     uint64
	seeded   bool // WithSeed was given: draw from the seeded sequence
	name     string
	cfgErr   error // a configuration error; every call returns it

	mInjected observe.Counter // nil without a Metrics sink

	enabled atomic.Bool
	draws   atomic.Uint64 // with a seed, calls that drew a number: the index into the sequence
}

var errZero = ion.NewConfigError("chaos", "Injector", "zero value; use Fault, Latency, Outcome or Behavior")

// Fault returns an Injector that, for a share rate of the calls, returns
// err without running the call. A nil err, or a rate that is NaN or outside
// [0, 1], makes every call fail with an error matching ion.ErrInvalidConfig
// that names it.
func Fault[T any](err error, rate float64, opts ...Option) *Injector[T] {
	in := newInjector[T]("fault", rate, opts)
	if err == nil {
		in.fail(ion.NewConfigError("chaos", "err", "nil error"))
	}
	in.err = err
	return in
}

// Latency returns an Injector that, for a share rate of the calls, waits d
// before running the call. The wait ends early when the call's ctx ends,
// and the call then returns the ctx's error without running. A negative d,
// or a bad rate, makes every call fail with an error matching
// ion.ErrInvalidConfig.
func Latency[T any](d time.Duration, rate float64, opts ...Option) *Injector[T] {
	in := newInjector[T]("latency", rate, opts)
	if d < 0 {
		in.fail(ion.NewConfigError("chaos", "d", "%v is negative", d))
	}
	in.delay = d
	return in
}

// Outcome returns an Injector that, for a share rate of the calls, returns
// v and err without running the call (err may be nil: a made-up success).
// A bad rate makes every call fail with an error matching
// ion.ErrInvalidConfig.
func Outcome[T any](v T, err error, rate float64, opts ...Option) *Injector[T] {
	in := newInjector[T]("outcome", rate, opts)
	in.value, in.err = v, err
	return in
}

// Behavior returns an Injector that, for a share rate of the calls, runs fn
// with the call's ctx on the caller's goroutine before the call; when fn
// returns an error, the call returns it without running. A nil fn, or a bad
// rate, makes every call fail with an error matching ion.ErrInvalidConfig.
func Behavior[T any](fn func(ctx context.Context) error, rate float64, opts ...Option) *Injector[T] {
	in := newInjector[T]("behavior", rate, opts)
	if fn == nil {
		in.fail(ion.NewConfigError("chaos", "fn", "nil function"))
	}
	in.behavior = fn
	return in
}

func newInjector[T any](kind string, rate float64, opts []Option) *Injector[T] {
	c := newConfig(opts)
	in := &Injector[T]{kind: kind, rate: rate, seed: c.seed, seeded: c.seeded, name: c.name, cfgErr: c.err}
	if math.IsNaN(rate) || rate < 0 || rate > 1 {
		in.fail(ion.NewConfigError("chaos", "rate", "%v is not within [0, 1]", rate))
	}
	in.enabled.Store(c.enabled)
	if c.metrics != nil {
		in.mInjected = c.metrics.Counter("ion_chaos_injections_total", observe.L("name", c.name), observe.L("kind", kind))
	}
	return in
}

func (in *Injector[T]) fail(err error) {
	if in.cfgErr == nil {
		in.cfgErr = err
	}
}

// Err returns the configuration error that makes every call fail, or nil.
func (in *Injector[T]) Err() error {
	if in.kind == "" {
		return errZero
	}
	return in.cfgErr
}

// String describes the Injector for a pipeline's description.
func (in *Injector[T]) String() string {
	if err := in.Err(); err != nil {
		return "chaos(invalid: " + err.Error() + ")"
	}
	s := "chaos(" + in.kind
	if in.name != "" {
		s += " " + in.name
	}
	s += " rate=" + ftoa(in.rate)
	if in.kind == "latency" {
		s += " delay=" + in.delay.String()
	}
	if !in.enabled.Load() {
		s += " disabled"
	}
	return s + ")"
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// SetEnabled turns injection on or off for every later call. It does not
// block; calls already injecting finish as they started.
func (in *Injector[T]) SetEnabled(on bool) { in.enabled.Store(on) }

// Enabled reports whether the Injector injects.
func (in *Injector[T]) Enabled() bool { return in.enabled.Load() }

// Execute runs next, injecting the Injector's fault first when this call is
// chosen (see the package doc). It returns without running next when the
// fault replaces the call (Fault, Outcome, a Behavior that returned an
// error, a Latency whose wait ended with the ctx). An already-done ctx
// returns ctx.Err().
//
// Cost: disabled, one atomic load; enabled, one atomic add and a ctx lookup
// per call. No allocation of its own.
func (in *Injector[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	var zero T
	if err := in.Err(); err != nil {
		return zero, err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if !in.enabled.Load() || !in.chosen(ctx) {
		return next.Call(ctx)
	}
	if in.mInjected != nil {
		in.mInjected.Add(1)
	}
	switch in.kind {
	case "fault":
		return zero, in.err
	case "outcome":
		return in.value, in.err
	case "latency":
		if in.delay == 0 {
			break
		}
		t := time.NewTimer(in.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		}
	case "behavior":
		if err := in.behavior(ctx); err != nil {
			return zero, err
		}
	}
	return next.Call(ctx)
}

// chosen reports whether this call injects: forced or suppressed by its
// ctx, or else drawn at the Injector's rate.
func (in *Injector[T]) chosen(ctx context.Context) bool {
	if m, ok := ctx.Value(modeKey{}).(mode); ok {
		return m == forced
	}
	if in.rate == 0 {
		return false
	}
	if !in.seeded {
		// The runtime's per-thread generator: no shared state between
		// cores.
		return rand.Float64() < in.rate
	}
	// The nth draw of the seeded sequence: a splitmix64 hash of the seed and
	// the draw's index, so concurrent calls need no lock and a seed fixes
	// the sequence.
	z := in.seed + in.draws.Add(1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/(1<<53) < in.rate
}

type modeKey struct{}

type mode int

const (
	forced mode = iota + 1
	suppressed
)

// Force returns a ctx under which every enabled Injector injects, whatever
// its rate.
func Force(ctx context.Context) context.Context { return context.WithValue(ctx, modeKey{}, forced) }

// Suppress returns a ctx under which no Injector injects.
func Suppress(ctx context.Context) context.Context {
	return context.WithValue(ctx, modeKey{}, suppressed)
}
