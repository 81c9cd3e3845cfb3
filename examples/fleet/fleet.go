package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ionkit/ion"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
	"github.com/redis/go-redis/v9"
)

// config is what the command line sets.
type config struct {
	addr  string        // a real Redis, or "" for the embedded one
	mode  string        // failure mode: closed, open or local
	phase time.Duration // length of each phase
}

const (
	replicas = 3
	workers  = 4                     // callers per replica
	rate     = 100                   // the fleet's calls per second
	burst    = 10                    // the fleet's burst
	bulk     = 5                     // the fleet's concurrent calls
	work     = 20 * time.Millisecond // what a call does
)

// replica is one process of the service: its own Redis client, limiter and
// bulkhead, sharing state with the others through Redis.
type replica struct {
	rdb      *redis.Client
	pipeline policy.Policy[int]
	// counts of the current second, swapped out by the reporter
	admitted, limited, full, backend atomic.Int64
}

// counts is one second of one replica.
type counts struct{ admitted, limited, full, backend int64 }

func (r *replica) swap() counts {
	return counts{r.admitted.Swap(0), r.limited.Swap(0), r.full.Swap(0), r.backend.Swap(0)}
}

func run(ctx context.Context, out io.Writer, cfg config) error {
	if cfg.phase <= 0 {
		cfg.phase = 3 * time.Second
	}
	addr := cfg.addr
	var mr *miniredis.Miniredis
	redis.SetLogger(quiet{})
	if addr == "" {
		mr = miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return err
		}
		defer mr.Close()
		addr = mr.Addr()
	}

	var inside, peak atomic.Int64 // calls running now, fleet-wide, and the most seen
	var reps []*replica
	for range replicas {
		r, err := newReplica(addr, cfg.mode)
		if err != nil {
			return err
		}
		defer r.rdb.Close()
		reps = append(reps, r)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range reps {
		for range workers {
			// Owner: run; exits when runCtx is cancelled; joined below.
			wg.Go(func() { r.loop(runCtx, &inside, &peak) })
		}
	}
	defer wg.Wait()
	defer cancel()

	fmt.Fprintf(out, "3 replicas share %d calls/s (burst %d) and a bulkhead of %d, on %s Redis\n",
		rate, burst, bulk, map[bool]string{true: "an embedded", false: "a real"}[mr != nil])
	report(ctx, out, reps, &peak, cfg.phase)

	if mr != nil {
		mr.Close()
		fmt.Fprintf(out, "Redis killed: failure mode %q\n", cfg.mode)
	} else {
		fmt.Fprintf(out, "stop your Redis now to see failure mode %q\n", cfg.mode)
	}
	report(ctx, out, reps, &peak, cfg.phase)
	return nil
}

// quiet drops go-redis's log lines (a dead Redis logs every failed dial);
// the example counts the failures instead.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func newReplica(addr, mode string) (*replica, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	var lopts []ionredis.LimiterOption
	var sopts []ionredis.SemaphoreOption
	switch mode {
	case "closed":
	case "open":
		lopts = append(lopts, ionredis.WithFailOpen())
		sopts = append(sopts, ionredis.WithFailOpen())
	case "local":
		// Each replica keeps a third of the fleet's limit on its own.
		lopts = append(lopts, ionredis.WithFallback(limit.NewTokenBucket(rate/replicas, burst/replicas)))
		sopts = append(sopts, ionredis.WithLocalSemaphore(sem.NewWeighted(bulk/replicas+1)))
	default:
		rdb.Close()
		return nil, fmt.Errorf("unknown -mode %q: want closed, open or local", mode)
	}
	// A roomier backend timeout than the 50ms default: the embedded Redis
	// shares the machine with 12 busy callers.
	lopts = append(lopts, ionredis.WithTimeout(250*time.Millisecond))
	sopts = append(sopts, ionredis.WithTimeout(250*time.Millisecond), ionredis.WithTTL(2*time.Second))
	lim := ionredis.NewLimiter(rdb, "fleet-api", ionredis.Window{Rate: rate, Burst: burst}, lopts...)
	s := ionredis.NewSemaphore(rdb, "fleet-db", bulk, sopts...)
	p := policy.Compose(limit.Policy[int](lim), ionredis.Policy[int](s, ionredis.WithMaxWait(100*time.Millisecond)))
	return &replica{rdb: rdb, pipeline: p}, nil
}

// loop calls the pipeline until ctx ends, counting outcomes.
func (r *replica) loop(ctx context.Context, inside, peak *atomic.Int64) {
	call := func(ctx context.Context) (int, error) {
		n := inside.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		defer inside.Add(-1)
		t := time.NewTimer(work)
		defer t.Stop()
		select {
		case <-t.C:
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	for ctx.Err() == nil {
		_, err := policy.Run(ctx, r.pipeline, call)
		switch {
		case err == nil:
			r.admitted.Add(1)
		case errors.Is(err, ionredis.ErrBackend):
			r.backend.Add(1)
		case errors.Is(err, limit.ErrLimited):
			r.limited.Add(1)
		case errors.Is(err, ionredis.ErrFull):
			r.full.Add(1)
		}
		if err != nil {
			// A rejected caller comes back when told to (5ms to 100ms).
			d, _ := ion.RetryAfter(err)
			pause(ctx, min(max(d, 5*time.Millisecond), 100*time.Millisecond))
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// report prints, each second for d, what each replica admitted, the
// fleet's total, and the most calls that ran at once.
func report(ctx context.Context, out io.Writer, reps []*replica, peak *atomic.Int64, d time.Duration) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range int(d / time.Second) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		var total counts
		var parts []string
		for i, r := range reps {
			c := r.swap()
			parts = append(parts, fmt.Sprintf("r%d %3d", i+1, c.admitted))
			total.admitted += c.admitted
			total.limited += c.limited
			total.full += c.full
			total.backend += c.backend
		}
		fmt.Fprintf(out, "admitted/s: %s | total %3d | limited %4d, bulkhead full %4d, backend failed %4d | most at once %d\n",
			strings.Join(parts, "  "), total.admitted, total.limited, total.full, total.backend, peak.Swap(0))
	}
}
