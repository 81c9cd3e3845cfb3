package bench_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Plain-Go references for reading the other figures: a direct call, an
// uncontended mutex, an atomic add and a clock read (the performance notes quote
// ~16 ns, ~7 ns and ~55 ns for the last three on this VM).

// sink keeps results alive so that the compiler cannot drop the work.
var sink atomic.Int64

var baseline = register("Baseline",
	impl{"baseline-call", func(b *testing.B) {
		var n int
		for b.Loop() {
			v, _ := ionCall(bg)
			n += v
		}
		sink.Add(int64(n))
	}},
	impl{"baseline-mutex", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			//lint:ignore SA2001 an empty critical section is the point: the lock's own cost.
			mu.Unlock()
		}
	}},
	impl{"baseline-atomic", func(b *testing.B) {
		var n atomic.Int64
		for b.Loop() {
			n.Add(1)
		}
		sink.Add(n.Load())
	}},
	impl{"baseline-timenow", func(b *testing.B) {
		var n int64
		for b.Loop() {
			n += time.Now().UnixNano()
		}
		sink.Add(n)
	}},
)

func BenchmarkBaseline(b *testing.B) { baseline.run(b) }

var baselineParallel = register("BaselineParallel",
	impl{"baseline-mutex", func(b *testing.B) {
		var mu sync.Mutex
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				//lint:ignore SA2001 an empty critical section is the point: the lock's own cost.
				mu.Unlock()
			}
		})
	}},
	impl{"baseline-atomic", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
		sink.Add(n.Load())
	}},
	impl{"baseline-timenow", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var n int64
			for pb.Next() {
				n += time.Now().UnixNano()
			}
			sink.Add(n)
		})
	}},
)

func BenchmarkBaselineParallel(b *testing.B) { baselineParallel.run(b) }
