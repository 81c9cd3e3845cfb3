package adaptive_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

func ExampleNewLimiter() {
	// A limiter that starts at 10 calls at once, moves between 2 and 100,
	// and updates its limit every 500 ms of traffic.
	lim := adaptive.NewLimiter(
		adaptive.WithLimits(2, 100),
		adaptive.WithInitialLimit(10),
		adaptive.WithSampleWindow(500*time.Millisecond, 20),
	)
	fmt.Printf("%+v\n", lim.Stats())
	// Output:
	// {Limit:10 InFlight:0 Queued:0 RTT:0s NoLoadRTT:0s}
}

func ExamplePolicy() {
	lim := adaptive.NewLimiter(adaptive.WithName("db"))
	// The limiter goes outside the timeout, so that a call that times out
	// counts as a drop and backs the limit off.
	pipe := policy.Compose(
		adaptive.Policy[string](lim),
		policy.Timeout[string](time.Second),
	)
	v, err := pipe.Run(context.Background(), func(context.Context) (string, error) {
		return "row", nil
	})
	fmt.Println(v, err)
	fmt.Println(pipe.Layers()[0])
	// Output:
	// row <nil>
	// adaptive limiter(db, vegas)
}

// A call of a priority that must be shed finds the limiter full; the
// limiter says at which priority it sheds.
func ExampleLimiter_Shedding() {
	lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1))
	p := adaptive.Policy[int](lim)

	running, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // holds the only permit until release is closed; joined by <-done
		defer close(done)
		_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) {
			close(running)
			<-release
			return 0, nil
		})
	}()
	<-running

	ctx := adaptive.ContextWithPriority(context.Background(), adaptive.Sheddable)
	_, err := policy.Run(ctx, p, func(context.Context) (int, error) { return 1, nil })
	fmt.Println(err, errors.Is(err, ion.ErrRejected))
	fmt.Println(lim.Shedding())
	close(release)
	<-done
	// Output:
	// adaptive: concurrency limit reached true
	// sheddable true
}

func ExampleNewThrottler() {
	thr := adaptive.NewThrottler(adaptive.WithK(2), adaptive.WithWindow(time.Minute), adaptive.WithSeed(1))
	fmt.Println(thr.RejectionRate())
	fmt.Println(thr.Shedding())
	// Output:
	// 0
	// normal false
}

// A backend that can take a quarter of the calls offered and refuses the
// rest: the throttler keeps sending about K = 2 times what the backend
// accepts and rejects the rest locally, shedding sheddable calls and
// sparing critical ones.
func ExampleThrottlerPolicy() {
	thr := adaptive.NewThrottler(adaptive.WithSeed(1))
	p := adaptive.ThrottlerPolicy[string](thr)
	refused := errors.New("503 overloaded")
	sent := map[adaptive.Priority]int{}
	throttled := map[adaptive.Priority]int{}
	accepted := 0
	for i := range 400 {
		prio := adaptive.Sheddable
		if i%4 == 0 {
			prio = adaptive.Critical
		}
		ctx := adaptive.ContextWithPriority(context.Background(), prio)
		_, err := policy.Run(ctx, p, func(context.Context) (string, error) {
			sent[prio]++
			if 4*accepted >= i+1 {
				return "", refused
			}
			accepted++
			return "ok", nil
		})
		if errors.Is(err, adaptive.ErrThrottled) {
			throttled[prio]++
		}
	}
	fmt.Printf("critical: sent %d, throttled %d\n", sent[adaptive.Critical], throttled[adaptive.Critical])
	fmt.Printf("sheddable: sent %d, throttled %d\n", sent[adaptive.Sheddable], throttled[adaptive.Sheddable])
	fmt.Printf("rejection rate %.2f\n", thr.RejectionRate())
	fmt.Println(thr.Shedding())
	// Output:
	// critical: sent 100, throttled 0
	// sheddable: sent 101, throttled 199
	// rejection rate 0.50
	// sheddable true
}

func ExampleContextWithPriority() {
	ctx := adaptive.ContextWithPriority(context.Background(), adaptive.Critical)
	fmt.Println(adaptive.PriorityFromContext(ctx))
	fmt.Println(adaptive.PriorityFromContext(context.Background()))
	// Output:
	// critical
	// normal
}

func ExampleParsePriority() {
	// A priority read from a request header.
	p, err := adaptive.ParsePriority("high")
	fmt.Println(p, err)
	p, err = adaptive.ParsePriority("urgent!!")
	fmt.Println(p, errors.Is(err, adaptive.ErrUnknownPriority))
	// Output:
	// high <nil>
	// normal true
}

// Reconfigure puts new parameters in force and keeps what the limiter has
// learned: here the limit of 50 is clamped into the new bounds, not reset
// to an initial limit, which only NewLimiter takes.
func ExampleLimiter_Reconfigure() {
	lim := adaptive.NewLimiter(adaptive.WithName("db"), adaptive.WithInitialLimit(50))
	fmt.Println(lim.Stats().Limit)

	err := lim.Reconfigure(adaptive.WithLimits(5, 30), adaptive.WithAlgorithm(adaptive.Gradient))
	fmt.Println(err, lim.Stats().Limit)

	err = lim.Reconfigure(adaptive.WithInitialLimit(10))
	fmt.Println(errors.Is(err, ion.ErrInvalidConfig), lim.Stats().Limit)
	// Output:
	// 50
	// <nil> 30
	// true 30
}

// Reconfigure keeps the throttler's counts and applies a new K to them at
// once.
func ExampleThrottler_Reconfigure() {
	thr := adaptive.NewThrottler(adaptive.WithSeed(1))
	p := adaptive.ThrottlerPolicy[string](thr)
	for i := range 100 {
		_, _ = policy.Run(context.Background(), p, func(context.Context) (string, error) {
			if i < 25 {
				return "ok", nil
			}
			return "", errors.New("503 overloaded")
		})
	}
	fmt.Printf("K 2: rejection rate %.2f\n", thr.RejectionRate())
	err := thr.Reconfigure(adaptive.WithK(1.1))
	fmt.Printf("K 1.1: rejection rate %.2f (%v)\n", thr.RejectionRate(), err)
	// Output:
	// K 2: rejection rate 0.50
	// K 1.1: rejection rate 0.72 (<nil>)
}
