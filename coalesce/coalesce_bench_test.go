package coalesce_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/ionkit/ion/coalesce"
	"github.com/ionkit/ion/policy"
)

// BenchmarkExecute measures a call that starts its own execution (no other
// caller to share with): the cost coalescing adds to a call that gains
// nothing from it.
func BenchmarkExecute(b *testing.B) {
	g := coalesce.New[int](keyOf)
	ctx, cancel := context.WithCancel(withKey(context.Background(), "k"))
	defer cancel()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = policy.Run(ctx, g, fn)
	}
}

// BenchmarkExecuteParallel runs callers of a few keys on every core: some
// calls share an execution, most start their own.
func BenchmarkExecuteParallel(b *testing.B) {
	g := coalesce.New[int](keyOf)
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var ctxs [4]context.Context
		for i := range ctxs {
			ctxs[i] = withKey(ctx, strconv.Itoa(i))
		}
		for i := 0; pb.Next(); i++ {
			_, _ = policy.Run(ctxs[i%4], g, fn)
		}
	})
}

// BenchmarkDirect is the baseline: the same function called with no policy.
func BenchmarkDirect(b *testing.B) {
	ctx := withKey(context.Background(), "k")
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = fn(ctx)
	}
}
