package ionredis_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewLimiter_clientWithoutContextTimeout(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	var ce *ion.ConfigError
	require.ErrorAs(t, ionredis.NewLimiter(c, "n", perSec).Err(), &ce)
	assert.Equal(t, "client", ce.Param)
	assert.Contains(t, ce.Reason, "ContextTimeoutEnabled")
	require.ErrorAs(t, ionredis.NewSemaphore(c, "n", 1).Err(), &ce)
	assert.Equal(t, "client", ce.Param)
}

// blackhole is a TCP server that accepts connections and never answers: a
// Redis that hangs.
type blackhole struct {
	l  net.Listener
	wg sync.WaitGroup
	mu sync.Mutex
	cs []net.Conn
}

func newBlackhole(t testing.TB) *blackhole {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &blackhole{l: l}
	// Owner: the test; exits when the listener closes; joined in Cleanup.
	b.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.cs = append(b.cs, c)
			b.mu.Unlock()
			b.wg.Go(func() { io.Copy(io.Discard, c) }) // ends when c is closed
		}
	})
	t.Cleanup(func() {
		l.Close()
		b.mu.Lock()
		for _, c := range b.cs {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *blackhole) client(t testing.TB) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: b.l.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// deadClient returns a client of a port nothing listens on.
func deadClient(t testing.TB) redis.UniversalClient {
	mr := newMini(t)
	addr := mr.Addr()
	mr.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

var perSec = ionredis.Window{Rate: 100, Burst: 100}

func TestLimiter_failClosedByDefault(t *testing.T) {
	ctx := context.Background()
	rec := observe.NewRecorder()
	lim := ionredis.NewLimiter(deadClient(t), "down", perSec, ionredis.WithMetrics(rec))
	res, err := lim.Allow(ctx, "k")
	require.Error(t, err)
	assert.False(t, res.Allowed)
	assert.ErrorIs(t, err, ionredis.ErrBackend)
	assert.ErrorIs(t, err, ion.ErrRejected, "a backend failure is a rejection")
	assert.NotErrorIs(t, err, limit.ErrLimited, "a backend failure is not a rate limit")
	assert.Contains(t, err.Error(), "backend failed")
	assert.ErrorIs(t, lim.Admit(ctx, 0), ionredis.ErrBackend)
	assert.ErrorIs(t, lim.Wait(ctx, "k"), ionredis.ErrBackend)
	assert.Equal(t, int64(3), rec.Count("ion_redis_degraded_total",
		observe.L("name", "down"), observe.L("kind", "limit"), observe.L("mode", "closed")))
	assert.Equal(t, int64(3), rec.Count("ion_redis_backend_errors_total", observe.L("name", "down"), observe.L("kind", "limit")))
}

func TestLimiter_metrics(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	rec := observe.NewRecorder()
	lim := ionredis.NewLimiter(c, "m", ionredis.Window{Rate: limit.PerHour(1), Burst: 2}, ionredis.WithMetrics(rec))
	for range 3 {
		_ = lim.Admit(context.Background(), 0)
	}
	name := observe.L("name", "m")
	assert.Equal(t, int64(2), rec.Count("ion_redis_limit_requests_total", name, observe.L("result", "allowed")))
	assert.Equal(t, int64(1), rec.Count("ion_redis_limit_requests_total", name, observe.L("result", "limited")))
	assert.Len(t, rec.Observations("ion_redis_backend_seconds", name, observe.L("kind", "limit")), 3)
	assert.Zero(t, rec.Count("ion_redis_backend_errors_total", name, observe.L("kind", "limit")))
}

func TestLimiter_failOpen(t *testing.T) {
	ctx := context.Background()
	lim := ionredis.NewLimiter(deadClient(t), "down", perSec, ionredis.WithFailOpen())
	res, err := lim.Allow(ctx, "k")
	require.NoError(t, err)
	assert.True(t, res.Allowed)
	assert.True(t, res.Degraded)
	assert.NoError(t, lim.Admit(ctx, 0))
	assert.NoError(t, lim.Wait(ctx, "k"))
}

func TestLimiter_fallbackLocal(t *testing.T) {
	ctx := context.Background()
	local := limit.NewTokenBucket(limit.PerHour(1), 1)
	lim := ionredis.NewLimiter(deadClient(t), "down", perSec, ionredis.WithFallback(local))
	res, err := lim.Allow(ctx, "k")
	require.NoError(t, err)
	assert.True(t, res.Allowed && res.Degraded)
	res, err = lim.Allow(ctx, "k")
	assert.ErrorIs(t, err, limit.ErrLimited, "the local limiter decides while Redis is down")
	assert.False(t, res.Allowed)
	assert.True(t, res.Degraded)
	assert.ErrorIs(t, lim.Admit(ctx, 0), limit.ErrLimited)
}

func TestLimiter_backendTimeout(t *testing.T) {
	ctx := context.Background()
	bh := newBlackhole(t)
	lim := ionredis.NewLimiter(bh.client(t), "slow", perSec, ionredis.WithTimeout(30*time.Millisecond))
	start := time.Now()
	_, err := lim.Allow(ctx, "k")
	elapsed := time.Since(start)
	require.ErrorIs(t, err, ionredis.ErrBackend)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, elapsed, time.Second, "the backend timeout bounds the call")

	// The default is 50ms.
	def := ionredis.NewLimiter(bh.client(t), "slow", perSec)
	start = time.Now()
	require.ErrorIs(t, def.Admit(ctx, 0), ionredis.ErrBackend)
	assert.Less(t, time.Since(start), time.Second)
}

func TestLimiter_callerCancelIsNotBackendFailure(t *testing.T) {
	bh := newBlackhole(t)
	lim := ionredis.NewLimiter(bh.client(t), "slow", perSec, ionredis.WithFailOpen(), ionredis.WithTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := lim.Admit(ctx, 0)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ionredis.ErrBackend)
	// Fail open does not admit a caller who gave up.
	assert.Error(t, err)
}

func TestLimiter_breakerStopsRoundTrips(t *testing.T) {
	ctx := context.Background()
	rec := observe.NewRecorder()
	cb := breaker.New("redis", breaker.WithConsecutiveFailures(2), breaker.WithOpenDuration(time.Minute))
	lim := ionredis.NewLimiter(deadClient(t), "down", perSec, ionredis.WithBreaker(cb), ionredis.WithMetrics(rec))
	for range 2 {
		require.ErrorIs(t, lim.Admit(ctx, 0), ionredis.ErrBackend)
	}
	for range 5 {
		err := lim.Admit(ctx, 0)
		require.ErrorIs(t, err, ionredis.ErrBackend)
		require.ErrorIs(t, err, breaker.ErrOpen)
		ra, ok := ion.RetryAfter(err)
		assert.True(t, ok && ra > 50*time.Second, "the open breaker says when it probes again: %v", ra)
	}
	lat := rec.Observations("ion_redis_backend_seconds", observe.L("name", "down"), observe.L("kind", "limit"))
	assert.Len(t, lat, 2, "no round trip while the breaker is open")
}

func TestLimiter_backendErrorUnwraps(t *testing.T) {
	ctx := context.Background()
	_, err := ionredis.NewLimiter(deadClient(t), "down", perSec).Allow(ctx, "k")
	var be *ionredis.BackendError
	require.True(t, errors.As(err, &be))
	assert.Equal(t, "limit", be.Op)
	assert.Error(t, be.Err, "the cause is kept")
	assert.Equal(t, be.Err, errors.Unwrap(err))
}

func TestLimiter_fallbackWaits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	local := limit.NewTokenBucket(limit.PerSecond(100), 1)
	lim := ionredis.NewLimiter(deadClient(t), "down", perSec, ionredis.WithFallback(local))
	require.NoError(t, lim.Wait(ctx, "k"))
	require.NoError(t, lim.Wait(ctx, "k"), "WaitN waits for the local limiter too")
}
