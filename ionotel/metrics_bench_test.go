package ionotel_test

import (
	"testing"

	"github.com/ionkit/ion/observe"
)

// BenchmarkRecord measures one recording through a resolved instrument with
// the OpenTelemetry SDK, serially and from every P at once (one shared
// series: the contended case).
func BenchmarkRecord(b *testing.B) {
	_, m := newMetrics(b)
	c := m.Counter("ion_breaker_calls_total", observe.L("name", "db"), observe.L("outcome", "success"))
	g := m.Gauge("ion_sem_in_use", observe.L("name", "db"))
	h := m.Histogram("ion_sem_wait_seconds", observe.L("name", "db"))
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"Counter.Add", func() { c.Add(1) }},
		{"Gauge.Set", func() { g.Set(3) }},
		{"Histogram.Observe", func() { h.Observe(0.004) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.f()
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bc.f()
				}
			})
		})
	}
}
