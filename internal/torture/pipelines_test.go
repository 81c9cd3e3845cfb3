package torture

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion/policy"
)

// scenario is a pipeline to torture: its layers, outermost first, in the
// letters of world.layer; parentheses nest a pipeline as one layer.
type scenario struct {
	name  string
	spec  string
	sinks bool // attach an observe.Recorder to every layer
}

var scenarios = []scenario{
	// The order recommended by the ion package doc.
	{name: "recommended", spec: "F R B L S T"},
	// Calls run on a pool's workers, resized and closed mid-flight, with a
	// waiting, weighted LIFO bulkhead on the worker.
	{name: "pool", spec: "R B P Q T"},
	// Hedged attempts, each through a bulkhead and a waiting limiter.
	{name: "hedged", spec: "B H S W T"},
	// The wrong way round: a timeout that abandons outermost, retries inside
	// a time-window breaker with the slow-call rule.
	{name: "inverted", spec: "A S L C R"},
	// An API gateway: keyed and multi-tier limiters by caller, a bulkhead
	// without fairness.
	{name: "gateway", spec: "F R B M K S T"},
	// Hedges submitted to a pool, a breaker on the worker.
	{name: "hedge-over-pool", spec: "F H P B"},
	// Every layer at once, with every sink attached.
	{name: "everything", spec: "F R H B P W Q T", sinks: true},
	// Pipelines nested as layers, and two breakers.
	{name: "nested", spec: "F (R C) (L (S T)) B"},
}

// callsPerCaller is how many calls each goroutine makes: real runs are
// cheaper, so they make more.
func callsPerCaller(virtual bool) int {
	if virtual {
		return 3
	}
	return 6
}

// TestPipelinesVirtual runs every scenario in a synctest bubble: latency
// spikes, deadlines, backoffs, open durations and queue waits take exact
// fake time, so a run covering hundreds of milliseconds takes a fraction of
// that, and limiter admissions can be bounded by the rates set.
func TestPipelinesVirtual(t *testing.T) {
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, true, seedOf(i)) })
	}
}

// TestPipelinesReal runs every scenario in real time, without a single
// sleep: latencies are runtime.Gosched loops and the policies' durations are
// microseconds, so the race detector sees the real interleavings.
func TestPipelinesReal(t *testing.T) {
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, false, seedOf(i)+1) })
	}
}

// TestSoak runs every scenario, virtual and real, again and again with
// fresh seeds until -torture.soak has passed (or the test's deadline nears).
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("no soak asked: -torture.soak=10m runs one")
	}
	end := time.Now().Add(*soakFor)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(end) {
		end = d.Add(-30 * time.Second)
	}
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	runs := 0
	for time.Now().Before(end) && !t.Failed() {
		for _, sc := range scenarios {
			for _, virtual := range []bool{true, false} {
				mode := map[bool]string{true: "virtual", false: "real"}[virtual]
				t.Run(fmt.Sprintf("%s/%s/seed=%d", sc.name, mode, seed), func(t *testing.T) {
					runScenario(t, sc, virtual, seed)
				})
				seed++
				runs++
			}
		}
	}
	t.Logf("soak: %d runs", runs)
}

func seedOf(i int) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	return uint64(i+1) * 1_000_003
}

// runScenario builds sc's pipeline, drives it with the callers while the
// controller changes rates, sizes and closes pools, then checks every
// invariant.
func runScenario(t *testing.T, sc scenario, virtual bool, seed uint64) {
	callers := *callersFlag
	body := func(t *testing.T) {
		w := newWorld(virtual, seed, int64(callers*callsPerCaller(virtual)), sc.sinks)
		p := w.pipeline(sc.spec)
		if err := p.Err(); err != nil {
			t.Fatalf("%s: %v", sc.spec, err)
		}
		start := time.Now()
		w.start = start
		stop, stopped := make(chan struct{}), make(chan struct{})
		// Owner: this run. Exit: when stop is closed, after the callers.
		// Join: <-stopped below.
		go func() {
			defer close(stopped)
			w.control(stop)
		}()
		w.drive(p, callers)
		close(stop)
		<-stopped
		end := time.Now()
		w.settle()
		w.check(t, start, end)
		if t.Failed() {
			t.Logf("%s (%s) failed with seed %d: rerun with -torture.seed=%d", sc.name, sc.spec, seed, seed)
		}
	}
	if virtual {
		synctest.Test(t, body)
	} else {
		body(t)
	}
}

// drive runs the callers: each makes callsPerCaller calls, with its own ctx
// per call (a deadline, a cancellation on a timer, an already cancelled one
// or none); some go straight to the first pool, or hold permits of the
// first bulkhead's semaphore, instead.
func (w *world) drive(p *policy.Pipeline[int], callers int) {
	var wg sync.WaitGroup
	for g := range callers {
		// Owner: drive. Exit: after its calls. Join: wg.Wait below.
		wg.Go(func() {
			for k := range callsPerCaller(w.virtual) {
				r := w.rnd(2, uint64(g)<<8|uint64(k))
				w.think(r)
				switch {
				case len(w.pools) > 0 && r%100 < 10:
					w.pools[0].direct(r >> 7)
				case len(w.sems) > 0 && r%100 < 15:
					w.sems[0].direct(r >> 7)
				default:
					w.call(p, r>>7)
				}
				w.finished.Add(1)
			}
		})
	}
	wg.Wait()
}

func (w *world) think(r uint64) {
	if !w.virtual {
		for range r >> 20 % 4 {
			runtime.Gosched()
		}
		return
	}
	time.Sleep(time.Duration(r>>20%uint64(w.k.thinkMax/time.Microsecond)) * time.Microsecond)
}

// call makes one call through p as a caller would and judges the result.
func (w *world) call(p *policy.Pipeline[int], r uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = context.WithValue(ctx, callerKey{}, cancel) // for the function's fCancel
	ctx = context.WithValue(ctx, callerIDKey{}, r>>16)
	switch c := r % 100; {
	case c < 15:
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithTimeout(ctx, 1+time.Duration(r>>8%uint64(w.k.deadlineMax)))
		defer cancelDeadline()
	case c < 25:
		timer := time.AfterFunc(time.Duration(r>>8%uint64(w.k.cancelMax)), cancel)
		defer timer.Stop()
	case c < 28:
		cancel()
	}
	w.judge(ctx, run(ctx, p, w.fn))
}

// control changes the limiters' rates and the pools' sizes while the
// callers run, feeds Resize a bad size now and then, and closes the pools
// mid-flight with a short ctx (so the Close may be forced). In a bubble it
// acts on a ticker; in real time it spins.
func (w *world) control(stop <-chan struct{}) {
	if len(w.limiters) == 0 && len(w.pools) == 0 {
		<-stop
		return
	}
	start := time.Now()
	closed := false
	var tick *time.Ticker
	if w.virtual {
		tick = time.NewTicker(w.k.controlEvery)
		defer tick.Stop()
	}
	for i := 1; ; i++ {
		if w.virtual {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		} else {
			select {
			case <-stop:
				return
			default:
			}
			for range 50 {
				runtime.Gosched()
			}
		}
		for _, lp := range w.limiters {
			lp.setRate(w.k.rates[i%len(w.k.rates)])
		}
		for _, pp := range w.pools {
			pp.resize(w.k.sizes[i%len(w.k.sizes)], closed)
			if i%5 == 0 {
				pp.resize(-i%3, closed) // bad input: 0 or negative
			}
		}
		due := w.finished.Load() >= w.total*7/10
		if w.virtual {
			due = time.Since(start) >= w.k.closeAt
		}
		if due && !closed {
			closed = true
			for _, pp := range w.pools {
				ctx, cancel := context.WithTimeout(context.Background(), w.k.closeWait)
				pp.close(ctx)
				cancel()
			}
		}
	}
}

// settle waits for the goroutines that Timeouts with WithAbandon left
// behind: their calls end by themselves, after at most a stuck latency.
func (w *world) settle() {
	for _, tl := range w.abandons {
		for tl.Abandoned() > 0 {
			if w.virtual {
				time.Sleep(w.k.tick)
			} else {
				runtime.Gosched()
			}
		}
	}
}

// check verifies every invariant of the run.
func (w *world) check(t *testing.T, start, end time.Time) {
	t.Helper()
	for _, pp := range w.pools {
		pp.check(t)
	}
	for _, sp := range w.sems {
		sp.check(t)
	}
	for _, bp := range w.breakers {
		bp.check(t)
	}
	for _, lp := range w.limiters {
		lp.check(t, start, end)
	}
	w.spans.check(t)
	w.mu.Lock()
	if w.nAnomaly > 0 {
		t.Errorf("%d invariants broke during the run; the first ones:\n%s", w.nAnomaly, strings.Join(w.anomalies, "\n"))
	}
	w.mu.Unlock()
	var got []string
	var calls int64
	for c := range numClasses {
		if n := w.outcomes[c].Load(); n > 0 {
			got = append(got, fmt.Sprintf("%s=%d", classNames[c], n))
			calls += n
		}
	}
	var faults []string
	for f := range numFaults {
		faults = append(faults, fmt.Sprintf("%s=%d", faultNames[f], w.injected[f].Load()))
	}
	t.Logf("%d calls through the pipeline: %s; faults injected: %s", calls, strings.Join(got, " "), strings.Join(faults, " "))
	if w.inv.Load() >= 2000 {
		for _, f := range []fault{fFail, fPanic, fSpike, fStuck} {
			if w.injected[f].Load() == 0 {
				t.Errorf("no %s fault was injected in %d invocations: the run tortured nothing", faultNames[f], w.inv.Load())
			}
		}
	}
}
