package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ionkit/ion/chaos"
	"github.com/ionkit/ion/policy"
)

func fetch(context.Context) (string, error) { return "real", nil }

func ExampleFault() {
	// A third of the calls fail; the seed fixes which ones.
	flaky := chaos.Fault[string](errors.New("injected: 503"), 0.3, chaos.WithSeed(7))
	pipeline := policy.Compose(policy.Fallback("cached"), policy.Policy[string](flaky))
	fmt.Println(pipeline)

	counts := map[string]int{}
	for range 1000 {
		v, _ := pipeline.Run(context.Background(), fetch)
		counts[v]++
	}
	fmt.Println(counts["real"]+counts["cached"], "answers, some from the fallback:", counts["cached"] > 250 && counts["cached"] < 350)

	// A ctx can force or suppress injection for one call.
	v, err := policy.Run(chaos.Force(context.Background()), flaky, fetch)
	fmt.Printf("forced: %q %v\n", v, err)
	v, err = policy.Run(chaos.Suppress(context.Background()), flaky, fetch)
	fmt.Printf("suppressed: %q %v\n", v, err)
	// Output:
	// fallback(value) → chaos(fault rate=0.3) → fn
	// 1000 answers, some from the fallback: true
	// forced: "" injected: 503
	// suppressed: "real" <nil>
}

func ExampleLatency() {
	slow := chaos.Latency[string](time.Millisecond, 1)
	v, err := policy.Run(context.Background(), slow, fetch)
	fmt.Println(v, err)

	// A caller whose ctx ends during the injected wait gets its ctx error.
	slower := chaos.Latency[string](time.Hour, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err = policy.Run(ctx, slower, fetch)
	fmt.Println(err)
	// Output:
	// real <nil>
	// context deadline exceeded
}

func ExampleOutcome() {
	stale := chaos.Outcome("stale", nil, 1, chaos.WithName("stale-data"))
	fmt.Println(stale)
	v, err := policy.Run(context.Background(), stale, fetch)
	fmt.Println(v, err)
	// Output:
	// chaos(outcome stale-data rate=1)
	// stale <nil>
}

func ExampleBehavior() {
	calls := 0
	dropConnection := chaos.Behavior[string](func(context.Context) error {
		calls++
		return errors.New("injected: connection reset")
	}, 1, chaos.WithEnabled(false))

	v, err := policy.Run(context.Background(), dropConnection, fetch)
	fmt.Println("disabled:", v, err, calls)

	dropConnection.SetEnabled(true) // the game day starts
	_, err = policy.Run(context.Background(), dropConnection, fetch)
	fmt.Println("enabled:", err, calls)
	// Output:
	// disabled: real <nil> 0
	// enabled: injected: connection reset 1
}
