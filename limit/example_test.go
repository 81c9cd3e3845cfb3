package limit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

func ExampleNewTokenBucket() {
	// 2 requests per second on average, bursts of up to 3.
	lim := limit.NewTokenBucket(limit.PerSecond(2), 3)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range []time.Duration{0, 0, 0, 0, 500 * time.Millisecond} {
		fmt.Printf("request %d at +%v: %v\n", i, at, lim.AllowN(start.Add(at), 1))
	}
	fmt.Println(lim)
	// Output:
	// request 0 at +0s: true
	// request 1 at +0s: true
	// request 2 at +0s: true
	// request 3 at +0s: false
	// request 4 at +500ms: true
	// token-bucket 2/s burst 3
}

func ExampleNewTokenBucket_badInput() {
	lim := limit.NewTokenBucket(limit.PerSecond(-1), 10)
	fmt.Println(lim.Allow())
	fmt.Println(errors.Is(lim.Err(), ion.ErrInvalidConfig))
	fmt.Println(lim.Err())
	// Output:
	// false
	// true
	// limit: invalid configuration: rate: must not be negative, got -1
}

func ExampleTokenBucket_ReserveN() {
	lim := limit.NewTokenBucket(limit.Every(time.Second), 1)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	first := lim.ReserveN(now, 1)
	second := lim.ReserveN(now, 1)
	fmt.Println(first.OK(), first.DelayFrom(now))
	fmt.Println(second.OK(), second.DelayFrom(now))
	second.CancelAt(now) // the holder changed its mind: the token goes back
	fmt.Println(lim.ReserveN(now, 1).DelayFrom(now))
	fmt.Println(lim.ReserveN(now, 2).OK()) // more than the burst: never
	// Output:
	// true 0s
	// true 1s
	// 1s
	// false
}

func ExampleNewLeakyBucket() {
	// A meter of capacity 2 leaking 1 unit per second.
	lim := limit.NewLeakyBucket(limit.PerSecond(1), 2)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, 0, 0, time.Second, time.Second} {
		fmt.Printf("+%v: %v\n", at, lim.AllowN(start.Add(at), 1))
	}
	fmt.Println(lim.Capacity(), lim)
	// Output:
	// +0s: true
	// +0s: true
	// +0s: false
	// +1s: true
	// +1s: false
	// 2 leaky-bucket 1/s capacity 2
}

func ExampleNewKeyed() {
	// One bucket per client, at most 10,000 clients remembered.
	perClient := limit.NewKeyed[string](limit.PerMinute(60), 2, limit.WithMaxKeys(10_000))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, client := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"} {
		fmt.Println(client, perClient.AllowN(now, client, 1))
	}
	fmt.Println(perClient.Len(), "clients")
	// Output:
	// 10.0.0.1 true
	// 10.0.0.1 true
	// 10.0.0.1 false
	// 10.0.0.2 true
	// 2 clients
}

func ExamplePolicy() {
	lim := limit.NewTokenBucket(limit.PerSecond(1), 1)
	p := policy.Compose(limit.Policy[string](lim))
	call := func(context.Context) (string, error) { return "pong", nil }

	v, err := p.Run(context.Background(), call)
	fmt.Println(v, err)
	_, err = p.Run(context.Background(), call)
	fmt.Println(errors.Is(err, limit.ErrLimited), errors.Is(err, ion.ErrRejected))
	_, ok := ion.RetryAfter(err)
	fmt.Println("retry after known:", ok)
	fmt.Println(p)
	// Output:
	// pong <nil>
	// true true
	// retry after known: true
	// limit(token-bucket 1/s burst 1) → fn
}

type tenantCtxKey struct{}

// Policy rejects at once by default; WithMaxWait makes it wait (pace)
// instead. Side by side, each over a token bucket of 100 per second with a
// burst of 1, two calls in a row:
func ExamplePolicy_rejectOrWait() {
	call := func(context.Context) (string, error) { return "ran", nil }
	outcome := func(v string, err error) string {
		if errors.Is(err, limit.ErrLimited) {
			return "rejected, rate limited"
		}
		return v
	}
	ctx := context.Background()

	// Reject (the default): the second call is refused at once, as a
	// server shedding load wants.
	shed := limit.Policy[string](limit.NewTokenBucket(limit.PerSecond(100), 1))
	for i := range 2 {
		fmt.Printf("reject, call %d: %s\n", i, outcome(policy.Run(ctx, shed, call)))
	}

	// Wait: the second call waits its turn (10 ms here) and runs, as a
	// client pacing its calls to a rate-limited service wants.
	pace := limit.Policy[string](limit.NewTokenBucket(limit.PerSecond(100), 1), limit.WithMaxWait(time.Second))
	for i := range 2 {
		fmt.Printf("wait, call %d: %s\n", i, outcome(policy.Run(ctx, pace, call)))
	}
	// Output:
	// reject, call 0: ran
	// reject, call 1: rejected, rate limited
	// wait, call 0: ran
	// wait, call 1: ran
}

func ExampleKeyed_By() {
	perTenant := limit.NewKeyed[string](limit.PerSecond(1), 1)
	tenant := func(ctx context.Context) string {
		s, _ := ctx.Value(tenantCtxKey{}).(string)
		return s
	}
	p := limit.Policy[int](perTenant.By(tenant), limit.WithMaxWait(0))
	call := func(context.Context) (int, error) { return 42, nil }
	for _, name := range []string{"acme", "acme", "globex"} {
		ctx := context.WithValue(context.Background(), tenantCtxKey{}, name)
		_, err := policy.Run(ctx, p, call)
		fmt.Println(name, err == nil)
	}
	// Output:
	// acme true
	// acme false
	// globex true
}

func ExampleAll() {
	// 2 per second and 3 per hour, all-or-nothing: a request the hourly
	// limit refuses takes nothing from the per-second one.
	perSecond := limit.NewTokenBucket(limit.PerSecond(2), 2)
	perHour := limit.NewTokenBucket(limit.PerHour(3), 3)
	lim := limit.All(perSecond, perHour)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range []time.Duration{0, 0, 0, time.Second, 2 * time.Second} {
		fmt.Printf("request %d at +%v: %v\n", i, at, lim.AllowN(start.Add(at), 1))
	}
	tok := lim.TokensAt(start.Add(2 * time.Second))
	fmt.Printf("tokens at +2s: per second %.1f, per hour %.3f\n", tok[0], tok[1])
	// Output:
	// request 0 at +0s: true
	// request 1 at +0s: true
	// request 2 at +0s: false
	// request 3 at +1s: true
	// request 4 at +2s: false
	// tokens at +2s: per second 2.0, per hour 0.002
}

func ExampleAll_keyed() {
	// Per user: a burst of 2 and a quota of 3 per hour.
	burst := limit.NewKeyed[string](limit.PerSecond(1), 2)
	quota := limit.NewKeyed[string](limit.PerHour(3), 3)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	alice := limit.All(burst.Key("alice"), quota.Key("alice"))
	for i, at := range []time.Duration{0, 0, 0, 10 * time.Second, 20 * time.Second} {
		fmt.Printf("alice %d at +%v: %v\n", i, at, alice.AllowN(start.Add(at), 1))
	}
	// With a Policy, the user comes from each call's ctx.
	type userKey struct{}
	user := func(ctx context.Context) string { return ctx.Value(userKey{}).(string) }
	p := limit.Policy[string](limit.All(burst.By(user), quota.By(user)))
	ctx := context.WithValue(context.Background(), userKey{}, "bob")
	v, err := policy.Run(ctx, p, func(context.Context) (string, error) { return "ok", nil })
	fmt.Println("bob:", v, err)
	// Output:
	// alice 0 at +0s: true
	// alice 1 at +0s: true
	// alice 2 at +0s: false
	// alice 3 at +10s: true
	// alice 4 at +20s: false
	// bob: ok <nil>
}

func ExampleTokenBucket_TokensAt() {
	lim := limit.NewTokenBucket(limit.PerSecond(10), 5)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	lim.AllowN(start, 5)
	for _, at := range []time.Duration{0, 250 * time.Millisecond, time.Second} {
		fmt.Printf("+%v: %.1f\n", at, lim.TokensAt(start.Add(at)))
	}
	// Output:
	// +0s: 0.0
	// +250ms: 2.5
	// +1s: 5.0
}
