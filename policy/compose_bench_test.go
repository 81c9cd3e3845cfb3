package policy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ionkit/ion/policy"
)

// benchLayer is a pass-through layer: it costs only what the pipeline
// itself costs per layer.
type benchLayer struct{}

func (benchLayer) Execute(ctx context.Context, next policy.Next[int]) (int, error) {
	return next.Call(ctx)
}

func (benchLayer) String() string { return "bench" }

// benchFn is a package variable so the compiler cannot inline the call in
// the direct baseline and make it look cheaper than any real call.
var benchFn policy.Func[int] = func(context.Context) (int, error) { return 1, nil }

func benchPipeline(layers int) *policy.Pipeline[int] {
	ls := make([]policy.Policy[int], layers)
	for i := range ls {
		ls[i] = benchLayer{}
	}
	return policy.Compose(ls...)
}

var benchLayerCounts = []int{0, 1, 3, 10}

// BenchmarkRun measures running a call through pipelines of pass-through
// layers against calling the function directly (the stdlib baseline). The
// ns/layer metric is ns/op divided by the number of layers: it includes
// Run's fixed cost, so it falls toward the marginal cost of a layer as the
// layers grow; (layers=10 − layers=0) / 10 is the marginal cost itself.
func BenchmarkRun(b *testing.B) {
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = benchFn(ctx)
		}
	})
	for _, n := range benchLayerCounts {
		p := benchPipeline(n)
		b.Run(fmt.Sprintf("layers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = p.Run(ctx, benchFn)
			}
			reportPerLayer(b, n)
		})
	}
}

// BenchmarkRunParallel is BenchmarkRun under contention: a pipeline is
// immutable, so concurrent calls share nothing but the layer slice.
func BenchmarkRunParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = benchFn(ctx)
			}
		})
	})
	for _, n := range benchLayerCounts {
		p := benchPipeline(n)
		b.Run(fmt.Sprintf("layers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = p.Run(ctx, benchFn)
				}
			})
			reportPerLayer(b, n)
		})
	}
}

// BenchmarkDo measures the form for calls with no result through three
// layers.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	p := benchPipeline(3)
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Do(ctx, fn)
	}
}

// reportPerLayer reports ns/op divided by the number of layers.
func reportPerLayer(b *testing.B, layers int) {
	if layers == 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(layers), "ns/layer")
}

// shapeFn is a package variable so that the compiler cannot inline the
// direct baseline.
var shapeFn policy.Func[int] = func(context.Context) (int, error) { return 1, nil }

var errShape = errors.New("bench: failure")

// benchShape runs op serially and under RunParallel.
func benchShape(b *testing.B, op func(ctx context.Context)) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			op(ctx)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op(ctx)
			}
		})
	})
}

// runner returns an op that runs shapeFn through p.
func runner(p policy.Policy[int], fn policy.Func[int]) func(context.Context) {
	pipe := policy.Compose(p)
	return func(ctx context.Context) { _, _ = pipe.Run(ctx, fn) }
}

// BenchmarkDirect is the baseline of the call-shaping benchmarks: the
// function called with no policy.
func BenchmarkDirect(b *testing.B) {
	benchShape(b, func(ctx context.Context) { _, _ = shapeFn(ctx) })
}

// BenchmarkComposed measures the four policies composed, success path.
func BenchmarkComposed(b *testing.B) {
	p := policy.Compose(
		policy.Fallback(0),
		policy.Retry[int](),
		policy.Hedge[int](time.Second),
		policy.Timeout[int](time.Second),
	)
	benchShape(b, func(ctx context.Context) { _, _ = p.Run(ctx, shapeFn) })
}
