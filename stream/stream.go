// Package stream provides typed, concurrent data pipelines with bounded
// memory: a source, stages (Map, Filter, FlatMap, Batch, windows, Merge,
// Tee) and sinks, connected by bounded channels, whose functions can run
// through any Ion policy.
//
// # Model
//
// A [Pipeline] owns the goroutines of every stage built on it, the way an
// errgroup owns its tasks: build the stages, then call [Pipeline.Wait],
// which returns when every stage has ended, with the first error that
// stopped the pipeline.
//
//	p := stream.New(ctx)
//	records := stream.From(p, readRecords())                      // iter.Seq[Record]
//	enriched := stream.Map(records, enrich, stream.Concurrency(8)) // in order
//	batches := stream.Batch(enriched, 100, time.Second)
//	stream.Sink(batches, writeBatch)
//	err := p.Wait()
//
// Stages start when they are built. Items flow through channels, so a
// concurrent stage, a slow consumer and a fast producer all work at once;
// a stage's input is read by one consumer only (use [Tee] to fan out). A
// stream that has no consumer when Wait is called is drained, so Wait
// never blocks on it.
//
// Why channels and not iterators: an iter.Seq is pulled by one goroutine,
// so concurrent stages would still need channels behind it, and an
// iterator cannot express fan-in, fan-out or a timer that flushes a batch.
// Iterators are where they fit: [From] takes an iter.Seq as the source.
//
// # Backpressure and bounded memory
//
// Every stage has a bounded output buffer ([Buffer], 16 items by default)
// and a bounded concurrency ([Concurrency], 1 by default). A stage blocks
// when its output buffer is full, so a slow stage slows its producer
// instead of growing memory. Items travel between stages in chunks of up to
// min(buffer, 64) items: a stage sends what it made of one input chunk at
// once and never waits for more input to fill a chunk, so chunks stay
// single items while the stages keep up and grow only where items queue
// anyway. A stage therefore holds at most about its buffer twice over (the
// channel, and the chunk it builds or works on) plus, when concurrent and
// ordered, a queue of concurrency+buffer pieces of a chunk; the bound does
// not depend on the length of the input.
//
// # Order
//
// A concurrent stage keeps its input order by default: results wait, in a
// queue bounded by the buffer, for the slower items before them. With
// [Unordered] each result is sent as soon as it is ready.
//
// # Errors and panics
//
// A stage function returns an error per item. What happens then is the
// stage's error policy: by default fail fast (the pipeline is cancelled
// and Wait returns the error, an [*ItemError] naming the stage and the
// item); with [Skip] the item is dropped and counted; with [DeadLetter]
// it is dropped and handed to a function of the user's. A panic in a stage
// function becomes an [*ion.PanicError] and takes the same path, so it
// never crashes the process.
//
// Cancelling the ctx given to [New] stops every stage promptly (each
// blocking send and receive also waits on the ctx) and Wait returns the
// ctx's error. No goroutine outlives Wait.
//
// # Policies and pools
//
// [Through] runs a stage function through any policy.Policy: a retry
// around a flaky enrichment call, a limiter for an API's quota, a breaker
// around a sink. A pool's policy (pool.Policy) runs the calls on the
// pool's workers.
package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ionkit/ion"
)

// Pipeline owns the stages built on it. Build it with [New]; the zero
// value is not usable (Wait returns an error matching ion.ErrInvalidConfig).
// Its methods are safe for concurrent use by multiple goroutines.
type Pipeline struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // one count per stage goroutine
	stages atomic.Int32   // stages built, for their default names

	// mu guards the fields below.
	mu      sync.Mutex
	err     error      // the first error that stopped the pipeline
	streams []consumer // every stream built, to drain the unconsumed at Wait
	waited  bool       // Wait was called: no stage may be added
}

// consumer is the part of a Stream that Wait needs whatever its type.
type consumer interface {
	drainIfUnconsumed()
}

// New returns a Pipeline whose stages run until ctx ends or the pipeline
// is done. A nil ctx makes Wait return an error matching
// ion.ErrInvalidConfig.
func New(ctx context.Context) *Pipeline {
	if ctx == nil {
		p := &Pipeline{ctx: context.Background(), cancel: func(error) {}}
		p.err = ion.NewConfigError("stream", "ctx", "nil context")
		return p
	}
	cctx, cancel := context.WithCancelCause(ctx)
	return &Pipeline{ctx: cctx, cancel: cancel}
}

// Wait blocks until every stage of the pipeline has ended, then returns the
// first error that stopped it: a stage's fail-fast error (an [*ItemError]),
// a configuration error (matching ion.ErrInvalidConfig), or the ctx's error
// when the ctx given to New ended first. It returns nil when every source
// was exhausted and every item reached its sink.
//
// Streams that no stage consumes are drained first, so Wait never blocks on
// them. Stages cannot be added once Wait is called (one that is built later
// makes the next Wait fail with an error matching ion.ErrInvalidConfig).
// Calling Wait again returns the same error.
func (p *Pipeline) Wait() error {
	if p == nil || p.cancel == nil {
		return errZero
	}
	p.mu.Lock()
	p.waited = true
	streams := p.streams
	p.streams = nil
	p.mu.Unlock()
	for _, s := range streams {
		s.drainIfUnconsumed()
	}
	p.wg.Wait()
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err == nil {
		err = context.Cause(p.ctx)
		if err != nil && errors.Is(err, errDone) {
			err = nil
		}
	}
	p.cancel(errDone)
	return err
}

var (
	errZero = ion.NewConfigError("stream", "Pipeline", "zero value; use New")
	errDone = errors.New("stream: pipeline done")
)

// nextStage returns the number of the next stage built on p, from 1.
func (p *Pipeline) nextStage() int { return int(p.stages.Add(1)) }

// fail records err as the pipeline's error, unless one is recorded, and
// cancels every stage.
func (p *Pipeline) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.cancel(err)
}

// start runs f as a stage goroutine of p. Owner: p. Exit: when f returns,
// which every stage does when its input ends or p's ctx ends. Join:
// Pipeline.Wait (p.wg).
func (p *Pipeline) start(f func(ctx context.Context) error) {
	p.mu.Lock()
	late := p.waited
	p.wg.Add(1)
	p.mu.Unlock()
	if late {
		// The stage still runs, on a cancelled ctx, so that it closes its
		// output and the next Wait does not block on it.
		p.fail(ion.NewConfigError("stream", "stage", "built after Wait was called"))
	}
	go func() {
		defer p.wg.Done()
		if err := f(p.ctx); err != nil {
			p.fail(err)
		}
	}()
}

// Stream is the output of a source or a stage: a bounded channel of items
// of type T that exactly one further stage or sink consumes. A Stream is
// built by a source ([From], [FromChan]) or a stage and passed to the next
// stage; it has no methods of its own.
//
// Items travel in chunks: a stage sends what it made of one input chunk as
// one output chunk, of at most min(its buffer, 64) items, and never waits
// for more input to fill one. When the stages keep up, chunks hold one item;
// when one falls behind, the items that queue for it travel together, so a
// busy pipeline pays for a channel hand-off per chunk rather than per item.
type Stream[T any] struct {
	p    *Pipeline
	ch   chan []T // chunks of 1 to k items (more for a FlatMap's)
	free chan []T // chunks the consumer is done with, for the producer to reuse
	k    int      // the chunk size
	name string

	mu       sync.Mutex
	consumed bool // a stage or sink reads ch
}

// maxChunk bounds a chunk's items, so that one chunk does not hold a
// consumer's attention for long.
const maxChunk = 64

func newStream[T any](p *Pipeline, name string, buffer int) *Stream[T] {
	// A buffer of n items is n/k chunks of k: Buffer(16) is one chunk of 16,
	// Buffer(0) an unbuffered channel of single items.
	k := min(max(buffer, 1), maxChunk)
	c := buffer / k
	s := &Stream[T]{p: p, ch: make(chan []T, c), free: make(chan []T, c+2), k: k, name: name}
	p.mu.Lock()
	p.streams = append(p.streams, s)
	p.mu.Unlock()
	return s
}

// get returns an empty chunk of capacity k, reused when one is free.
func (s *Stream[T]) get() []T {
	select {
	case c := <-s.free:
		return c
	default:
		return make([]T, 0, s.k)
	}
}

// put hands back a chunk that its consumer is done with. Only chunks of
// capacity k are kept (a FlatMap's larger output is split into pieces
// whose capacity is their length, so a reused piece never grows into its
// neighbour).
func (s *Stream[T]) put(c []T) {
	if cap(c) != s.k {
		return
	}
	clear(c) // drop references, for the garbage collector
	select {
	case s.free <- c[:0]:
	default:
	}
}

// sendAll sends items on s in chunks of at most k; false means the ctx
// ended.
func (s *Stream[T]) sendAll(ctx context.Context, items []T) bool {
	for len(items) > s.k {
		if !send(ctx, s.ch, items[:s.k:s.k]) {
			return false
		}
		items = items[s.k:]
	}
	return len(items) == 0 || send(ctx, s.ch, items)
}

// writer builds a stage's output chunk by chunk.
type writer[T any] struct {
	s   *Stream[T]
	buf []T
}

// add appends v to the chunk being built and sends the chunk when it is
// full; false means the ctx ended.
func (w *writer[T]) add(ctx context.Context, v T) bool {
	if w.buf == nil {
		w.buf = w.s.get()
	}
	w.buf = append(w.buf, v)
	if len(w.buf) >= w.s.k {
		return w.flush(ctx)
	}
	return true
}

// flush sends the chunk being built, if any; false means the ctx ended.
func (w *writer[T]) flush(ctx context.Context) bool {
	if len(w.buf) == 0 {
		return true
	}
	b := w.buf
	w.buf = nil
	return send(ctx, w.s.ch, b)
}

// last sends items, the windows still open when a stage's input ended,
// unless the ctx ended (then nothing is sent).
func (w *writer[T]) last(ctx context.Context, items []T) {
	if ctx.Err() != nil {
		return
	}
	for _, v := range items {
		if !w.add(ctx, v) {
			return
		}
	}
	w.flush(ctx)
}

// take marks s as consumed and returns it, or fails the pipeline when s is
// nil or already consumed.
func (s *Stream[T]) take(stage string) (*Stream[T], *Pipeline, bool) {
	if s == nil || s.p == nil {
		return nil, nil, false
	}
	s.mu.Lock()
	again := s.consumed
	s.consumed = true
	s.mu.Unlock()
	if again {
		s.p.fail(ion.NewConfigError("stream", stage, "stream %q is already consumed (use Tee to fan out)", s.name))
		return nil, s.p, false
	}
	return s, s.p, true
}

// drainIfUnconsumed starts a stage that discards s's items if nothing
// consumes s.
func (s *Stream[T]) drainIfUnconsumed() {
	s.mu.Lock()
	if s.consumed {
		s.mu.Unlock()
		return
	}
	s.consumed = true
	s.mu.Unlock()
	s.p.wg.Add(1)
	// Owner: the pipeline. Exit: when s's producer closes s.ch (it does
	// when its input ends or the ctx ends). Join: Pipeline.Wait.
	go func() {
		defer s.p.wg.Done()
		for range s.ch {
		}
	}()
}

// ItemError is a stage function's error for one item, as Wait returns it
// (fail fast) or as a dead-letter function receives it.
type ItemError struct {
	Stage string // the stage's name (its kind and position unless named)
	Item  any    // the item the stage failed on
	Err   error  // the function's error, an *ion.PanicError for a panic, or ErrLate
}

func (e *ItemError) Error() string {
	return fmt.Sprintf("stream: stage %s: item %v: %v", e.Stage, e.Item, e.Err)
}

// Unwrap returns the function's error.
func (e *ItemError) Unwrap() error { return e.Err }

// ErrLate is the error of an item that arrived after every time window it
// belongs to had closed (see [TimeWindow]).
var ErrLate = errors.New("stream: late item")

// send sends the chunk v on ch unless ctx ends first. It tries a send that
// does not block before it waits on both: a select on two channels locks
// both, and every stage shares the ctx's channel.
func send[T any](ctx context.Context, ch chan<- []T, v []T) bool { return sendOne(ctx, ch, v) }

// recv receives a chunk from ch unless ctx ends first; ok is false when ch
// is closed or ctx ended.
func recv[T any](ctx context.Context, ch <-chan []T) ([]T, bool) { return recvOne(ctx, ch) }

// sendOne sends v on ch unless ctx ends first, trying without blocking
// first.
func sendOne[T any](ctx context.Context, ch chan<- T, v T) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case ch <- v:
		return true
	default:
	}
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// recvOne receives from ch unless ctx ends first; ok is false when ch is
// closed or ctx ended. Like sendOne, it tries first without blocking.
func recvOne[T any](ctx context.Context, ch <-chan T) (v T, ok bool) {
	if ctx.Err() != nil {
		return v, false
	}
	select {
	case v, ok = <-ch:
		return v, ok
	default:
	}
	select {
	case v, ok = <-ch:
		return v, ok
	case <-ctx.Done():
		return v, false
	}
}
