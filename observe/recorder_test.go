package observe_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/observe"
)

// The Recorder must satisfy all three roles.
var (
	_ observe.Metrics = (*observe.Recorder)(nil)
	_ observe.Logger  = (*observe.Recorder)(nil)
	_ observe.Tracer  = (*observe.Recorder)(nil)
)

func TestRecorderCounter(t *testing.T) {
	r := observe.NewRecorder()
	allowed := r.Counter("ion_limit_requests_total", observe.L("name", "api"), observe.L("result", "allowed"))
	limited := r.Counter("ion_limit_requests_total", observe.L("name", "api"), observe.L("result", "limited"))
	allowed.Add(1)
	allowed.Add(2)
	limited.Add(1)

	tests := []struct {
		name   string
		labels []observe.Label
		want   int64
	}{
		{"labels in resolve order", []observe.Label{observe.L("name", "api"), observe.L("result", "allowed")}, 3},
		{"labels in reverse order", []observe.Label{observe.L("result", "allowed"), observe.L("name", "api")}, 3},
		{"other series", []observe.Label{observe.L("result", "limited"), observe.L("name", "api")}, 1},
		{"subset of labels is another series", []observe.Label{observe.L("name", "api")}, 0},
		{"unknown value", []observe.Label{observe.L("name", "api"), observe.L("result", "other")}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Count("ion_limit_requests_total", tc.labels...)
			assert.Equal(t, tc.want, got, "Count(%v) = %d, want %d", tc.labels, got, tc.want)
		})
	}
	assert.Zero(t, r.Count("ion_other_total", observe.L("name", "api")), "a counter never resolved reads 0")

	// Resolving the same series again records into the same place.
	r.Counter("ion_limit_requests_total", observe.L("result", "allowed"), observe.L("name", "api")).Add(10)
	assert.Equal(t, int64(13), r.Count("ion_limit_requests_total", observe.L("name", "api"), observe.L("result", "allowed")))
}

func TestRecorderKindsAreSeparate(t *testing.T) {
	r := observe.NewRecorder()
	r.Counter("x", observe.L("name", "a")).Add(5)
	r.Gauge("x", observe.L("name", "a")).Set(2.5)
	r.Histogram("x", observe.L("name", "a")).Observe(0.1)
	assert.Equal(t, int64(5), r.Count("x", observe.L("name", "a")))
	assert.Equal(t, 2.5, r.Value("x", observe.L("name", "a")))
	assert.Equal(t, []float64{0.1}, r.Observations("x", observe.L("name", "a")))
}

// TestRecorderSeriesKeyNoCollision guards the bug in the first seriesKey,
// which rendered labels unquoted, so one label a="1,b=2" and two labels a=1,
// b=2 were the same series.
func TestRecorderSeriesKeyNoCollision(t *testing.T) {
	r := observe.NewRecorder()
	r.Counter("c", observe.L("a", "1,b=2")).Add(1)
	r.Counter("c", observe.L("a", "1"), observe.L("b", "2")).Add(10)
	r.Counter("c{a=1}").Add(100)
	assert.Equal(t, int64(1), r.Count("c", observe.L("a", "1,b=2")))
	assert.Equal(t, int64(10), r.Count("c", observe.L("b", "2"), observe.L("a", "1")))
	assert.Equal(t, int64(100), r.Count("c{a=1}"))
	assert.Zero(t, r.Count("c", observe.L("a", "1")))
}

func TestRecorderRepeatedKeysAnyOrder(t *testing.T) {
	r := observe.NewRecorder()
	r.Counter("c", observe.L("k", "2"), observe.L("k", "1")).Add(1)
	assert.Equal(t, int64(1), r.Count("c", observe.L("k", "1"), observe.L("k", "2")),
		"a repeated label key must still be order-insensitive")
}

func TestRecorderReadUnresolved(t *testing.T) {
	r := observe.NewRecorder()
	assert.Zero(t, r.Count("c"), "a counter never resolved reads 0")
	assert.Zero(t, r.Value("g"), "a gauge never resolved reads 0")
	assert.Nil(t, r.Observations("h"), "a histogram never resolved has no observations")
	h := r.Histogram("h")
	assert.Empty(t, r.Observations("h"), "a histogram resolved after a read starts empty")
	h.Observe(1)
	assert.Equal(t, []float64{1}, r.Observations("h"))
}

func TestRecorderGauge(t *testing.T) {
	r := observe.NewRecorder()
	g := r.Gauge("ion_breaker_state", observe.L("name", "db"))
	for _, v := range []float64{1, 2, 0.5, -3} {
		g.Set(v)
		assert.Equal(t, v, r.Value("ion_breaker_state", observe.L("name", "db")), "a gauge reads the last value set")
	}
}

func TestRecorderHistogramCopy(t *testing.T) {
	r := observe.NewRecorder()
	h := r.Histogram("ion_sem_wait_seconds", observe.L("name", "db"))
	h.Observe(0.25)
	h.Observe(1.5)
	got := r.Observations("ion_sem_wait_seconds", observe.L("name", "db"))
	require.Equal(t, []float64{0.25, 1.5}, got, "observations in order")
	got[0] = 99
	assert.Equal(t, []float64{0.25, 1.5}, r.Observations("ion_sem_wait_seconds", observe.L("name", "db")),
		"Observations must return a copy")
}

func TestRecorderZeroValue(t *testing.T) {
	var r observe.Recorder
	assert.Zero(t, r.Count("c"))
	r.Counter("c").Add(2)
	assert.Equal(t, int64(2), r.Count("c"), "the zero Recorder is ready to use")
	r.Log(context.Background(), slog.LevelInfo, "hi")
	_, sp := r.Start(context.Background(), "s")
	sp.End("success", nil)
	assert.Len(t, r.Logs(), 1)
	assert.Len(t, r.Spans(), 1)
}

func TestRecorderLogs(t *testing.T) {
	r := observe.NewRecorder()
	attrs := []slog.Attr{slog.String("name", "db"), slog.Int("n", 3)}
	r.Log(context.Background(), slog.LevelWarn, "breaker opened", attrs...)
	r.Log(context.Background(), slog.LevelError, "panic")
	attrs[0] = slog.String("name", "changed")

	logs := r.Logs()
	require.Len(t, logs, 2)
	assert.Equal(t, observe.LogRecord{Level: slog.LevelWarn, Msg: "breaker opened",
		Attrs: []slog.Attr{slog.String("name", "db"), slog.Int("n", 3)}}, logs[0],
		"Log must keep a copy of attrs, not the caller's slice")
	assert.Equal(t, "panic", logs[1].Msg)
	assert.Empty(t, logs[1].Attrs)

	logs[0].Msg = "mutated"
	assert.Equal(t, "breaker opened", r.Logs()[0].Msg, "Logs must return a copy")
}

func TestRecorderSpans(t *testing.T) {
	r := observe.NewRecorder()
	boom := errors.New("boom")
	ctx := context.WithValue(context.Background(), spanTestKey{}, "v")

	ctx1, s1 := r.Start(ctx, "breaker(db)")
	_, s2 := r.Start(ctx, "limit(api)")
	assert.Equal(t, ctx, ctx1, "Start returns ctx unchanged")
	assert.Equal(t, []observe.SpanRecord{{Name: "breaker(db)"}, {Name: "limit(api)"}}, r.Spans(),
		"spans are recorded not ended, in start order")

	s2.End("rejected", boom)
	s1.End("success", nil)
	assert.Equal(t, []observe.SpanRecord{
		{Name: "breaker(db)", Ended: true, Outcome: "success"},
		{Name: "limit(api)", Ended: true, Outcome: "rejected", Err: boom},
	}, r.Spans())

	spans := r.Spans()
	spans[0].Name = "mutated"
	assert.Equal(t, "breaker(db)", r.Spans()[0].Name, "Spans must return a copy")
}

// TestRecorderConcurrent hammers every part of the Recorder from several
// goroutines; run with -race. The totals must be exact.
func TestRecorderConcurrent(t *testing.T) {
	const goroutines, loops = 8, 500
	r := observe.NewRecorder()
	var wg sync.WaitGroup
	for g := range goroutines {
		// Owner: this test; each goroutine exits after loops iterations; joined by wg.Wait.
		wg.Go(func() {
			// Each goroutine resolves its own instruments, with labels in its own order.
			labels := []observe.Label{observe.L("name", "x"), observe.L("result", "ok")}
			if g%2 == 1 {
				labels[0], labels[1] = labels[1], labels[0]
			}
			c := r.Counter("c_total", labels...)
			gauge := r.Gauge("g", labels...)
			h := r.Histogram("h_seconds", labels...)
			ctx := context.Background()
			for i := range loops {
				c.Add(1)
				gauge.Set(float64(i))
				h.Observe(float64(i))
				if i%50 == 0 {
					r.Log(ctx, slog.LevelInfo, "tick", slog.Int("g", g))
					_, sp := r.Start(ctx, "span")
					sp.End("success", nil)
					_ = r.Count("c_total", labels...)
					_ = r.Observations("h_seconds", labels...)
					_ = r.Logs()
					_ = r.Spans()
				}
			}
		})
	}
	wg.Wait()
	labels := []observe.Label{observe.L("result", "ok"), observe.L("name", "x")}
	assert.Equal(t, int64(goroutines*loops), r.Count("c_total", labels...), "no lost counter increments")
	assert.Len(t, r.Observations("h_seconds", labels...), goroutines*loops, "no lost observations")
	assert.Equal(t, float64(loops-1), r.Value("g", labels...), "every goroutine ends on the same value")
	assert.Len(t, r.Logs(), goroutines*loops/50)
	spans := r.Spans()
	assert.Len(t, spans, goroutines*loops/50)
	for _, sp := range spans {
		assert.True(t, sp.Ended, "every span ended")
	}
}

func TestInstrumentsDoNotAllocate(t *testing.T) {
	r := observe.NewRecorder()
	sinks := []struct {
		name string
		m    observe.Metrics
	}{
		{"Recorder", r},
		{"Nop", observe.Nop()},
	}
	for _, s := range sinks {
		t.Run(s.name, func(t *testing.T) {
			c := s.m.Counter("ion_test_total", observe.L("name", "x"))
			g := s.m.Gauge("ion_test_state", observe.L("name", "x"))
			h := s.m.Histogram("ion_test_seconds", observe.L("name", "x"))
			assert.Zero(t, testing.AllocsPerRun(1000, func() { c.Add(1) }), "Counter.Add must not allocate")
			assert.Zero(t, testing.AllocsPerRun(1000, func() { g.Set(1.5) }), "Gauge.Set must not allocate")
			// Warm up: a Recorder histogram keeps every value, so its slice grows;
			// after warm-up the growth is amortized below one allocation per call.
			for range 1 << 12 {
				h.Observe(0.5)
			}
			assert.Zero(t, testing.AllocsPerRun(1000, func() { h.Observe(0.5) }), "Histogram.Observe must not allocate after warm-up")
		})
	}
}

func TestNop(t *testing.T) {
	m := observe.Nop()
	require.NotNil(t, m.Counter("c"), "Nop must return non-nil instruments")
	require.NotNil(t, m.Gauge("g"))
	require.NotNil(t, m.Histogram("h"))
	m.Counter("c", observe.L("name", "x")).Add(1)
	m.Gauge("g").Set(1)
	m.Histogram("h").Observe(1)
}

func TestL(t *testing.T) {
	assert.Equal(t, observe.Label{Key: "name", Value: "db"}, observe.L("name", "db"))
	assert.Equal(t, "{name db}", fmt.Sprint(observe.L("name", "db")))
}

type spanTestKey struct{}
