package stream

import (
	"context"
	"slices"
	"time"
)

// Batch returns a stream of batches of the items of in: a batch is sent
// when it holds size items, or maxWait after its first item arrived,
// whichever comes first (a maxWait of 0 waits for size items), and the last
// partial batch is sent when in ends. Each batch is a new slice. Only
// [Named] and [Buffer] apply. A size below 1 or a negative maxWait fails the
// pipeline with an error matching ion.ErrInvalidConfig.
func Batch[T any](in *Stream[T], size int, maxWait time.Duration, opts ...Option) *Stream[[]T] {
	st := newStage[T, []T](in, "batch", opts)
	if st == nil {
		return nil
	}
	st.check(size >= 1, "size", "%d is below 1", size)
	st.check(maxWait >= 0, "maxWait", "%v is negative", maxWait)
	src := st.src
	st.run(func(ctx context.Context, w *writer[[]T]) error {
		var (
			batch   []T
			timer   *time.Timer
			expired <-chan time.Time // nil while no batch is pending or maxWait is 0
		)
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
		// end adds the pending batch to the output.
		end := func() bool {
			if expired != nil {
				timer.Stop()
				expired = nil
			}
			b := batch
			batch = nil
			return len(b) == 0 || w.add(ctx, b)
		}
		for {
			select {
			case chunk, ok := <-src.ch:
				if !ok {
					end()
					w.flush(ctx)
					return nil
				}
				for _, v := range chunk {
					if batch == nil {
						batch = make([]T, 0, size)
						if maxWait > 0 {
							if timer == nil {
								timer = time.NewTimer(maxWait)
							} else {
								timer.Reset(maxWait)
							}
							expired = timer.C
						}
					}
					batch = append(batch, v)
					if len(batch) == size && !end() {
						return nil
					}
				}
				src.put(chunk)
				if !w.flush(ctx) {
					return nil
				}
			case <-expired:
				expired = nil
				if !end() || !w.flush(ctx) {
					return nil
				}
			case <-ctx.Done():
				return nil
			}
		}
	})
	return st.out
}

// CountWindow returns a stream of windows of size consecutive items of in,
// one starting every slide items: tumbling windows when slide equals size,
// sliding (overlapping) ones when slide is smaller, sampled ones when it is
// larger. A window is sent when it is full; when in ends, the windows that
// started but did not fill are sent too, oldest first. Each window is a new
// slice. Only [Named] and [Buffer] apply. A size or slide below 1 fails the
// pipeline with an error matching ion.ErrInvalidConfig.
func CountWindow[T any](in *Stream[T], size, slide int, opts ...Option) *Stream[[]T] {
	st := newStage[T, []T](in, "countwindow", opts)
	if st == nil {
		return nil
	}
	st.check(size >= 1, "size", "%d is below 1", size)
	st.check(slide >= 1, "slide", "%d is below 1", slide)
	src := st.src
	st.run(func(ctx context.Context, w *writer[[]T]) error {
		// open holds the windows started and not yet full, oldest first.
		var open [][]T
		n := 0
		for {
			chunk, ok := recv(ctx, src.ch)
			if !ok {
				w.last(ctx, open)
				return nil
			}
			for _, v := range chunk {
				if n%slide == 0 {
					open = append(open, make([]T, 0, size))
				}
				n++
				for i := range open {
					open[i] = append(open[i], v)
				}
				if len(open) > 0 && len(open[0]) == size {
					win := open[0]
					open = slices.Delete(open, 0, 1)
					if !w.add(ctx, win) {
						return nil
					}
				}
			}
			src.put(chunk)
			if !w.flush(ctx) {
				return nil
			}
		}
	})
	return st.out
}

// Window is one time window of items: those whose event time is in
// [Start, End).
type Window[T any] struct {
	Start, End time.Time
	Items      []T
}

// TimeWindow returns a stream of event-time windows of the items of in. A
// window covers size of event time; one starts every slide (tumbling
// windows when slide equals size, sliding ones when it is smaller), aligned
// as time.Time.Truncate aligns (so minute, hour and day windows start on the
// minute, hour and day, in UTC). eventTime gives an item's time.
//
// Windows close on a watermark, the latest event time seen minus lateness:
// a window is sent, with its items in arrival order, once the watermark
// reaches its end, and when in ends every open window is sent, oldest
// first. The late-data rule: an item is added to each of its windows that
// is still open; an item all of whose windows have closed is late, and is
// dropped and handed to the stage's error policy as an [*ItemError] with
// [ErrLate] ([Skip] or [DeadLetter] go on; the default, fail fast, stops the
// pipeline). Windows without items are not sent. Only [Named], [Buffer],
// [Skip] and [DeadLetter] apply.
//
// A size or slide that is not positive, a slide larger than size, a
// negative lateness or a nil eventTime fails the pipeline with an error
// matching ion.ErrInvalidConfig.
func TimeWindow[T any](in *Stream[T], size, slide, lateness time.Duration, eventTime func(T) time.Time, opts ...Option) *Stream[Window[T]] {
	st := newStage[T, Window[T]](in, "timewindow", opts)
	if st == nil {
		return nil
	}
	st.check(size > 0, "size", "%v is not positive", size)
	st.check(slide > 0 && slide <= size, "slide", "%v is not in (0, size]", slide)
	st.check(lateness >= 0, "lateness", "%v is negative", lateness)
	st.check(eventTime != nil, "eventTime", "nil function")
	src, c := st.src, &st.c
	st.run(func(ctx context.Context, w *writer[Window[T]]) error {
		var (
			open      []Window[T] // by Start, ascending
			watermark time.Time   // zero until the first item
			seen      bool
		)
		for {
			chunk, ok := recv(ctx, src.ch)
			if !ok {
				w.last(ctx, open)
				return nil
			}
			for _, v := range chunk {
				t := eventTime(v)
				// The windows of t start at the multiples of slide in (t-size, t].
				first := t.Add(-size).Truncate(slide).Add(slide)
				added := false
				for start := first; !start.After(t); start = start.Add(slide) {
					end := start.Add(size)
					if seen && !end.After(watermark) {
						continue // closed
					}
					i, found := slices.BinarySearchFunc(open, start, func(w Window[T], s time.Time) int { return w.Start.Compare(s) })
					if !found {
						open = slices.Insert(open, i, Window[T]{Start: start, End: end})
					}
					open[i].Items = append(open[i].Items, v)
					added = true
				}
				if !added {
					if err := c.handle(ctx, v, ErrLate); err != nil {
						return err
					}
					continue
				}
				if wm := t.Add(-lateness); !seen || wm.After(watermark) {
					watermark, seen = wm, true
				}
				for len(open) > 0 && !open[0].End.After(watermark) {
					win := open[0]
					open = slices.Delete(open, 0, 1)
					if !w.add(ctx, win) {
						return nil
					}
				}
			}
			src.put(chunk)
			if !w.flush(ctx) {
				return nil
			}
		}
	})
	return st.out
}
