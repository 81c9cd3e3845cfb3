package sem_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func ExampleNewWeighted() {
	ctx := context.Background()
	s := sem.NewWeighted(3)

	if err := s.Acquire(ctx, 2); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("available:", s.Available())
	fmt.Println("TryAcquire(2):", s.TryAcquire(2))
	s.Release(2)
	fmt.Println("available:", s.Available())

	// Bad input fails at once, without blocking anyone.
	fmt.Println(s.Acquire(ctx, 4))
	// Output:
	// available: 1
	// TryAcquire(2): false
	// available: 3
	// sem: weight exceeds capacity
}

func ExampleNewWeighted_invalid() {
	s := sem.NewWeighted(0)
	err := s.Acquire(context.Background(), 1)
	fmt.Println(err)
	fmt.Println(errors.Is(err, ion.ErrInvalidConfig), s.TryAcquire(1))
	// Output:
	// sem: invalid configuration: capacity: must be at least 1, got 0
	// true false
}

// Bound the number of goroutines working at once, as with a worker pool.
func Example_boundedParallelism() {
	ctx := context.Background()
	s := sem.NewWeighted(4)
	squares := make([]int, 10)
	var wg sync.WaitGroup
	for i := range squares {
		if err := s.Acquire(ctx, 1); err != nil {
			break
		}
		wg.Go(func() { // owner: this example; exits after one task; joined by wg.Wait
			defer s.Release(1)
			squares[i] = i * i
		})
	}
	wg.Wait()
	fmt.Println(squares)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}

func ExampleWeighted_Acquire_doneContext() {
	s := sem.NewWeighted(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A done ctx never acquires, even when permits are free.
	err := s.Acquire(ctx, 1)
	fmt.Println(err)
	fmt.Println(errors.Is(err, context.Canceled), s.Available())
	// Output:
	// sem: acquire: context canceled
	// true 1
}

func ExampleWithFairness() {
	ctx := context.Background()
	for _, f := range []sem.Fairness{sem.FIFO, sem.None} {
		s := sem.NewWeighted(2, sem.WithFairness(f))
		s.TryAcquire(1) // one permit left

		// A caller that needs both permits queues.
		big := make(chan error)
		go func() { big <- s.Acquire(ctx, 2) }() // owner: this example; exits when served; joined by <-big
		for s.Waiting() == 0 {
			runtime.Gosched()
		}

		// FIFO keeps the free permit for the queued caller; None hands it
		// to whoever fits.
		small := s.TryAcquire(1)
		fmt.Printf("%v: TryAcquire(1) while a larger caller waits: %v\n", f, small)
		if small {
			s.Release(1)
		}
		s.Release(1)
		fmt.Printf("%v: the larger caller: %v\n", f, <-big)
		s.Release(2)
	}
	// Output:
	// FIFO: TryAcquire(1) while a larger caller waits: false
	// FIFO: the larger caller: <nil>
	// None: TryAcquire(1) while a larger caller waits: true
	// None: the larger caller: <nil>
}

func ExampleFairness() {
	fmt.Println(sem.FIFO, sem.LIFO, sem.None)
	// Output: FIFO LIFO None
}

func ExamplePolicy() {
	ctx := context.Background()
	s := sem.NewWeighted(2, sem.WithName("db"))
	bulkhead := sem.Policy[string](s)
	fmt.Println(bulkhead)

	query := func(context.Context) (string, error) { return "rows", nil }
	fmt.Println(policy.Run(ctx, bulkhead, query))

	// While the semaphore is full, calls are shed without running.
	s.TryAcquire(2)
	_, err := policy.Run(ctx, bulkhead, query)
	fmt.Println(err, errors.Is(err, ion.ErrRejected))
	s.Release(2)
	// Output:
	// bulkhead(db, capacity 2, FIFO, weight 1, no wait)
	// rows <nil>
	// sem: full true
}

func ExampleWithWeight() {
	s := sem.NewWeighted(10)
	heavy := sem.Policy[int](s, sem.WithWeight(4), sem.WithMaxWait(100*time.Millisecond))
	fmt.Println(heavy)
	n, err := policy.Run(context.Background(), heavy, func(context.Context) (int, error) {
		return int(s.Available()), nil // 4 of 10 are held while the call runs
	})
	fmt.Println(n, err)
	// Output:
	// bulkhead(capacity 10, FIFO, weight 4, max wait 100ms)
	// 6 <nil>
}
