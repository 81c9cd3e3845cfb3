package config_test

import (
	"context"
	"testing"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// BenchmarkLive compares a call through a Live pipeline with the same
// pipeline composed in code: the difference is the cost of following the
// configuration (one atomic load).
func BenchmarkLive(b *testing.B) {
	const doc = `{
		"breakers": {"db": {}},
		"limiters": {"api": {"rate": "inf", "burst": 1}},
		"bulkheads": {"h": {"capacity": 1000}},
		"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}, "bulkhead": {"use": "h"}}}}`
	r := newRegistry(b, doc)
	live := config.Pipeline[int](r, "p")
	direct := policy.Compose(
		breaker.Policy[int](breaker.New("db")),
		limit.Policy[int](limit.NewTokenBucket(limit.Inf, 1)),
		sem.Policy[int](sem.NewWeighted(1000)),
	)
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	for _, bc := range []struct {
		name string
		run  func(context.Context, policy.Func[int]) (int, error)
	}{
		{"code", direct.Run},
		{"config", live.Run},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = bc.run(ctx, fn)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = bc.run(ctx, fn)
				}
			})
		})
	}
}
