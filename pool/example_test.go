package pool_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

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
