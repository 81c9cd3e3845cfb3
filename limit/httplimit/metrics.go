package httplimit

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/observe"
)

// instruments are a MultiTier's own metrics, resolved once; nil records
// nothing.
type instruments struct {
	allowed, limited observe.Counter
	wait             observe.Histogram
	byTier           [scopeCount]observe.Counter
	pauses           observe.Counter
}

func newInstruments(c *config) *instruments {
	if c.metrics == nil {
		return nil
	}
	name := observe.L("name", c.name)
	mi := &instruments{
		allowed: c.metrics.Counter("ion_limit_requests_total", name, observe.L("result", "allowed")),
		limited: c.metrics.Counter("ion_limit_requests_total", name, observe.L("result", "limited")),
		wait:    c.metrics.Histogram("ion_limit_wait_seconds", name),
		pauses:  c.metrics.Counter("ion_limit_pauses_total", name),
	}
	for s := range scopeCount {
		mi.byTier[s] = c.metrics.Counter("ion_limit_tier_limited_total", name, observe.L("tier", s.String()))
	}
	return mi
}

func (mi *instruments) record(ok bool, s Scope) {
	switch {
	case mi == nil:
	case ok:
		mi.allowed.Add(1)
	default:
		mi.limited.Add(1)
		mi.byTier[s].Add(1)
	}
}

func (mi *instruments) waited(d time.Duration) {
	if mi != nil {
		mi.wait.Observe(d.Seconds())
	}
}

func (mi *instruments) pause() {
	if mi != nil {
		mi.pauses.Add(1)
	}
}

// tierMetrics is the observe.Metrics a tier's limit.Keyed records into: its
// key gauge and eviction counters go to the MultiTier's Metrics with the
// tier's label; its request counters and wait histogram are dropped, since
// the MultiTier counts each request once, over all its tiers.
type tierMetrics struct {
	m    observe.Metrics
	tier string
	sum  *keySum // the route tier, whose keys several limiters hold; nil otherwise
	slot int     // this limiter's slot in sum
}

// withTier returns labels with the tier label after the first (the name).
func (t tierMetrics) withTier(labels []observe.Label) []observe.Label {
	out := make([]observe.Label, 0, len(labels)+1)
	if len(labels) > 0 {
		out = append(out, labels[0])
		labels = labels[1:]
	}
	out = append(out, observe.L("tier", t.tier))
	return append(out, labels...)
}

func (t tierMetrics) Counter(name string, labels ...observe.Label) observe.Counter {
	if name != "ion_limit_evictions_total" {
		return nop{}
	}
	return t.m.Counter(name, t.withTier(labels)...)
}

func (t tierMetrics) Gauge(name string, labels ...observe.Label) observe.Gauge {
	if name != "ion_limit_keys" {
		return nop{}
	}
	g := t.m.Gauge(name, t.withTier(labels)...)
	if t.sum == nil {
		return g
	}
	return &sumGauge{g: g, sum: t.sum, slot: t.slot}
}

func (t tierMetrics) Histogram(string, ...observe.Label) observe.Histogram { return nop{} }

type nop struct{}

func (nop) Add(int64)       {}
func (nop) Set(float64)     {}
func (nop) Observe(float64) {}

// keySum sums the key gauges of the route tier's limiters (one per route
// pattern, and one for the other routes) into one gauge.
type keySum struct {
	vals []atomic.Uint64 // float64 bits, one per limiter
}

type sumGauge struct {
	g    observe.Gauge
	sum  *keySum
	slot int
}

func (s *sumGauge) Set(v float64) {
	s.sum.vals[s.slot].Store(math.Float64bits(v))
	total := 0.0
	for i := range s.sum.vals {
		total += math.Float64frombits(s.sum.vals[i].Load())
	}
	s.g.Set(total)
}
