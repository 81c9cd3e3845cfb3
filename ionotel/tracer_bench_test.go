package ionotel_test

import (
	"context"
	"testing"
)

// BenchmarkSpan measures one span started and ended through the Tracer with
// the OpenTelemetry SDK and a synchronous in-memory exporter, the SDK's own
// allocations included.
func BenchmarkSpan(b *testing.B) {
	exp, _, tr := newTracer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, sp := tr.Start(ctx, "breaker(db)")
		sp.End("success", nil)
		exp.Reset()
	}
}
