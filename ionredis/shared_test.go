package ionredis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/policy"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errDown = errors.New("dependency down")

func fail(context.Context) (int, error)    { return 0, errDown }
func succeed(context.Context) (int, error) { return 1, nil }

// replicaBreaker is one replica's breaker, shared; syncs are made by the
// test (SyncNow), the background interval being an hour.
func replicaBreaker(t *testing.T, c redis.UniversalClient, name string, opts ...ionredis.SharedBreakerOption) (*breaker.Breaker, *ionredis.SharedBreaker) {
	b := breaker.New("dep", breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(time.Hour))
	s := ionredis.NewSharedBreaker(c, name, b, append([]ionredis.SharedBreakerOption{ionredis.WithSyncEvery(time.Hour)}, opts...)...)
	require.NoError(t, s.Err())
	t.Cleanup(func() { s.Close() })
	return b, s
}

func TestSharedBreaker_replicasOpenTogether(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		name := uniq(t)
		b1, s1 := replicaBreaker(t, tg.client(t), name, ionredis.WithOpenFor(300*time.Millisecond))
		b2, s2 := replicaBreaker(t, tg.client(t), name, ionredis.WithOpenFor(300*time.Millisecond))
		require.NoError(t, s2.SyncNow(ctx))

		// Replica 1's dependency fails: its own breaker opens.
		for range 3 {
			_, _ = policy.Run(ctx, breaker.Policy[int](b1), fail)
		}
		require.Equal(t, breaker.Open, b1.State())
		assert.Equal(t, breaker.Closed, b2.State(), "replica 2 does not know yet")

		require.NoError(t, s1.SyncNow(ctx))
		require.NoError(t, s2.SyncNow(ctx))
		assert.Equal(t, breaker.ForcedOpen, b2.State(), "replica 2 opens with the fleet")
		_, err := policy.Run(ctx, breaker.Policy[int](b2), succeed)
		assert.ErrorIs(t, err, ion.ErrRejected)

		// The fleet's open period ends on Redis's clock; every replica closes.
		if tg.mini != nil {
			tg.mini.SetTime(time.Now().Add(time.Second))
		} else {
			time.Sleep(350 * time.Millisecond) // Redis's own clock must pass the period
		}
		require.NoError(t, s1.SyncNow(ctx))
		require.NoError(t, s2.SyncNow(ctx))
		assert.Equal(t, breaker.Closed, b1.State())
		assert.Equal(t, breaker.Closed, b2.State())
	})
}

func TestSharedBreaker_fleetRule(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		name := uniq(t)
		rule := ionredis.WithFleetRule(0.5, 10, time.Minute)
		var bs []*breaker.Breaker
		var ss []*ionredis.SharedBreaker
		for range 3 {
			b := breaker.New("dep", breaker.WithConsecutiveFailures(1000))
			s := ionredis.NewSharedBreaker(tg.client(t), name, b, ionredis.WithSyncEvery(time.Hour), rule)
			require.NoError(t, s.Err())
			t.Cleanup(func() { s.Close() })
			bs, ss = append(bs, b), append(ss, s)
		}
		// Each replica sees 2 failures and 1 success: no local trip; the
		// fleet sees 6 of 9, then 8 of 12.
		for round := range 2 {
			for i, b := range bs {
				for range 2 {
					_, _ = policy.Run(ctx, breaker.Policy[int](b), fail)
				}
				_, _ = policy.Run(ctx, breaker.Policy[int](b), succeed)
				require.NoError(t, ss[i].SyncNow(ctx))
				if round == 0 {
					assert.Equal(t, breaker.Closed, b.State(), "9 calls are below the fleet's minimum")
				}
			}
		}
		for i := range ss {
			require.NoError(t, ss[i].SyncNow(ctx))
			assert.Equal(t, breaker.ForcedOpen, bs[i].State(), "replica %d opens with the fleet", i)
		}
	})
}

func TestSharedBreaker_redisDownIsLocal(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	b1, s1 := replicaBreaker(t, c, "down", ionredis.WithOpenFor(50*time.Millisecond))
	b2, s2 := replicaBreaker(t, c, "down", ionredis.WithOpenFor(50*time.Millisecond))
	for range 3 {
		_, _ = policy.Run(ctx, breaker.Policy[int](b1), fail)
	}
	require.NoError(t, s1.SyncNow(ctx))
	require.NoError(t, s2.SyncNow(ctx))
	require.Equal(t, breaker.ForcedOpen, b2.State())
	mr.Close()
	// Redis is gone: the fleet's open period still ends, on the local clock.
	require.Eventually(t, func() bool {
		err := s2.SyncNow(ctx)
		return errors.Is(err, ionredis.ErrBackend) && b2.State() == breaker.Closed
	}, 5*time.Second, 10*time.Millisecond)
	_, err := policy.Run(ctx, breaker.Policy[int](b2), succeed)
	assert.NoError(t, err, "the local breaker decides alone")
}

func TestSharedBreaker_backgroundSyncAndClose(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	ctx := context.Background()
	mk := func() *breaker.Breaker {
		return breaker.New("dep", breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(time.Hour))
	}
	b1, b2 := mk(), mk()
	s1 := ionredis.NewSharedBreaker(c, "bg", b1, ionredis.WithSyncEvery(10*time.Millisecond))
	s2 := ionredis.NewSharedBreaker(c, "bg", b2, ionredis.WithSyncEvery(10*time.Millisecond))
	for range 3 {
		_, _ = policy.Run(ctx, breaker.Policy[int](b1), fail)
	}
	require.Eventually(t, func() bool { return b2.State() == breaker.ForcedOpen }, 5*time.Second, 5*time.Millisecond,
		"the sync goroutines carry the trip within a few intervals")
	require.NoError(t, s1.Close())
	require.NoError(t, s1.Close(), "Close is idempotent")
	require.NoError(t, s2.Close())
	assert.Equal(t, "redis-shared-breaker(bg) sync every 10ms", s2.String())
}

func TestSharedBreaker_badInput(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	b := breaker.New("dep")
	for param, s := range map[string]*ionredis.SharedBreaker{
		"client":        ionredis.NewSharedBreaker(nil, "n", b),
		"name":          ionredis.NewSharedBreaker(c, "", b),
		"b":             ionredis.NewSharedBreaker(c, "n", nil),
		"WithSyncEvery": ionredis.NewSharedBreaker(c, "n", b, ionredis.WithSyncEvery(0)),
		"WithOpenFor":   ionredis.NewSharedBreaker(c, "n", b, ionredis.WithOpenFor(-1)),
		"WithFleetRule": ionredis.NewSharedBreaker(c, "n", b, ionredis.WithFleetRule(1.5, 1, time.Second)),
		"opts":          ionredis.NewSharedBreaker(c, "n", b, nil),
	} {
		var ce *ion.ConfigError
		require.ErrorAs(t, s.Err(), &ce, param)
		assert.Equal(t, param, ce.Param)
		assert.NoError(t, s.Close(), "a failed shared breaker started nothing")
	}
	var zero ionredis.SharedBreaker
	var ce *ion.ConfigError
	require.ErrorAs(t, zero.Err(), &ce)
	assert.Equal(t, "SharedBreaker", ce.Param)
	assert.ErrorIs(t, zero.Close(), ion.ErrInvalidConfig, "a zero shared breaker's Close neither panics nor blocks")
	assert.Contains(t, zero.String(), "NewSharedBreaker")
}
