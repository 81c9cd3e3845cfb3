package limit_test

import (
	"context"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// mutexBucket is the stdlib baseline: a token bucket in the style of
// golang.org/x/time/rate, float tokens under a mutex, time.Now per call.
type mutexBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newMutexBucket(rate float64, burst int) *mutexBucket {
	return &mutexBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

func (b *mutexBucket) Allow() bool {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// The rate is high enough that Allow always admits, which is the
// worst case for contention: every call writes the state.
const benchRate, benchBurst = 1e9, 1 << 20

func BenchmarkAllow(b *testing.B) {
	b.Run("limit.TokenBucket", func(b *testing.B) {
		lim := limit.NewTokenBucket(benchRate, benchBurst)
		b.ReportAllocs()
		for b.Loop() {
			lim.Allow()
		}
	})
	b.Run("limit.TokenBucket/refused", func(b *testing.B) {
		lim := limit.NewTokenBucket(1, 1)
		b.ReportAllocs()
		for b.Loop() {
			lim.Allow()
		}
	})
	b.Run("limit.TokenBucket/metrics", func(b *testing.B) {
		lim := limit.NewTokenBucket(benchRate, benchBurst, limit.WithMetrics(observe.Nop()))
		b.ReportAllocs()
		for b.Loop() {
			lim.Allow()
		}
	})
	b.Run("limit.LeakyBucket", func(b *testing.B) {
		lim := limit.NewLeakyBucket(benchRate, benchBurst)
		b.ReportAllocs()
		for b.Loop() {
			lim.Allow()
		}
	})
	b.Run("baseline=mutex", func(b *testing.B) {
		lim := newMutexBucket(benchRate, benchBurst)
		b.ReportAllocs()
		for b.Loop() {
			lim.Allow()
		}
	})
	b.Run("baseline=time.Now", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = time.Now()
		}
	})
}

func BenchmarkAllowParallel(b *testing.B) {
	b.Run("limit.TokenBucket", func(b *testing.B) {
		lim := limit.NewTokenBucket(benchRate, benchBurst)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lim.Allow()
			}
		})
	})
	b.Run("limit.TokenBucket/refused", func(b *testing.B) {
		lim := limit.NewTokenBucket(1, 1)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lim.Allow()
			}
		})
	})
	b.Run("baseline=mutex", func(b *testing.B) {
		lim := newMutexBucket(benchRate, benchBurst)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lim.Allow()
			}
		})
	})
}

func BenchmarkAllowN(b *testing.B) {
	lim := limit.NewTokenBucket(benchRate, benchBurst)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		lim.AllowN(now, 1)
	}
}

func BenchmarkWait(b *testing.B) {
	ctx := context.Background()
	b.Run("immediate", func(b *testing.B) {
		lim := limit.NewTokenBucket(benchRate, benchBurst)
		b.ReportAllocs()
		for b.Loop() {
			_ = lim.Wait(ctx)
		}
	})
	b.Run("immediate/parallel", func(b *testing.B) {
		lim := limit.NewTokenBucket(benchRate, benchBurst)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = lim.Wait(ctx)
			}
		})
	})
}

func BenchmarkReserveCancel(b *testing.B) {
	lim := limit.NewTokenBucket(1, 10)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		lim.ReserveN(now, 1).CancelAt(now)
	}
}

func BenchmarkKeyed(b *testing.B) {
	for _, keys := range []int{1, 1000} {
		names := make([]string, keys)
		for i := range names {
			names[i] = "tenant-" + strconv.Itoa(i)
		}
		// A slow rate with a huge burst: every Allow admits, and no key's
		// bucket refills, so none is forgotten and re-created.
		b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
			lim := limit.NewKeyed[string](1, math.MaxInt32)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				lim.Allow(names[i%keys])
				i++
			}
		})
		b.Run("keys="+strconv.Itoa(keys)+"/parallel", func(b *testing.B) {
			lim := limit.NewKeyed[string](1, math.MaxInt32)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					lim.Allow(names[i%keys])
					i++
				}
			})
		})
	}
}

func BenchmarkPolicy(b *testing.B) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.Run("limit.Policy", func(b *testing.B) {
		p := policy.Compose(limit.Policy[int](limit.NewTokenBucket(benchRate, benchBurst)))
		b.ReportAllocs()
		for b.Loop() {
			_, _ = p.Run(ctx, fn)
		}
	})
	b.Run("limit.Policy/parallel", func(b *testing.B) {
		p := policy.Compose(limit.Policy[int](limit.NewTokenBucket(benchRate, benchBurst)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = p.Run(ctx, fn)
			}
		})
	})
	b.Run("baseline=direct call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = fn(ctx)
		}
	})
}
