package bench_test

import (
	"context"
	"strconv"
	"testing"

	"golang.org/x/sync/singleflight"

	"github.com/ionkit/ion/coalesce"
	"github.com/ionkit/ion/policy"
)

// The coalescing twins: Ion's coalesce.Group and x/sync's singleflight.Group
// run the same function for the same keys. Ion's callers carry a cancellable
// ctx, as a request's does: its leader runs the shared call on a goroutine of
// the group so that any caller can leave at once, which singleflight cannot.

type sfKey struct{}

func sfKeyOf(ctx context.Context) string { k, _ := ctx.Value(sfKey{}).(string); return k }

// work is the shared call's work: about a microsecond, long enough for
// concurrent callers to find it in flight.
func work() int {
	n := 0
	for i := range 2000 {
		n += i
	}
	return n
}

// Coalesce: one caller at a time, so every call starts its own execution:
// what coalescing costs a call that gains nothing from it.
var coalesceSolo = register("Coalesce",
	impl{"ion", func(b *testing.B) {
		g := coalesce.New[int](sfKeyOf)
		ctx, cancel := context.WithCancel(context.WithValue(bg, sfKey{}, "k"))
		defer cancel()
		fn := func(context.Context) (int, error) { return work(), nil }
		for b.Loop() {
			if _, err := policy.Run(ctx, g, fn); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"singleflight", func(b *testing.B) {
		var g singleflight.Group
		fn := func() (any, error) { return work(), nil }
		for b.Loop() {
			if _, err, _ := g.Do("k", fn); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkCoalesce(b *testing.B) { coalesceSolo.run(b) }

// CoalesceParallel: eight callers per core over four keys, so most calls
// find an execution in flight and share it: the cost per shared call.
var coalesceParallel = register("CoalesceParallel",
	impl{"ion", func(b *testing.B) {
		g := coalesce.New[int](sfKeyOf)
		fn := func(context.Context) (int, error) { return work(), nil }
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			var ctxs [4]context.Context
			for i := range ctxs {
				ctxs[i] = context.WithValue(ctx, sfKey{}, strconv.Itoa(i))
			}
			for i := 0; pb.Next(); i++ {
				if _, err := policy.Run(ctxs[i%4], g, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"singleflight", func(b *testing.B) {
		var g singleflight.Group
		fn := func() (any, error) { return work(), nil }
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			var keys [4]string
			for i := range keys {
				keys[i] = strconv.Itoa(i)
			}
			for i := 0; pb.Next(); i++ {
				if _, err, _ := g.Do(keys[i%4], fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
)

func BenchmarkCoalesceParallel(b *testing.B) { coalesceParallel.run(b) }

// CoalesceShared: sixteen callers per core on one key, and a shared call of
// about ten microseconds, so nearly every call joins one in flight: the
// cost per shared call.
var coalesceShared = register("CoalesceShared",
	impl{"ion", func(b *testing.B) {
		g := coalesce.New[int](sfKeyOf)
		fn := func(context.Context) (int, error) {
			return work() + work() + work() + work() + work() + work() + work() + work() + work() + work(), nil
		}
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			ctx, cancel := context.WithCancel(context.WithValue(bg, sfKey{}, "k"))
			defer cancel()
			for pb.Next() {
				if _, err := policy.Run(ctx, g, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
	impl{"singleflight", func(b *testing.B) {
		var g singleflight.Group
		fn := func() (any, error) {
			return work() + work() + work() + work() + work() + work() + work() + work() + work() + work(), nil
		}
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err, _ := g.Do("k", fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}},
)

func BenchmarkCoalesceShared(b *testing.B) { coalesceShared.run(b) }
