package ionotel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/internal/workload"
	"github.com/ionkit/ion/ionotel"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func newMetrics(t testing.TB) (*sdkmetric.ManualReader, *ionotel.Metrics) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	m := ionotel.NewMetrics(mp.Meter("github.com/ionkit/ion"))
	if err := m.Err(); err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	return reader, m
}

// series is one collected data point, keyed by name{k=v,...} with the
// attributes sorted by key.
type series struct {
	desc, unit string
	kind       observe.Kind
	value      float64   // counter, gauge; a histogram's sum
	count      uint64    // histogram
	bounds     []float64 // histogram
}

func key(name string, attrs attribute.Set) string {
	var parts []string
	for _, kv := range attrs.ToSlice() {
		parts = append(parts, fmt.Sprintf("%s=%s", kv.Key, kv.Value.AsString()))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]series {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]series{}
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			switch data := mm.Data.(type) {
			case metricdata.Sum[int64]:
				if !data.IsMonotonic {
					t.Errorf("%s: a counter that is not monotonic", mm.Name)
				}
				for _, dp := range data.DataPoints {
					out[key(mm.Name, dp.Attributes)] = series{desc: mm.Description, unit: mm.Unit, kind: observe.KindCounter, value: float64(dp.Value)}
				}
			case metricdata.Gauge[float64]:
				for _, dp := range data.DataPoints {
					out[key(mm.Name, dp.Attributes)] = series{desc: mm.Description, unit: mm.Unit, kind: observe.KindGauge, value: dp.Value}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					out[key(mm.Name, dp.Attributes)] = series{desc: mm.Description, unit: mm.Unit, kind: observe.KindHistogram,
						value: dp.Sum, count: dp.Count, bounds: dp.Bounds}
				}
			default:
				t.Errorf("%s: unexpected aggregation %T", mm.Name, mm.Data)
			}
		}
	}
	return out
}

// TestMetricsWorkload runs the scripted workload through every package with
// an ionotel sink and a ManualReader, and checks that every catalog metric
// appears with its documented kind, description, unit and buckets, and the
// values the script documents step by step (internal/workload).
func TestMetricsWorkload(t *testing.T) {
	reader, m := newMetrics(t)
	synctest.Test(t, func(t *testing.T) {
		if err := workload.Run(t.Context(), m, nil); err != nil {
			t.Fatal(err)
		}
	})
	if err := m.ResolveErr(); err != nil {
		t.Fatalf("ResolveErr: %v", err)
	}
	got := collect(t, reader)

	seen := map[string]bool{}
	for k, s := range got {
		name, _, _ := strings.Cut(k, "{")
		d, ok := observe.Lookup(name)
		if !ok {
			t.Errorf("%s is not in the catalog", k)
			continue
		}
		seen[name] = true
		if s.kind != d.Kind || s.desc != d.Help {
			t.Errorf("%s: %s %q, want %s %q", k, s.kind, s.desc, d.Kind, d.Help)
		}
		if d.Kind == observe.KindHistogram && (s.unit != "s" || !slices.Equal(s.bounds, d.Buckets)) {
			t.Errorf("%s: unit %q, bounds %v; want s and %v", k, s.unit, s.bounds, d.Buckets)
		}
	}
	for _, d := range observe.Catalog() {
		if strings.HasPrefix(d.Package, "ion") {
			continue // a side module's metrics: the workload cannot run it
		}
		if !seen[d.Name] {
			t.Errorf("%s: not collected", d.Name)
		}
	}

	want := map[string]float64{
		"ion_breaker_calls_total{name=payments,outcome=success}":                2,
		"ion_breaker_calls_total{name=payments,outcome=failure}":                2,
		"ion_breaker_rejections_total{name=payments}":                           1,
		"ion_breaker_state{name=payments}":                                      0,
		"ion_breaker_transitions_total{from=closed,name=payments,to=open}":      1,
		"ion_breaker_transitions_total{from=open,name=payments,to=half-open}":   1,
		"ion_breaker_transitions_total{from=half-open,name=payments,to=closed}": 1,
		"ion_limit_requests_total{name=api,result=allowed}":                     3,
		"ion_limit_requests_total{name=api,result=limited}":                     1,
		"ion_limit_requests_total{name=tenants,result=allowed}":                 4,
		"ion_limit_evictions_total{name=tenants,reason=capacity}":               2,
		"ion_limit_evictions_total{name=tenants,reason=idle}":                   1,
		"ion_limit_keys{name=tenants}":                                          1,
		"ion_limit_keys{name=gateway,tier=user}":                                3,
		"ion_limit_requests_total{name=gateway,result=allowed}":                 2,
		"ion_limit_requests_total{name=gateway,result=limited}":                 2,
		"ion_limit_tier_limited_total{name=gateway,tier=user}":                  1,
		"ion_limit_tier_limited_total{name=gateway,tier=global}":                1,
		"ion_limit_pauses_total{name=gateway}":                                  1,
		"ion_sem_acquire_total{name=db,result=acquired}":                        3,
		"ion_sem_acquire_total{name=db,result=rejected}":                        1,
		"ion_sem_acquire_total{name=db,result=timeout}":                         1,
		"ion_sem_acquire_total{name=db,result=canceled}":                        1,
		"ion_sem_acquire_total{name=db,result=invalid}":                         1,
		"ion_sem_over_released_total{name=db}":                                  1,
		"ion_sem_in_use{name=db}":                                               0,
		"ion_sem_waiting{name=db}":                                              0,
		"ion_pool_tasks_total{name=workers,result=completed}":                   3,
		"ion_pool_tasks_total{name=workers,result=failed}":                      1,
		"ion_pool_tasks_total{name=workers,result=panicked}":                    1,
		"ion_pool_tasks_total{name=workers,result=rejected}":                    1,
		"ion_pool_tasks_total{name=workers,result=expired}":                     1,
		"ion_pool_tasks_total{name=workers,result=discarded}":                   1,
		"ion_pool_size{name=workers}":                                           1,
		"ion_pool_running{name=workers}":                                        0,
		"ion_policy_attempts_total{name=fetch,policy=retry}":                    2,
		"ion_policy_retries_total{name=fetch,policy=retry}":                     1,
		"ion_policy_attempts_total{name=frugal,policy=retry}":                   1,
		"ion_policy_budget_refused_total{name=frugal,policy=retry}":             1,
		"ion_policy_attempts_total{name=search,policy=hedge}":                   2,
		"ion_policy_hedges_total{name=search,policy=hedge}":                     1,
		"ion_policy_timeouts_total{name=slow,policy=timeout}":                   1,
		"ion_policy_timeouts_total{name=stuck,policy=timeout}":                  1,
		"ion_policy_timeout_abandoned{name=stuck,policy=timeout}":               0,
		"ion_policy_fallbacks_total{name=cached,policy=fallback}":               1,
		"ion_adaptive_calls_total{name=backend,result=admitted}":                1,
		"ion_adaptive_calls_total{name=backend,result=rejected}":                1,
		"ion_adaptive_limit{name=backend}":                                      1,
		"ion_adaptive_rtt_seconds{name=backend}":                                0.02,
		"ion_adaptive_throttler_calls_total{name=client,result=sent}":           14,
		"ion_adaptive_throttler_calls_total{name=client,result=throttled}":      1,
		"ion_cache_requests_total{name=users,result=miss}":                      1,
		"ion_cache_requests_total{name=users,result=hit}":                       1,
		"ion_cache_requests_total{name=users,result=stale}":                     1,
		"ion_cache_refreshing{name=users}":                                      0,
		"ion_coalesce_calls_total{name=lookups,result=executed}":                1,
		"ion_coalesce_calls_total{name=lookups,result=shared}":                  1,
		"ion_chaos_injections_total{kind=fault,name=drill}":                     1,
		"ion_schedule_runs_total{name=report,result=completed}":                 1,
		"ion_schedule_runs_total{name=report,result=failed}":                    1,
		"ion_schedule_running{name=report}":                                     0,
		"ion_schedule_run_duration_seconds{name=report}":                        4,    // sum of 2 and 2
		"ion_sem_wait_seconds{name=db}":                                         0.16, // sum of 0.1, 0.01 and 0.05
		"ion_limit_wait_seconds{name=api}":                                      0.1,  // sum of 0, 0 and 0.1
	}
	for k, v := range want {
		s, ok := got[k]
		if !ok {
			t.Errorf("%s: not collected", k)
			continue
		}
		if diff := s.value - v; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s = %v, want %v", k, s.value, v)
		}
	}
	if c := got["ion_sem_wait_seconds{name=db}"].count; c != 3 {
		t.Errorf("ion_sem_wait_seconds{name=db}: %d observations, want 3", c)
	}
	if c := got["ion_limit_wait_seconds{name=api}"].count; c != 3 {
		t.Errorf("ion_limit_wait_seconds{name=api}: %d observations, want 3", c)
	}
}

// TestSameSeriesSameInstrument checks that resolving a series twice, labels
// in any order, records into one data point.
func TestSameSeriesSameInstrument(t *testing.T) {
	reader, m := newMetrics(t)
	m.Counter("ion_limit_requests_total", observe.L("name", "api"), observe.L("result", "allowed")).Add(1)
	m.Counter("ion_limit_requests_total", observe.L("result", "allowed"), observe.L("name", "api")).Add(2)
	got := collect(t, reader)
	if v := got["ion_limit_requests_total{name=api,result=allowed}"].value; v != 3 {
		t.Errorf("counter = %v, want 3 (%v)", v, got)
	}
	if len(got) != 1 {
		t.Errorf("%d series, want 1: %v", len(got), got)
	}
}

// TestNilMeterFailsClosed checks that NewMetrics(nil) gives a sink every
// Ion option refuses, with an error naming the meter.
func TestNilMeterFailsClosed(t *testing.T) {
	m := ionotel.NewMetrics(nil)
	if err := m.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "nil metric.Meter") {
		t.Fatalf("Err() = %v, want an ion.ErrInvalidConfig naming the meter", err)
	}
	b := breaker.New("db", breaker.WithMetrics(m))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "meter") {
		t.Errorf("breaker with the broken sink: Err() = %v", err)
	}
	if _, err := policy.Run(context.Background(), breaker.Policy[int](b), func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, ion.ErrInvalidConfig) {
		t.Errorf("a call = %v, want it to fail closed", err)
	}
	if s := sem.NewWeighted(1, sem.WithMetrics(m)); s.Err() == nil {
		t.Error("sem accepted the broken sink")
	}
	m.Counter("ion_sem_acquire_total").Add(1)
	m.Gauge("ion_sem_in_use").Set(1)
	m.Histogram("ion_sem_wait_seconds").Observe(1)
}

// TestResolveConflicts checks that a resolution that cannot be honoured
// returns an instrument that records nothing, never panics, and is reported
// by ResolveErr.
func TestResolveConflicts(t *testing.T) {
	reader, m := newMetrics(t)
	m.Counter("app_jobs_total", observe.L("queue", "a")).Add(2)
	for _, c := range []struct {
		what    string
		resolve func()
		want    string
	}{
		{"own metric, other kind", func() { m.Gauge("app_jobs_total").Set(1) }, "created as a counter"},
		{"catalog metric, other kind", func() { m.Gauge("ion_breaker_calls_total", observe.L("name", "x")).Set(1) }, "catalog has it as a counter"},
		{"invalid name", func() { m.Counter("").Add(1) }, "counter "},
	} {
		before := m.ResolveErr()
		c.resolve()
		err := m.ResolveErr()
		if err == nil || (before != nil && err.Error() == before.Error()) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ResolveErr() = %v, want a new error mentioning %q", c.what, err, c.want)
		}
	}
	got := collect(t, reader)
	if v := got["app_jobs_total{queue=a}"].value; v != 2 {
		t.Errorf("app_jobs_total = %v, want 2", v)
	}
	if _, ok := got["ion_breaker_calls_total{name=x}"]; ok {
		t.Error("the conflicting gauge recorded")
	}
}

// TestNegativeCounterDelta checks that a negative delta is ignored.
func TestNegativeCounterDelta(t *testing.T) {
	reader, m := newMetrics(t)
	c := m.Counter("ion_sem_over_released_total", observe.L("name", "db"))
	c.Add(3)
	c.Add(-1)
	if v := collect(t, reader)["ion_sem_over_released_total{name=db}"].value; v != 3 {
		t.Errorf("counter = %v, want 3", v)
	}
}

// TestRecordingAllocs measures the allocations of one recording through a
// resolved instrument with the OpenTelemetry SDK: 0 for each kind.
func TestRecordingAllocs(t *testing.T) {
	_, m := newMetrics(t)
	c := m.Counter("ion_breaker_calls_total", observe.L("name", "db"), observe.L("outcome", "success"))
	g := m.Gauge("ion_breaker_state", observe.L("name", "db"))
	h := m.Histogram("ion_sem_wait_seconds", observe.L("name", "db"))
	c.Add(1) // the SDK creates the data point on first use
	g.Set(1)
	h.Observe(0.001)
	for name, f := range map[string]func(){
		"Counter.Add":       func() { c.Add(1) },
		"Gauge.Set":         func() { g.Set(2) },
		"Histogram.Observe": func() { h.Observe(0.003) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
	b := breaker.New("p", breaker.WithMetrics(m))
	p := policy.Compose(breaker.Policy[int](b))
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	_, _ = p.Run(ctx, fn)
	if n := testing.AllocsPerRun(1000, func() { _, _ = p.Run(ctx, fn) }); n != 0 {
		t.Errorf("a success through a breaker recording to OpenTelemetry allocates %v times, want 0", n)
	}
}
