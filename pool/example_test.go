package pool_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

func ExampleNew() {
	// Four workers, and room for 100 tasks waiting for one.
	p := pool.New(4, 100, pool.WithName("thumbnails"))

	var done atomic.Int64
	for range 10 {
		err := p.Submit(context.Background(), func(ctx context.Context) error {
			done.Add(1)
			return nil
		})
		if err != nil {
			fmt.Println("submit:", err)
		}
	}

	// Close runs every accepted task, then stops the workers.
	n, err := p.Close(context.Background())
	fmt.Println("discarded:", n, "err:", err)
	fmt.Println("done:", done.Load(), "completed:", p.Snapshot().Completed)
	fmt.Println(p.Submit(context.Background(), func(context.Context) error { return nil }))
	// Output:
	// discarded: 0 err: <nil>
	// done: 10 completed: 10
	// pool: closed
}

func ExampleNew_invalid() {
	p := pool.New(4, -1) // a negative queue has no sensible default
	fmt.Println(p.Err())
	fmt.Println(errors.Is(p.TrySubmit(func(context.Context) error { return nil }), ion.ErrInvalidConfig))
	// Output:
	// pool: invalid configuration: queueSize: must not be negative, got -1
	// true
}

func ExampleGo() {
	p := pool.New(2, 10)
	defer p.Close(context.Background())

	f, err := pool.Go(context.Background(), p, func(ctx context.Context) (int, error) {
		return 6 * 7, nil
	})
	if err != nil {
		fmt.Println("submit:", err)
		return
	}
	v, err := f.Wait(context.Background())
	fmt.Println(v, err)

	// A panic on the worker comes back as an error; the process survives.
	f, _ = pool.Go(context.Background(), p, func(ctx context.Context) (int, error) {
		panic("bad input")
	})
	_, err = f.Wait(context.Background())
	var pe *ion.PanicError
	fmt.Println(errors.As(err, &pe), pe.Value)
	// Output:
	// 42 <nil>
	// true bad input
}

func ExamplePolicy() {
	p := pool.New(8, 64, pool.WithName("io"))
	defer p.Close(context.Background())

	// Every call through the pipeline runs on one of the pool's workers, so at
	// most 8 run at once; callers wait for their result.
	pipeline := policy.Compose(pool.Policy[string](p))
	fmt.Println(pipeline)

	v, err := pipeline.Run(context.Background(), func(ctx context.Context) (string, error) {
		return "fetched", nil
	})
	fmt.Println(v, err)
	// Output:
	// pool(io) → fn
	// fetched <nil>
}

func ExamplePool_Close() {
	p := pool.New(1, 10, pool.WithDiscardHandler(func(ctx context.Context, task pool.Task, err error) {
		fmt.Println("not run:", err)
	}))

	started := make(chan struct{})
	cause := make(chan error, 1)
	_ = p.Submit(context.Background(), func(ctx context.Context) error {
		close(started)
		<-ctx.Done() // a forced Close cancels running tasks
		cause <- context.Cause(ctx)
		return ctx.Err()
	})
	<-started
	_ = p.Submit(context.Background(), func(ctx context.Context) error { return nil })

	// A Close whose ctx is already over forces the shutdown: the queued task
	// is reported, never silently dropped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := p.Close(ctx)
	fmt.Println(n, err)
	fmt.Println("running task cancelled:", <-cause)

	// A second Close waits for the cancelled task to return.
	_, err = p.Close(context.Background())
	fmt.Println(err, p.Snapshot().Discarded)
	// Output:
	// not run: pool: closed before the task ran: context canceled
	// 1 pool: close: 1 accepted tasks not run: context canceled
	// running task cancelled: pool: closed
	// <nil> 1
}

// A queue that stays behind for a whole interval is standing: CoDel sheds
// its tasks that waited longer than the target, so the queue stops serving
// only late work.
func ExampleWithCoDel() {
	p := pool.New(1, 10, pool.WithCoDel(time.Millisecond, 400*time.Millisecond),
		pool.WithDiscardHandler(func(ctx context.Context, task pool.Task, err error) {
			fmt.Println("not run:", errors.Is(err, pool.ErrShed), errors.Is(err, ion.ErrRejected))
		}))
	defer p.Close(context.Background())

	busy, hold := make(chan struct{}), make(chan struct{})
	_ = p.Submit(context.Background(), func(ctx context.Context) error { <-busy; return nil })
	// Queued behind the busy worker: a slow task, then three more.
	_ = p.Submit(context.Background(), func(ctx context.Context) error { <-hold; return nil })
	f, _ := pool.Go(context.Background(), p, func(ctx context.Context) (string, error) { return "late", nil })
	_ = p.Submit(context.Background(), func(ctx context.Context) error { return nil })
	g, _ := pool.Go(context.Background(), p, func(ctx context.Context) (string, error) { return "late", nil })

	// The slow task waits 5ms, more than the target, but runs: no interval
	// has shown a standing queue yet. It holds the worker past the end of
	// the interval, so every task behind it waits the whole interval.
	// (The sleeps leave wide margins: the next take must come between one
	// and two intervals after the first.)
	time.Sleep(5 * time.Millisecond)
	close(busy)
	time.Sleep(600 * time.Millisecond)
	close(hold)

	_ = p.Wait(context.Background()) // every report is delivered by then
	for _, f := range []*pool.Future[string]{f, g} {
		_, err := f.Wait(context.Background())
		fmt.Println("Go caller:", errors.Is(err, pool.ErrShed))
	}
	m := p.Snapshot()
	fmt.Println("completed:", m.Completed, "shed:", m.Shed)
	// Output:
	// not run: true true
	// Go caller: true
	// Go caller: true
	// completed: 2 shed: 3
}

// Under a backlog the newest tasks are the ones whose callers still wait for
// them: from 3 queued tasks on, the worker takes the newest first, and below
// that the oldest.
func ExampleWithAdaptiveLIFO() {
	p := pool.New(1, 10, pool.WithAdaptiveLIFO(3))
	defer p.Close(context.Background())

	busy := make(chan struct{})
	_ = p.Submit(context.Background(), func(ctx context.Context) error { <-busy; return nil })
	order := make(chan int, 5)
	for i := 1; i <= 5; i++ {
		_ = p.Submit(context.Background(), func(ctx context.Context) error { order <- i; return nil })
	}
	close(busy)
	_ = p.Wait(context.Background())
	close(order)
	for i := range order {
		fmt.Print(i, " ")
	}
	fmt.Println()
	// Output:
	// 5 4 3 1 2
}

func ExamplePool_Resize() {
	p := pool.New(1, 0)
	defer p.Close(context.Background())

	_ = p.Resize(16)
	fmt.Println(p.Snapshot().Size)
	fmt.Println(p.Resize(0))
	// Output:
	// 16
	// pool: invalid configuration: n: Resize: must be positive, got 0
}

func ExampleNewGroup() {
	p := pool.New(4, 16)
	defer p.Close(context.Background())

	// Fetch five pages, at most two at once; results come back in the order
	// the calls were made, whatever order they finish in.
	g, _ := pool.NewGroup[string](context.Background(), p)
	_ = g.SetLimit(2)
	for _, id := range []int{3, 1, 4, 1, 5} {
		g.Go(func(ctx context.Context) (string, error) {
			return fmt.Sprintf("page-%d", id), nil
		})
	}
	pages, err := g.Wait()
	fmt.Println(pages, err)
	// Output:
	// [page-3 page-1 page-4 page-1 page-5] <nil>
}

func ExampleGroup_firstError() {
	p := pool.New(1, 16)
	defer p.Close(context.Background())

	// One worker runs the calls one after the other: the second fails, so
	// the Group's ctx is cancelled and the calls after it are not run.
	g, ctx := pool.NewGroup[int](context.Background(), p)
	var ran atomic.Int64
	for i := range 5 {
		g.Go(func(context.Context) (int, error) {
			ran.Add(1)
			if i == 1 {
				return 0, errors.New("disk full")
			}
			return i, nil
		})
	}
	results, err := g.Wait()
	fmt.Println(results, err)
	fmt.Println("calls run:", ran.Load(), "cause:", context.Cause(ctx))
	// Output:
	// [0 0 0 0 0] disk full
	// calls run: 2 cause: disk full
}

func ExampleGroup_SetPolicy() {
	p := pool.New(2, 16)
	defer p.Close(context.Background())

	// Each call runs through a pipeline on the worker: here a retry.
	g, _ := pool.NewGroup[string](context.Background(), p)
	_ = g.SetPolicy(policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(0))))
	var attempts atomic.Int64
	g.Go(func(context.Context) (string, error) {
		if attempts.Add(1) < 3 {
			return "", errors.New("flaky")
		}
		return "ok", nil
	})
	results, err := g.Wait()
	fmt.Println(results, err, "after", attempts.Load(), "attempts")
	// Output:
	// [ok] <nil> after 3 attempts
}

// Reconfigure changes a pool's queue settings in place, as a live
// configuration reload does: its workers, queued tasks and counters stay.
// Options left out return to their defaults; the options only New takes
// are refused, changing nothing.
func ExamplePool_Reconfigure() {
	p := pool.New(1, 8, pool.WithName("exports"))
	defer p.Close(context.Background())

	// One worker busy, three tasks queued.
	release := make(chan struct{})
	p.Submit(context.Background(), func(context.Context) error { <-release; return nil })
	var order []int
	for i := 1; i <= 3; i++ {
		p.TrySubmit(func(context.Context) error { order = append(order, i); return nil })
	}

	// The queued tasks now run newest first, and any that waits more than a
	// minute from now on expires.
	fmt.Println(p.Reconfigure(pool.WithQueueOrder(pool.LIFO), pool.WithMaxQueueWait(time.Minute)))
	fmt.Println(p.Reconfigure(pool.WithName("reports")))
	fmt.Println(p.Reconfigure(pool.WithIdleTimeout(-time.Second)))

	close(release)
	p.Wait(context.Background())
	fmt.Println(order, p.Snapshot().Completed)
	// Output:
	// <nil>
	// pool: invalid configuration: WithName: only New takes it; Reconfigure keeps the pool's name, base context, handlers, sinks and task policy
	// pool: invalid configuration: WithIdleTimeout: must not be negative, got -1s
	// [3 2 1] 4
}

// SetQueueSize resizes the queue in place: growing admits blocked
// submitters at once, and shrinking keeps every task already queued.
func ExamplePool_SetQueueSize() {
	p := pool.New(1, 4)
	defer p.Close(context.Background())

	release := make(chan struct{})
	p.Submit(context.Background(), func(context.Context) error { <-release; return nil })
	for range 4 {
		p.TrySubmit(func(context.Context) error { return nil })
	}

	fmt.Println(p.SetQueueSize(2))
	s := p.Snapshot()
	fmt.Println("queue size:", s.QueueSize, "queued:", s.Queued)
	fmt.Println(p.TrySubmit(func(context.Context) error { return nil }))
	fmt.Println(p.SetQueueSize(-1))

	close(release)
	p.Wait(context.Background())
	fmt.Println("completed:", p.Snapshot().Completed)
	// Output:
	// <nil>
	// queue size: 2 queued: 4
	// pool: queue full
	// pool: invalid configuration: n: SetQueueSize: must not be negative, got -1
	// completed: 5
}
