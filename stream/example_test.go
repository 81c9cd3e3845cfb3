package stream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/stream"
)

func ExampleNew() {
	p := stream.New(context.Background())
	words := stream.From(p, slices.Values(strings.Fields("the quick brown fox jumps over the lazy dog")))
	upper := stream.Map(words, func(_ context.Context, w string) (string, error) {
		return strings.ToUpper(w), nil
	}, stream.Concurrency(4)) // four at once, still in input order
	long := stream.Filter(upper, func(_ context.Context, w string) (bool, error) { return len(w) > 3, nil })
	var got []string
	stream.Collect(long, &got)
	err := p.Wait()
	fmt.Println(got, err)
	// Output: [QUICK BROWN JUMPS OVER LAZY] <nil>
}

func ExampleFromChan() {
	ch := make(chan int, 3)
	ch <- 1
	ch <- 2
	ch <- 3
	close(ch)
	p := stream.New(context.Background())
	var got []int
	stream.Collect(stream.FromChan(p, ch), &got)
	fmt.Println(got, p.Wait())
	// Output: [1 2 3] <nil>
}

func ExampleMap() {
	p := stream.New(context.Background())
	squares := stream.Map(stream.From(p, slices.Values([]int{1, 2, 3, 4})), func(_ context.Context, n int) (int, error) {
		return n * n, nil
	}, stream.Concurrency(2))
	var got []int
	stream.Collect(squares, &got)
	fmt.Println(got, p.Wait())
	// Output: [1 4 9 16] <nil>
}

func ExampleFilter() {
	p := stream.New(context.Background())
	odd := stream.Filter(stream.From(p, slices.Values([]int{1, 2, 3, 4, 5})), func(_ context.Context, n int) (bool, error) {
		return n%2 == 1, nil
	})
	var got []int
	stream.Collect(odd, &got)
	fmt.Println(got, p.Wait())
	// Output: [1 3 5] <nil>
}

func ExampleFlatMap() {
	p := stream.New(context.Background())
	letters := stream.FlatMap(stream.From(p, slices.Values([]string{"ab", "c"})), func(_ context.Context, s string) ([]string, error) {
		return strings.Split(s, ""), nil
	})
	var got []string
	stream.Collect(letters, &got)
	fmt.Println(got, p.Wait())
	// Output: [a b c] <nil>
}

func ExampleSink() {
	p := stream.New(context.Background())
	stream.Sink(stream.From(p, slices.Values([]string{"a", "b"})), func(_ context.Context, s string) error {
		fmt.Println("wrote", s)
		return nil
	})
	fmt.Println(p.Wait())
	// Output:
	// wrote a
	// wrote b
	// <nil>
}

func ExampleBatch() {
	p := stream.New(context.Background())
	batches := stream.Batch(stream.From(p, slices.Values([]int{1, 2, 3, 4, 5})), 2, time.Second)
	var got [][]int
	stream.Collect(batches, &got)
	fmt.Println(got, p.Wait())
	// Output: [[1 2] [3 4] [5]] <nil>
}

func ExampleCountWindow() {
	p := stream.New(context.Background())
	windows := stream.CountWindow(stream.From(p, slices.Values([]int{1, 2, 3, 4, 5})), 3, 2)
	var got [][]int
	stream.Collect(windows, &got)
	fmt.Println(got, p.Wait())
	// Output: [[1 2 3] [3 4 5] [5]] <nil>
}

type reading struct {
	at    time.Time
	value int
}

func ExampleTimeWindow() {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	readings := []reading{
		{t0.Add(10 * time.Second), 1},
		{t0.Add(50 * time.Second), 2},
		{t0.Add(70 * time.Second), 3}, // closes the first minute: the watermark passed 12:01
		{t0.Add(20 * time.Second), 4}, // late: its window was sent
		{t0.Add(90 * time.Second), 5},
	}
	var late []int
	p := stream.New(context.Background())
	minutes := stream.TimeWindow(stream.From(p, slices.Values(readings)), time.Minute, time.Minute, 0,
		func(r reading) time.Time { return r.at },
		stream.DeadLetter(func(_ context.Context, e *stream.ItemError) { late = append(late, e.Item.(reading).value) }))
	stream.Sink(minutes, func(_ context.Context, w stream.Window[reading]) error {
		var vs []int
		for _, r := range w.Items {
			vs = append(vs, r.value)
		}
		fmt.Println(w.Start.Format("15:04"), vs)
		return nil
	})
	fmt.Println(p.Wait(), "late:", late)
	// Output:
	// 12:00 [1 2]
	// 12:01 [3 5]
	// <nil> late: [4]
}

func ExampleMerge() {
	p := stream.New(context.Background())
	a := stream.From(p, slices.Values([]int{1, 3}))
	b := stream.From(p, slices.Values([]int{2, 4}))
	var got []int
	stream.Collect(stream.Merge([]*stream.Stream[int]{a, b}), &got)
	err := p.Wait()
	slices.Sort(got) // arrival order between the inputs varies
	fmt.Println(got, err)
	// Output: [1 2 3 4] <nil>
}

func ExampleTee() {
	p := stream.New(context.Background())
	outs := stream.Tee(stream.From(p, slices.Values([]string{"x", "y"})), 2)
	var first, second []string
	stream.Collect(outs[0], &first)
	stream.Collect(outs[1], &second)
	fmt.Println(first, second, p.Wait())
	// Output: [x y] [x y] <nil>
}

func ExampleThrough() {
	attempts := 0
	flakyLookup := func(_ context.Context, id int) (string, error) {
		attempts++
		if attempts%2 == 1 {
			return "", errors.New("timeout")
		}
		return fmt.Sprint("user-", id), nil
	}
	retry := policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(0)))

	p := stream.New(context.Background())
	users := stream.Map(stream.From(p, slices.Values([]int{1, 2})), stream.Through(retry, flakyLookup))
	var got []string
	stream.Collect(users, &got)
	fmt.Println(got, p.Wait(), "attempts:", attempts)
	// Output: [user-1 user-2] <nil> attempts: 4
}

func ExampleDeadLetter() {
	p := stream.New(context.Background())
	parsed := stream.Map(stream.From(p, slices.Values([]string{"1", "x", "3"})), func(_ context.Context, s string) (int, error) {
		var n int
		_, err := fmt.Sscan(s, &n)
		return n, err
	}, stream.Named("parse"), stream.DeadLetter(func(_ context.Context, e *stream.ItemError) {
		fmt.Printf("dead letter from %s: %q\n", e.Stage, e.Item)
	}))
	var got []int
	stream.Collect(parsed, &got)
	fmt.Println(got, p.Wait())
	// Output:
	// dead letter from parse: "x"
	// [1 3] <nil>
}
