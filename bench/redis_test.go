package bench_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/ionkit/ion/ionredis"
)

// The Redis benchmarks run Ion's distributed limiter and redis_rate v10 on
// the same redis-server, started here on a loopback port (or, without the
// binary, on an embedded miniredis, with a log line saying so: those
// figures compare nothing). Every limit admits a million calls a second
// (Ion's finest rate, one token per microsecond) with a burst of 1e9, so no
// call is denied: they measure the decision's cost.
// Each reports its round trips per call (rt/op, counted by a go-redis hook)
// and, in the 64-caller variant, the p99 latency of a call.

// redisCallers is the number of concurrent callers of the Parallel groups.
const redisCallers = 64

// redisRate is the rate of every Redis limit here, in calls per second.
const redisRate = 1e6

// redisServer starts redis-server for one benchmark function, killed when
// it ends; without the binary it starts a miniredis.
func redisServer(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		b.Logf("redis-server not on PATH: measuring on miniredis, which compares nothing (%v)", err)
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(mr.Close)
		return mr.Addr()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	l.Close()
	dir := b.TempDir()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 500 {
			b.Fatalf("redis-server on %s did not start", addr)
		}
		time.Sleep(10 * time.Millisecond) // waiting for a child process
	}
	return addr
}

// countHook counts the commands a client sends: its round trips.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// redisClient returns a client of addr sized for the callers, counting its
// round trips into n.
func redisClient(b *testing.B, addr string, n *atomic.Int64) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: redisCallers + 8, ContextTimeoutEnabled: true})
	c.AddHook(countHook{n})
	b.Cleanup(func() { c.Close() })
	return c
}

func ionRedisLimiter(b *testing.B, c *redis.Client, windows int) *ionredis.Limiter {
	var opts []ionredis.LimiterOption
	for i := 1; i < windows; i++ {
		opts = append(opts, ionredis.WithWindow(ionredis.Window{Rate: redisRate, Burst: burstNever}))
	}
	opts = append(opts, ionredis.WithTimeout(5*time.Second))
	lim := ionredis.NewLimiter(c, "bench-"+strconv.Itoa(windows)+"-"+b.Name(), ionredis.Window{Rate: redisRate, Burst: burstNever}, opts...)
	if err := lim.Err(); err != nil {
		b.Fatal(err)
	}
	return lim
}

var redisRateLimit = redis_rate.Limit{Rate: redisRate, Burst: burstNever, Period: time.Second}

// runRedis measures call, serially or by redisCallers goroutines, and
// reports round trips per call and (in parallel) the p99 latency.
func runRedis(b *testing.B, rt *atomic.Int64, parallel bool, call func() error) {
	runRedisEach(b, rt, parallel, call, nil)
}

// runRedisEach is runRedis where, with each set, every parallel goroutine
// makes its calls with each(), its own call (one key per goroutine).
func runRedisEach(b *testing.B, rt *atomic.Int64, parallel bool, call func() error, each func() func() error) {
	if err := call(); err != nil { // warm up: load the script, open a connection
		b.Fatal(err)
	}
	rt.Store(0)
	if !parallel {
		b.ResetTimer()
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rt.Load())/float64(b.N), "rt/op")
		return
	}
	b.SetParallelism((redisCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var mu sync.Mutex
	var all []time.Duration
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		call := call
		if each != nil {
			call = each()
		}
		for pb.Next() {
			start := time.Now()
			if err := call(); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(rt.Load())/float64(b.N), "rt/op")
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

func redisAllowImpls(parallel bool) []impl {
	return []impl{
		{"ion", func(b *testing.B) {
			var rt atomic.Int64
			lim := ionRedisLimiter(b, redisClient(b, benchRedisAddr, &rt), 1)
			runRedis(b, &rt, parallel, func() error { return lim.Admit(bg, 0) })
		}},
		{"redisrate", func(b *testing.B) {
			var rt atomic.Int64
			lim := redis_rate.NewLimiter(redisClient(b, benchRedisAddr, &rt))
			key := "bench-" + b.Name()
			runRedis(b, &rt, parallel, func() error {
				res, err := lim.Allow(bg, key, redisRateLimit)
				if err == nil && res.Allowed == 0 {
					err = fmt.Errorf("denied")
				}
				return err
			})
		}},
	}
}

// redisKeysImpls are the 64-caller variant where every caller has a key of
// its own: no two concurrent decisions share a subject, so Ion cannot
// coalesce them and each costs a round trip, as with redis_rate.
func redisKeysImpls() []impl {
	return []impl{
		{"ion", func(b *testing.B) {
			var rt atomic.Int64
			lim := ionRedisLimiter(b, redisClient(b, benchRedisAddr, &rt), 1)
			var next atomic.Int64
			keyed := lim.By(func(ctx context.Context) string { return ctx.Value(benchKey{}).(string) })
			runRedisEach(b, &rt, true, func() error { return lim.Admit(bg, 0) }, func() func() error {
				ctx := context.WithValue(bg, benchKey{}, strconv.FormatInt(next.Add(1), 10))
				return func() error { return keyed.Admit(ctx, 0) }
			})
		}},
		{"redisrate", func(b *testing.B) {
			var rt atomic.Int64
			lim := redis_rate.NewLimiter(redisClient(b, benchRedisAddr, &rt))
			var next atomic.Int64
			allow := func(key string) error {
				res, err := lim.Allow(bg, key, redisRateLimit)
				if err == nil && res.Allowed == 0 {
					err = fmt.Errorf("denied")
				}
				return err
			}
			runRedisEach(b, &rt, true, func() error { return allow("bench-" + b.Name()) }, func() func() error {
				key := "bench-" + b.Name() + "-" + strconv.FormatInt(next.Add(1), 10)
				return func() error { return allow(key) }
			})
		}},
	}
}

type benchKey struct{}

// benchRedisAddr is the server of the running Redis benchmark function.
var benchRedisAddr string

// RedisAllow: one decision on one window of one key, one caller.
var redisAllow = register("RedisAllow", redisAllowImpls(false)...)

func BenchmarkRedisAllow(b *testing.B) {
	benchRedisAddr = redisServer(b)
	redisAllow.run(b)
}

// RedisAllowParallel: the same with 64 concurrent callers.
var redisAllowParallel = register("RedisAllowParallel", redisAllowImpls(true)...)

func BenchmarkRedisAllowParallel(b *testing.B) {
	benchRedisAddr = redisServer(b)
	redisAllowParallel.run(b)
}

// RedisAllowParallelKeys: 64 concurrent callers, each on a key of its own.
var redisAllowParallelKeys = register("RedisAllowParallelKeys", redisKeysImpls()...)

func BenchmarkRedisAllowParallelKeys(b *testing.B) {
	benchRedisAddr = redisServer(b)
	redisAllowParallelKeys.run(b)
}

// RedisTwoWindows: "N/s and M/hour" on one key. Ion decides both windows
// atomically in one round trip; redis_rate needs a call per window (two
// round trips, and a refusal by the second does not undo the first).
var redisTwoWindows = register("RedisTwoWindows",
	impl{"ion", func(b *testing.B) {
		var rt atomic.Int64
		lim := ionRedisLimiter(b, redisClient(b, benchRedisAddr, &rt), 2)
		runRedis(b, &rt, false, func() error { return lim.Admit(bg, 0) })
	}},
	impl{"redisrate", func(b *testing.B) {
		var rt atomic.Int64
		lim := redis_rate.NewLimiter(redisClient(b, benchRedisAddr, &rt))
		key := "bench-" + b.Name()
		runRedis(b, &rt, false, func() error {
			for _, k := range []string{key + ":s", key + ":h"} {
				if _, err := lim.Allow(bg, k, redisRateLimit); err != nil {
					return err
				}
			}
			return nil
		})
	}},
)

func BenchmarkRedisTwoWindows(b *testing.B) {
	benchRedisAddr = redisServer(b)
	redisTwoWindows.run(b)
}

// RedisLease: Ion's lease mode (a batch of 20 tokens per round trip)
// against redis_rate asking Redis for every call, 64 callers.
var redisLease = register("RedisLease",
	impl{"ion", func(b *testing.B) {
		var rt atomic.Int64
		lim := ionredis.NewLimiter(redisClient(b, benchRedisAddr, &rt), "bench-lease-"+b.Name(),
			ionredis.Window{Rate: redisRate, Burst: burstNever}, ionredis.WithBatch(20, time.Second),
			ionredis.WithTimeout(5*time.Second))
		runRedis(b, &rt, true, func() error { return lim.Admit(bg, 0) })
	}},
	impl{"redisrate", func(b *testing.B) {
		var rt atomic.Int64
		lim := redis_rate.NewLimiter(redisClient(b, benchRedisAddr, &rt))
		key := "bench-" + b.Name()
		runRedis(b, &rt, true, func() error {
			_, err := lim.Allow(bg, key, redisRateLimit)
			return err
		})
	}},
)

func BenchmarkRedisLease(b *testing.B) {
	benchRedisAddr = redisServer(b)
	redisLease.run(b)
}
