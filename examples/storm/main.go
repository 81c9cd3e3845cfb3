// Command storm sends the same traffic three times at a simulated dependency
// that goes through a storm (healthy, slow, failing in bursts, overloaded,
// recovering): unprotected; through the simplest fair baseline, a fallback
// to a cached answer around a 250 ms timeout; and through Ion's full
// pipeline, whose fallback and timeout are the same. It prints a live
// progress line, then a side-by-side table and a timeline of the breaker's
// state and the answers per second.
//
//	go run ./examples/storm                  # a 10 s storm
//	go run ./examples/storm -duration 5s -seed 7
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long the storm lasts (each run)")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the dependency's behaviour")
	flag.IntVar(&cfg.rate, "rate", 100, "requests per second sent by the callers")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, os.Stderr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

type config struct {
	duration time.Duration
	seed     uint64
	rate     int
}

// cached is what the protected service answers when the dependency cannot.
const cached = "cached"

// answerFromCache is the fallback of both protected runs: it answers with the
// cached value and a nil error, as a service would, and notes the cause in
// the call's report (see withReport) so the demo can tell a failure from a
// call Ion shed at once.
func answerFromCache(ctx context.Context, err error) (string, error) {
	if r, ok := ctx.Value(reportKey{}).(*error); ok {
		*r = err
	}
	return cached, nil
}

// baseline is the simplest fair protection: the same fallback and the same
// per-attempt timeout as the full pipeline, nothing else. Every caller gets
// an answer from it too; the difference is what the other layers add.
func baseline() *policy.Pipeline[string] {
	return policy.Compose(
		policy.FallbackFunc(answerFromCache),
		policy.Timeout[string](250*time.Millisecond),
	)
}

// protect builds the pipeline, outermost first, the order ion's package doc
// recommends: Fallback → Retry → Breaker → Limiter → Bulkhead → Timeout.
func protect(cb *breaker.Breaker, seed uint64) *policy.Pipeline[string] {
	budget := policy.NewBudget(0.2, 5) // retries ≤ 20% of calls + 5/s
	return policy.Compose(
		policy.FallbackFunc(answerFromCache),
		policy.Retry[string](
			policy.WithAttempts(3),
			policy.WithMaxDuration(500*time.Millisecond),
			policy.WithBackoff(policy.Exponential(25*time.Millisecond, 200*time.Millisecond)),
			policy.WithJitter(policy.FullJitter),
			policy.WithBudget(budget),
			policy.WithSeed(seed),
		),
		breaker.Policy[string](cb),
		limit.Policy[string](limit.NewTokenBucket(limit.PerSecond(150), 30)),
		sem.Policy[string](sem.NewWeighted(4), sem.WithMaxWait(20*time.Millisecond)),
		policy.Timeout[string](250*time.Millisecond),
	)
}

func run(ctx context.Context, out, progress io.Writer, cfg config) error {
	if cfg.duration < time.Second || cfg.rate < 1 {
		return errors.New("need -duration >= 1s and -rate >= 1")
	}
	start := time.Now()
	seconds := int((cfg.duration + time.Second - 1) / time.Second)
	plain := newRun("unprotected", start, seconds)
	base := newRun("fallback+timeout", start, seconds)
	ion := newRun("with Ion", start, seconds)
	plainDep := newDependency(cfg.seed, start, cfg.duration)
	baseDep := newDependency(cfg.seed, start, cfg.duration)
	ionDep := newDependency(cfg.seed, start, cfg.duration)

	cb := breaker.New("dependency",
		breaker.WithFailureRate(0.5),
		breaker.WithTimeWindow(2*time.Second, 4, 10),
		breaker.WithSlowCalls(200*time.Millisecond, 0.5),
		breaker.WithOpenDuration(time.Second),
		breaker.WithListener(func(t breaker.Transition) {
			if t.To == breaker.Open {
				ion.mu.Lock()
				ion.trips++
				ion.mu.Unlock()
			}
			ion.markState(t.At, stateChar(t.To))
		}),
	)
	basePipeline := baseline()
	pipeline := protect(cb, cfg.seed)

	fmt.Fprintf(out, "storm: %d requests/s for %v against a dependency that is %s\n",
		cfg.rate, cfg.duration, phaseNames())
	fmt.Fprintf(out, "baseline: %s\n", basePipeline)
	fmt.Fprintf(out, "pipeline: %s\n", pipeline)

	var wg sync.WaitGroup
	// The sampler marks the breaker's state every 100 ms for the timeline,
	// and prints the live progress line every second. Owner: run; exits when
	// done is closed; joined by wg.Wait below.
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			case now := <-tick.C:
				ion.markState(now, stateChar(cb.State()))
				if i%10 == 0 {
					fmt.Fprintf(progress, "\r  %4.0fs  %-11s breaker %-9s  real data: unprotected %5d  baseline %5d  with Ion %5d",
						now.Sub(start).Seconds(), plainDep.phaseAt(now).name, cb.State(),
						plain.count(ok), base.count(ok), ion.count(ok))
				}
			}
		}
	}()

	// through runs one request through pipe (nil: straight to dep) and
	// records how it ended in stats.
	through := func(id uint64, pipe *policy.Pipeline[string], dep *dependency, stats *runStats) {
		var cause error
		callCtx, cancel := context.WithTimeout(withReport(withRequest(ctx, id), &cause), 2*time.Second)
		defer cancel()
		t0 := time.Now()
		var v string
		var err error
		if pipe == nil {
			v, err = dep.Call(callCtx)
		} else {
			v, err = pipe.Run(callCtx, dep.Call)
		}
		stats.record(classify(v, err, cause), time.Since(t0), t0)
	}

	// The traffic: the same schedule for the three runs, one request every
	// 1/rate. Each request is a goroutine owned by this loop, which exits
	// when the schedule ends; all are joined by calls.Wait.
	var calls sync.WaitGroup
	interval := time.Second / time.Duration(cfg.rate)
	tick := time.NewTicker(interval)
	for id := uint64(0); time.Since(start) < cfg.duration; id++ {
		calls.Add(3)
		go func() { defer calls.Done(); through(id, nil, plainDep, plain) }()
		go func() { defer calls.Done(); through(id, basePipeline, baseDep, base) }()
		go func() { defer calls.Done(); through(id, pipeline, ionDep, ion) }()
		<-tick.C
	}
	tick.Stop()
	calls.Wait()
	close(done)
	wg.Wait()
	fmt.Fprintln(progress)

	for _, r := range []struct {
		stats *runStats
		dep   *dependency
	}{{plain, plainDep}, {base, baseDep}, {ion, ionDep}} {
		r.stats.reached, r.stats.sickHits = r.dep.calls.Load(), r.dep.sick.Load()
	}
	printTable(out, plain, base, ion)
	printTimeline(out, cfg.duration, plain, base, ion)
	return nil
}

type reportKey struct{}

// withReport marks ctx with where the fallback notes the cause of a cached
// answer.
func withReport(ctx context.Context, cause *error) context.Context {
	return context.WithValue(ctx, reportKey{}, cause)
}

// classify tells how a call ended: the real answer, a cached answer after a
// failure, a cached answer because Ion shed the call at once, or an error.
func classify(v string, err error, cause error) result {
	switch {
	case err != nil:
		return failed
	case v == cached && errors.Is(cause, ion.ErrRejected):
		return shed
	case v == cached:
		return fallback
	}
	return ok
}

func stateChar(s breaker.State) byte {
	switch s {
	case breaker.Open, breaker.ForcedOpen:
		return 'O'
	case breaker.HalfOpen:
		return 'H'
	}
	return 'C'
}

func phaseNames() string {
	s := ""
	for i, p := range phases {
		if i > 0 {
			s += " → "
		}
		s += p.name
	}
	return s
}
