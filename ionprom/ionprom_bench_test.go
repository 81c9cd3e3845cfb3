package ionprom_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ionkit/ion/ionprom"
	"github.com/ionkit/ion/observe"
)

// BenchmarkRecord measures one recording through a resolved instrument,
// serially and from every P at once (one shared series: the contended case).
func BenchmarkRecord(b *testing.B) {
	m := ionprom.New(prometheus.NewRegistry())
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

// BenchmarkResolve measures resolving an instrument, which Ion does once per
// series at construction.
func BenchmarkResolve(b *testing.B) {
	m := ionprom.New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.Counter("ion_breaker_calls_total", observe.L("name", "db"), observe.L("outcome", "success"))
	}
}

// BenchmarkRecordByLabels is what an adapter that looks its series up per
// call would cost (CounterVec.WithLabelValues on every Add), for comparison
// with BenchmarkRecord/Counter.Add, which resolved the series once.
func BenchmarkRecordByLabels(b *testing.B) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ion_breaker_calls_total", Help: "Calls."}, []string{"name", "outcome"})
	b.ReportAllocs()
	for b.Loop() {
		vec.WithLabelValues("db", "success").Add(1)
	}
}
