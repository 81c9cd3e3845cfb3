package bench_test

import (
	"context"
	"sync"
	"testing"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"

	"github.com/ionkit/ion/pool"
)

// One op is one fire-and-forget task, from its submission to its
// completion: each op submits a task that marks a WaitGroup done, and the
// benchmark waits for the last tasks after the loop. Per-task figures are
// therefore throughput figures (ns per task, allocs per task).
//
// SubmitSizeN pools run at most N tasks at once and hand each task to a
// worker, a submitter blocking while all N are busy: Ion's pool.New(N, 0)
// and ants.NewPool(N) (which has no queue). SubmitQueued pools have 2
// workers and a queue of 1024: Ion's pool.New(2, 1024) and
// pond.NewPool(2, WithQueueSize(1024)), against 2 goroutines reading a
// buffered channel of 1024.

// queueLen is the queue capacity of the queued pools and of the channel
// baseline.
const queueLen = 1024

func ionSubmit(size, queue int) func(b *testing.B) {
	return func(b *testing.B) {
		p := pool.New(size, queue)
		defer p.Close(bg)
		var wg sync.WaitGroup
		task := func(context.Context) error { wg.Done(); return nil }
		for b.Loop() {
			wg.Add(1)
			if err := p.Submit(bg, task); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	}
}

func ionSubmitParallel(size, queue int) func(b *testing.B) {
	return func(b *testing.B) {
		p := pool.New(size, queue)
		defer p.Close(bg)
		var wg sync.WaitGroup
		task := func(context.Context) error { wg.Done(); return nil }
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				wg.Add(1)
				if err := p.Submit(bg, task); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Wait()
	}
}

func antsSubmit(size int) func(b *testing.B) {
	return func(b *testing.B) {
		p, err := ants.NewPool(size)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Release()
		var wg sync.WaitGroup
		task := func() { wg.Done() }
		for b.Loop() {
			wg.Add(1)
			if err := p.Submit(task); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	}
}

func antsSubmitParallel(size int) func(b *testing.B) {
	return func(b *testing.B) {
		p, err := ants.NewPool(size)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Release()
		var wg sync.WaitGroup
		task := func() { wg.Done() }
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				wg.Add(1)
				if err := p.Submit(task); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Wait()
	}
}

func pondSubmit(b *testing.B) {
	p := pond.NewPool(2, pond.WithQueueSize(queueLen))
	defer p.StopAndWait()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	for b.Loop() {
		wg.Add(1)
		if err := p.Go(task); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}

func pondSubmitParallel(b *testing.B) {
	p := pond.NewPool(2, pond.WithQueueSize(queueLen))
	defer p.StopAndWait()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			wg.Add(1)
			if err := p.Go(task); err != nil {
				b.Error(err)
				return
			}
		}
	})
	wg.Wait()
}

// startChanWorkers starts n goroutines running the funcs sent on a channel
// of capacity queueLen; stop closes the channel and waits for them.
func startChanWorkers(n int) (ch chan func(), stop func()) {
	ch = make(chan func(), queueLen)
	var workers sync.WaitGroup
	for range n {
		// Owner: the benchmark; exits when ch is closed; joined by stop.
		workers.Go(func() {
			for fn := range ch {
				fn()
			}
		})
	}
	return ch, func() { close(ch); workers.Wait() }
}

func chanSubmit(b *testing.B) {
	ch, stop := startChanWorkers(2)
	defer stop()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	for b.Loop() {
		wg.Add(1)
		ch <- task
	}
	wg.Wait()
}

func chanSubmitParallel(b *testing.B) {
	ch, stop := startChanWorkers(2)
	defer stop()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			wg.Add(1)
			ch <- task
		}
	})
	wg.Wait()
}

func goSubmit(b *testing.B) {
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	for b.Loop() {
		wg.Add(1)
		// Owner: the benchmark; exits after task; joined by wg.Wait below.
		go task()
	}
	wg.Wait()
}

func goSubmitParallel(b *testing.B) {
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			wg.Add(1)
			// Owner: the benchmark; exits after task; joined by wg.Wait below.
			go task()
		}
	})
	wg.Wait()
}

var submitSize2 = register("SubmitSize2",
	impl{"ion", ionSubmit(2, 0)},
	impl{"ants", antsSubmit(2)},
	impl{"baseline-gofunc", goSubmit},
)

func BenchmarkSubmitSize2(b *testing.B) { submitSize2.run(b) }

var submitSize2Parallel = register("SubmitSize2Parallel",
	impl{"ion", ionSubmitParallel(2, 0)},
	impl{"ants", antsSubmitParallel(2)},
	impl{"baseline-gofunc", goSubmitParallel},
)

func BenchmarkSubmitSize2Parallel(b *testing.B) { submitSize2Parallel.run(b) }

var submitSize64 = register("SubmitSize64",
	impl{"ion", ionSubmit(64, 0)},
	impl{"ants", antsSubmit(64)},
)

func BenchmarkSubmitSize64(b *testing.B) { submitSize64.run(b) }

// SubmitSize1024 is the large hand-off pool: most workers are parked, and a
// pool that wakes one per task pays for a cold worker each time.
var submitSize1024 = register("SubmitSize1024",
	impl{"ion", ionSubmit(1024, 0)},
	impl{"ants", antsSubmit(1024)},
)

func BenchmarkSubmitSize1024(b *testing.B) { submitSize1024.run(b) }

var submitQueued = register("SubmitQueued",
	impl{"ion", ionSubmit(2, queueLen)},
	impl{"pond", pondSubmit},
	impl{"baseline-chan", chanSubmit},
)

func BenchmarkSubmitQueued(b *testing.B) { submitQueued.run(b) }

var submitQueuedParallel = register("SubmitQueuedParallel",
	impl{"ion", ionSubmitParallel(2, queueLen)},
	impl{"pond", pondSubmitParallel},
	impl{"baseline-chan", chanSubmitParallel},
)

func BenchmarkSubmitQueuedParallel(b *testing.B) { submitQueuedParallel.run(b) }

// Result: run a call with a result on a pool and wait for it (pool.Go +
// Future.Wait, pond's ResultPool SubmitErr + Wait); 2 workers, queue 1024.
var result = register("Result",
	impl{"ion", func(b *testing.B) {
		p := pool.New(2, queueLen)
		defer p.Close(bg)
		for b.Loop() {
			f, err := pool.Go(bg, p, ionCall)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Wait(bg); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"pond", func(b *testing.B) {
		p := pond.NewResultPool[int](2, pond.WithQueueSize(queueLen))
		defer p.StopAndWait()
		for b.Loop() {
			if _, err := p.SubmitErr(fsCall).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkResult(b *testing.B) { result.run(b) }

var resultParallel = register("ResultParallel",
	impl{"ion", func(b *testing.B) {
		p := pool.New(2, queueLen)
		defer p.Close(bg)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				f, err := pool.Go(bg, p, ionCall)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := f.Wait(bg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"pond", func(b *testing.B) {
		p := pond.NewResultPool[int](2, pond.WithQueueSize(queueLen))
		defer p.StopAndWait()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.SubmitErr(fsCall).Wait(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
)

func BenchmarkResultParallel(b *testing.B) { resultParallel.run(b) }
