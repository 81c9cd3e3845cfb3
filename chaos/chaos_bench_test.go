package chaos_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ionkit/ion/chaos"
	"github.com/ionkit/ion/policy"
)

func BenchmarkInjector(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		in   *chaos.Injector[string]
	}{
		{"disabled", chaos.Fault[string](errors.New("x"), 0.5, chaos.WithEnabled(false))},
		{"rate=0.01", chaos.Fault[string](errors.New("x"), 0.01)},
		{"rate=1", chaos.Fault[string](errors.New("x"), 1)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = policy.Run(ctx, bc.in, fetch)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = policy.Run(ctx, bc.in, fetch)
				}
			})
		})
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = fetch(ctx)
		}
	})
}
