package stream_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ints(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

// TestExactlyOnceThroughEveryStage sends 20,000 items through concurrent
// ordered and unordered stages, a fan-out and a fan-in, and checks that
// every item arrives exactly as often as the stages say it must.
func TestExactlyOnceThroughEveryStage(t *testing.T) {
	const n = 20_000
	p := stream.New(t.Context())
	src := stream.From(p, ints(n))
	doubled := stream.Map(src, func(_ context.Context, v int) (int, error) { return 2 * v, nil }, stream.Concurrency(8))
	even := stream.Filter(doubled, func(_ context.Context, v int) (bool, error) { return v%4 == 0, nil },
		stream.Concurrency(4), stream.Unordered())
	pairs := stream.FlatMap(even, func(_ context.Context, v int) ([]int, error) { return []int{v, v + 1}, nil },
		stream.Concurrency(3))
	outs := stream.Tee(pairs, 2)
	merged := stream.Merge(outs)
	var got []int
	stream.Collect(merged, &got)
	require.NoError(t, p.Wait())

	counts := map[int]int{}
	for _, v := range got {
		counts[v]++
	}
	for i := range n {
		v := 2 * i
		if v%4 != 0 {
			continue
		}
		if counts[v] != 2 || counts[v+1] != 2 {
			t.Fatalf("item %d arrived %d and %d times, want 2 and 2", v, counts[v], counts[v+1])
		}
		delete(counts, v)
		delete(counts, v+1)
	}
	assert.Empty(t, counts, "no item arrived that should not")
}

// TestOrderedStageKeepsInputOrder gives the items random latencies in
// virtual time: an ordered stage still emits them in input order, an
// unordered one in completion order.
func TestOrderedStageKeepsInputOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		delays := make([]time.Duration, 200)
		for i := range delays {
			delays[i] = time.Duration(r.IntN(100)) * time.Millisecond
		}
		slow := func(_ context.Context, v int) (int, error) { time.Sleep(delays[v]); return v, nil }

		p := stream.New(t.Context())
		var inOrder []int
		stream.Collect(stream.Map(stream.From(p, ints(200)), slow, stream.Concurrency(16)), &inOrder)
		require.NoError(t, p.Wait())
		assert.True(t, slices.IsSorted(inOrder), "an ordered stage emits in input order")
		assert.Len(t, inOrder, 200)

		p = stream.New(t.Context())
		var asReady []int
		stream.Collect(stream.Map(stream.From(p, ints(200)), slow, stream.Concurrency(16), stream.Unordered()), &asReady)
		require.NoError(t, p.Wait())
		assert.False(t, slices.IsSorted(asReady), "an unordered stage emits as results are ready")
		assert.ElementsMatch(t, inOrder, asReady)
	})
}

// TestBackpressureBoundsItemsInFlight runs a fast source into a slow sink
// and checks, at every item the sink takes, that the items produced but not
// yet consumed never exceed the buffers and concurrency of the stages
// between them.
func TestBackpressureBoundsItemsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var produced, consumed atomic.Int64
		source := func(yield func(int) bool) {
			for i := range 1000 {
				produced.Add(1)
				if !yield(i) {
					return
				}
			}
		}
		const buf, conc = 4, 3
		p := stream.New(t.Context())
		src := stream.From(p, source, stream.Buffer(buf))
		mapped := stream.Map(src, func(_ context.Context, v int) (int, error) { return v, nil },
			stream.Concurrency(conc), stream.Buffer(buf))
		most := int64(0)
		stream.Sink(mapped, func(context.Context, int) error {
			time.Sleep(time.Millisecond) // the slow consumer
			most = max(most, produced.Load()-consumed.Add(1))
			return nil
		})
		require.NoError(t, p.Wait())
		// Between the source's yield and the sink, with chunks of k = buf
		// items: the source's item channel (k) and the item its iterator
		// holds (1), the chunk its chunker builds (k) and its output
		// channel (buf); the map's dispatcher chunk (k), its ordered queue
		// of conc+buf pieces of at most ceil(k/conc) items (the pieces the
		// workers hold are among them), the slot its emitter holds (k) and
		// its output channel (buf); the sink's chunk (k).
		const k = buf
		const piece = (k + conc - 1) / conc
		bound := int64(k + 1 + k + buf + k + (conc+buf)*piece + k + buf + k)
		assert.LessOrEqual(t, most, bound, "items in flight stay within the buffers")
		assert.EqualValues(t, 1000, consumed.Load())
	})
}

func TestFailFastStopsThePipelineAndReportsTheItem(t *testing.T) {
	var produced atomic.Int64
	source := func(yield func(int) bool) {
		for i := range 1_000_000 {
			produced.Add(1)
			if !yield(i) {
				return
			}
		}
	}
	for _, opts := range [][]stream.Option{
		{stream.Named("check")},
		{stream.Named("check"), stream.Concurrency(4)},
		{stream.Named("check"), stream.Concurrency(4), stream.Unordered()},
	} {
		produced.Store(0)
		p := stream.New(t.Context())
		mapped := stream.Map(stream.From(p, source), func(_ context.Context, v int) (int, error) {
			if v == 100 {
				return 0, errors.New("bad record")
			}
			return v, nil
		}, opts...)
		stream.Sink(mapped, func(context.Context, int) error { return nil })
		err := p.Wait()
		var ie *stream.ItemError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, "check", ie.Stage)
		assert.Equal(t, 100, ie.Item)
		assert.EqualError(t, ie.Err, "bad record")
		assert.Less(t, produced.Load(), int64(10_000), "the source stopped soon after the failure")
	}
}

func TestPanicBecomesPanicErrorOnTheErrorPath(t *testing.T) {
	p := stream.New(t.Context())
	var dead []*stream.ItemError
	mapped := stream.Map(stream.From(p, ints(5)), func(_ context.Context, v int) (int, error) {
		if v == 2 {
			panic("boom")
		}
		return v, nil
	}, stream.Concurrency(2), stream.DeadLetter(func(_ context.Context, e *stream.ItemError) { dead = append(dead, e) }))
	var got []int
	stream.Collect(mapped, &got)
	require.NoError(t, p.Wait())
	assert.Equal(t, []int{0, 1, 3, 4}, got)
	require.Len(t, dead, 1)
	var pe *ion.PanicError
	require.ErrorAs(t, dead[0], &pe)
	assert.Equal(t, "boom", pe.Value)
}

func TestSkipCountsDroppedItems(t *testing.T) {
	var skipped atomic.Int64
	p := stream.New(t.Context())
	mapped := stream.Filter(stream.From(p, ints(10)), func(_ context.Context, v int) (bool, error) {
		if v%3 == 0 {
			return false, errors.New("x")
		}
		return true, nil
	}, stream.Skip(&skipped))
	var got []int
	stream.Collect(mapped, &got)
	require.NoError(t, p.Wait())
	assert.Equal(t, []int{1, 2, 4, 5, 7, 8}, got)
	assert.EqualValues(t, 4, skipped.Load())
}

// hold consumes s with a sink that blocks until the ctx ends.
func hold[T any](s *stream.Stream[T]) {
	stream.Sink(s, func(ctx context.Context, _ T) error { <-ctx.Done(); return nil })
}

// TestCancelStopsEveryStage cancels the pipeline's ctx while each kind of
// stage is blocked, and checks that Wait returns the ctx's error promptly
// and (through goleak in TestMain and synctest's own check) that no
// goroutine is left.
func TestCancelStopsEveryStage(t *testing.T) {
	block := func(ctx context.Context, v int) (int, error) { <-ctx.Done(); return v, ctx.Err() }
	never := func(yield func(int) bool) {
		for i := 0; ; i++ {
			if !yield(i) {
				return
			}
		}
	}
	// Each stage's output goes to a sink that blocks until the ctx ends, so
	// every stage is blocked (on its own function or on a full buffer) when
	// the ctx is cancelled.
	stages := map[string]func(p *stream.Pipeline){
		"source": func(p *stream.Pipeline) { hold(stream.From(p, never)) },
		"map":    func(p *stream.Pipeline) { hold(stream.Map(stream.From(p, never), block)) },
		"ordered map": func(p *stream.Pipeline) {
			hold(stream.Map(stream.From(p, never), block, stream.Concurrency(4)))
		},
		"unordered map": func(p *stream.Pipeline) {
			hold(stream.Map(stream.From(p, never), block, stream.Concurrency(4), stream.Unordered()))
		},
		"batch":       func(p *stream.Pipeline) { hold(stream.Batch(stream.From(p, never), 1000, time.Hour)) },
		"countwindow": func(p *stream.Pipeline) { hold(stream.CountWindow(stream.From(p, never), 3, 1)) },
		"timewindow": func(p *stream.Pipeline) {
			hold(stream.TimeWindow(stream.From(p, never), time.Second, time.Second, 0,
				func(v int) time.Time { return time.Unix(int64(v), 0) }))
		},
		"merge": func(p *stream.Pipeline) {
			hold(stream.Merge([]*stream.Stream[int]{stream.From(p, never), stream.From(p, never)}))
		},
		"tee": func(p *stream.Pipeline) {
			outs := stream.Tee(stream.From(p, never), 3)
			hold(outs[0])
			stream.Sink(outs[1], func(context.Context, int) error { return nil })
			stream.Sink(outs[2], func(context.Context, int) error { return nil })
		},
		"fromchan": func(p *stream.Pipeline) { hold(stream.FromChan(p, make(chan int))) },
	}
	for name, build := range stages {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				p := stream.New(ctx)
				build(p)
				done := make(chan error, 1)
				go func() { done <- p.Wait() }()
				synctest.Wait() // every stage is blocked
				cancel()
				assert.ErrorIs(t, <-done, context.Canceled)
			})
		})
	}
}

func TestBatchBySizeAndByTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan int)
		p := stream.New(t.Context())
		type stamped struct {
			at    time.Duration
			batch []int
		}
		start := time.Now()
		var got []stamped
		stream.Sink(stream.Batch(stream.FromChan(p, ch), 3, time.Second), func(_ context.Context, b []int) error {
			got = append(got, stamped{time.Since(start), b})
			return nil
		})
		for i := range 4 {
			ch <- i // 0, 1, 2 fill a batch; 3 waits for the timer
		}
		time.Sleep(2 * time.Second)
		ch <- 4
		close(ch)
		require.NoError(t, p.Wait())
		assert.Equal(t, []stamped{
			{0, []int{0, 1, 2}},
			{time.Second, []int{3}},
			{2 * time.Second, []int{4}},
		}, got)
	})
}

func TestCountWindows(t *testing.T) {
	cases := []struct {
		size, slide, n int
		want           [][]int
	}{
		{2, 2, 5, [][]int{{0, 1}, {2, 3}, {4}}},
		{3, 1, 4, [][]int{{0, 1, 2}, {1, 2, 3}, {2, 3}, {3}}},
		{2, 3, 7, [][]int{{0, 1}, {3, 4}, {6}}},
		{5, 5, 0, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.size, "/", tc.slide, "/", tc.n), func(t *testing.T) {
			p := stream.New(t.Context())
			var got [][]int
			stream.Collect(stream.CountWindow(stream.From(p, ints(tc.n)), tc.size, tc.slide), &got)
			require.NoError(t, p.Wait())
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestTimeWindowsSlidingWithLateness(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// Windows of 10 s every 5 s, 5 s of allowed lateness.
	events := []int{1, 6, 12, 4, 18, 2, 31}
	// 4 arrives after the watermark is 12-5=7: window [0,10) is still open
	// (closes at watermark 10), [-5,5) closed at 5: 4 goes into [0,10) only.
	// 2 arrives after watermark 18-5=13: [0,10) and [-5,5) are closed: late.
	var late []int
	p := stream.New(t.Context())
	w := stream.TimeWindow(stream.From(p, slices.Values(events)), 10*time.Second, 5*time.Second, 5*time.Second,
		func(s int) time.Time { return at(s) },
		stream.DeadLetter(func(_ context.Context, e *stream.ItemError) {
			assert.ErrorIs(t, e, stream.ErrLate)
			late = append(late, e.Item.(int))
		}))
	type win struct {
		start int
		items []int
	}
	var got []win
	stream.Sink(w, func(_ context.Context, w stream.Window[int]) error {
		assert.Equal(t, 10*time.Second, w.End.Sub(w.Start))
		got = append(got, win{int(w.Start.Sub(t0) / time.Second), w.Items})
		return nil
	})
	require.NoError(t, p.Wait())
	assert.Equal(t, []win{
		{-5, []int{1}},
		{0, []int{1, 6, 4}},
		{5, []int{6, 12}},
		{10, []int{12, 18}},
		{15, []int{18}},
		{25, []int{31}},
		{30, []int{31}},
	}, got)
	assert.Equal(t, []int{2}, late)
}

func TestLateItemFailsFastByDefault(t *testing.T) {
	t0 := time.Unix(0, 0)
	p := stream.New(t.Context())
	w := stream.TimeWindow(stream.From(p, slices.Values([]int{0, 20, 1})), 10*time.Second, 10*time.Second, 0,
		func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) })
	stream.Sink(w, func(context.Context, stream.Window[int]) error { return nil })
	assert.ErrorIs(t, p.Wait(), stream.ErrLate)
}

func TestBadConfigurationFailsTheRun(t *testing.T) {
	id := func(_ context.Context, v int) (int, error) { return v, nil }
	cases := []struct {
		name  string
		build func(p *stream.Pipeline)
		param string
	}{
		{"nil seq", func(p *stream.Pipeline) { stream.Collect(stream.From[int](p, nil), new([]int)) }, "nil iter.Seq"},
		{"nil chan", func(p *stream.Pipeline) { stream.Collect(stream.FromChan[int](p, nil), new([]int)) }, "nil channel"},
		{"nil map fn", func(p *stream.Pipeline) { stream.Map[int, int](stream.From(p, ints(3)), nil) }, "nil function"},
		{"concurrency 0", func(p *stream.Pipeline) { stream.Map(stream.From(p, ints(3)), id, stream.Concurrency(0)) }, "Concurrency"},
		{"negative buffer", func(p *stream.Pipeline) { stream.Map(stream.From(p, ints(3)), id, stream.Buffer(-1)) }, "Buffer"},
		{"nil option", func(p *stream.Pipeline) { stream.Map(stream.From(p, ints(3)), id, nil) }, "option 0"},
		{"nil dead letter", func(p *stream.Pipeline) { stream.Map(stream.From(p, ints(3)), id, stream.DeadLetter(nil)) }, "DeadLetter"},
		{"nil collect dst", func(p *stream.Pipeline) { stream.Collect(stream.From(p, ints(3)), nil) }, "nil function"},
		{"batch size", func(p *stream.Pipeline) { stream.Batch(stream.From(p, ints(3)), 0, 0) }, "size"},
		{"batch wait", func(p *stream.Pipeline) { stream.Batch(stream.From(p, ints(3)), 1, -1) }, "maxWait"},
		{"window size", func(p *stream.Pipeline) { stream.CountWindow(stream.From(p, ints(3)), 0, 1) }, "size"},
		{"window slide", func(p *stream.Pipeline) { stream.CountWindow(stream.From(p, ints(3)), 1, 0) }, "slide"},
		{"time window slide", func(p *stream.Pipeline) {
			stream.TimeWindow(stream.From(p, ints(3)), time.Second, 2*time.Second, 0, func(int) time.Time { return time.Time{} })
		}, "slide"},
		{"time window event time", func(p *stream.Pipeline) {
			stream.TimeWindow(stream.From(p, ints(3)), time.Second, time.Second, 0, nil)
		}, "eventTime"},
		{"tee n", func(p *stream.Pipeline) { stream.Tee(stream.From(p, ints(3)), 0) }, "n"},
		{"consumed twice", func(p *stream.Pipeline) {
			s := stream.From(p, ints(3))
			stream.Map(s, id)
			stream.Map(s, id)
		}, "already consumed"},
		{"merge of nothing valid", func(p *stream.Pipeline) {
			s := stream.From(p, ints(3))
			stream.Merge([]*stream.Stream[int]{s, nil})
		}, "input 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := stream.New(t.Context())
			tc.build(p)
			err := p.Wait()
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.ErrorContains(t, err, tc.param, "the error names the parameter")
		})
	}

	var zero stream.Pipeline
	assert.ErrorIs(t, zero.Wait(), ion.ErrInvalidConfig, "the zero Pipeline fails closed")
	var nilp *stream.Pipeline
	assert.ErrorIs(t, nilp.Wait(), ion.ErrInvalidConfig, "a nil Pipeline fails closed")
	//lint:ignore SA1012 a nil ctx is the bad input under test
	assert.ErrorIs(t, stream.New(nil).Wait(), ion.ErrInvalidConfig, "a nil ctx fails closed") //nolint:staticcheck

	p := stream.New(t.Context())
	require.NoError(t, p.Wait())
	stream.From(p, ints(1))
	assert.ErrorIs(t, p.Wait(), ion.ErrInvalidConfig, "a stage built after Wait fails the next Wait")
}

// FuzzPipelineMatchesSequentialModel builds a pipeline of map, filter and
// flatmap stages with fuzzed concurrency and buffers and compares its
// output with the same functions applied in a plain loop.
func FuzzPipelineMatchesSequentialModel(f *testing.F) {
	f.Add(uint8(3), uint8(1), uint8(4), uint8(0), uint16(100), false)
	f.Add(uint8(1), uint8(0), uint8(2), uint8(7), uint16(1000), true)
	f.Fuzz(func(t *testing.T, conc, buf, conc2, buf2 uint8, n uint16, unordered bool) {
		mapFn := func(_ context.Context, v int) (int, error) { return v*7 + 1, nil }
		keep := func(_ context.Context, v int) (bool, error) { return v%3 != 0, nil }
		explode := func(_ context.Context, v int) ([]int, error) { return slices.Repeat([]int{v}, v%3), nil }
		var want []int
		for i := range int(n) {
			v := i*7 + 1
			if v%3 == 0 {
				continue
			}
			want = append(want, slices.Repeat([]int{v}, v%3)...)
		}
		opts := []stream.Option{stream.Concurrency(int(conc%8) + 1), stream.Buffer(int(buf % 8))}
		if unordered {
			opts = append(opts, stream.Unordered())
		}
		p := stream.New(context.Background())
		s1 := stream.Map(stream.From(p, ints(int(n))), mapFn, opts...)
		s2 := stream.Filter(s1, keep, stream.Concurrency(int(conc2%8)+1), stream.Buffer(int(buf2%8)))
		s3 := stream.FlatMap(s2, explode, opts...)
		var got []int
		stream.Collect(s3, &got)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if unordered {
			slices.Sort(got)
			slices.Sort(want)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %d items, want %d (first difference matters)", len(got), len(want))
		}
	})
}

// TestSerialStagePanicSkipsOnlyThatItem panics on one item of a chunk in a
// serial stage: the items before and after it in the chunk still pass.
func TestSerialStagePanicSkipsOnlyThatItem(t *testing.T) {
	p := stream.New(t.Context())
	var dead []int
	mapped := stream.Map(stream.From(p, ints(6)), func(_ context.Context, v int) (int, error) {
		if v == 2 || v == 4 {
			panic(fmt.Sprint("boom ", v))
		}
		return v * 10, nil
	}, stream.DeadLetter(func(_ context.Context, e *stream.ItemError) {
		var pe *ion.PanicError
		if errors.As(e, &pe) {
			dead = append(dead, e.Item.(int))
		}
	}))
	var got []int
	stream.Collect(mapped, &got)
	require.NoError(t, p.Wait())
	assert.Equal(t, []int{0, 10, 30, 50}, got)
	assert.Equal(t, []int{2, 4}, dead, "each panicking item reaches the dead letter as *ion.PanicError")
}
