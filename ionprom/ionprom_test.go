package ionprom_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/internal/workload"
	"github.com/ionkit/ion/ionprom"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func newMetrics(t *testing.T) (*prometheus.Registry, *ionprom.Metrics) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m := ionprom.New(reg)
	if err := m.Err(); err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg, m
}

// TestWorkloadExposition runs the scripted workload through every package
// with an ionprom sink and compares the registry's exposition with
// testdata/workload.prom, whose values are the counts the script documents
// step by step (internal/workload). Left out: ion_pool_queued, which the
// pool leaves at 1 after a queued task expires, and
// ion_schedule_next_run_timestamp_seconds, a date that moves with every
// step's duration.
func TestWorkloadExposition(t *testing.T) {
	reg, m := newMetrics(t)
	synctest.Test(t, func(t *testing.T) {
		if err := workload.Run(t.Context(), m, nil); err != nil {
			t.Fatal(err)
		}
	})
	if err := m.ResolveErr(); err != nil {
		t.Fatalf("ResolveErr: %v", err)
	}
	want, err := os.Open("testdata/workload.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	var names []string
	for _, d := range observe.Catalog() {
		if d.Name != "ion_pool_queued" && d.Name != "ion_schedule_next_run_timestamp_seconds" && !strings.HasPrefix(d.Package, "ion") {
			names = append(names, d.Name)
		}
	}
	if err := testutil.GatherAndCompare(reg, want, names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestExpositionOfOnePrimitive compares what a single breaker exports.
func TestExpositionOfOnePrimitive(t *testing.T) {
	reg, m := newMetrics(t)
	b := breaker.New("db", breaker.WithMetrics(m), breaker.WithConsecutiveFailures(1))
	p := breaker.Policy[int](b)
	_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, errors.New("down") })
	_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 1, nil })
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("call on an open breaker: %v", err)
	}
	want := `
# HELP ion_breaker_calls_total Calls through the circuit breaker, by outcome (success, failure, ignored).
# TYPE ion_breaker_calls_total counter
ion_breaker_calls_total{name="db",outcome="failure"} 1
ion_breaker_calls_total{name="db",outcome="ignored"} 0
ion_breaker_calls_total{name="db",outcome="success"} 0
# HELP ion_breaker_rejections_total Calls refused by the circuit breaker (open, or half-open with every probe slot busy).
# TYPE ion_breaker_rejections_total counter
ion_breaker_rejections_total{name="db"} 1
# HELP ion_breaker_state State of the circuit breaker: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled.
# TYPE ion_breaker_state gauge
ion_breaker_state{name="db"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"ion_breaker_calls_total", "ion_breaker_rejections_total", "ion_breaker_state"); err != nil {
		t.Error(err)
	}
}

// TestSameSeriesSameCollector checks that resolving a series twice (labels
// in any order), or from a second sink on the same registry, records into
// the same series.
func TestSameSeriesSameCollector(t *testing.T) {
	reg, m := newMetrics(t)
	a := m.Counter("ion_limit_requests_total", observe.L("name", "api"), observe.L("result", "allowed"))
	b := m.Counter("ion_limit_requests_total", observe.L("result", "allowed"), observe.L("name", "api"))
	m2 := ionprom.New(reg)
	if err := m2.Err(); err != nil {
		t.Fatalf("a second sink on the same registry: %v", err)
	}
	c := m2.Counter("ion_limit_requests_total", observe.L("name", "api"), observe.L("result", "allowed"))
	a.Add(1)
	b.Add(2)
	c.Add(3)
	const want = `
# HELP ion_limit_requests_total Requests to the rate limiter, by result (allowed, limited).
# TYPE ion_limit_requests_total counter
ion_limit_requests_total{name="api",result="allowed"} 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ion_limit_requests_total"); err != nil {
		t.Error(err)
	}
	// A gauge and a histogram of the same series are shared too.
	m.Gauge("ion_sem_in_use", observe.L("name", "db")).Set(3)
	if got := testutil.ToFloat64(m2.Gauge("ion_sem_in_use", observe.L("name", "db")).(prometheus.Gauge)); got != 3 {
		t.Errorf("gauge through the second sink = %v, want 3", got)
	}
}

// TestMissingLabelIsEmpty checks that a catalog key a primitive does not set
// is exported with the empty value, so a keyed and a multi-tier limiter share
// one metric.
func TestMissingLabelIsEmpty(t *testing.T) {
	reg, m := newMetrics(t)
	limit.NewKeyed[string](limit.PerSecond(1), 1, limit.WithMetrics(m), limit.WithName("k"))
	const want = `
# HELP ion_limit_keys Keys remembered by a keyed rate limiter, or by one tier of a multi-tier rate limiter.
# TYPE ion_limit_keys gauge
ion_limit_keys{name="k",tier=""} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ion_limit_keys"); err != nil {
		t.Error(err)
	}
}

// TestNilRegistererFailsClosed checks that New(nil) gives a sink that every
// Ion option refuses, with an error naming the registerer, and that its
// instruments record nothing without panicking.
func TestNilRegistererFailsClosed(t *testing.T) {
	m := ionprom.New(nil)
	err := m.Err()
	if !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "registerer") {
		t.Fatalf("Err() = %v, want an ion.ErrInvalidConfig naming the registerer", err)
	}
	b := breaker.New("db", breaker.WithMetrics(m))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "nil prometheus.Registerer") {
		t.Errorf("breaker with the broken sink: Err() = %v", err)
	}
	_, err = policy.Run(context.Background(), breaker.Policy[int](b), func(context.Context) (int, error) { return 1, nil })
	if !errors.Is(err, ion.ErrInvalidConfig) {
		t.Errorf("a call through the breaker = %v, want it to fail closed", err)
	}
	s := sem.NewWeighted(1, sem.WithMetrics(m))
	if s.Err() == nil {
		t.Error("sem accepted the broken sink")
	}
	m.Counter("ion_sem_acquire_total", observe.L("name", "x")).Add(1)
	m.Gauge("ion_sem_in_use", observe.L("name", "x")).Set(1)
	m.Histogram("ion_sem_wait_seconds", observe.L("name", "x")).Observe(1)
	if err := m.ResolveErr(); err != nil {
		t.Errorf("ResolveErr() = %v; the configuration error is Err's alone", err)
	}
}

// TestCatalogConflictFailsClosed checks that a registry where an Ion metric
// name is taken by another collector gives a sink that fails closed, with an
// error naming the metric, rather than a panic.
func TestCatalogConflictFailsClosed(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "ion_breaker_state", Help: "Someone else's."}))
	m := ionprom.New(reg)
	err := m.Err()
	if !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "ion_breaker_state") {
		t.Fatalf("Err() = %v, want an ion.ErrInvalidConfig naming ion_breaker_state", err)
	}
	if b := breaker.New("db", breaker.WithMetrics(m)); b.Err() == nil {
		t.Error("breaker accepted a sink whose registration failed")
	}
	// The collectors New registered before the conflict were taken back:
	// the registry is as the user left it.
	d, _ := observe.Lookup("ion_breaker_calls_total")
	same := prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels)
	if err := reg.Register(same); err != nil {
		t.Errorf("New left a collector behind: %v", err)
	}
}

// TestResolveConflicts checks the resolutions that cannot be honoured: they
// return an instrument that records nothing, never panic, and are reported
// by ResolveErr with the metric's name.
func TestResolveConflicts(t *testing.T) {
	reg, m := newMetrics(t)
	mine := m.Counter("app_jobs_total", observe.L("queue", "a"))
	mine.Add(2)
	cases := []struct {
		what    string
		resolve func()
		want    string
	}{
		{"own metric, other keys", func() { m.Counter("app_jobs_total", observe.L("shard", "1")).Add(1) }, "app_jobs_total"},
		{"own metric, other kind", func() { m.Gauge("app_jobs_total", observe.L("queue", "a")).Set(1) }, "registered as a counter"},
		{"catalog metric, other kind", func() { m.Gauge("ion_breaker_calls_total", observe.L("name", "x")).Set(1) }, "registered as a counter"},
		{"catalog metric, unknown key", func() {
			m.Counter("ion_sem_acquire_total", observe.L("name", "x"), observe.L("shard", "1")).Add(1)
		}, `label "shard"`},
		{"repeated key", func() { m.Gauge("ion_sem_in_use", observe.L("name", "x"), observe.L("name", "y")).Set(1) }, "given twice"},
		{"invalid label value", func() { m.Gauge("ion_sem_in_use", observe.L("name", "\xff")).Set(1) }, "ion_sem_in_use"},
		{"invalid metric name", func() { m.Counter("").Add(1) }, "counter {}"},
	}
	for _, c := range cases {
		before := m.ResolveErr()
		c.resolve()
		err := m.ResolveErr()
		if err == nil || (before != nil && err.Error() == before.Error()) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ResolveErr() = %v, want a new error mentioning %q", c.what, err, c.want)
		}
	}
	const want = `
# HELP app_jobs_total app_jobs_total (not an Ion metric).
# TYPE app_jobs_total counter
app_jobs_total{queue="a"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "app_jobs_total"); err != nil {
		t.Error(err)
	}
}

// TestNegativeCounterDelta checks that a negative delta, which panics in
// prometheus.Counter.Add, is ignored.
func TestNegativeCounterDelta(t *testing.T) {
	reg, m := newMetrics(t)
	c := m.Counter("ion_sem_over_released_total", observe.L("name", "db"))
	c.Add(3)
	c.Add(-1)
	c.Add(0)
	const want = `
# HELP ion_sem_over_released_total Permits released beyond the semaphore's capacity, and ignored.
# TYPE ion_sem_over_released_total counter
ion_sem_over_released_total{name="db"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ion_sem_over_released_total"); err != nil {
		t.Error(err)
	}
}

// TestConcurrentScrape scrapes the registry while goroutines run calls
// through a breaker, a limiter and a bulkhead that record into it (run it
// with -race), and checks that the final scrape counts every call.
func TestConcurrentScrape(t *testing.T) {
	reg, m := newMetrics(t)
	b := breaker.New("db", breaker.WithMetrics(m))
	lim := limit.NewTokenBucket(limit.Inf, 1, limit.WithMetrics(m), limit.WithName("api"))
	bulkhead := sem.NewWeighted(4, sem.WithMetrics(m), sem.WithName("db"))
	p := policy.Compose(breaker.Policy[int](b), limit.Policy[int](lim), sem.Policy[int](bulkhead))

	const workers, calls = 4, 500
	var stop atomic.Bool
	var scrapes sync.WaitGroup
	scrapes.Go(func() {
		for !stop.Load() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var load sync.WaitGroup
	for range workers {
		load.Go(func() {
			for i := range calls {
				_, _ = p.Run(context.Background(), func(context.Context) (int, error) { return i, nil })
			}
		})
	}
	load.Wait()
	stop.Store(true)
	scrapes.Wait()

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			if mm.GetCounter() != nil {
				got[mf.GetName()+labelString(mm)] += mm.GetCounter().GetValue()
			}
		}
	}
	const total = workers * calls
	for _, k := range []string{
		`ion_breaker_calls_total{name="db",outcome="success"}`,
		`ion_limit_requests_total{name="api",result="allowed"}`,
		`ion_sem_acquire_total{name="db",result="acquired"}`,
	} {
		if got[k] != total {
			t.Errorf("%s = %v, want %d", k, got[k], total)
		}
	}
}

// TestRecordingAllocs checks that recording through a resolved instrument
// does not allocate.
func TestRecordingAllocs(t *testing.T) {
	_, m := newMetrics(t)
	c := m.Counter("ion_breaker_calls_total", observe.L("name", "db"), observe.L("outcome", "success"))
	g := m.Gauge("ion_breaker_state", observe.L("name", "db"))
	h := m.Histogram("ion_sem_wait_seconds", observe.L("name", "db"))
	for name, f := range map[string]func(){
		"Counter.Add":       func() { c.Add(1) },
		"Gauge.Set":         func() { g.Set(2) },
		"Histogram.Observe": func() { h.Observe(0.003) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
	// Through a primitive: a success through a breaker with an ionprom sink.
	b := breaker.New("p", breaker.WithMetrics(m))
	p := policy.Compose(breaker.Policy[int](b))
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	if n := testing.AllocsPerRun(1000, func() { _, _ = p.Run(ctx, fn) }); n != 0 {
		t.Errorf("a success through a breaker recording to Prometheus allocates %v times, want 0", n)
	}
}

// labelString renders a series' labels as {k="v",...}, in the registry's
// order (sorted by key).
func labelString(m *dto.Metric) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range m.GetLabel() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.GetName() + "=" + strconv.Quote(l.GetValue()))
	}
	b.WriteByte('}')
	return b.String()
}

// TestNilPointerRefused checks that a nil *Metrics given to an option is
// refused like a nil sink, rather than panicking when the primitive
// resolves its instruments.
func TestNilPointerRefused(t *testing.T) {
	var m *ionprom.Metrics
	b := breaker.New("db", breaker.WithMetrics(m))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "nil *ionprom.Metrics") {
		t.Errorf("breaker with a nil *Metrics: Err() = %v", err)
	}
	b = breaker.New("db", breaker.WithMetrics(&ionprom.Metrics{}))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "zero one") {
		t.Errorf("breaker with a zero Metrics: Err() = %v", err)
	}
}
