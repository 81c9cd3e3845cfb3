package bench_test

import (
	"testing"

	concpool "github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/ionkit/ion/pool"
)

// One op is one group of groupCalls calls, at most groupLimit at once, whose
// results are collected in call order and whose first error would cancel the
// rest: Ion's pool.Group on a pool of groupLimit workers (made once),
// errgroup.Group with SetLimit writing into a slice, and conc's
// ResultContextPool with WithMaxGoroutines, WithCancelOnError and
// WithFirstError. Divide ns/op by groupCalls for the cost per call.
const (
	groupCalls = 100
	groupLimit = 8
)

var groupBench = register("Group",
	impl{"ion", func(b *testing.B) {
		p := pool.New(groupLimit, 2*groupLimit)
		defer p.Close(bg)
		for b.Loop() {
			g, _ := pool.NewGroup[int](bg, p)
			_ = g.SetLimit(groupLimit)
			for range groupCalls {
				g.Go(ionCall)
			}
			if _, err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"errgroup", func(b *testing.B) {
		for b.Loop() {
			g, ctx := errgroup.WithContext(bg)
			g.SetLimit(groupLimit)
			results := make([]int, groupCalls)
			for i := range groupCalls {
				g.Go(func() error {
					v, err := ionCall(ctx)
					results[i] = v
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"conc", func(b *testing.B) {
		for b.Loop() {
			p := concpool.NewWithResults[int]().WithContext(bg).WithCancelOnError().WithFirstError().WithMaxGoroutines(groupLimit)
			for range groupCalls {
				p.Go(ionCall)
			}
			if _, err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkGroup(b *testing.B) { groupBench.run(b) }
