// Command etl moves records from a source to a warehouse through a stream
// of Ion stages: each record is enriched by a rate-limited, retried call to
// a flaky API, invalid records are dropped, and the rest are written in
// batches behind a breaker, while the warehouse goes down for a while. A
// live progress line shows items per second, items in flight and drops; a
// scheduled job checkpoints the progress every second; a summary accounts
// for every record.
//
//	go run ./examples/etl
//	go run ./examples/etl -records 5000 -seed 3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/schedule"
	"github.com/ionkit/ion/stream"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.records, "records", 2000, "records to move")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the API's and the warehouse's behaviour")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, os.Stderr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "etl:", err)
		os.Exit(1)
	}
}

type config struct {
	records int
	seed    uint64
}

// record is one row of the source.
type record struct {
	ID       int
	Customer string
	Amount   int // cents; a negative amount is invalid
}

// enriched is a record with what the API knows about its customer.
type enriched struct {
	record
	Segment string
}

// The API allows 400 calls/s with a burst of 50: the enrichment stage paces
// itself to that with a limiter that waits rather than refuses.
const (
	apiRate  = 400
	apiBurst = 50
)

var (
	errAPI         = errors.New("api: 503 unavailable")
	errWarehouse   = errors.New("warehouse: connection refused")
	errInvalidData = errors.New("invalid amount")
)

// counters is what the run counts, read by the progress line and the
// summary.
type counters struct {
	read, enrichCalls, apiFailures, dropped, unenriched, written, deadLettered atomic.Int64
	batches, batchAttempts, checkpoints                                        atomic.Int64
	checkpointAt                                                               atomic.Int64 // records written at the last checkpoint
	inFlight                                                                   atomic.Int64
}

func run(ctx context.Context, out, progress io.Writer, cfg config) error {
	if cfg.records < 1 {
		return errors.New("need -records >= 1")
	}
	start := time.Now()
	var c counters
	api := &flakyAPI{seed: cfg.seed, c: &c}
	wh := &warehouse{start: start, c: &c}

	// Enrichment: paced to the API's limit (waiting up to 2 s for a token),
	// and retried with backoff when the API fails.
	apiLimit := limit.NewTokenBucket(limit.PerSecond(apiRate), apiBurst)
	enrichPipeline := policy.Compose(
		policy.Retry[enriched](policy.WithAttempts(4),
			policy.WithBackoff(policy.Exponential(10*time.Millisecond, 200*time.Millisecond)),
			policy.WithJitter(policy.FullJitter), policy.WithSeed(cfg.seed)),
		limit.Policy[enriched](apiLimit, limit.WithMaxWait(2*time.Second)),
	)
	// Writing: a breaker stops hammering the warehouse while it is down,
	// and the retry waits out the breaker's open time (its Retry-After).
	cb := breaker.New("warehouse", breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(300*time.Millisecond))
	writePipeline := policy.Compose(
		policy.Retry[struct{}](policy.WithAttempts(8),
			policy.WithBackoff(policy.Exponential(50*time.Millisecond, time.Second)),
			policy.WithMaxRetryAfter(time.Second)),
		breaker.Policy[struct{}](cb),
	)

	fmt.Fprintf(out, "etl: %d records; enrich through %s\n", cfg.records, enrichPipeline)
	fmt.Fprintf(out, "     write through %s\n", writePipeline)

	p := stream.New(ctx)
	source := stream.From(p, readRecords(cfg.records, cfg.seed, &c))
	valid := stream.Filter(source, func(_ context.Context, r record) (bool, error) {
		if r.Amount < 0 {
			return false, errInvalidData
		}
		return true, nil
	}, stream.Named("validate"), stream.DeadLetter(func(context.Context, *stream.ItemError) {
		c.dropped.Add(1)
		c.inFlight.Add(-1)
	}))
	rich := stream.Map(valid, stream.Through(enrichPipeline, api.enrich),
		stream.Named("enrich"), stream.Concurrency(16), stream.Buffer(64),
		// A record the API still fails after every retry goes to a dead
		// letter (counted here) instead of stopping the run.
		stream.DeadLetter(func(context.Context, *stream.ItemError) {
			c.unenriched.Add(1)
			c.inFlight.Add(-1)
		}))
	batches := stream.Batch(rich, 100, 200*time.Millisecond, stream.Named("batch"))
	stream.Sink(batches, func(ctx context.Context, b []enriched) error {
		c.batches.Add(1)
		err := policy.Do(ctx, writePipeline, func(ctx context.Context) error { return wh.write(ctx, b) })
		if err != nil {
			return err
		}
		c.written.Add(int64(len(b)))
		c.inFlight.Add(-int64(len(b)))
		return nil
	}, stream.Named("write"), stream.DeadLetter(func(_ context.Context, e *stream.ItemError) {
		n := int64(len(e.Item.([]enriched)))
		c.deadLettered.Add(n)
		c.inFlight.Add(-n)
	}))

	// A checkpoint every second, as a scheduled job: it records how far the
	// run has come, so that a restart could resume from there.
	sched := schedule.New()
	if err := sched.Add("checkpoint", schedule.FixedRate(time.Second), func(context.Context) error {
		c.checkpoints.Add(1)
		c.checkpointAt.Store(c.written.Load())
		return nil
	}); err != nil {
		return err
	}

	// The progress line, redrawn every 250 ms. Owner: run; exits when done
	// is closed; joined through finished.
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				moved := c.written.Load() + c.dropped.Load() + c.unenriched.Load() + c.deadLettered.Load()
				rate := float64(moved-last) / now.Sub(lastAt).Seconds()
				last, lastAt = moved, now
				fmt.Fprintf(progress, "\r  %5.2fs  %6.0f items/s  in flight %4d  written %5d  dropped %3d  warehouse %-9s",
					now.Sub(start).Seconds(), rate, c.inFlight.Load(), c.written.Load(), c.dropped.Load(), cb.State())
			}
		}
	}()
	err := p.Wait()
	close(done)
	<-finished
	fmt.Fprintln(progress)
	if _, serr := sched.Stop(ctx); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}

	elapsed := time.Since(start)
	fmt.Fprintf(out, "\nmoved %d records in %.1fs\n", c.read.Load(), elapsed.Seconds())
	fmt.Fprintf(out, "  read                      %6d\n", c.read.Load())
	fmt.Fprintf(out, "  dropped as invalid        %6d\n", c.dropped.Load())
	fmt.Fprintf(out, "  written                   %6d  in %d batches (%d write attempts while the warehouse was down)\n",
		c.written.Load(), c.batches.Load(), c.batchAttempts.Load()-c.batches.Load())
	fmt.Fprintf(out, "  not enriched (dead letter)%6d\n", c.unenriched.Load())
	fmt.Fprintf(out, "  unwritten (dead letter)   %6d\n", c.deadLettered.Load())
	fmt.Fprintf(out, "  checkpoints               %6d  (the last at %d records written)\n", c.checkpoints.Load(), c.checkpointAt.Load())
	fmt.Fprintf(out, "  API calls                 %6d  (%d failed and were retried)\n", c.enrichCalls.Load(), c.apiFailures.Load())
	fmt.Fprintf(out, "  API rate                  %6.0f calls/s (limit %d/s, burst %d)\n",
		float64(c.enrichCalls.Load())/elapsed.Seconds(), apiRate, apiBurst)
	return nil
}

// readRecords yields n records; about 2 % are invalid.
func readRecords(n int, seed uint64, c *counters) iter.Seq[record] {
	return func(yield func(record) bool) {
		r := rand.New(rand.NewPCG(seed, 0))
		for i := range n {
			rec := record{ID: i, Customer: fmt.Sprintf("c%03d", r.IntN(500)), Amount: r.IntN(10_000)}
			if r.IntN(50) == 0 {
				rec.Amount = -rec.Amount - 1
			}
			c.read.Add(1)
			c.inFlight.Add(1)
			if !yield(rec) {
				return
			}
		}
	}
}

// flakyAPI answers in 5 to 20 ms and fails one call in ten.
type flakyAPI struct {
	seed uint64
	c    *counters
}

func (a *flakyAPI) enrich(ctx context.Context, r record) (enriched, error) {
	a.c.enrichCalls.Add(1)
	rnd := rand.New(rand.NewPCG(a.seed, uint64(r.ID)<<8|uint64(policy.Attempt(ctx))))
	t := time.NewTimer(time.Duration(5+rnd.IntN(16)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return enriched{}, ctx.Err()
	}
	if rnd.IntN(10) == 0 {
		a.c.apiFailures.Add(1)
		return enriched{}, errAPI
	}
	segments := []string{"retail", "wholesale", "online"}
	return enriched{record: r, Segment: segments[r.ID%3]}, nil
}

// warehouse takes a batch in 20 ms, and is down from 1 s to 1.6 s into the
// run.
type warehouse struct {
	start time.Time
	c     *counters
}

func (w *warehouse) write(ctx context.Context, _ []enriched) error {
	w.c.batchAttempts.Add(1)
	if at := time.Since(w.start); at >= time.Second && at < 1600*time.Millisecond {
		return errWarehouse
	}
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
