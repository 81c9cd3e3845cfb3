package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/policy"
)

// phase is one stretch of the dependency's life.
type phase struct {
	name     string
	until    float64       // end of the phase, as a fraction of the run
	latency  time.Duration // typical latency of a healthy call in this phase
	jitter   time.Duration // extra latency, uniformly drawn
	failRate float64       // probability that a call fails
	capacity int           // calls in flight before it degrades; 0 means unbounded
	sick     bool          // counted in "calls that reached the sick dependency"
}

// phases is the storm: healthy, slow, failing in bursts, overloaded,
// recovering.
var phases = []phase{
	{name: "healthy", until: 0.2, latency: 10 * time.Millisecond, jitter: 20 * time.Millisecond, failRate: 0.01},
	{name: "slow", until: 0.4, latency: 600 * time.Millisecond, jitter: 1200 * time.Millisecond, failRate: 0.05, sick: true},
	{name: "failing", until: 0.6, latency: 20 * time.Millisecond, jitter: 20 * time.Millisecond, failRate: 0.9, sick: true},
	{name: "overloaded", until: 0.8, latency: 40 * time.Millisecond, jitter: 40 * time.Millisecond, failRate: 0.02, capacity: 4, sick: true},
	{name: "recovering", until: 1.0, latency: 10 * time.Millisecond, jitter: 20 * time.Millisecond, failRate: 0.01},
}

var (
	errUnavailable = errors.New("dependency: 503 unavailable")
	errOverloaded  = errors.New("dependency: overloaded")
)

// dependency is a simulated remote service. Its behaviour is a function of
// the time since start, the request, the attempt and the seed, so two
// dependencies with the same seed answer the same traffic the same way,
// whatever order concurrent calls arrive in.
type dependency struct {
	start    time.Time
	duration time.Duration
	seed     uint64

	inFlight atomic.Int64
	calls    atomic.Int64 // every call that reached it
	sick     atomic.Int64 // calls that reached it while it was sick
}

func newDependency(seed uint64, start time.Time, duration time.Duration) *dependency {
	return &dependency{start: start, duration: duration, seed: seed}
}

type requestKey struct{}

// withRequest marks ctx with the request's number.
func withRequest(ctx context.Context, id uint64) context.Context {
	return context.WithValue(ctx, requestKey{}, id)
}

// phaseAt returns the phase the dependency is in at t.
func (d *dependency) phaseAt(t time.Time) phase {
	f := float64(t.Sub(d.start)) / float64(d.duration)
	for _, p := range phases {
		if f < p.until {
			return p
		}
	}
	return phases[len(phases)-1]
}

// draw returns two uniform numbers fixed by the seed, the request and the
// attempt.
func (d *dependency) draw(ctx context.Context) (float64, float64) {
	id, _ := ctx.Value(requestKey{}).(uint64)
	r := rand.New(rand.NewPCG(d.seed, id<<8|uint64(policy.Attempt(ctx))))
	return r.Float64(), r.Float64()
}

// Call serves one request: it waits for the phase's latency (or until ctx
// ends) and answers, fails or sheds.
func (d *dependency) Call(ctx context.Context) (string, error) {
	p := d.phaseAt(time.Now())
	d.calls.Add(1)
	if p.sick {
		d.sick.Add(1)
	}
	n := d.inFlight.Add(1)
	defer d.inFlight.Add(-1)

	u, v := d.draw(ctx)
	lat := p.latency + time.Duration(u*float64(p.jitter))
	if p.capacity > 0 && int(n) > p.capacity {
		// Overload: every call beyond capacity makes everyone slower, and
		// the worst are turned away after a while.
		lat *= time.Duration(n) / time.Duration(p.capacity) * 4
		if v < 0.5 {
			return "", wait(ctx, lat/2, errOverloaded)
		}
	}
	if err := wait(ctx, lat, nil); err != nil {
		return "", err
	}
	if v < p.failRate {
		return "", errUnavailable
	}
	return "ok", nil
}

// wait sleeps d or until ctx ends, then returns err or the ctx error.
func wait(ctx context.Context, d time.Duration, err error) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
