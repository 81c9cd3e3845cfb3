package observe_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/ionkit/ion/observe"
)

// BenchmarkCounterAdd measures the per-call cost of a resolved counter, as a
// primitive pays it on its hot path, against a bare atomic add.
func BenchmarkCounterAdd(b *testing.B) {
	var baseline atomic.Int64
	sinks := []struct {
		name string
		c    observe.Counter
	}{
		{"Recorder", observe.NewRecorder().Counter("ion_bench_total", observe.L("name", "b"))},
		{"Nop", observe.Nop().Counter("ion_bench_total", observe.L("name", "b"))},
	}
	b.Run("atomic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			baseline.Add(1)
		}
	})
	for _, s := range sinks {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.c.Add(1)
			}
		})
		b.Run(s.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.c.Add(1)
				}
			})
		})
	}
}

func BenchmarkGaugeSet(b *testing.B) {
	g := observe.NewRecorder().Gauge("ion_bench_state", observe.L("name", "b"))
	b.ReportAllocs()
	for b.Loop() {
		g.Set(1)
	}
}

// BenchmarkSlog compares the adapter with calling slog directly; both write
// to a text handler that discards its output.
func BenchmarkSlog(b *testing.B) {
	ctx := context.Background()
	sl := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.Run("slog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sl.LogAttrs(ctx, slog.LevelWarn, "breaker opened", slog.String("name", "db"))
		}
	})
	lg := observe.Slog(sl)
	b.Run("adapter", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lg.Log(ctx, slog.LevelWarn, "breaker opened", slog.String("name", "db"))
		}
	})
	b.Run("adapter/disabled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lg.Log(ctx, slog.LevelDebug, "dropped", slog.String("name", "db"))
		}
	})
}
