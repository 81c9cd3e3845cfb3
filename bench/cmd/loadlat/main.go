// Command loadlat measures the latency of a composed call under load:
// many goroutines (1,000 by default) drive a rate limiter + bulkhead +
// circuit breaker pipeline as fast as they can for a fixed duration, each
// timing every call into its own log-bucket histogram; the histograms are
// merged and the p50, p99 and p99.9 latencies and the throughput printed.
// It runs Ion's pipeline and failsafe-go's twin one after the other, with
// the same configuration as the benchmarks: a limiter that never denies
// (1e9/s, burst 1e9), a bulkhead as wide as the number of goroutines (never
// full) and a closed breaker, around a call that succeeds at once (or spins
// for -work).
//
// Usage:
//
//	go run ./cmd/loadlat [-duration 5s] [-goroutines 1000] [-work 0] [-impl ion,failsafe] [-json file]
//
// With -json the results are also written as a JSON array for the report
// program.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// config is one load run's parameters.
type config struct {
	duration   time.Duration
	goroutines int
	work       time.Duration
}

// Result is one implementation's figures, as printed and written to JSON.
type Result struct {
	Impl        string  `json:"impl"`
	Goroutines  int     `json:"goroutines"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	DurationS   float64 `json:"duration_s"`
	WorkNs      int64   `json:"work_ns"`
	Calls       uint64  `json:"calls"`
	Errors      uint64  `json:"errors"` // calls that returned an error (none should)
	PerSecond   float64 `json:"calls_per_s"`
	MeanNs      float64 `json:"mean_ns"`
	P50Ns       uint64  `json:"p50_ns"`
	P99Ns       uint64  `json:"p99_ns"`
	P999Ns      uint64  `json:"p999_ns"`
	MaxNs       uint64  `json:"max_ns"`
	FirstErrMsg string  `json:"first_error,omitempty"`
}

// caller runs one call through a pipeline.
type caller func(ctx context.Context) error

// builders make each implementation's pipeline for n goroutines; work is
// the call's own duration.
var builders = map[string]func(n int, work time.Duration) caller{
	"ion": func(n int, work time.Duration) caller {
		p := policy.Compose(
			limit.Policy[int](limit.NewTokenBucket(limit.PerSecond(1e9), 1_000_000_000)),
			sem.Policy[int](sem.NewWeighted(int64(n))),
			breaker.Policy[int](breaker.New("loadlat")),
		)
		fn := func(context.Context) (int, error) { spin(work); return 1, nil }
		return func(ctx context.Context) error { _, err := p.Run(ctx, fn); return err }
	},
	"failsafe": func(n int, work time.Duration) caller {
		ex := failsafe.With[int](
			ratelimiter.NewBursty[int](1_000_000_000, time.Second),
			bulkhead.New[int](uint(n)),
			circuitbreaker.NewBuilder[int]().WithFailureThreshold(5).WithSuccessThreshold(2).WithDelay(30*time.Second).Build(),
		)
		fn := func() (int, error) { spin(work); return 1, nil }
		return func(context.Context) error { _, err := ex.Get(fn); return err }
	},
}

// spin busy-waits for d, standing for the call's own CPU work.
func spin(d time.Duration) {
	if d <= 0 {
		return
	}
	for start := time.Now(); time.Since(start) < d; {
	}
}

// run drives call from cfg.goroutines goroutines for cfg.duration and
// returns the merged histogram, the error count and the first error. Each
// goroutine stops by itself at the deadline (a sleeping coordinator could
// be woken late on a saturated machine): every call that started before the
// deadline is counted, with its whole latency.
func run(cfg config, call caller) (*hist, uint64, error) {
	var (
		errs     atomic.Uint64
		firstErr atomic.Pointer[error]
		wg       sync.WaitGroup
		ready    sync.WaitGroup
		start    = make(chan struct{})
		deadline time.Time
		hists    = make([]*hist, cfg.goroutines)
	)
	ctx := context.Background()
	ready.Add(cfg.goroutines)
	for i := range cfg.goroutines {
		h := new(hist)
		hists[i] = h
		// Owner: run; exits at the deadline; joined by wg.Wait below.
		wg.Go(func() {
			ready.Done()
			<-start
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				err := call(ctx)
				h.record(uint64(time.Since(t0)))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	ready.Wait()
	deadline = time.Now().Add(cfg.duration)
	close(start) // publishes deadline to the goroutines
	wg.Wait()
	total := new(hist)
	for _, h := range hists {
		total.merge(h)
	}
	var err error
	if p := firstErr.Load(); p != nil {
		err = *p
	}
	return total, errs.Load(), err
}

// measure runs impl under cfg and summarises it.
func measure(impl string, cfg config) (Result, error) {
	build, ok := builders[impl]
	if !ok {
		return Result{}, fmt.Errorf("loadlat: unknown implementation %q", impl)
	}
	runtime.GC()
	h, nerr, firstErr := run(cfg, build(cfg.goroutines, cfg.work))
	r := Result{
		Impl:       impl,
		Goroutines: cfg.goroutines,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		DurationS:  cfg.duration.Seconds(),
		WorkNs:     cfg.work.Nanoseconds(),
		Calls:      h.total,
		Errors:     nerr,
		PerSecond:  float64(h.total) / cfg.duration.Seconds(),
		MeanNs:     h.mean(),
		P50Ns:      h.quantile(0.50),
		P99Ns:      h.quantile(0.99),
		P999Ns:     h.quantile(0.999),
		MaxNs:      h.max,
	}
	if firstErr != nil {
		r.FirstErrMsg = firstErr.Error()
	}
	return r, nil
}

// printTable writes the results as a text table.
func printTable(w io.Writer, rs []Result) {
	fmt.Fprintf(w, "%-9s %10s %6s %12s %12s %10s %10s %10s %10s %7s\n",
		"impl", "goroutines", "procs", "calls", "calls/s", "p50", "p99", "p99.9", "max", "errors")
	for _, r := range rs {
		fmt.Fprintf(w, "%-9s %10d %6d %12d %12.0f %10s %10s %10s %10s %7d\n",
			r.Impl, r.Goroutines, r.GOMAXPROCS, r.Calls, r.PerSecond,
			time.Duration(r.P50Ns), time.Duration(r.P99Ns), time.Duration(r.P999Ns), time.Duration(r.MaxNs), r.Errors)
	}
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long to drive each pipeline")
	flag.IntVar(&cfg.goroutines, "goroutines", 1000, "number of goroutines calling at once")
	flag.DurationVar(&cfg.work, "work", 0, "CPU work inside each call (busy wait)")
	impls := flag.String("impl", "ion,failsafe", "comma-separated implementations to run: ion, failsafe")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.Parse()
	if cfg.duration <= 0 || cfg.goroutines <= 0 {
		fmt.Fprintln(os.Stderr, "loadlat: -duration and -goroutines must be positive")
		os.Exit(2)
	}
	var rs []Result
	for _, impl := range strings.Split(*impls, ",") {
		r, err := measure(strings.TrimSpace(impl), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		rs = append(rs, r)
	}
	printTable(os.Stdout, rs)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rs, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadlat:", err)
			os.Exit(1)
		}
	}
}
