package ionotel_test

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ionkit/ion/ionotel"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

// A rate limiter records through an OpenTelemetry meter. Here a
// ManualReader collects what it recorded; in production, give NewMetrics
// the meter of the application's MeterProvider (otel.Meter(...)).
func ExampleNewMetrics() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	m := ionotel.NewMetrics(provider.Meter("github.com/ionkit/ion"))

	lim := limit.NewTokenBucket(limit.PerHour(1), 2, limit.WithName("api"), limit.WithMetrics(m))
	p := limit.Policy[string](lim)
	for range 3 {
		_, _ = policy.Run(context.Background(), p, func(context.Context) (string, error) { return "ok", nil })
	}

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, mm := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := mm.Data.(metricdata.Sum[int64]); ok && mm.Name == "ion_limit_requests_total" {
			for _, dp := range sum.DataPoints {
				result, _ := dp.Attributes.Value("result")
				fmt.Println(mm.Name, result.AsString(), dp.Value)
			}
		}
	}
	// Unordered output:
	// ion_limit_requests_total allowed 2
	// ion_limit_requests_total limited 1
}

// A policy traced through an OpenTelemetry tracer starts one span per
// execution, as a child of the caller's span. Here an in-memory exporter
// keeps the spans; in production, give NewTracer the tracer of the
// application's TracerProvider (otel.Tracer(...)).
func ExampleNewTracer() {
	exp := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := ionotel.NewTracer(provider.Tracer("github.com/ionkit/ion"))

	retry := policy.Retry[string](policy.WithName("fetch"), policy.WithTracer(tr), policy.WithAttempts(2))
	ctx, request := provider.Tracer("app").Start(context.Background(), "GET /items")
	_, _ = policy.Run(ctx, retry, func(context.Context) (string, error) { return "ok", nil })
	request.End()

	spans := exp.GetSpans()
	for _, s := range spans {
		set := attribute.NewSet(s.Attributes...)
		fmt.Println(strings.TrimSpace(s.Name + " " + set.Encoded(attribute.DefaultEncoder())))
	}
	fmt.Println("child of the request:", spans[0].Parent.SpanID() == spans[1].SpanContext.SpanID())
	// Output:
	// retry(fetch attempts=2 backoff=exponential(100ms..10s)) ion.outcome=success
	// GET /items
	// child of the request: true
}
