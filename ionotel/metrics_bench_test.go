package ionotel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

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

// BenchmarkRecordWithAttributes is what an adapter that builds the
// attributes per call would cost (metric.WithAttributes on every Add), for
// comparison with BenchmarkRecord/Counter.Add, which built the attribute set
// once.
func BenchmarkRecordWithAttributes(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("bench")
	c, err := meter.Int64Counter("ion_breaker_calls_total")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Add(ctx, 1, metric.WithAttributes(attribute.String("name", "db"), attribute.String("outcome", "success")))
	}
}
