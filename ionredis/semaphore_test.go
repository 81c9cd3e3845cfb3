package ionredis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSemaphore_capacityTokensRelease(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		s := ionredis.NewSemaphore(tg.client(t), uniq(t), 3, roomy)
		require.NoError(t, s.Err())
		var leases []*ionredis.Lease
		last := int64(0)
		for range 3 {
			l, err := s.TryAcquire(ctx)
			require.NoError(t, err)
			assert.Greater(t, l.Token(), last, "fencing tokens strictly increase")
			last = l.Token()
			leases = append(leases, l)
		}
		_, err := s.TryAcquire(ctx)
		require.ErrorIs(t, err, ionredis.ErrFull)
		assert.ErrorIs(t, err, ion.ErrRejected)
		ra, ok := ion.RetryAfter(err)
		assert.True(t, ok && ra > 9*time.Second && ra <= ionredis.DefaultTTL, "retry-after is the earliest expiry: %v", ra)

		require.NoError(t, leases[0].Release(ctx))
		require.NoError(t, leases[0].Release(ctx), "Release is idempotent")
		l, err := s.TryAcquire(ctx)
		require.NoError(t, err, "a released permit is free again")
		assert.Greater(t, l.Token(), last)
		_, err = s.TryAcquire(ctx)
		require.ErrorIs(t, err, ionredis.ErrFull, "a second Release freed nothing more")
		for _, l := range append(leases[1:], l) {
			require.NoError(t, l.Release(ctx))
		}
	})
}

func TestSemaphore_crashedHolderPermitReturnsAfterTTL(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		ttl := 300 * time.Millisecond
		s := ionredis.NewSemaphore(tg.client(t), uniq(t), 1, ionredis.WithTTL(ttl), roomy)
		l, err := s.TryAcquire(ctx)
		require.NoError(t, err)
		l.Abandon() // the holder crashes: no renewal, no release
		_, err = s.TryAcquire(ctx)
		require.ErrorIs(t, err, ionredis.ErrFull)
		if tg.mini != nil {
			tg.mini.SetTime(time.Now().Add(ttl + time.Millisecond))
			l2, err := s.TryAcquire(ctx)
			require.NoError(t, err, "the permit is back once the TTL passed on Redis's clock")
			require.NoError(t, l2.Release(ctx))
			return
		}
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		l2, err := s.Acquire(wctx)
		require.NoError(t, err)
		waited := time.Since(start)
		assert.Less(t, waited, ttl+1500*time.Millisecond, "back after about one TTL")
		assert.Greater(t, l2.Token(), l.Token())
		require.NoError(t, l2.Release(ctx))
	})
}

func TestSemaphore_renewedWhileHeld(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		if tg.mini != nil {
			t.Skip("miniredis's clock is the wall clock here; the real servers cover renewal")
		}
		ctx := context.Background()
		ttl := 450 * time.Millisecond // renewals every 150ms, room for a busy machine
		s := ionredis.NewSemaphore(tg.client(t), uniq(t), 1, ionredis.WithTTL(ttl), ionredis.WithTimeout(time.Second))
		l, err := s.TryAcquire(ctx)
		require.NoError(t, err)
		deadline := time.Now().Add(3 * ttl)
		for time.Now().Before(deadline) {
			_, err := s.TryAcquire(ctx)
			require.ErrorIs(t, err, ionredis.ErrFull, "the held lease is renewed past its TTL")
			select {
			case <-l.Lost():
				t.Fatal("lease lost while Redis is up")
			case <-time.After(ttl / 4):
			}
		}
		require.NoError(t, l.Release(ctx))
	})
}

func TestSemaphore_lostLeaseCancelsCall(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		c := tg.client(t)
		s := ionredis.NewSemaphore(c, uniq(t), 1, ionredis.WithTTL(30*time.Millisecond), ionredis.WithTimeout(time.Second))
		_, err := policy.Run(ctx, ionredis.Policy[int](s), func(ctx context.Context) (int, error) {
			tok, ok := ionredis.FencingToken(ctx)
			require.True(t, ok)
			require.Positive(t, tok)
			// Redis loses the lease (a restart without persistence).
			require.NoError(t, c.Del(context.Background(), s.HoldersKey()).Err())
			<-ctx.Done()
			return 0, context.Cause(ctx)
		})
		require.ErrorIs(t, err, ionredis.ErrLeaseLost, "the call's ctx is cancelled when its lease is lost")
	})
}

func TestSemaphore_policyBulkhead(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		s := ionredis.NewSemaphore(tg.client(t), uniq(t), 2, roomy)
		bulkhead := ionredis.Policy[int](s)
		in := make(chan struct{})
		out := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				_, err := policy.Run(ctx, bulkhead, func(context.Context) (int, error) {
					in <- struct{}{}
					<-out
					return 1, nil
				})
				if err != nil {
					t.Error(err)
					in <- struct{}{} // let the test end
				}
			})
		}
		<-in
		<-in
		ran := false
		_, err := policy.Run(ctx, bulkhead, func(context.Context) (int, error) { ran = true; return 0, nil })
		require.ErrorIs(t, err, ionredis.ErrFull)
		assert.False(t, ran, "a rejected call does not run")

		// With a max wait, a call waits for a permit.
		waited := make(chan error, 1)
		go func() { // joined below
			_, err := policy.Run(ctx, ionredis.Policy[int](s, ionredis.WithMaxWait(5*time.Second)),
				func(context.Context) (int, error) { return 1, nil })
			waited <- err
		}()
		close(out)
		wg.Wait()
		require.NoError(t, <-waited)

		// A max wait that runs out.
		l1, _ := s.TryAcquire(ctx)
		l2, _ := s.TryAcquire(ctx)
		_, err = policy.Run(ctx, ionredis.Policy[int](s, ionredis.WithMaxWait(30*time.Millisecond)),
			func(context.Context) (int, error) { return 1, nil })
		require.ErrorIs(t, err, ionredis.ErrFull)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, ion.ErrRejected)
		require.NoError(t, l1.Release(ctx))
		require.NoError(t, l2.Release(ctx))

		// A panic releases the permit and goes on.
		func() {
			defer func() { assert.Equal(t, "boom", recover()) }()
			_, _ = policy.Run(ctx, bulkhead, func(context.Context) (int, error) { panic("boom") })
		}()
		for range 2 {
			l, err := s.TryAcquire(ctx)
			require.NoError(t, err, "the panicking call released its permit")
			defer l.Release(ctx)
		}
	})
}

// TestSemaphore_fleet: replicas hammering the fleet-wide bulkhead never have
// more holders than its capacity, by an independent counter.
func TestSemaphore_fleet(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		const capacity = 3
		name := uniq(t)
		var inside, peak, runs atomic.Int64
		stop := time.Now().Add(500 * time.Millisecond)
		var wg sync.WaitGroup
		for range 4 {
			s := ionredis.NewSemaphore(tg.client(t), name, capacity, ionredis.WithTimeout(5*time.Second))
			bulkhead := ionredis.Policy[int](s, ionredis.WithMaxWait(time.Second))
			for range 4 {
				wg.Go(func() {
					for time.Now().Before(stop) {
						_, err := policy.Run(context.Background(), bulkhead, func(context.Context) (int, error) {
							n := inside.Add(1)
							for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
							}
							time.Sleep(time.Millisecond) // the guarded work
							inside.Add(-1)
							runs.Add(1)
							return 0, nil
						})
						if err != nil && !errors.Is(err, ionredis.ErrFull) {
							t.Error(err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		t.Logf("%s: %d calls, peak %d holders", tg.name, runs.Load(), peak.Load())
		assert.LessOrEqual(t, peak.Load(), int64(capacity), "never more holders than the capacity")
		assert.Equal(t, int64(capacity), peak.Load(), "the capacity is used")
		assert.Positive(t, runs.Load())
	})
}

func TestSemaphore_failureModes(t *testing.T) {
	ctx := context.Background()
	_, err := ionredis.NewSemaphore(deadClient(t), "down", 2).TryAcquire(ctx)
	require.ErrorIs(t, err, ionredis.ErrBackend)
	assert.ErrorIs(t, err, ion.ErrRejected)

	open := ionredis.NewSemaphore(deadClient(t), "down", 2, ionredis.WithFailOpen())
	l, err := open.TryAcquire(ctx)
	require.NoError(t, err)
	assert.Zero(t, l.Token(), "no fencing token without Redis")
	require.NoError(t, l.Release(ctx))
	_, err = policy.Run(ctx, ionredis.Policy[int](open), func(ctx context.Context) (int, error) {
		_, ok := ionredis.FencingToken(ctx)
		assert.False(t, ok)
		return 1, nil
	})
	require.NoError(t, err)

	local := sem.NewWeighted(1)
	fb := ionredis.NewSemaphore(deadClient(t), "down", 2, ionredis.WithLocalSemaphore(local))
	l, err = fb.TryAcquire(ctx)
	require.NoError(t, err)
	_, err = fb.TryAcquire(ctx)
	require.ErrorIs(t, err, ionredis.ErrFull, "the local semaphore decides while Redis is down")
	require.NoError(t, l.Release(ctx))
	require.NoError(t, l.Release(ctx))
	assert.Equal(t, int64(1), local.Available(), "released once, idempotently")
}

func TestSemaphore_badInput(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	tests := []struct {
		name  string
		s     *ionredis.Semaphore
		param string
	}{
		{"nil client", ionredis.NewSemaphore(nil, "n", 1), "client"},
		{"empty name", ionredis.NewSemaphore(c, "", 1), "name"},
		{"zero capacity", ionredis.NewSemaphore(c, "n", 0), "capacity"},
		{"negative capacity", ionredis.NewSemaphore(c, "n", -1), "capacity"},
		{"tiny TTL", ionredis.NewSemaphore(c, "n", 1, ionredis.WithTTL(time.Millisecond)), "WithTTL"},
		{"nil option", ionredis.NewSemaphore(c, "n", 1, nil), "opts"},
		{"nil local", ionredis.NewSemaphore(c, "n", 1, ionredis.WithLocalSemaphore(nil)), "WithLocalSemaphore"},
		{"two failure modes", ionredis.NewSemaphore(c, "n", 1, ionredis.WithFailOpen(),
			ionredis.WithLocalSemaphore(sem.NewWeighted(1))), "WithLocalSemaphore"},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *ion.ConfigError
			require.ErrorAs(t, tc.s.Err(), &ce)
			assert.Equal(t, tc.param, ce.Param)
			_, err := tc.s.TryAcquire(ctx)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			_, err = tc.s.Acquire(ctx)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			_, err = policy.Run(ctx, ionredis.Policy[int](tc.s), okFn)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
		})
	}
	s := ionredis.NewSemaphore(c, "n", 1)
	_, err := policy.Run(ctx, ionredis.Policy[int](nil), okFn)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	_, err = policy.Run(ctx, ionredis.Policy[int](s, ionredis.WithMaxWait(-1)), okFn)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.TryAcquire(done)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, mr.Keys(), "no bad call reached Redis")
}

func TestSemaphore_metrics(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	ctx := context.Background()
	rec := observe.NewRecorder()
	s := ionredis.NewSemaphore(c, "m", 1, ionredis.WithMetrics(rec), ionredis.WithTTL(30*time.Millisecond))
	l, err := s.TryAcquire(ctx)
	require.NoError(t, err)
	_, err = s.TryAcquire(ctx)
	require.ErrorIs(t, err, ionredis.ErrFull)
	require.NoError(t, c.Del(ctx, s.HoldersKey()).Err()) // Redis loses the lease
	<-l.Lost()
	name := observe.L("name", "m")
	assert.Equal(t, int64(1), rec.Count("ion_redis_sem_acquire_total", name, observe.L("result", "acquired")))
	assert.Equal(t, int64(1), rec.Count("ion_redis_sem_acquire_total", name, observe.L("result", "full")))
	assert.Equal(t, int64(1), rec.Count("ion_redis_sem_leases_lost_total", name))
	assert.NotEmpty(t, rec.Observations("ion_redis_backend_seconds", name, observe.L("kind", "sem")))
	require.NoError(t, l.Release(ctx))
}

func TestSemaphore_describeAndZeroValues(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	s := ionredis.NewSemaphore(c, "db", 5)
	assert.Equal(t, int64(5), s.Capacity())
	assert.Equal(t, "redis-sem(db) capacity 5 ttl 10s", s.String())
	bulkhead := ionredis.Policy[int](s, ionredis.WithMaxWait(time.Second))
	assert.Equal(t, "redis-bulkhead(redis-sem(db) capacity 5 ttl 10s, max wait 1s)", bulkhead.(fmt.Stringer).String())
	assert.Contains(t, ionredis.NewSemaphore(c, "db", 0).String(), "invalid")
	assert.Contains(t, ionredis.Policy[int](nil).(fmt.Stringer).String(), "invalid")
	assert.Equal(t, "ionredis: semaphore full", (&ionredis.FullError{}).Error())

	ctx := context.Background()
	_, err := new(ionredis.Semaphore).TryAcquire(ctx)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "the zero Semaphore fails closed")
	assert.ErrorIs(t, new(ionredis.Limiter).Admit(ctx, 0), ion.ErrInvalidConfig, "the zero Limiter fails closed")
	_, err = new(ionredis.Limiter).AllowN(ctx, "k", 1)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	var l *ionredis.Lease
	assert.NoError(t, l.Release(ctx), "releasing a nil lease does nothing")
}
