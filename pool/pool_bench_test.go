package pool_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// batch is the number of tasks per benchmark op in the submit-to-completion
// benchmarks: submit batch tasks, then wait for all of them.
const batch = 1000

// reportTasks reports throughput per task, from b.Elapsed.
func reportTasks(b *testing.B, tasks int) {
	b.Helper()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(tasks)/s, "tasks/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tasks), "ns/task")
	}
}

// BenchmarkSubmitToCompletion submits batch fire-and-forget tasks with a
// Background ctx and waits for them to finish; the bench module runs the
// same shape against panjf2000/ants/v2.
func BenchmarkSubmitToCompletion(b *testing.B) {
	for _, size := range []int{2, 64} {
		for _, q := range []int{0, 64, 1024} {
			b.Run("size="+strconv.Itoa(size)+"/queue="+strconv.Itoa(q), func(b *testing.B) {
				p := pool.New(size, q)
				defer p.Close(context.Background())
				var wg sync.WaitGroup
				task := func(context.Context) error { wg.Done(); return nil }
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					wg.Add(batch)
					for range batch {
						if err := p.Submit(ctx, task); err != nil {
							b.Fatal(err)
						}
					}
					wg.Wait()
				}
				reportTasks(b, b.N*batch)
			})
		}
	}
	// Baseline: size goroutines fed by a buffered channel (no accounting,
	// no ctx, no lifecycle).
	b.Run("baseline=chan/size=2/queue=1024", func(b *testing.B) {
		ch := make(chan func(), 1024)
		var workers sync.WaitGroup
		for range 2 {
			workers.Go(func() {
				for fn := range ch {
					fn()
				}
			})
		}
		defer workers.Wait()
		defer close(ch)
		var wg sync.WaitGroup
		task := func() { wg.Done() }
		b.ReportAllocs()
		for b.Loop() {
			wg.Add(batch)
			for range batch {
				ch <- task
			}
			wg.Wait()
		}
		reportTasks(b, b.N*batch)
	})
}

// BenchmarkQueueManagement is BenchmarkSubmitToCompletion/size=2/queue=64
// with the overload options on, none of them dropping a task, to show what
// they cost when the pool is not overloaded: the clock reads of
// WithMaxQueueWait and WithCoDel, CoDel's bookkeeping per take, adaptive
// LIFO's comparison.
func BenchmarkQueueManagement(b *testing.B) {
	const long = time.Hour // no task waits so long: nothing is dropped
	for _, bc := range []struct {
		name string
		opts []pool.Option
	}{
		{"off", nil},
		{"max-queue-wait", []pool.Option{pool.WithMaxQueueWait(long)}},
		{"codel", []pool.Option{pool.WithCoDel(long, long)}},
		{"adaptive-lifo=8", []pool.Option{pool.WithAdaptiveLIFO(8)}},
		{"all", []pool.Option{pool.WithMaxQueueWait(long), pool.WithCoDel(long, long), pool.WithAdaptiveLIFO(8)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := pool.New(2, 64, bc.opts...)
			defer p.Close(context.Background())
			var wg sync.WaitGroup
			task := func(context.Context) error { wg.Done(); return nil }
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				wg.Add(batch)
				for range batch {
					if err := p.Submit(ctx, task); err != nil {
						b.Fatal(err)
					}
				}
				wg.Wait()
			}
			reportTasks(b, b.N*batch)
		})
	}
}

// BenchmarkSubmitParallel submits from every P at once (RunParallel).
func BenchmarkSubmitParallel(b *testing.B) {
	b.Run("pool", func(b *testing.B) {
		p := pool.New(runtime.GOMAXPROCS(0), 1024)
		defer p.Close(context.Background())
		var wg sync.WaitGroup
		task := func(context.Context) error { wg.Done(); return nil }
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				wg.Add(1)
				if err := p.Submit(ctx, task); err != nil {
					b.Error(err)
				}
			}
		})
		wg.Wait()
	})
	b.Run("baseline=chan", func(b *testing.B) {
		ch := make(chan func(), 1024)
		var workers sync.WaitGroup
		for range 2 {
			workers.Go(func() {
				for fn := range ch {
					fn()
				}
			})
		}
		defer workers.Wait()
		defer close(ch)
		var wg sync.WaitGroup
		task := func() { wg.Done() }
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				wg.Add(1)
				ch <- task
			}
		})
		wg.Wait()
	})
}

// BenchmarkTrySubmitFull is the cost of a refusal.
func BenchmarkTrySubmitFull(b *testing.B) {
	p := pool.New(1, 0)
	release := make(chan struct{})
	started := make(chan struct{})
	_ = p.Submit(context.Background(), func(context.Context) error { close(started); <-release; return nil })
	<-started
	defer p.Close(context.Background())
	defer close(release)
	b.ReportAllocs()
	for b.Loop() {
		if p.TrySubmit(nop) == nil {
			b.Fatal("TrySubmit on a full pool succeeded")
		}
	}
}

// BenchmarkResult is a call with a result: Go + Future.Wait and the Policy
// adapter, against a direct call.
func BenchmarkResult(b *testing.B) {
	fn := func(context.Context) (int, error) { return 1, nil }
	ctx := context.Background()
	b.Run("Go", func(b *testing.B) {
		p := pool.New(2, 64)
		defer p.Close(ctx)
		b.ReportAllocs()
		for b.Loop() {
			f, err := pool.Go(ctx, p, fn)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Policy", func(b *testing.B) {
		p := pool.New(2, 64)
		defer p.Close(ctx)
		pipe := policy.Compose(pool.Policy[int](p))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pipe.Run(ctx, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Policy/parallel", func(b *testing.B) {
		p := pool.New(2, 64)
		defer p.Close(ctx)
		pipe := policy.Compose(pool.Policy[int](p))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := pipe.Run(ctx, fn); err != nil {
					b.Error(err)
				}
			}
		})
	})
	b.Run("baseline=direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fn(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
