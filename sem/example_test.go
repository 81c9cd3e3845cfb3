package sem_test

import (
	"context"
	"errors"
	"fmt"
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
	if err := s.Release(2); err != nil {
		fmt.Println(err) // a bug: more released than held
	}
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
			squares[i] = i * i
			if err := s.Release(1); err != nil {
				panic(err) // a bug in this program: it releases what it acquired
			}
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

// FIFO (the default) serves callers in arrival order; LIFO and None let a
// new caller take free permits while others wait. The bulkhead's
// description names the fairness.
func ExampleWithFairness() {
	for _, f := range []sem.Fairness{sem.FIFO, sem.LIFO, sem.None} {
		s := sem.NewWeighted(2, sem.WithFairness(f), sem.WithName("api"))
		fmt.Println(sem.Policy[int](s))
	}
	fmt.Println(sem.NewWeighted(2, sem.WithFairness(sem.Fairness(7))).Err())
	// Output:
	// bulkhead(api, capacity 2, FIFO, weight 1, no wait)
	// bulkhead(api, capacity 2, LIFO, weight 1, no wait)
	// bulkhead(api, capacity 2, None, weight 1, no wait)
	// sem: invalid configuration: WithFairness: unknown fairness 7
}

// Release returns an error when more permits come back than were held: the
// capacity never grows, and the caller learns of its bug.
func ExampleWeighted_Release() {
	s := sem.NewWeighted(2)
	s.TryAcquire(1)
	fmt.Println(s.Release(1))
	err := s.Release(1) // a double release
	fmt.Println(err)
	fmt.Println(errors.Is(err, sem.ErrOverRelease), s.Available())
	fmt.Println(s.Release(-1))
	// Output:
	// <nil>
	// sem: released more permits than held: Release(1) with 2 of 2 permits free; 1 ignored
	// true 2
	// sem: invalid weight: must not be negative
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
	_ = s.Release(2) // the two permits taken above
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

// SetCapacity resizes a semaphore in place, as a live configuration reload
// does: the permits in use stay held, and a shrink below them is paid off
// by their releases before anyone new is admitted.
func ExampleWeighted_SetCapacity() {
	s := sem.NewWeighted(10)
	s.TryAcquire(6) // six calls in flight

	if err := s.SetCapacity(4); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("capacity:", s.Capacity(), "in use:", s.InUse(), "available:", s.Available())
	fmt.Println("TryAcquire(1):", s.TryAcquire(1)) // 6 in use, 4 allowed

	// The first two releases retire the permits beyond the new capacity.
	fmt.Println(s.Release(2), "available:", s.Available())
	fmt.Println(s.Release(1), "available:", s.Available())

	// Growing adds permits at once; the releases of the calls that started
	// under the old capacity are not over-releases.
	fmt.Println(s.SetCapacity(8), "available:", s.Available())
	fmt.Println(s.Release(3), "available:", s.Available())

	fmt.Println(s.SetCapacity(0))
	// Output:
	// capacity: 4 in use: 6 available: 0
	// TryAcquire(1): false
	// <nil> available: 0
	// <nil> available: 1
	// <nil> available: 5
	// <nil> available: 8
	// sem: invalid configuration: capacity: must be at least 1, got 0
}

// With CoDel, a bulkhead that lets calls wait sheds the waiters of a
// standing queue instead of serving them late; a call served at once is
// never affected. A shed call's error matches ErrShed and ion.ErrRejected.
func ExampleWithCoDel() {
	s := sem.NewWeighted(8, sem.WithName("db"), sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond))
	bulkhead := sem.Policy[string](s, sem.WithMaxWait(time.Second))
	fmt.Println(bulkhead)
	fmt.Println(policy.Run(context.Background(), bulkhead, func(context.Context) (string, error) {
		return "rows", nil
	}))
	fmt.Println(errors.Is(sem.ErrShed, ion.ErrRejected))

	fmt.Println(sem.NewWeighted(8, sem.WithCoDel(0, time.Second)).Err())
	// Output:
	// bulkhead(db, capacity 8, FIFO, CoDel 5ms/100ms, weight 1, max wait 1s)
	// rows <nil>
	// true
	// sem: invalid configuration: WithCoDel: target and interval must be positive, got 0s and 1s
}

// With adaptive LIFO, the semaphore serves its queue in arrival order until
// a backlog of n builds up, and the newest waiters first from then on.
func ExampleWithAdaptiveLIFO() {
	s := sem.NewWeighted(8, sem.WithName("api"), sem.WithAdaptiveLIFO(16))
	fmt.Println(sem.Policy[int](s, sem.WithMaxWait(time.Second)))
	fmt.Println(sem.NewWeighted(8, sem.WithAdaptiveLIFO(0)).Err())
	// Output:
	// bulkhead(api, capacity 8, FIFO, adaptive LIFO from 16, weight 1, max wait 1s)
	// sem: invalid configuration: WithAdaptiveLIFO: must be at least 1, got 0
}

// Reconfigure changes a semaphore's queue settings in place, as a live
// configuration reload does: the permits in use stay held and the waiters
// stay queued. Options left out return to their defaults, and the options
// only NewWeighted takes are refused, changing nothing.
func ExampleWeighted_Reconfigure() {
	s := sem.NewWeighted(4, sem.WithName("db"))
	bulkhead := sem.Policy[string](s, sem.WithMaxWait(time.Second))
	fmt.Println(bulkhead)
	s.TryAcquire(3) // three calls in flight

	err := s.Reconfigure(sem.WithFairness(sem.LIFO), sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond))
	fmt.Println(err)
	fmt.Println(bulkhead)
	fmt.Println("in use:", s.InUse())

	fmt.Println(s.Reconfigure(sem.WithName("cache")))
	fmt.Println(s.Reconfigure(sem.WithAdaptiveLIFO(0)))
	fmt.Println(bulkhead)

	fmt.Println(s.Reconfigure()) // the defaults
	fmt.Println(bulkhead)
	// Output:
	// bulkhead(db, capacity 4, FIFO, weight 1, max wait 1s)
	// <nil>
	// bulkhead(db, capacity 4, LIFO, CoDel 5ms/100ms, weight 1, max wait 1s)
	// in use: 3
	// sem: invalid configuration: WithName: only NewWeighted takes it; Reconfigure keeps the semaphore's name and sinks
	// sem: invalid configuration: WithAdaptiveLIFO: must be at least 1, got 0
	// bulkhead(db, capacity 4, LIFO, CoDel 5ms/100ms, weight 1, max wait 1s)
	// <nil>
	// bulkhead(db, capacity 4, FIFO, weight 1, max wait 1s)
}
