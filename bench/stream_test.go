package bench_test

import (
	"context"
	"iter"
	"testing"

	concstream "github.com/sourcegraph/conc/stream"

	"github.com/ionkit/ion/stream"
)

// The stream twins push streamItems items through the same three steps,
// double → drop multiples of five → add one, in order, into a counting
// sink; ns/op is for the whole run, ns/item is reported beside it.
const streamItems = 10_000

func streamSource(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

func perItem(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*streamItems), "ns/item")
}

// Stream: Ion's three stages, one goroutine each, against conc's ordered
// stream (a task per item on its pool, callbacks in order) and a
// hand-written channel pipeline of the same shape and buffers.
var streamThree = register("Stream",
	impl{"ion", func(b *testing.B) {
		for b.Loop() {
			p := stream.New(bg)
			s := stream.Map(stream.From(p, streamSource(streamItems)), func(_ context.Context, v int) (int, error) { return 2 * v, nil })
			f := stream.Filter(s, func(_ context.Context, v int) (bool, error) { return v%5 != 0, nil })
			m := stream.Map(f, func(_ context.Context, v int) (int, error) { return v + 1, nil })
			n := 0
			stream.Sink(m, func(context.Context, int) error { n++; return nil })
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
		perItem(b)
	}},
	impl{"conc", func(b *testing.B) {
		for b.Loop() {
			s := concstream.New().WithMaxGoroutines(2)
			n := 0
			for i := range streamItems {
				s.Go(func() concstream.Callback {
					v := 2 * i
					keep := v%5 != 0
					v++
					return func() {
						if keep {
							n++
						}
						_ = v
					}
				})
			}
			s.Wait()
		}
		perItem(b)
	}},
	impl{"baseline-channels", func(b *testing.B) {
		for b.Loop() {
			src, s1, s2, s3 := make(chan int, 16), make(chan int, 16), make(chan int, 16), make(chan int, 16)
			go func() {
				for i := range streamItems {
					src <- i
				}
				close(src)
			}()
			go func() {
				for v := range src {
					s1 <- 2 * v
				}
				close(s1)
			}()
			go func() {
				for v := range s1 {
					if v%5 != 0 {
						s2 <- v
					}
				}
				close(s2)
			}()
			go func() {
				for v := range s2 {
					s3 <- v + 1
				}
				close(s3)
			}()
			n := 0
			for range s3 {
				n++
			}
		}
		perItem(b)
	}},
)

func BenchmarkStream(b *testing.B) { streamThree.run(b) }
