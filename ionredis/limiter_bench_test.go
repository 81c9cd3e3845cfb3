package ionredis_test

import (
	"context"
	"testing"
	"time"

	"github.com/ionkit/ion/ionredis"
	"github.com/redis/go-redis/v9"
)

// benchClient returns a client of the real server when there is one, else
// of a miniredis (whose figures measure the embedded stand-in, not Redis).
func benchClient(b *testing.B) redis.UniversalClient {
	addr := ""
	if standalone != nil {
		addr = standalone.addr
	} else {
		b.Log("no redis-server: measuring miniredis")
		addr = newMini(b).Addr()
	}
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 64})
	b.Cleanup(func() { c.Close() })
	return c
}

var never = ionredis.Window{Rate: 1e6, Burst: 1 << 30}

func BenchmarkLimiter_Admit(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []ionredis.LimiterOption
	}{
		{"one-window", nil},
		{"two-windows", []ionredis.LimiterOption{ionredis.WithWindow(never)}},
		{"batch-20", []ionredis.LimiterOption{ionredis.WithBatch(20, time.Second)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			lim := ionredis.NewLimiter(benchClient(b), uniq(b), never, append(tc.opts, roomy)...)
			ctx := context.Background()
			for b.Loop() {
				if err := lim.Admit(ctx, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			lim := ionredis.NewLimiter(benchClient(b), uniq(b), never, append(tc.opts, roomy)...)
			ctx := context.Background()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := lim.Admit(ctx, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// baseline: the round trip alone, a PING.
func BenchmarkLimiter_baselinePing(b *testing.B) {
	b.ReportAllocs()
	c := benchClient(b)
	ctx := context.Background()
	for b.Loop() {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
