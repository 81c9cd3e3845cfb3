// Package workload drives every Ion package that records metrics or spans
// through one fixed script, so that the tests of observe's catalog and of the
// ionprom and ionotel adapters see the same metrics, with the same values.
//
// [Run] sleeps (breaker open durations, timeouts, queue waits): call it inside
// a testing/synctest bubble, where those sleeps take no real time and every
// duration it records is exact.
package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion"

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/cache"
	"github.com/ionkit/ion/chaos"
	"github.com/ionkit/ion/coalesce"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/schedule"
	"github.com/ionkit/ion/sem"
)

// errDown is the failure of the scripted dependency.
var errDown = errors.New("workload: dependency down")

// Run runs the script with m and tr as every primitive's sinks (either may
// be nil) and returns the first step that did not behave as scripted. The
// counts each step leaves are written next to it; the adapters' tests assert
// them.
func Run(ctx context.Context, m observe.Metrics, tr observe.Tracer) error {
	steps := []struct {
		name string
		run  func(context.Context, sinks) error
	}{
		{"limit", runLimit},
		{"keyed", runKeyed},
		{"multitier", runMultiTier},
		{"sem", runSem},
		{"breaker", runBreaker},
		{"pool", runPool},
		{"policy", runPolicy},
		{"adaptive", runAdaptive},
		{"cache", runCache},
		{"coalesce", runCoalesce},
		{"chaos", runChaos},
		{"schedule", runSchedule},
	}
	s := sinks{m: m, tr: tr}
	for _, st := range steps {
		if err := st.run(ctx, s); err != nil {
			return fmt.Errorf("workload %s: %w", st.name, err)
		}
	}
	return nil
}

type sinks struct {
	m  observe.Metrics
	tr observe.Tracer
}

// opts returns the sink options of one package as its constructor's option
// type O (each package has its own option types, and WithMetrics and
// WithTracer return the one every constructor accepts), followed by more.
func opts[O, P any](s sinks, withM func(observe.Metrics) P, withT func(observe.Tracer) P, more ...O) []O {
	var out []O
	if s.m != nil {
		out = append(out, any(withM(s.m)).(O))
	}
	if s.tr != nil {
		out = append(out, any(withT(s.tr)).(O))
	}
	return append(out, more...)
}

func ok(context.Context) (string, error)   { return "ok", nil }
func fail(context.Context) (string, error) { return "", errDown }

// expect returns an error unless got == want.
func expect[T comparable](what string, got, want T) error {
	if got != want {
		return fmt.Errorf("%s: got %v, want %v", what, got, want)
	}
	return nil
}

// runLimit: token bucket "api", 10/s, burst 2. Three calls at once: 2
// allowed, 1 limited; then one call that waits 0.1 s and is allowed.
//
//	ion_limit_requests_total{name="api",result="allowed"} 3
//	ion_limit_requests_total{name="api",result="limited"} 1
//	ion_limit_wait_seconds{name="api"}                    one observation of 0.1
func runLimit(ctx context.Context, s sinks) error {
	tb := limit.NewTokenBucket(limit.PerSecond(10), 2,
		opts[limit.BucketOption](s, limit.WithMetrics, limit.WithTracer, limit.WithName("api"))...)
	now := policy.Compose(limit.Policy[string](tb))
	allowed := 0
	for range 3 {
		if _, err := now.Run(ctx, ok); err == nil {
			allowed++
		}
	}
	if err := expect("allowed at once", allowed, 2); err != nil {
		return err
	}
	waiting := policy.Compose(limit.Policy[string](tb, limit.WithMaxWait(time.Second)))
	_, err := waiting.Run(ctx, ok)
	return err
}

// runKeyed: keyed limiter "tenants", at most 2 keys, idle keys forgotten
// after 1 s. Keys a, b, c: a is evicted for room; after 2 s idle, key d
// finds b expired and evicts c for room.
//
//	ion_limit_requests_total{name="tenants",result="allowed"} 4
//	ion_limit_evictions_total{name="tenants",reason="capacity"} 2
//	ion_limit_evictions_total{name="tenants",reason="idle"} 1
//	ion_limit_keys{name="tenants"} 1
func runKeyed(_ context.Context, s sinks) error {
	k := limit.NewKeyed[string](limit.PerSecond(1), 1,
		opts[limit.KeyedOption](s, limit.WithMetrics, limit.WithTracer,
			limit.WithName("tenants"), limit.WithMaxKeys(2), limit.WithIdleTTL(time.Second))...)
	for _, key := range []string{"a", "b", "c"} {
		if !k.Allow(key) {
			return fmt.Errorf("key %s refused", key)
		}
	}
	time.Sleep(2 * time.Second)
	if !k.Allow("d") {
		return errors.New("key d refused")
	}
	return expect("keys", k.Len(), 1)
}

// runMultiTier: multi-tier limiter "gateway" with a global tier of burst 3
// and a user tier of burst 1. User u1 is allowed then refused by the user
// tier; user u2 is allowed; user u3 is refused by the global tier; then the
// limiter is paused once.
//
//	ion_limit_requests_total{name="gateway",result="allowed"} 2
//	ion_limit_requests_total{name="gateway",result="limited"} 2
//	ion_limit_tier_limited_total{name="gateway",tier="user"} 1
//	ion_limit_tier_limited_total{name="gateway",tier="global"} 1
//	ion_limit_pauses_total{name="gateway"} 1
func runMultiTier(_ context.Context, s sinks) error {
	mt := httplimit.New(opts[httplimit.Option](s, httplimit.WithMetrics, httplimit.WithTracer,
		httplimit.WithName("gateway"),
		httplimit.WithTier(httplimit.Global, limit.PerMinute(1), 2),
		httplimit.WithTier(httplimit.User, limit.PerMinute(1), 1))...)
	got := []bool{
		mt.Allow(httplimit.Request{Path: "/v1/items", UserID: "u1"}),
		mt.Allow(httplimit.Request{Path: "/v1/items", UserID: "u1"}),
		mt.Allow(httplimit.Request{Path: "/v1/items", UserID: "u2"}),
		mt.Allow(httplimit.Request{Path: "/v1/items", UserID: "u3"}),
	}
	if err := expect("admissions", fmt.Sprint(got), "[true false true false]"); err != nil {
		return err
	}
	mt.PauseFor(time.Second)
	time.Sleep(time.Second)
	return nil
}

// runSem: semaphore "db" of capacity 2, acquire timeout 100 ms.
//
//	ion_sem_acquire_total{name="db",result="acquired"} 3   (2 permits at once, 1 after a 50 ms wait, 1 through the bulkhead)
//	ion_sem_acquire_total{name="db",result="rejected"} 1   (TryAcquire while full)
//	ion_sem_acquire_total{name="db",result="timeout"}  1   (queued 100 ms)
//	ion_sem_acquire_total{name="db",result="canceled"} 1   (ctx canceled while queued)
//	ion_sem_acquire_total{name="db",result="invalid"}  1   (weight 3 > capacity 2)
//	ion_sem_over_released_total{name="db"} 1
//	ion_sem_wait_seconds{name="db"}  observations 0.1 (timeout), 0.01 (canceled) and 0.05
//	ion_sem_in_use{name="db"} 0, ion_sem_waiting{name="db"} 0
func runSem(ctx context.Context, s sinks) error {
	w := sem.NewWeighted(2, opts(s, sem.WithMetrics, sem.WithTracer,
		sem.WithName("db"), sem.WithAcquireTimeout(100*time.Millisecond))...)
	if err := w.Acquire(ctx, 2); err != nil {
		return err
	}
	if w.TryAcquire(1) {
		return errors.New("TryAcquire succeeded on a full semaphore")
	}
	if err := w.Acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) && err == nil {
		return fmt.Errorf("workload: Acquire on a full semaphore: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	err := w.Acquire(cctx, 1)
	cancel()
	if err == nil {
		return errors.New("workload: Acquire with an expiring ctx succeeded")
	}
	if err := w.Acquire(ctx, 3); err == nil {
		return errors.New("Acquire(3) of 2 succeeded")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(50 * time.Millisecond)
		w.Release(2)
	})
	if err := w.Acquire(ctx, 1); err != nil {
		return err
	}
	wg.Wait()
	w.Release(2) // one more than held: ignored and counted
	if _, err := policy.Run(ctx, sem.Policy[string](w), ok); err != nil {
		return err
	}
	return expect("available", w.Available(), int64(2))
}

// runBreaker: breaker "payments", opens after 2 consecutive failures for
// 1 s, closes after 1 probe success. Calls: success, failure, failure (open),
// one rejected, an ignored call (the caller's ctx canceled), then after 1 s a
// success that half-opens and closes it.
//
//	ion_breaker_calls_total{name="payments",outcome="success"} 2
//	ion_breaker_calls_total{name="payments",outcome="failure"} 2
//	ion_breaker_rejections_total{name="payments"} 2
//	ion_breaker_transitions_total closed→open, open→half-open, half-open→closed: 1 each
//	ion_breaker_state{name="payments"} 0
func runBreaker(ctx context.Context, s sinks) error {
	b := breaker.New("payments", opts(s, breaker.WithMetrics, breaker.WithTracer,
		breaker.WithConsecutiveFailures(2), breaker.WithOpenDuration(time.Second),
		breaker.WithSuccessThreshold(1), breaker.WithHalfOpenMaxCalls(1))...)
	p := policy.Compose(breaker.Policy[string](b))
	_, _ = p.Run(ctx, ok)
	_, _ = p.Run(ctx, fail)
	_, _ = p.Run(ctx, fail)
	if _, err := p.Run(ctx, ok); !errors.Is(err, breaker.ErrOpen) {
		return fmt.Errorf("call on an open breaker: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = p.Run(cctx, ok) // refused before the breaker is asked, or ignored
	time.Sleep(time.Second)
	if _, err := p.Run(ctx, ok); err != nil {
		return fmt.Errorf("probe: %v", err)
	}
	return expect("state", b.Snapshot().State, breaker.Closed)
}

// runPool: pool "workers" of 1 worker and a queue of 1, queued tasks expire
// after 1 s. A first pool runs a completed, a failed and a panicking task,
// refuses one task while full and discards one queued task by a forced
// Close. A second pool of the same name (so the same series) lets a queued
// task expire behind a busy worker.
//
//	ion_pool_tasks_total{name="workers",result="completed"} 3
//	ion_pool_tasks_total{name="workers",result="failed"}    1
//	ion_pool_tasks_total{name="workers",result="panicked"}  1
//	ion_pool_tasks_total{name="workers",result="rejected"}  1
//	ion_pool_tasks_total{name="workers",result="expired"}   1
//	ion_pool_tasks_total{name="workers",result="discarded"} 1
//	ion_pool_size{name="workers"} 1
func runPool(ctx context.Context, s sinks) error {
	discards := make(chan error, 4)
	newPool := func() *pool.Pool {
		return pool.New(1, 1, opts(s, pool.WithMetrics, pool.WithTracer,
			pool.WithName("workers"), pool.WithMaxQueueWait(time.Second),
			pool.WithPanicHandler(func(*ion.PanicError) {}),
			pool.WithDiscardHandler(func(_ context.Context, _ pool.Task, err error) { discards <- err }))...)
	}
	p := newPool()
	run := func(task pool.Task) error { return p.Submit(ctx, task) }
	if _, err := pool.Go(ctx, p, ok); err != nil {
		return err
	}
	_ = run(func(context.Context) error { return errDown })
	_ = run(func(context.Context) error { panic("workload: task panicked") })
	if err := p.Wait(ctx); err != nil {
		return err
	}

	// Hold the worker, queue one task and refuse one; then force a Close:
	// the queued task is discarded.
	held := make(chan struct{})
	_ = run(func(c context.Context) error { close(held); <-c.Done(); return nil })
	<-held
	_ = run(func(context.Context) error { return nil })
	if err := p.TrySubmit(func(context.Context) error { return nil }); err == nil {
		return errors.New("TrySubmit on a full pool succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	n, _ := p.Close(cctx)
	if err := expect("discarded", n, 1); err != nil {
		return err
	}
	if err := expect("discard error", errors.Is(<-discards, pool.ErrClosed), true); err != nil {
		return err
	}
	if _, err := p.Close(ctx); err != nil {
		return err
	}

	// Hold the worker 2 s with one task queued: the queued task expires.
	p = newPool()
	release := make(chan struct{})
	_ = run(func(context.Context) error { <-release; return nil })
	_ = run(func(context.Context) error { return nil })
	time.Sleep(2 * time.Second)
	close(release)
	if err := expect("expired", errors.Is(<-discards, pool.ErrExpired), true); err != nil {
		return err
	}
	// Pool.Wait does not return after a task expired, so close by force
	// once the worker is idle.
	synctest.Wait()
	_, _ = p.Close(cctx)
	return nil
}

// runPolicy: the call-shaping policies.
//
//	retry "fetch": fails once, then succeeds: attempts 2, retries 1
//	retry "frugal" with a budget of 0: fails once, budget refuses: attempts 1, budget_refused 1
//	hedge "search": the first attempt is slow, the hedge wins: attempts 2, hedges 1
//	timeout "slow": 100 ms deadline on a 1 s call: timeouts 1
//	timeout "stuck" with WithAbandon: one call abandoned, then finishes: timeout_abandoned 0
//	fallback "cached": answers one failure: fallbacks 1
func runPolicy(ctx context.Context, s sinks) error {
	popts := func(name string) []policy.Option {
		return opts(s, policy.WithMetrics, policy.WithTracer, policy.WithName(name))
	}
	calls := 0
	flaky := func(context.Context) (string, error) {
		calls++
		if calls == 1 {
			return "", errDown
		}
		return "ok", nil
	}
	retry := policy.Retry[string](append(asRetry(popts("fetch")),
		policy.WithAttempts(3), policy.WithBackoff(policy.Constant(10*time.Millisecond)))...)
	if _, err := policy.Run(ctx, retry, flaky); err != nil {
		return fmt.Errorf("retry: %v", err)
	}

	frugal := policy.Retry[string](append(asRetry(popts("frugal")),
		policy.WithAttempts(3), policy.WithBudget(policy.NewBudget(0, 0)))...)
	if _, err := policy.Run(ctx, frugal, fail); !errors.Is(err, policy.ErrRetryBudget) {
		return fmt.Errorf("retry with no budget: %v", err)
	}

	hedge := policy.Hedge[string](50*time.Millisecond, asHedge(popts("search"))...)
	if v, err := policy.Run(ctx, hedge, func(ctx context.Context) (string, error) {
		if policy.Attempt(ctx) == 1 {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			return "primary", ctx.Err()
		}
		return "hedge", nil
	}); v != "hedge" || err != nil {
		return fmt.Errorf("hedge: %q, %v", v, err)
	}

	timeout := policy.Timeout[string](100*time.Millisecond, asTimeout(popts("slow"))...)
	if _, err := policy.Run(ctx, timeout, func(ctx context.Context) (string, error) {
		select {
		case <-time.After(time.Second):
			return "late", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}); !errors.Is(err, policy.ErrTimeout) {
		return fmt.Errorf("timeout: %v", err)
	}

	abandon := policy.Timeout[string](100*time.Millisecond, append(asTimeout(popts("stuck")), policy.WithAbandon())...)
	finished := make(chan struct{})
	if _, err := policy.Run(ctx, abandon, func(context.Context) (string, error) {
		defer close(finished)
		time.Sleep(time.Second) // ignores its ctx: abandoned
		return "late", nil
	}); !errors.Is(err, policy.ErrTimeout) {
		return fmt.Errorf("abandoning timeout: %v", err)
	}
	<-finished
	time.Sleep(time.Millisecond) // let the abandoned goroutine publish the gauge

	fallback := policy.Fallback("cached", asFallback(popts("cached"))...)
	if v, err := policy.Run(ctx, fallback, fail); v != "cached" || err != nil {
		return fmt.Errorf("fallback: %q, %v", v, err)
	}
	return nil
}

// runAdaptive: adaptive limiter "backend" with a limit of 1 and a queue of
// 1: one call holds the permit while a second is rejected; the first
// returns after 20 ms, which closes the sample window. Throttler "client"
// (seed 1): 4 successes are sent, then failures until one is throttled
// (the tenth, with this seed).
//
//	ion_adaptive_calls_total{name="backend",result="admitted"} 1
//	ion_adaptive_calls_total{name="backend",result="rejected"} 1
//	ion_adaptive_limit{name="backend"} 1
//	ion_adaptive_rtt_seconds{name="backend"} 0.02, ion_adaptive_no_load_rtt_seconds{name="backend"} 0.02
//	ion_adaptive_throttler_calls_total{name="client",result="sent"}      14
//	ion_adaptive_throttler_calls_total{name="client",result="throttled"} 1
func runAdaptive(ctx context.Context, s sinks) error {
	lim := adaptive.NewLimiter(opts[adaptive.LimiterOption](s, adaptive.WithMetrics, adaptive.WithTracer,
		adaptive.WithName("backend"), adaptive.WithLimits(1, 1), adaptive.WithInitialLimit(1),
		adaptive.WithSampleWindow(10*time.Millisecond, 1))...)
	p := policy.Compose(adaptive.Policy[string](lim))
	held, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = p.Run(ctx, func(context.Context) (string, error) {
			close(held)
			<-release
			return "ok", nil
		})
	})
	<-held
	if _, err := p.Run(ctx, ok); !errors.Is(err, adaptive.ErrLimited) {
		return fmt.Errorf("call over the limit: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := lim.Err(); err != nil {
		return err
	}

	th := adaptive.NewThrottler(opts[adaptive.ThrottlerOption](s, adaptive.WithMetrics, adaptive.WithTracer,
		adaptive.WithName("client"), adaptive.WithSeed(1))...)
	tp := policy.Compose(adaptive.ThrottlerPolicy[string](th))
	for range 4 {
		if _, err := tp.Run(ctx, ok); err != nil {
			return fmt.Errorf("throttler, healthy: %v", err)
		}
	}
	for i := 0; ; i++ {
		if _, err := tp.Run(ctx, fail); errors.Is(err, ion.ErrRejected) {
			return nil
		}
		if i == 1000 {
			return errors.New("throttler never throttled a failing backend")
		}
	}
}

// runCache: cache "users", 1 minute TTL, stale answers for a minute while a
// refresh runs. A miss, a hit, then after the TTL a stale answer whose
// refresh completes.
//
//	ion_cache_requests_total{name="users",result="miss"}  1
//	ion_cache_requests_total{name="users",result="hit"}   1
//	ion_cache_requests_total{name="users",result="stale"} 1
//	ion_cache_refreshing{name="users"} 0
func runCache(ctx context.Context, s sinks) error {
	var cacheOpts []cache.Option
	if s.m != nil {
		cacheOpts = append(cacheOpts, cache.WithMetrics(s.m))
	}
	c := cache.New[string](func(context.Context) string { return "user:42" }, time.Minute,
		append(cacheOpts, cache.WithName("users"), cache.WithStaleWhileRevalidate(time.Minute))...)
	for range 2 {
		if _, err := policy.Run(ctx, c, ok); err != nil {
			return err
		}
	}
	time.Sleep(90 * time.Second) // past the TTL, within the stale window
	if _, err := policy.Run(ctx, c, ok); err != nil {
		return err
	}
	synctest.Wait() // the background refresh
	return nil
}

// runCoalesce: group "lookups"; a second call for the key of a running one
// shares its execution.
//
//	ion_coalesce_calls_total{name="lookups",result="executed"} 1
//	ion_coalesce_calls_total{name="lookups",result="shared"}   1
//	ion_coalesce_running{name="lookups"} 0
func runCoalesce(ctx context.Context, s sinks) error {
	var gopts []coalesce.Option
	if s.m != nil {
		gopts = append(gopts, coalesce.WithMetrics(s.m))
	}
	g := coalesce.New[string](func(context.Context) string { return "sku:7" }, append(gopts, coalesce.WithName("lookups"))...)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, _ = policy.Run(ctx, g, func(context.Context) (string, error) {
				<-release
				return "ok", nil
			})
		})
		synctest.Wait()
	}
	close(release)
	wg.Wait()
	return nil
}

// runChaos: fault injector "drill" at rate 1 fails one call.
//
//	ion_chaos_injections_total{name="drill",kind="fault"} 1
func runChaos(ctx context.Context, s sinks) error {
	var copts []chaos.Option
	if s.m != nil {
		copts = append(copts, chaos.WithMetrics(s.m))
	}
	in := chaos.Fault[string](errDown, 1, append(copts, chaos.WithName("drill"), chaos.WithSeed(1))...)
	if _, err := policy.Run(ctx, in, ok); !errors.Is(err, errDown) {
		return fmt.Errorf("fault injection: %v", err)
	}
	return nil
}

// runSchedule: job "report" every minute, which takes 2 s; its first run
// completes and its second fails, then the scheduler stops.
//
//	ion_schedule_runs_total{name="report",result="completed"} 1
//	ion_schedule_runs_total{name="report",result="failed"}    1
//	ion_schedule_run_duration_seconds{name="report"} two observations of 2
//	ion_schedule_running{name="report"} 0
func runSchedule(ctx context.Context, s sinks) error {
	var sopts []schedule.Option
	if s.m != nil {
		sopts = append(sopts, schedule.WithMetrics(s.m))
	}
	sch := schedule.New(sopts...)
	runs := 0
	if err := sch.Add("report", schedule.FixedRate(time.Minute), func(context.Context) error {
		runs++
		time.Sleep(2 * time.Second)
		if runs == 2 {
			return errDown
		}
		return nil
	}); err != nil {
		return err
	}
	time.Sleep(2*time.Minute + 3*time.Second)
	if _, err := sch.Stop(ctx); err != nil {
		return err
	}
	return expect("runs", runs, 2)
}

// asRetry, asHedge, asTimeout and asFallback convert the common options to
// each policy's own option type.
func asRetry(os []policy.Option) []policy.RetryOption     { return convert[policy.RetryOption](os) }
func asHedge(os []policy.Option) []policy.HedgeOption     { return convert[policy.HedgeOption](os) }
func asTimeout(os []policy.Option) []policy.TimeoutOption { return convert[policy.TimeoutOption](os) }
func asFallback(os []policy.Option) []policy.FallbackOption {
	return convert[policy.FallbackOption](os)
}

func convert[O any](os []policy.Option) []O {
	out := make([]O, len(os))
	for i, o := range os {
		out[i] = any(o).(O)
	}
	return out
}
