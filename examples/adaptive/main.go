// Command adaptive shows Ion's adaptive concurrency limiter finding the
// limit of a dependency as its capacity changes. Callers offer twice what
// the healthy dependency can serve; after a while the dependency loses most
// of its capacity, then gets it back. Every quarter of a second the demo
// prints the limiter's limit, the calls in flight and waiting, its RTT
// estimates, how many calls were answered and shed, and at which priority
// it sheds: the limit falls within a few sample windows of the loss and
// climbs back after the recovery, while critical calls keep being served.
//
//	go run ./examples/adaptive                # three phases of 3 s
//	go run ./examples/adaptive -phase 5s -seed 7
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

func main() {
	var cfg config
	flag.DurationVar(&cfg.phase, "phase", 3*time.Second, "how long each phase (healthy, degraded, recovered) lasts")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the traffic")
	flag.Parse()
	run(context.Background(), os.Stdout, cfg)
}

type config struct {
	phase time.Duration
	seed  uint64
}

const (
	healthy  = 16                    // calls the dependency serves at once when healthy
	degraded = 6                     // ... and while degraded
	base     = 20 * time.Millisecond // its latency below capacity
	tick     = 250 * time.Millisecond
)

// phaseReport is what one phase looked like, for the test.
type phaseReport struct {
	name                  string
	capacity              int
	meanLimit             float64
	critOffered, critGood int
	good, shed            int
}

// run offers the traffic for three phases and prints a line per tick. It
// returns a report per phase. It starts one goroutine per call and waits
// for all of them before it returns.
func run(ctx context.Context, out io.Writer, cfg config) []phaseReport {
	dep := &dependency{capacity: healthy, rng: rand.New(rand.NewPCG(cfg.seed, 2))}
	lim := adaptive.NewLimiter(
		adaptive.WithName("dependency"),
		adaptive.WithSampleWindow(100*time.Millisecond, 10),
		adaptive.WithMaxWait(20*time.Millisecond),
	)
	// The limiter sits outside the timeout, so that a call that runs too
	// long counts as a drop.
	pipe := policy.Compose(adaptive.Policy[struct{}](lim), policy.Timeout[struct{}](200*time.Millisecond))

	reports := []phaseReport{{name: "healthy", capacity: healthy}, {name: "degraded", capacity: degraded}, {name: "recovered", capacity: healthy}}
	var mu sync.Mutex // guards reports, good and shed
	var good, shed int
	rng := rand.New(rand.NewPCG(cfg.seed, 1))
	rate := 2 * float64(healthy) / base.Seconds() // twice the healthy capacity
	start := time.Now()
	end := 3 * cfg.phase
	var wg sync.WaitGroup

	fmt.Fprintf(out, "%6s %8s %5s %s %8s %6s %8s %8s %7s %6s  %s\n",
		"time", "capacity", "limit", strings.Repeat(" ", 30), "inflight", "queued", "rtt", "no-load", "good/s", "shed/s", "shedding")
	nextTick := tick
	for at := time.Duration(0); at < end; {
		at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		for nextTick <= at && nextTick <= end {
			time.Sleep(nextTick - time.Since(start))
			phase := int((nextTick - 1) / cfg.phase)
			s := lim.Stats()
			mu.Lock()
			g, sh := good, shed
			good, shed = 0, 0
			reports[phase].meanLimit += float64(s.Limit)
			mu.Unlock()
			shedding := "-"
			if p, ok := lim.Shedding(); ok {
				shedding = p.String() + " and below"
			}
			fmt.Fprintf(out, "%5.2fs %8d %5d %-30s %8d %6d %8s %8s %7d %6d  %s\n",
				nextTick.Seconds(), dep.cap(), s.Limit, strings.Repeat("█", min(30, s.Limit)), s.InFlight, s.Queued,
				s.RTT.Round(100*time.Microsecond), s.NoLoadRTT.Round(100*time.Microsecond),
				int(float64(g)/tick.Seconds()), int(float64(sh)/tick.Seconds()), shedding)
			switch nextTick {
			case cfg.phase:
				dep.setCap(degraded)
				fmt.Fprintf(out, "------ the dependency loses capacity: %d → %d calls at once\n", healthy, degraded)
			case 2 * cfg.phase:
				dep.setCap(healthy)
				fmt.Fprintf(out, "------ the dependency recovers: %d → %d calls at once\n", degraded, healthy)
			}
			nextTick += tick
		}
		if at >= end {
			break
		}
		if d := at - time.Since(start); d > 0 {
			time.Sleep(d)
		}
		prio := adaptive.Normal
		switch u := rng.Float64(); {
		case u < 0.1:
			prio = adaptive.Critical
		case u < 0.5:
			prio = adaptive.Sheddable
		}
		phase := int(at / cfg.phase)
		wg.Add(1)
		// One goroutine per call, as a server handles requests; each ends
		// when its call returns, and run waits for all of them.
		go func() {
			defer wg.Done()
			_, err := pipe.Run(adaptive.ContextWithPriority(ctx, prio), dep.call)
			mu.Lock()
			defer mu.Unlock()
			r := &reports[phase]
			if prio == adaptive.Critical {
				r.critOffered++
			}
			switch {
			case err == nil:
				good++
				r.good++
				if prio == adaptive.Critical {
					r.critGood++
				}
			case errorsIsRejected(err):
				shed++
				r.shed++
			}
		}()
	}
	wg.Wait()
	for i := range reports {
		reports[i].meanLimit /= float64(cfg.phase / tick)
	}
	fmt.Fprintln(out)
	for _, r := range reports {
		fmt.Fprintf(out, "%-9s capacity %2d: mean limit %4.1f, %5d answered, %5d shed, critical calls answered %3.0f %%\n",
			r.name, r.capacity, r.meanLimit, r.good, r.shed, 100*float64(r.critGood)/float64(max(1, r.critOffered)))
	}
	return reports
}

// errorsIsRejected reports whether the limiter shed the call.
func errorsIsRejected(err error) bool { return errorsIs(err, ion.ErrRejected) }
