// Command jobs runs a batch job on an Ion worker pool. The submitter feels
// backpressure: Submit blocks while the pool's queue is full. A progress bar
// shows how far the batch got. On SIGINT or SIGTERM (Ctrl-C) it shuts down
// gracefully: it stops submitting, lets the pool finish every job it
// accepted (within a grace period, after which running jobs are cancelled
// and queued ones discarded), and reports exactly which jobs did not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

func main() {
	var opts options
	flag.IntVar(&opts.jobs, "jobs", 120, "number of jobs in the batch")
	flag.IntVar(&opts.workers, "workers", 4, "jobs running at once")
	flag.IntVar(&opts.queue, "queue", 8, "jobs waiting for a worker before Submit blocks")
	flag.DurationVar(&opts.grace, "grace", 2*time.Second, "how long shutdown waits for accepted jobs before cancelling them")
	flag.Uint64Var(&opts.seed, "seed", 1, "seed of the jobs' durations and failures")
	flag.Parse()
	opts.tick = 100 * time.Millisecond
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		opts.live = true // redraw the progress bar in place on a terminal
	}

	// The first SIGINT or SIGTERM cancels ctx: a graceful shutdown. Once it
	// has, stop restores the default handling, so a second Ctrl-C kills the
	// process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	fmt.Printf("processing %d jobs on %d workers; press Ctrl-C to stop early\n", opts.jobs, opts.workers)
	if err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "jobs:", err)
		os.Exit(1) // a batch that did not complete says so to its caller
	}
}

// options configure run.
type options struct {
	jobs, workers, queue int
	grace                time.Duration // the shutdown's wait for accepted jobs
	seed                 uint64
	tick                 time.Duration // how often the progress bar is drawn
	live                 bool          // redraw the progress bar in place while running
}

// status is what became of a job.
type status uint8

const (
	notSubmitted status = iota // the batch stopped before submitting it
	accepted                   // in the pool: queued or running
	completed
	failed
	interrupted // running when the grace period ended; its ctx was cancelled
	discarded   // queued when the grace period ended; never run
)

// batch holds the jobs' statuses, shared by the submitter, the workers, the
// pool's discard handler and the progress bar.
type batch struct {
	mu     sync.Mutex // guards the fields below
	status []status   // by job id - 1
	errs   map[int]error
	counts [discarded + 1]int
}

func (b *batch) set(id int, s status, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts[b.status[id-1]]--
	b.status[id-1] = s
	b.counts[s]++
	if err != nil {
		b.errs[id] = err
	}
}

// unfinished returns the number of jobs that did not run to completion.
func (b *batch) unfinished() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts[notSubmitted] + b.counts[accepted] + b.counts[discarded] + b.counts[interrupted]
}

// jobKey is the ctx key of a job's id: Submit's ctx carries it to the task
// and to the discard handler.
type jobKey struct{}

var errCorrupt = errors.New("corrupt input")

// errInterrupted is returned by run when a shutdown left jobs that did not
// run.
var errInterrupted = errors.New("interrupted")

func run(ctx context.Context, w io.Writer, opts options) error {
	start := time.Now()
	b := &batch{status: make([]status, opts.jobs), errs: map[int]error{}}
	b.counts[notSubmitted] = opts.jobs

	// Each job runs under a retry: a transient failure is tried again, a
	// corrupt input is not.
	var retried atomic.Int64
	retry := policy.Retry[struct{}](
		policy.WithAttempts(3),
		policy.WithBackoff(policy.Constant(10*time.Millisecond)),
		policy.WithOnRetry(func(context.Context, int, error, time.Duration) { retried.Add(1) }),
	).AbortIf(func(_ struct{}, err error) bool { return errors.Is(err, errCorrupt) })
	p := pool.New(opts.workers, opts.queue,
		pool.WithName("batch"),
		// Called for each accepted job that a forced Close removes from the
		// queue, with the ctx it was submitted with.
		pool.WithDiscardHandler(func(ctx context.Context, _ pool.Task, _ error) {
			b.set(ctx.Value(jobKey{}).(int), discarded, nil)
		}),
	)

	if err := p.Err(); err != nil {
		return err // an invalid size or queue: the pool fails closed
	}

	bar := startProgress(w, b, p, opts)
	next := 1
	for ; next <= opts.jobs; next++ {
		id := next
		// Submit blocks while the queue is full (backpressure) and returns
		// an error if ctx ends meanwhile: the job is then not submitted.
		b.set(id, accepted, nil) // before Submit: the task may finish before Submit returns
		err := p.Submit(context.WithValue(ctx, jobKey{}, id), func(ctx context.Context) error {
			err := policy.Do(ctx, retry, func(ctx context.Context) error { return process(ctx, id, opts.seed) })
			switch {
			case err == nil:
				b.set(id, completed, nil)
			case errors.Is(context.Cause(ctx), pool.ErrClosed):
				b.set(id, interrupted, nil)
			default:
				b.set(id, failed, err)
			}
			return err
		})
		if err != nil { // ctx ended: the only way Submit fails here
			b.set(id, notSubmitted, nil)
			break
		}
	}

	forced := 0
	if ctx.Err() != nil {
		bar.pause()
		fmt.Fprintf(w, "interrupted at %+.2fs: stopped submitting after %d jobs; finishing the accepted ones (grace %v)\n",
			time.Since(start).Seconds(), next-1, opts.grace)
		bar.resume()
		// Close stops intake and waits for every accepted job; when the
		// grace period ends first, it cancels the running jobs, discards the
		// queued ones and reports them.
		graceCtx, cancel := context.WithTimeout(context.Background(), opts.grace)
		forced, _ = p.Close(graceCtx)
		cancel()
	}
	// Wait for every worker to exit: after a forced Close, the cancelled jobs
	// are still returning.
	if _, err := p.Close(context.Background()); err != nil {
		return err
	}
	bar.stop()

	report(w, b, p.Snapshot(), forced, retried.Load(), time.Since(start))
	if n := b.unfinished(); n > 0 {
		return fmt.Errorf("%w: %d of %d jobs did not run to completion", errInterrupted, n, opts.jobs)
	}
	return nil
}

// process is one job: it takes 20 to 80ms and fails now and then, as drawn
// from the job's own seeded source, so every run is the same.
func process(ctx context.Context, id int, seed uint64) error {
	rnd := rand.New(rand.NewPCG(seed, uint64(id)))
	d := time.Duration(20+rnd.IntN(61)) * time.Millisecond
	roll := rnd.Float64()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	switch {
	case roll < 0.02:
		return fmt.Errorf("job %d: %w", id, errCorrupt)
	case roll < 0.10 && policy.Attempt(ctx) == 1:
		return fmt.Errorf("job %d: transient error", id) // the retry will succeed
	}
	return nil
}

// report prints what became of every job, naming those that did not run.
func report(w io.Writer, b *batch, m pool.Snapshot, forced int, retried int64, elapsed time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := func(s status) []int {
		var out []int
		for i, st := range b.status {
			if st == s {
				out = append(out, i+1)
			}
		}
		return out
	}
	fmt.Fprintf(w, "\nfinished in %.2fs: %d completed (%d retries), %d failed", elapsed.Seconds(), b.counts[completed], retried, b.counts[failed])
	if b.counts[interrupted] > 0 {
		fmt.Fprintf(w, ", %d interrupted", b.counts[interrupted])
	}
	fmt.Fprintln(w)
	for _, id := range ids(failed) {
		fmt.Fprintf(w, "  failed: %v\n", b.errs[id])
	}
	if n := b.counts[interrupted]; n > 0 {
		fmt.Fprintf(w, "interrupted while running (ctx cancelled at the end of the grace period): %s\n", ranges(ids(interrupted)))
	}
	if n := b.counts[discarded] + b.counts[notSubmitted]; n > 0 {
		fmt.Fprintf(w, "did not run: %d jobs\n", n)
		if l := ids(discarded); len(l) > 0 {
			fmt.Fprintf(w, "  discarded from the queue at the end of the grace period (%d, reported by Close: %d): %s\n", len(l), forced, ranges(l))
		}
		if l := ids(notSubmitted); len(l) > 0 {
			fmt.Fprintf(w, "  never submitted: %s\n", ranges(l))
		}
	} else {
		fmt.Fprintln(w, "every job ran")
	}
	accepted := m.Completed + m.Failed + m.Panicked + m.Expired + m.Discarded
	fmt.Fprintf(w, "pool: %d accepted = %d completed + %d failed + %d discarded\n", accepted, m.Completed, m.Failed, m.Discarded)
}

// ranges formats sorted ids compactly: "#3, #7-#9".
func ranges(ids []int) string {
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		s := "#" + strconv.Itoa(ids[i])
		if j > i {
			s += "-#" + strconv.Itoa(ids[j])
		}
		parts = append(parts, s)
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
