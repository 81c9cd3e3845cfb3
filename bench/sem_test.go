package bench_test

import (
	"testing"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"golang.org/x/sync/semaphore"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// Every semaphore and bulkhead here has capacity 100, more than the callers
// of any benchmark, so no call waits or is refused.

func ionSem() *sem.Weighted         { return sem.NewWeighted(capacity) }
func xsyncSem() *semaphore.Weighted { return semaphore.NewWeighted(capacity) }

// AcquireRelease: Acquire(ctx, 1) then Release(1).
var acquireRelease = register("AcquireRelease",
	impl{"ion", func(b *testing.B) {
		s := ionSem()
		for b.Loop() {
			if err := s.Acquire(bg, 1); err != nil {
				b.Fatal(err)
			}
			if err := s.Release(1); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"xsync", func(b *testing.B) {
		s := xsyncSem()
		for b.Loop() {
			if err := s.Acquire(bg, 1); err != nil {
				b.Fatal(err)
			}
			s.Release(1)
		}
	}},
)

func BenchmarkAcquireRelease(b *testing.B) { acquireRelease.run(b) }

var acquireReleaseParallel = register("AcquireReleaseParallel",
	impl{"ion", func(b *testing.B) {
		s := ionSem()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Acquire(bg, 1); err != nil {
					b.Error(err)
					return
				}
				if err := s.Release(1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"xsync", func(b *testing.B) {
		s := xsyncSem()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Acquire(bg, 1); err != nil {
					b.Error(err)
					return
				}
				s.Release(1)
			}
		})
	}},
)

func BenchmarkAcquireReleaseParallel(b *testing.B) { acquireReleaseParallel.run(b) }

// TryAcquireRelease: TryAcquire(1) then Release(1).
var tryAcquireRelease = register("TryAcquireRelease",
	impl{"ion", func(b *testing.B) {
		s := ionSem()
		for b.Loop() {
			if !s.TryAcquire(1) {
				b.Fatal("full")
			}
			if err := s.Release(1); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"xsync", func(b *testing.B) {
		s := xsyncSem()
		for b.Loop() {
			if !s.TryAcquire(1) {
				b.Fatal("full")
			}
			s.Release(1)
		}
	}},
)

func BenchmarkTryAcquireRelease(b *testing.B) { tryAcquireRelease.run(b) }

var tryAcquireReleaseParallel = register("TryAcquireReleaseParallel",
	impl{"ion", func(b *testing.B) {
		s := ionSem()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !s.TryAcquire(1) {
					b.Error("full")
					return
				}
				if err := s.Release(1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"xsync", func(b *testing.B) {
		s := xsyncSem()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !s.TryAcquire(1) {
					b.Error("full")
					return
				}
				s.Release(1)
			}
		})
	}},
)

func BenchmarkTryAcquireReleaseParallel(b *testing.B) { tryAcquireReleaseParallel.run(b) }

// Bulkhead: a call through a bulkhead policy alone (sem.Policy in a
// pipeline, failsafe-go's Bulkhead).
var bulkheadBench = register("Bulkhead",
	impl{"ion", func(b *testing.B) {
		p := policy.Compose(sem.Policy[int](ionSem()))
		for b.Loop() {
			if _, err := p.Run(bg, ionCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](bulkhead.New[int](capacity))
		for b.Loop() {
			if _, err := ex.Get(fsCall); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkBulkhead(b *testing.B) { bulkheadBench.run(b) }

var bulkheadParallel = register("BulkheadParallel",
	impl{"ion", func(b *testing.B) {
		p := policy.Compose(sem.Policy[int](ionSem()))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Run(bg, ionCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"failsafe", func(b *testing.B) {
		ex := failsafe.With[int](bulkhead.New[int](capacity))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ex.Get(fsCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
)

func BenchmarkBulkheadParallel(b *testing.B) { bulkheadParallel.run(b) }
