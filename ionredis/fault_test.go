package ionredis_test

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fault tests run against a redis-server of their own, which they
// freeze (SIGSTOP), thaw (SIGCONT), kill and restart while replicas call.

func realClient(t testing.TB, s *server) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: s.addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(sig))
}

// tally counts the outcomes of the calls of one phase.
type tally struct {
	mu                                 sync.Mutex
	shared, degraded, limited, backend int
	other                              []error
	slowest                            time.Duration
}

// load runs workers calling lim.AllowN for d and tallies the outcomes.
func load(lim *ionredis.Limiter, d time.Duration) *tally {
	var tl tally
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				start := time.Now()
				res, err := lim.Allow(context.Background(), "k")
				took := time.Since(start)
				tl.mu.Lock()
				tl.slowest = max(tl.slowest, took)
				switch {
				case errors.Is(err, ionredis.ErrBackend):
					tl.backend++
				case errors.Is(err, limit.ErrLimited):
					tl.limited++
				case err != nil:
					tl.other = append(tl.other, err)
				case res.Degraded:
					tl.degraded++
				default:
					tl.shared++
				}
				tl.mu.Unlock()
				if err != nil {
					time.Sleep(time.Millisecond) // a failing caller backs off a little
				}
			}
		})
	}
	wg.Wait()
	return &tl
}

// TestFault_limiterFrozenRedis: while Redis is frozen each failure mode does
// what it promises, no call waits much longer than the backend timeout,
// and decisions come back to Redis once it thaws.
func TestFault_limiterFrozenRedis(t *testing.T) {
	srv := privateServer(t)
	window := ionredis.Window{Rate: 100_000, Burst: 100_000}
	modes := []struct {
		name  string
		opts  []ionredis.LimiterOption
		check func(t *testing.T, tl *tally)
	}{
		{"closed", nil, func(t *testing.T, tl *tally) {
			assert.Zero(t, tl.shared+tl.degraded, "fail closed admits nothing while Redis is frozen")
			assert.Positive(t, tl.backend)
		}},
		{"open", []ionredis.LimiterOption{ionredis.WithFailOpen()}, func(t *testing.T, tl *tally) {
			assert.Zero(t, tl.backend+tl.limited, "fail open rejects nothing")
			assert.Positive(t, tl.degraded)
		}},
		{"local", []ionredis.LimiterOption{ionredis.WithFallback(limit.NewTokenBucket(limit.PerHour(1), 5))},
			func(t *testing.T, tl *tally) {
				assert.Equal(t, 5, tl.degraded, "the local limiter admits exactly its burst")
				assert.Positive(t, tl.limited)
				assert.Zero(t, tl.backend)
			}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			lim := ionredis.NewLimiter(realClient(t, srv), uniq(t), window, m.opts...)
			before := load(lim, 200*time.Millisecond)
			require.Empty(t, before.other)
			require.Zero(t, before.backend+before.degraded, "Redis decides while it is up")

			srv.signal(t, syscall.SIGSTOP)
			frozen := load(lim, 400*time.Millisecond)
			srv.signal(t, syscall.SIGCONT)
			require.Empty(t, frozen.other)
			assert.Zero(t, frozen.shared, "no decision came from a frozen Redis")
			assert.Less(t, frozen.slowest, time.Second, "the backend timeout (50ms), not go-redis's 3s read timeout, bounds each call")
			m.check(t, frozen)

			// Once thawed, Redis decides again (after the frozen round trips drain).
			require.Eventually(t, func() bool {
				res, err := lim.Allow(context.Background(), "k")
				return err == nil && !res.Degraded
			}, 5*time.Second, 10*time.Millisecond)
			after := load(lim, 200*time.Millisecond)
			assert.Positive(t, after.shared)
			assert.Zero(t, after.backend+after.degraded, "Redis decides again")
		})
	}
}

// TestFault_limiterKilledRedis: a killed Redis fails fast into the failure
// mode; a restarted one (its scripts gone) decides again.
func TestFault_limiterKilledRedis(t *testing.T) {
	srv := privateServer(t)
	lim := ionredis.NewLimiter(realClient(t, srv), uniq(t), ionredis.Window{Rate: 100_000, Burst: 100_000})
	require.Zero(t, load(lim, 100*time.Millisecond).backend)
	srv.stop()
	dead := load(lim, 200*time.Millisecond)
	assert.Zero(t, dead.shared+dead.degraded, "fail closed while Redis is down")
	assert.Positive(t, dead.backend)
	assert.Less(t, dead.slowest, time.Second)
	srv.restart(t)
	require.Eventually(t, func() bool {
		_, err := lim.Allow(context.Background(), "k")
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "the script is loaded again after NOSCRIPT")
	after := load(lim, 100*time.Millisecond)
	assert.Positive(t, after.shared)
	assert.Zero(t, after.backend)
}

// TestFault_semaphoreFrozenRedis: a holder that cannot renew for a whole
// TTL loses its lease (its call's ctx is cancelled), and the permit is free
// again on Redis: no permit outlives its TTL.
func TestFault_semaphoreFrozenRedis(t *testing.T) {
	srv := privateServer(t)
	ttl := 300 * time.Millisecond
	s := ionredis.NewSemaphore(realClient(t, srv), uniq(t), 1, ionredis.WithTTL(ttl))
	var frozenAt time.Time
	_, err := policy.Run(context.Background(), ionredis.Policy[int](s), func(ctx context.Context) (int, error) {
		srv.signal(t, syscall.SIGSTOP)
		frozenAt = time.Now()
		<-ctx.Done()
		return 0, context.Cause(ctx)
	})
	lostAfter := time.Since(frozenAt)
	srv.signal(t, syscall.SIGCONT)
	require.ErrorIs(t, err, ionredis.ErrLeaseLost)
	assert.Less(t, lostAfter, ttl+time.Second, "the holder stops within about a TTL")

	// The permit is free: the holder's lease expired on Redis's clock.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := s.Acquire(ctx)
	require.NoError(t, err, "no permit kept after its TTL")
	require.NoError(t, l.Release(ctx))
}

// TestFault_semaphoreRestartedRedis: Redis restarted without its data loses
// the leases; their holders learn it at the next renewal, and fencing
// tokens keep increasing.
func TestFault_semaphoreRestartedRedis(t *testing.T) {
	srv := privateServer(t)
	ttl := 300 * time.Millisecond
	s := ionredis.NewSemaphore(realClient(t, srv), uniq(t), 1, ionredis.WithTTL(ttl))
	ctx := context.Background()
	l, err := s.TryAcquire(ctx)
	require.NoError(t, err)
	srv.restart(t)
	select {
	case <-l.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder never learnt that its lease was lost")
	}
	require.NoError(t, l.Release(ctx), "releasing a lost lease is a no-op")
	l2, err := s.TryAcquire(ctx)
	require.NoError(t, err)
	assert.Greater(t, l2.Token(), l.Token(), "fencing tokens increase across a restart")
	require.NoError(t, l2.Release(ctx))
}

// TestFault_bulkheadMaxWaitShorterThanTimeout: a frozen Redis answers
// nothing until the backend timeout; a bulkhead whose max wait is shorter
// still takes that for a backend failure and falls back to its local
// semaphore, rather than calling the fleet's semaphore full.
func TestFault_bulkheadMaxWaitShorterThanTimeout(t *testing.T) {
	srv := privateServer(t)
	local := sem.NewWeighted(1)
	s := ionredis.NewSemaphore(realClient(t, srv), uniq(t), 3,
		ionredis.WithTimeout(200*time.Millisecond), ionredis.WithLocalSemaphore(local))
	bulkhead := ionredis.Policy[int](s, ionredis.WithMaxWait(20*time.Millisecond))
	_, err := policy.Run(context.Background(), bulkhead, okFn) // warm: loads the script, opens a connection
	require.NoError(t, err)

	srv.signal(t, syscall.SIGSTOP)
	defer srv.signal(t, syscall.SIGCONT)
	v, err := policy.Run(context.Background(), bulkhead, func(context.Context) (int, error) {
		assert.Equal(t, int64(0), local.Available(), "the call holds the local permit")
		return 7, nil
	})
	require.NoError(t, err, "the local semaphore admits the call")
	assert.Equal(t, 7, v)
	assert.Equal(t, int64(1), local.Available(), "and gets its permit back")

	// With the local permit held, the call waits for it up to the max wait.
	require.True(t, local.TryAcquire(1))
	_, err = policy.Run(context.Background(), bulkhead, okFn)
	require.ErrorIs(t, err, ionredis.ErrFull, "the local semaphore is full")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "after the max wait")
	require.NoError(t, local.Release(1))
}
