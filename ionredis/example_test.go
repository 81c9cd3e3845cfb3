package ionredis_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/redis/go-redis/v9"
)

// embedded starts an embedded Redis with a fixed clock, so that the
// examples print the same figures on every run, and a client for it. With
// a real Redis, build the client the same way (ContextTimeoutEnabled is
// required, so that the backend timeout holds).
func embedded() (*miniredis.Miniredis, *redis.Client) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	mr.SetTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return mr, redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
}

func ExampleNewLimiter() {
	mr, rdb := embedded()
	defer mr.Close()
	defer rdb.Close()
	ctx := context.Background()

	// 3 calls a minute for the whole fleet: every replica builds the same
	// limiter (same name) on the same Redis.
	lim := ionredis.NewLimiter(rdb, "upstream-api", ionredis.Window{Rate: limit.PerMinute(3), Burst: 3})
	for range 4 {
		res, err := lim.Allow(ctx, "")
		fmt.Println(res.Allowed, res.Remaining, res.RetryAfter, err)
	}
	// Output:
	// true 2 0s <nil>
	// true 1 0s <nil>
	// true 0 0s <nil>
	// false 0 20s limit: rate limited, retry after 20s
}

func ExampleLimiter_By() {
	mr, rdb := embedded()
	defer mr.Close()
	defer rdb.Close()

	type tenantKey struct{}
	tenant := func(ctx context.Context) string { return ctx.Value(tenantKey{}).(string) }
	lim := ionredis.NewLimiter(rdb, "per-tenant", ionredis.Window{Rate: limit.PerSecond(10), Burst: 2})
	// limit.Policy, unchanged: the limit is per tenant, fleet-wide.
	pipeline := limit.Policy[string](lim.By(tenant))
	call := func(ctx context.Context) (string, error) { return "ok", nil }
	for _, t := range []string{"acme", "acme", "acme", "globex"} {
		ctx := context.WithValue(context.Background(), tenantKey{}, t)
		v, err := policy.Run(ctx, pipeline, call)
		fmt.Println(t, v, errors.Is(err, limit.ErrLimited), errors.Is(err, ion.ErrRejected))
	}
	// Output:
	// acme ok false false
	// acme ok false false
	// acme  true true
	// globex ok false false
}

func ExampleWithWindow() {
	mr, rdb := embedded()
	defer mr.Close()
	defer rdb.Close()
	ctx := context.Background()

	// 2 per second and 3 per hour per user, decided together in one round
	// trip: a refusal by either window charges neither.
	lim := ionredis.NewLimiter(rdb, "uploads",
		ionredis.Window{Rate: limit.PerSecond(2), Burst: 2, Name: "second"},
		ionredis.WithWindow(ionredis.Window{Rate: limit.PerHour(3), Burst: 3, Name: "hour"}))
	for range 3 {
		_, err := lim.Allow(ctx, "user-1")
		fmt.Println(err)
	}
	mr.SetTime(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) // one second later
	for range 2 {
		_, err := lim.Allow(ctx, "user-1")
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// <nil>
	// limit: rate limited by the second tier, retry after 500ms
	// <nil>
	// limit: rate limited by the hour tier, retry after 19m59s
}

func ExampleWithFallback() {
	mr, rdb := embedded()
	defer rdb.Close()
	ctx := context.Background()

	// While Redis is down, each of the 3 replicas allows a third of the
	// shared 30/minute (a burst of 2 of them).
	local := limit.NewTokenBucket(limit.PerMinute(10), 2)
	lim := ionredis.NewLimiter(rdb, "api", ionredis.Window{Rate: limit.PerMinute(30), Burst: 6},
		ionredis.WithFallback(local))
	res, err := lim.Allow(ctx, "")
	fmt.Println(res.Allowed, res.Degraded, err)
	mr.Close() // Redis goes away
	for range 3 {
		res, err := lim.Allow(ctx, "")
		fmt.Println(res.Allowed, res.Degraded, errors.Is(err, limit.ErrLimited))
	}
	// Output:
	// true false <nil>
	// true true false
	// true true false
	// false true true
}

func ExampleWithFailOpen() {
	mr, rdb := embedded()
	defer rdb.Close()
	mr.Close() // Redis is down

	closed := ionredis.NewLimiter(rdb, "api", ionredis.Window{Rate: 100, Burst: 100})
	_, err := closed.Allow(context.Background(), "")
	fmt.Println("fail closed:", errors.Is(err, ionredis.ErrBackend), errors.Is(err, ion.ErrRejected))

	open := ionredis.NewLimiter(rdb, "api", ionredis.Window{Rate: 100, Burst: 100}, ionredis.WithFailOpen())
	res, err := open.Allow(context.Background(), "")
	fmt.Println("fail open:", res.Allowed, res.Degraded, err)
	// Output:
	// fail closed: true true
	// fail open: true true <nil>
}

func ExampleNewSemaphore() {
	mr, rdb := embedded()
	defer mr.Close()
	defer rdb.Close()
	ctx := context.Background()

	// At most 2 holders in the whole fleet.
	s := ionredis.NewSemaphore(rdb, "db", 2)
	a, _ := s.TryAcquire(ctx)
	b, _ := s.TryAcquire(ctx)
	_, err := s.TryAcquire(ctx)
	fmt.Println(errors.Is(err, ionredis.ErrFull), errors.Is(err, ion.ErrRejected))
	fmt.Println("tokens increase:", b.Token() > a.Token())
	a.Release(ctx)
	a.Release(ctx) // idempotent
	c, err := s.TryAcquire(ctx)
	fmt.Println(err, c.Token() > b.Token())
	b.Release(ctx)
	c.Release(ctx)
	// Output:
	// true true
	// tokens increase: true
	// <nil> true
}

func ExamplePolicy() {
	mr, rdb := embedded()
	defer mr.Close()
	defer rdb.Close()

	// The fleet-wide bulkhead: at most 5 calls to the database at once,
	// from every replica together.
	s := ionredis.NewSemaphore(rdb, "orders-db", 5)
	bulkhead := ionredis.Policy[string](s, ionredis.WithMaxWait(100*time.Millisecond))
	v, err := policy.Run(context.Background(), bulkhead, func(ctx context.Context) (string, error) {
		// Pass the fencing token to the database, which refuses a token
		// older than one it has seen.
		tok, ok := ionredis.FencingToken(ctx)
		return fmt.Sprint("token ", ok && tok > 0), nil
	})
	fmt.Println(v, err)
	// Output:
	// token true <nil>
}

func ExampleNewSharedBreaker() {
	mr, rdb := embedded()
	defer mr.Close()
	defer rdb.Close()

	// Each replica keeps its own breaker in its pipeline, unchanged; the
	// shared breaker makes them open together: when one replica's breaker
	// opens, or when half of the fleet's calls (at least 20) over 10s fail.
	b := breaker.New("payments", breaker.WithConsecutiveFailures(5))
	shared := ionredis.NewSharedBreaker(rdb, "payments", b, ionredis.WithFleetRule(0.5, 20, 10*time.Second))
	defer shared.Close()

	v, err := policy.Run(context.Background(), breaker.Policy[string](b),
		func(context.Context) (string, error) { return "charged", nil })
	fmt.Println(v, err)
	fmt.Println(shared)
	// Output:
	// charged <nil>
	// redis-shared-breaker(payments) sync every 1s
}

func ExampleWithBatch() {
	mr, rdb := embedded()
	defer mr.Close()
	defer rdb.Close()

	// Lease mode: this replica takes up to 4 tokens per round trip and
	// admits the next calls from them locally.
	lim := ionredis.NewLimiter(rdb, "hot", ionredis.Window{Rate: limit.PerMinute(6), Burst: 6},
		ionredis.WithBatch(4, time.Second))
	for range 7 {
		err := lim.Admit(context.Background(), 0)
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// <nil>
	// <nil>
	// <nil>
	// limit: rate limited, retry after 10s
}
