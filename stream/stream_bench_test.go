package stream_test

import (
	"context"
	"testing"

	"github.com/ionkit/ion/stream"
)

const benchItems = 10_000

func double(_ context.Context, v int) (int, error)   { return 2 * v, nil }
func notFive(_ context.Context, v int) (bool, error) { return v%5 != 0, nil }
func plusOne(_ context.Context, v int) (int, error)  { return v + 1, nil }

// BenchmarkThreeStages runs benchItems items through map → filter → map and
// a counting sink; ns/op is per item.
func BenchmarkThreeStages(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []stream.Option
	}{
		{"serial", nil},
		{"concurrency=2/ordered", []stream.Option{stream.Concurrency(2)}},
		{"concurrency=2/unordered", []stream.Option{stream.Concurrency(2), stream.Unordered()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p := stream.New(context.Background())
				s := stream.Map(stream.From(p, ints(benchItems)), double, bc.opts...)
				f := stream.Filter(s, notFive, bc.opts...)
				m := stream.Map(f, plusOne, bc.opts...)
				n := 0
				stream.Sink(m, func(context.Context, int) error { n++; return nil })
				if err := p.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchItems), "ns/item")
		})
	}
	b.Run("baseline-channels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			handWritten(benchItems)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchItems), "ns/item")
	})
}

// handWritten is the same pipeline written with plain goroutines and
// channels of the same buffer, without cancellation or error handling.
func handWritten(n int) int {
	src, s1, s2, s3 := make(chan int, 16), make(chan int, 16), make(chan int, 16), make(chan int, 16)
	go func() {
		for i := range n {
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
	count := 0
	for range s3 {
		count++
	}
	return count
}
