package sem_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// semaphore is what the benchmarks need of a semaphore.
type semaphore interface {
	Acquire(ctx context.Context, n int64) error
	TryAcquire(n int64) bool
	Release(n int64) error
}

// chanSem is the stdlib baseline: a buffered channel, one slot per permit.
type chanSem chan struct{}

func (c chanSem) Acquire(ctx context.Context, n int64) error {
	for range n {
		select {
		case c <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c chanSem) TryAcquire(n int64) bool {
	if n != 1 {
		panic("chanSem: TryAcquire supports n == 1 only")
	}
	select {
	case c <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c chanSem) Release(n int64) error {
	for range n {
		<-c
	}
	return nil
}

// mutexSem is the other stdlib baseline: a counter under a mutex, with a
// condition variable for waiters.
type mutexSem struct {
	// mu guards the fields below.
	mu   sync.Mutex
	cond sync.Cond
	free int64
}

func newMutexSem(n int64) *mutexSem {
	m := &mutexSem{free: n}
	m.cond.L = &m.mu
	return m
}

func (m *mutexSem) Acquire(_ context.Context, n int64) error {
	m.mu.Lock()
	for m.free < n {
		m.cond.Wait()
	}
	m.free -= n
	m.mu.Unlock()
	return nil
}

func (m *mutexSem) TryAcquire(n int64) bool {
	m.mu.Lock()
	ok := m.free >= n
	if ok {
		m.free -= n
	}
	m.mu.Unlock()
	return ok
}

func (m *mutexSem) Release(n int64) error {
	m.mu.Lock()
	m.free += n
	m.mu.Unlock()
	m.cond.Broadcast()
	return nil
}

func semaphores(capacity int64) []struct {
	name string
	s    semaphore
} {
	return []struct {
		name string
		s    semaphore
	}{
		{"Weighted", sem.NewWeighted(capacity)},
		{"Weighted-None", sem.NewWeighted(capacity, sem.WithFairness(sem.None))},
		{"Weighted-metrics", sem.NewWeighted(capacity, sem.WithMetrics(observe.NewRecorder()))},
		{"chan", make(chanSem, capacity)},
		{"mutex", newMutexSem(capacity)},
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	for _, bs := range semaphores(16) {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			s := bs.s
			for b.Loop() {
				if err := s.Acquire(ctx, 1); err != nil {
					b.Fatal(err)
				}
				s.Release(1)
			}
		})
	}
}

func BenchmarkTryAcquireRelease(b *testing.B) {
	for _, bs := range semaphores(16) {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			s := bs.s
			for b.Loop() {
				if !s.TryAcquire(1) {
					b.Fatal("TryAcquire failed")
				}
				s.Release(1)
			}
		})
	}
}

// BenchmarkAcquireReleaseParallel runs Acquire+Release from every P at once
// with permits to spare, so the semaphore never blocks: it measures the cost
// of contention on the fast path, to compare with the serial figure.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	ctx := context.Background()
	for _, bs := range semaphores(1 << 20) {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			s := bs.s
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Acquire(ctx, 1); err != nil {
						b.Error(err)
						return
					}
					s.Release(1)
				}
			})
		})
	}
}

// BenchmarkAcquireReleaseContended runs Acquire+Release from every P at
// once on a semaphore of 1, so callers queue: the slow path.
func BenchmarkAcquireReleaseContended(b *testing.B) {
	ctx := context.Background()
	for _, bs := range semaphores(1) {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			s := bs.s
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Acquire(ctx, 1); err != nil {
						b.Error(err)
						return
					}
					s.Release(1)
				}
			})
		})
	}
}

func BenchmarkPolicy(b *testing.B) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = fn(ctx)
		}
	})
	b.Run("bulkhead", func(b *testing.B) {
		b.ReportAllocs()
		p := policy.Compose(sem.Policy[int](sem.NewWeighted(16)))
		for b.Loop() {
			if _, err := p.Run(ctx, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bulkhead-rejected", func(b *testing.B) {
		b.ReportAllocs()
		s := sem.NewWeighted(1)
		s.TryAcquire(1)
		p := policy.Compose(sem.Policy[int](s))
		for b.Loop() {
			if _, err := p.Run(ctx, fn); err == nil {
				b.Fatal("want ErrFull")
			}
		}
	})
	b.Run("bulkhead-parallel", func(b *testing.B) {
		b.ReportAllocs()
		p := policy.Compose(sem.Policy[int](sem.NewWeighted(1 << 20)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Run(ctx, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
