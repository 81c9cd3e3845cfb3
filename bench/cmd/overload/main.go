// Command overload compares concurrency limiters on a dependency that is
// offered twice its capacity, in virtual time: a server that serves C calls
// at once and queues the rest, whose latency grows with load, and whose
// capacity drops to C/2 for the middle third of the run. The same traffic
// (Poisson arrivals, 10 % of them critical) goes through no limiter, a
// fixed bulkhead of C, failsafe-go's adaptive limiter, and Ion's adaptive
// limiter without and with priority queueing; the table reports goodput
// (answers within the deadline), latency of admitted calls and the time each
// took to settle after each capacity change.
//
// The run happens in a testing/synctest bubble, so a minute of virtual time
// takes seconds of real time and the numbers depend only on the seed (and
// on the order the runtime wakes goroutines that are due at the same
// instant). The same simulation runs as a test (TestOverload) that asserts
// Ion's goals.
//
// Usage: go run ./cmd/overload [-seed 1] [-phase 20s] [-load 2] [-deadline 100ms] [-trace]
package main

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"testing/synctest"
)

func main() {
	c := defaultConfig()
	fs := flag.NewFlagSet("overload", flag.ExitOnError)
	fs.Uint64Var(&c.seed, "seed", c.seed, "seed of the traffic")
	fs.DurationVar(&c.phase, "phase", c.phase, "length of each phase (healthy, halved, recovered)")
	fs.Float64Var(&c.load, "load", c.load, "offered load, as a multiple of the healthy capacity")
	fs.DurationVar(&c.deadline, "deadline", c.deadline, "each call's deadline")
	trace := fs.Bool("trace", false, "also print each variant's limit and goodput per second")
	_ = fs.Parse(os.Args[1:])

	// synctest needs a *testing.T: run the simulation as the only test of
	// a testing.Main of our own.
	os.Args = os.Args[:1]
	testing.Main(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: "Overload", F: func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				results := runAll(c)
				fmt.Print(table(c, results))
				if *trace {
					fmt.Print(traces(results))
				}
			})
		}}}, nil, nil)
}

// runAll runs every variant on the same traffic.
func runAll(c config) []*result {
	arrivals := traffic(c)
	var out []*result
	for _, v := range variants() {
		out = append(out, simulate(c, v, arrivals))
	}
	return out
}
