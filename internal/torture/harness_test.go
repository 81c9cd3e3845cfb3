package torture

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/sem"
)

// The faults the function under test injects.
var (
	// errInjected is the function's own failure.
	errInjected = errors.New("torture: injected failure")
	// errPanicked is the value the function panics with. It is an error, so
	// a *ion.PanicError wrapping it matches it with errors.Is too.
	errPanicked = errors.New("torture: injected panic")
)

// fallbackValue is what the Fallback layers answer; the function itself only
// returns positive values.
const fallbackValue = -1

// mix is splitmix64: a cheap, well-spread hash that turns a seed and a
// counter into the random choices of a run, so that a seed reproduces the
// faults (though not the interleaving).
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// knobs are the durations of a run. A virtual run (in a synctest bubble)
// measures latencies in ticks of fake time; a real run has no sleeps: a
// latency is a loop of runtime.Gosched, and the policies' own durations are
// short real ones.
type knobs struct {
	tick         time.Duration // virtual: the fake time of one latency tick
	spinPerTick  int           // real: runtime.Gosched calls per latency tick
	timeout      time.Duration // the Timeout layers
	hedgeDelay   time.Duration // the Hedge layers
	openFor      time.Duration // the breakers' open duration
	retryMax     time.Duration // the Retry layers' max duration
	backoff      policy.Backoff
	maxWait      time.Duration // limiter and bulkhead layers that wait
	queueWait    time.Duration // the pools' max queue wait
	closeWait    time.Duration // the ctx of the pool's mid-flight Close
	deadlineMax  time.Duration // callers' deadlines are in (0, deadlineMax]
	cancelMax    time.Duration // callers that cancel do so within cancelMax
	thinkMax     time.Duration // virtual: pause between a caller's calls
	controlEvery time.Duration // virtual: period of SetRate and Resize
	closeAt      time.Duration // virtual: when the pools are closed
	rates        []limit.Rate  // the limiters' rates, set in turn
	sizes        []int         // the pools' sizes, set in turn
}

var virtualKnobs = knobs{
	tick:         time.Millisecond,
	timeout:      20 * time.Millisecond,
	hedgeDelay:   5 * time.Millisecond,
	openFor:      10 * time.Millisecond,
	retryMax:     60 * time.Millisecond,
	backoff:      policy.Exponential(time.Millisecond, 8*time.Millisecond),
	maxWait:      3 * time.Millisecond,
	queueWait:    15 * time.Millisecond,
	closeWait:    3 * time.Millisecond,
	deadlineMax:  60 * time.Millisecond,
	cancelMax:    30 * time.Millisecond,
	thinkMax:     30 * time.Millisecond,
	controlEvery: 7 * time.Millisecond,
	closeAt:      90 * time.Millisecond,
	// No Inf: the limiter bound below needs a finite rate at every instant.
	rates: []limit.Rate{limit.PerSecond(50000), limit.PerSecond(10000), 0, limit.PerSecond(200000), limit.PerSecond(5000)},
	sizes: []int{8, 2, 32, 1, 16},
}

var realKnobs = knobs{
	spinPerTick: 2,
	timeout:     5 * time.Millisecond,
	hedgeDelay:  100 * time.Microsecond,
	openFor:     500 * time.Microsecond,
	retryMax:    5 * time.Millisecond,
	backoff:     policy.Constant(0),
	maxWait:     200 * time.Microsecond,
	queueWait:   20 * time.Millisecond,
	closeWait:   500 * time.Microsecond,
	deadlineMax: 5 * time.Millisecond,
	cancelMax:   2 * time.Millisecond,
	rates:       []limit.Rate{limit.PerSecond(1e5), limit.Inf, 0, limit.PerSecond(1e6), limit.PerSecond(2e4)},
	sizes:       []int{16, 4, 64, 2, 32},
}

// world is one run: the primitives of a pipeline, the probes that count
// what each of them saw, and the tally of what the callers got.
type world struct {
	virtual bool
	k       knobs
	seed    uint64
	total   int64             // calls planned, for the real-time controller
	start   time.Time         // when the callers started
	rec     *observe.Recorder // metrics and logs of every layer, or nil
	spans   strictTracer      // the tracer of every layer when rec is set

	inv      atomic.Uint64 // invocations of the function
	finished atomic.Int64  // calls finished

	// Instances, one per layer letter in the spec; read after the run.
	breakers []*breakerProbe
	sems     []*semProbe
	limiters []*limitProbe
	pools    []*poolProbe
	abandons []*policy.TimeoutLayer[int]

	injected [numFaults]atomic.Int64
	outcomes [numClasses]atomic.Int64

	// mu guards the fields below.
	mu        sync.Mutex
	anomalies []string // what broke an invariant, the first 20
	nAnomaly  int      // how many broke
}

func newWorld(virtual bool, seed uint64, total int64, sinks bool) *world {
	w := &world{virtual: virtual, seed: seed, total: total, k: realKnobs}
	if virtual {
		w.k = virtualKnobs
	}
	if sinks {
		w.rec = observe.NewRecorder()
	}
	w.spans.w = w
	return w
}

// anomaly records a broken invariant; the run fails at its end.
func (w *world) anomaly(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nAnomaly++
	if len(w.anomalies) < 20 {
		w.anomalies = append(w.anomalies, fmt.Sprintf(format, args...))
	}
}

// rnd returns a random number for the i-th choice of kind.
func (w *world) rnd(kind, i uint64) uint64 { return mix(w.seed ^ mix(kind<<48^i)) }

// The faults the function injects, per invocation.
type fault uint8

const (
	fOK     fault = iota // returns a value after a short latency
	fFail                // returns errInjected
	fPanic               // panics with errPanicked
	fSpike               // a latency spike, honouring ctx
	fStuck               // a latency that ignores ctx, then a value
	fCancel              // cancels its caller's ctx mid-call
	fGoexit              // runtime.Goexit, as t.FailNow does
	numFaults
)

var faultNames = [numFaults]string{"ok", "fail", "panic", "spike", "stuck", "cancel", "goexit"}

// pick chooses invocation n's fault. The run has three phases, calm,
// stormy and calm again (by fake time in a bubble, by calls finished in real
// time), so that the breakers trip and recover.
func (w *world) pick(n uint64) (fault, int) {
	r := w.rnd(1, n)
	lat := int(r>>32) % 3
	storm := w.total > 0 && w.finished.Load()*3/w.total == 1
	if w.virtual {
		storm = time.Since(w.start)/(40*w.k.tick) == 1
	}
	switch p := r % 1000; {
	case storm && p < 550, !storm && p < 70:
		return fFail, lat
	case p < 600 && storm, p < 110 && !storm:
		return fPanic, lat
	case p < 650 && storm, p < 140 && !storm:
		return fSpike, 40
	case p < 670 && storm, p < 160 && !storm:
		return fStuck, 25
	case p < 700 && storm, p < 200 && !storm:
		return fCancel, lat
	case p >= 990:
		return fGoexit, 0
	}
	return fOK, lat
}

// wait takes ticks of latency: fake time in a bubble, runtime.Gosched calls
// in real time. With honour it returns the ctx's error, wrapped, when ctx
// ends first.
func (w *world) wait(ctx context.Context, ticks int, honour bool) error {
	if ticks <= 0 {
		return nil
	}
	if !w.virtual {
		for range ticks * w.k.spinPerTick {
			if honour && ctx.Err() != nil {
				return fmt.Errorf("torture: wait: %w", ctx.Err())
			}
			runtime.Gosched()
		}
		return nil
	}
	t := time.NewTimer(time.Duration(ticks) * w.k.tick)
	if !honour {
		<-t.C
		return nil
	}
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("torture: wait: %w", ctx.Err())
	}
}

// callerKey carries the caller's cancel func, for fCancel; callerIDKey a
// random number of the call, from which the keyed limiters derive their keys.
type (
	callerKey   struct{}
	callerIDKey struct{}
)

func callerID(ctx context.Context) uint64 {
	id, _ := ctx.Value(callerIDKey{}).(uint64)
	return id
}

// fn is the function every pipeline runs: a dependency that fails, panics,
// calls runtime.Goexit, stalls and cancels its caller, as pick decides per
// invocation.
func (w *world) fn(ctx context.Context) (int, error) { return w.invoke(ctx) }

func (w *world) invoke(ctx context.Context) (int, error) {
	n := w.inv.Add(1)
	f, lat := w.pick(n)
	cancel, _ := ctx.Value(callerKey{}).(context.CancelFunc)
	if f == fCancel && cancel == nil {
		f = fOK
	}
	w.injected[f].Add(1)
	switch f {
	case fFail:
		if err := w.wait(ctx, lat, true); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("torture: call %d: %w", n, errInjected)
	case fPanic:
		panic(errPanicked)
	case fGoexit:
		runtime.Goexit()
	case fStuck:
		_ = w.wait(ctx, lat, false)
		return int(n), nil
	case fCancel:
		cancel() // the caller gives up while its call runs
		<-ctx.Done()
		return 0, fmt.Errorf("torture: call %d: %w", n, ctx.Err())
	}
	if err := w.wait(ctx, lat, true); err != nil {
		return 0, err
	}
	return int(n), nil
}

// goexitValues are the values of the *ion.PanicError that a pool, and a
// hedge or an abandoning timeout, report for a call that called
// runtime.Goexit on their goroutines; learnt once by TestMain, outside any
// bubble.
var goexitValues = sync.OnceValue(func() [2]any {
	p := pool.New(1, 0)
	defer p.Close(context.Background())
	goexit := func(context.Context) (int, error) {
		runtime.Goexit()
		return 0, nil
	}
	f, err := pool.Go(context.Background(), p, goexit)
	if err != nil {
		panic(err)
	}
	var fromPool, fromPolicy *ion.PanicError
	if _, err = f.Wait(context.Background()); !errors.As(err, &fromPool) {
		panic(fmt.Sprintf("a pool reported a Goexit with %v, not a *ion.PanicError", err))
	}
	if _, err = policy.Run(context.Background(), policy.Timeout[int](time.Hour, policy.WithAbandon()), goexit); !errors.As(err, &fromPolicy) {
		panic(fmt.Sprintf("an abandoning timeout reported a Goexit with %v, not a *ion.PanicError", err))
	}
	return [2]any{fromPool.Value, fromPolicy.Value}
})

// result is what a caller got from one call.
type result struct {
	v        int
	err      error
	pv       any  // the value of a panic that reached the caller's goroutine
	panicked bool // a panic reached the caller's goroutine
	goexited bool // the caller's goroutine called runtime.Goexit
}

// run runs fn through p as a caller would, on a goroutine of its own that
// stands for the caller's: it recovers a panic that reaches it (the
// policies on the caller's goroutine re-panic) and notes a runtime.Goexit,
// which ends it.
func run(ctx context.Context, p *policy.Pipeline[int], fn policy.Func[int]) result {
	out := make(chan result, 1)
	// Owner: run. Exit: when the call returns, panics or calls
	// runtime.Goexit. Join: <-out, sent on every path.
	go func() {
		var r result
		returned := false
		defer func() {
			if !returned {
				r.pv = recover()
				r.panicked, r.goexited = r.pv != nil, r.pv == nil
			}
			out <- r
		}()
		r.v, r.err = p.Run(ctx, fn)
		returned = true
	}()
	return <-out
}

// What a caller got.
type class uint8

const (
	clOK         class = iota // a value from the function
	clFallback                // the fallback value
	clRejected                // an error matching ion.ErrRejected and a known sentinel
	clTimeout                 // policy.ErrTimeout
	clInjected                // the function's own error
	clPanicError              // a *ion.PanicError of the injected panic
	clRepanicked              // the injected panic, on the caller's goroutine
	clCanceled                // context.Canceled, the caller's ctx being done
	clDeadline                // context.DeadlineExceeded, the caller's ctx being done
	clGoexit                  // the injected runtime.Goexit, on the caller's goroutine
	clUnknown                 // anything else: an invariant broke
	numClasses
)

var classNames = [numClasses]string{"ok", "fallback", "rejected", "timeout", "injected", "panic-error",
	"re-panicked", "canceled", "deadline", "goexit", "UNCLASSIFIABLE"}

// rejections are the sentinels a rejection may match; each must match one.
var rejections = []error{limit.ErrLimited, sem.ErrFull, breaker.ErrOpen, breaker.ErrHalfOpenBusy,
	sem.ErrShed,
	pool.ErrClosed, pool.ErrQueueFull, pool.ErrExpired, pool.ErrShed, pool.ErrNotStarted}

// judge classifies what a caller got and records it; anything that errors.Is
// cannot classify is an anomaly.
func (w *world) judge(ctx context.Context, r result) class {
	c, why := classify(ctx, r)
	w.outcomes[c].Add(1)
	if c == clUnknown {
		if why == whyLiveCtx {
			why += ": " + r.err.Error()
		}
		w.anomaly("unclassifiable result: %s", why)
	}
	return c
}

// whyLiveCtx is the reason classify gives for a ctx error that is not the
// caller's.
const whyLiveCtx = "a ctx error while the caller's ctx is live"

func classify(ctx context.Context, r result) (class, string) {
	v, err, pv := r.v, r.err, r.pv
	switch {
	case r.goexited:
		return clGoexit, ""
	case r.panicked:
		if pv == any(errPanicked) {
			return clRepanicked, ""
		}
		return clUnknown, fmt.Sprintf("the caller's goroutine panicked with %#v", pv)
	case err == nil && v == fallbackValue:
		return clFallback, ""
	case err == nil && v > 0:
		return clOK, ""
	case err == nil:
		return clUnknown, fmt.Sprintf("nil error with value %d, neither a result nor the fallback", v)
	}
	var pe *ion.PanicError
	if errors.As(err, &pe) {
		if g := goexitValues(); pe.Value == any(errPanicked) || pe.Value == g[0] || pe.Value == g[1] {
			return clPanicError, ""
		}
		return clUnknown, fmt.Sprintf("a PanicError of a foreign panic %v: %v\n%s", pe.Value, err, pe.Stack)
	}
	switch {
	case errors.Is(err, ion.ErrInvalidConfig):
		return clUnknown, fmt.Sprintf("a configuration error under load: %v", err)
	case errors.Is(err, ion.ErrRejected):
		for _, s := range rejections {
			if errors.Is(err, s) {
				return clRejected, ""
			}
		}
		return clUnknown, fmt.Sprintf("a rejection matching no known sentinel: %v", err)
	case errors.Is(err, policy.ErrTimeout):
		return clTimeout, ""
	case errors.Is(err, errInjected):
		return clInjected, ""
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if ctx.Err() == nil {
			return clUnknown, whyLiveCtx
		}
		if errors.Is(err, context.Canceled) {
			return clCanceled, ""
		}
		return clDeadline, ""
	}
	return clUnknown, fmt.Sprintf("%T: %v", err, err)
}

// Layers. Each letter of a spec builds a fresh primitive wrapped in its
// probes, so one primitive per letter (two B's are two breakers):
//
//	F fallback  R retry  H hedge  T timeout  A timeout that abandons
//	B breaker (count window)  C breaker (time window, slow calls, open backoff, jitter)
//	L token bucket  W token bucket waiting up to maxWait
//	K keyed limiter (by caller, few keys)  M multi-tier limiter (by caller's request)
//	S bulkhead (weight 1, no wait; FIFO, or None at odd positions)
//	Q bulkhead (LIFO, weight 2, max wait)  P pool
const layerLetters = "FRHTABCLWKMSQP"

// pipeline composes spec's layers, outermost first; a parenthesized group
// is composed on its own and nested as one layer.
func (w *world) pipeline(spec string) *policy.Pipeline[int] {
	p, _ := w.group(spec, 0)
	return p
}

func (w *world) group(spec string, i int) (*policy.Pipeline[int], int) {
	var layers []policy.Policy[int]
	for ; i < len(spec); i++ {
		switch c := spec[i]; c {
		case ' ':
		case '(':
			var inner *policy.Pipeline[int]
			inner, i = w.group(spec, i+1)
			layers = append(layers, inner)
		case ')':
			return policy.Compose(layers...), i
		default:
			layers = append(layers, w.layer(rune(c), i))
		}
	}
	return policy.Compose(layers...), i
}

// sinkOpts returns the options that attach the world's sinks, if any: the
// recorder for metrics and logs, the strict tracer for spans.
func sinkOpts[O any](w *world, metrics func(observe.Metrics) O, logger func(observe.Logger) O, tracer func(observe.Tracer) O) []O {
	if w.rec == nil {
		return nil
	}
	return []O{metrics(w.rec), logger(w.rec), tracer(&w.spans)}
}

// strictTracer checks the tracing contract under load: every span started
// is ended exactly once, with a known outcome, and a success carries no
// error.
type strictTracer struct {
	w               *world
	started, closed atomic.Int64
}

type strictSpan struct {
	t     *strictTracer
	name  string
	ended atomic.Bool
}

func (st *strictTracer) Start(ctx context.Context, name string) (context.Context, observe.Span) {
	st.started.Add(1)
	return ctx, &strictSpan{t: st, name: name}
}

func (s *strictSpan) End(outcome string, err error) {
	if !s.ended.CompareAndSwap(false, true) {
		s.t.w.anomaly("span %q ended twice (%s, %v)", s.name, outcome, err)
		return
	}
	s.t.closed.Add(1)
	switch outcome {
	case "success":
		if err != nil {
			s.t.w.anomaly("span %q ended as a success with the error %v", s.name, err)
		}
	case "failure", "ignored", "rejected":
	default:
		s.t.w.anomaly("span %q ended with the unknown outcome %q", s.name, outcome)
	}
}

func (st *strictTracer) check(t *testing.T) {
	t.Helper()
	if st.started.Load() > 0 {
		t.Logf("tracing: %d spans", st.started.Load())
	}
	if s, c := st.started.Load(), st.closed.Load(); s != c {
		t.Errorf("tracing: %d spans started, %d ended", s, c)
	}
}

func (w *world) layer(c rune, i int) policy.Policy[int] {
	name := fmt.Sprintf("%c%d", c, i)
	popts := sinkOpts(w, policy.WithMetrics, policy.WithLogger, policy.WithTracer)
	popts = append(popts, policy.WithName(name))
	switch c {
	case 'F':
		return policy.Fallback(fallbackValue, toOpts[policy.FallbackOption](popts)...)
	case 'R':
		o := append(toOpts[policy.RetryOption](popts), policy.WithAttempts(3), policy.WithBackoff(w.k.backoff),
			policy.WithJitter(policy.FullJitter), policy.WithSeed(w.seed), policy.WithMaxDuration(w.k.retryMax))
		return policy.Retry[int](o...)
	case 'H':
		o := append(toOpts[policy.HedgeOption](popts), policy.WithHedges(1+i%2))
		return policy.Hedge[int](w.k.hedgeDelay, o...)
	case 'T', 'A':
		o := toOpts[policy.TimeoutOption](popts)
		if c == 'A' {
			o = append(o, policy.WithAbandon())
		}
		tl := policy.Timeout[int](w.k.timeout, o...)
		if c == 'A' {
			w.abandons = append(w.abandons, tl)
		}
		return tl
	case 'B', 'C':
		o := append(sinkOpts(w, breaker.WithMetrics, breaker.WithLogger, breaker.WithTracer),
			breaker.WithFailureRate(0.5), breaker.WithCountWindow(20, 10), breaker.WithOpenDuration(w.k.openFor),
			breaker.WithHalfOpenMaxCalls(3), breaker.WithSuccessThreshold(2))
		if c == 'C' {
			o = append(o, breaker.WithTimeWindow(10*w.k.openFor, 10, 10), breaker.WithSlowCalls(w.k.timeout/2, 0.8),
				breaker.WithOpenBackoff(2, 4*w.k.openFor), breaker.WithJitter(0.2, w.seed),
				breaker.WithHalfOpenMaxCalls(2), breaker.WithSuccessThreshold(1))
		}
		bp := &breakerProbe{w: w, b: breaker.New(name, o...), name: name}
		w.breakers = append(w.breakers, bp)
		return policy.Compose(bp.outer(), breaker.Policy[int](bp.b), bp.inner())
	case 'L', 'W':
		o := append(sinkOpts(w, limit.WithMetrics, limit.WithLogger, limit.WithTracer), limit.WithName(name))
		lp := &limitProbe{w: w, lim: limit.NewTokenBucket(w.k.rates[0], 100, asOpts[limit.BucketOption](o)...), burst: 100}
		var popt []limit.PolicyOption
		if c == 'W' {
			lp.maxWait = w.k.maxWait
			popt = append(popt, limit.WithMaxWait(w.k.maxWait))
		}
		w.limiters = append(w.limiters, lp)
		return policy.Compose(limit.Policy[int](lp.lim, popt...), lp.inner())
	case 'K':
		lim := limit.NewKeyed[uint64](w.k.rates[0], 20, limit.WithName(name), limit.WithMaxKeys(16))
		return limit.Policy[int](lim.By(func(ctx context.Context) uint64 { return callerID(ctx) % 40 }))
	case 'M':
		lim := httplimit.New(httplimit.WithName(name), httplimit.WithMaxKeys(32),
			httplimit.WithTier(httplimit.Global, 2*w.k.rates[0], 200), httplimit.WithTier(httplimit.User, w.k.rates[0]/10, 5),
			httplimit.WithRoute("POST /api/v1/users/{id}/orders", w.k.rates[0]/4, 20), httplimit.WithMajorParams("id"))
		return limit.Policy[int](lim.By(func(ctx context.Context) httplimit.Request {
			id := callerID(ctx)
			return httplimit.Request{Method: [2]string{"GET", "POST"}[id%2], Path: fmt.Sprintf("/api/v1/users/%d/orders", id%50),
				ResourceID: fmt.Sprint(id % 7), SubResourceID: fmt.Sprint(id % 3), UserID: fmt.Sprint(id % 40)}
		}))
	case 'S', 'Q':
		o := append(sinkOpts(w, sem.WithMetrics, sem.WithLogger, sem.WithTracer), sem.WithName(name))
		if i%2 == 1 {
			o = append(o, sem.WithFairness(sem.None))
		}
		weight := int64(1)
		var popt []sem.PolicyOption
		if c == 'Q' {
			o = append(o, sem.WithFairness(sem.LIFO))
			weight = 2
			popt = append(popt, sem.WithWeight(weight), sem.WithMaxWait(w.k.maxWait))
		}
		sp := &semProbe{w: w, s: sem.NewWeighted(64, o...), weight: weight}
		w.sems = append(w.sems, sp)
		return policy.Compose(sem.Policy[int](sp.s, popt...), sp.inner())
	case 'P':
		pp := newPoolProbe(w, name, int(w.total))
		w.pools = append(w.pools, pp)
		return policy.Compose(pp.outer(), pool.Policy[int](pp.p), pp.inner())
	}
	panic(fmt.Sprintf("torture: unknown layer %q", c))
}

// asOpts converts options shared by several constructors (limit.Option) to
// one constructor's option type.
func asOpts[O, I any](in []I) []O {
	out := make([]O, 0, len(in))
	for _, o := range in {
		out = append(out, any(o).(O))
	}
	return out
}

// toOpts converts the common policy options to the option type of one
// policy constructor.
func toOpts[O any](in []policy.Option) []O {
	out := make([]O, 0, len(in)+4)
	for _, o := range in {
		out = append(out, any(o).(O))
	}
	return out
}

// breakerProbe counts, independently of the breaker, the outcomes the
// breaker saw: an outer probe links each execution to an inner one through
// the ctx and sees the breaker's rejections; the inner probe sees what the
// rest of the pipeline returned to the breaker.
type breakerProbe struct {
	w    *world
	b    *breaker.Breaker
	name string

	admitted, successes, failures, ignored, ambiguous, rejected atomic.Int64
}

// bflag is one execution through the breaker. Its fields are plain: the
// inner probe writes them on the caller's goroutine before the breaker
// returns, and the race detector would flag a breaker that did otherwise.
type bflag struct {
	ran, pending bool // pending: an error the breaker counts as a Failure unless ctx ends first
}

func (bp *breakerProbe) outer() policy.Policy[int] {
	return policy.New("probe(breaker-out)", func(ctx context.Context, next policy.Next[int]) (int, error) {
		f := &bflag{}
		ctx = context.WithValue(ctx, bp, f)
		v, err := next.Call(ctx)
		switch {
		case !f.ran && errors.Is(err, ion.ErrRejected):
			bp.rejected.Add(1)
		case !f.ran && (err == nil || ctx.Err() == nil):
			bp.w.anomaly("breaker %v returned (%v, %v) without running or rejecting", bp.b.Snapshot().State, v, err)
		case f.pending && ctx.Err() == nil:
			// ctx was live after the breaker classified, so it was then.
			bp.failures.Add(1)
		case f.pending:
			bp.ambiguous.Add(1) // ctx ended between the inner probe and now
		}
		return v, err
	})
}

func (bp *breakerProbe) inner() policy.Policy[int] {
	return policy.New("probe(breaker-in)", func(ctx context.Context, next policy.Next[int]) (v int, err error) {
		f, ok := ctx.Value(bp).(*bflag)
		if !ok {
			bp.w.anomaly("the breaker did not pass its ctx on")
			return next.Call(ctx)
		}
		f.ran = true
		bp.admitted.Add(1)
		returned := false
		defer func() {
			if !returned {
				bp.failures.Add(1) // a panic is recorded as a Failure
			}
		}()
		v, err = next.Call(ctx)
		returned = true
		switch {
		case err == nil:
			bp.successes.Add(1)
		case errors.Is(err, ion.ErrRejected), ctx.Err() != nil:
			bp.ignored.Add(1)
		default:
			f.pending = true
		}
		return v, err
	})
}

// check compares the breaker's Snapshot with the probes' counts.
func (bp *breakerProbe) check(t *testing.T) {
	t.Helper()
	s := bp.b.Snapshot()
	t.Logf("breaker %s: %d successes, %d failures, %d ignored, %d rejected (%d ambiguous); now %v", bp.name,
		s.Successes, s.Failures, s.Ignored, s.Rejected, bp.ambiguous.Load(), s.State)
	adm, amb := bp.admitted.Load(), bp.ambiguous.Load()
	if s.Successes+s.Failures+s.Ignored != adm {
		t.Errorf("breaker: Successes+Failures+Ignored = %d, want the %d calls it let through (%+v)",
			s.Successes+s.Failures+s.Ignored, adm, s)
	}
	// A half-open probe that succeeded but was slow is a failure to the
	// breaker (it re-opens it), and counts as one; the probes here cannot
	// tell, so such successes may move to Failures, each also a slow call.
	slowProbes := bp.successes.Load() - s.Successes
	if slowProbes < 0 || slowProbes > s.SlowCalls {
		t.Errorf("breaker: Successes = %d, want %d seen (less up to %d slow calls counted as failures)",
			s.Successes, bp.successes.Load(), s.SlowCalls)
	}
	if s.Rejected != bp.rejected.Load() {
		t.Errorf("breaker: Rejected = %d, want %d seen", s.Rejected, bp.rejected.Load())
	}
	if f := bp.failures.Load() + slowProbes; s.Failures < f || s.Failures > f+amb {
		t.Errorf("breaker: Failures = %d, want %d seen (+ up to %d whose ctx ended at the same time)", s.Failures, f, amb)
	}
	if i := bp.ignored.Load(); s.Ignored < i || s.Ignored > i+amb {
		t.Errorf("breaker: Ignored = %d, want %d seen (+ up to %d whose ctx ended at the same time)", s.Ignored, i, amb)
	}
	if bp.w.rec != nil {
		for outcome, want := range map[string]int64{"success": s.Successes, "failure": s.Failures, "ignored": s.Ignored} {
			got := bp.w.rec.Count("ion_breaker_calls_total", observe.L("name", bp.name), observe.L("outcome", outcome))
			if got != want {
				t.Errorf("breaker: ion_breaker_calls_total{outcome=%s} = %d, the Snapshot says %d", outcome, got, want)
			}
		}
		if got := bp.w.rec.Count("ion_breaker_rejections_total", observe.L("name", bp.name)); got != s.Rejected {
			t.Errorf("breaker: ion_breaker_rejections_total = %d, the Snapshot says %d", got, s.Rejected)
		}
	}
}

// semProbe checks that a bulkhead never lets more calls run than its
// permits allow.
type semProbe struct {
	w       *world
	s       *sem.Weighted
	weight  int64
	running atomic.Int64
	peak    atomic.Int64
}

func (sp *semProbe) inner() policy.Policy[int] {
	return policy.New("probe(bulkhead)", func(ctx context.Context, next policy.Next[int]) (int, error) {
		n := sp.running.Add(1)
		defer sp.running.Add(-1)
		if n*sp.weight > sp.s.Capacity() {
			sp.w.anomaly("bulkhead: %d calls of weight %d running at once, capacity %d", n, sp.weight, sp.s.Capacity())
		}
		for p := sp.peak.Load(); n > p && !sp.peak.CompareAndSwap(p, n); p = sp.peak.Load() {
		}
		return next.Call(ctx)
	})
}

// direct holds permits of the bulkhead's semaphore for a while, as other
// code sharing the semaphore would: Acquire with a ctx that may end, or
// TryAcquire.
func (sp *semProbe) direct(r uint64) {
	n := int64(1 + r%4)
	if r>>2%4 == 0 {
		if !sp.s.TryAcquire(n) {
			return
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 1+time.Duration(r>>8%uint64(sp.w.k.cancelMax)))
		defer cancel()
		if err := sp.s.Acquire(ctx, n); err != nil {
			if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
				sp.w.anomaly("semaphore: Acquire(%d) = %v, ctx %v", n, err, ctx.Err())
			}
			return
		}
	}
	defer func() {
		if err := sp.s.Release(n); err != nil {
			sp.w.anomaly("semaphore: Release(%d) of what was acquired = %v", n, err)
		}
	}()
	_ = sp.w.wait(context.Background(), int(r>>32%3), false)
}

func (sp *semProbe) check(t *testing.T) {
	t.Helper()
	t.Logf("bulkhead: peak %d calls of weight %d, capacity %d", sp.peak.Load(), sp.weight, sp.s.Capacity())
	if a, c := sp.s.Available(), sp.s.Capacity(); a != c {
		t.Errorf("bulkhead: Available() = %d after the run, want the capacity %d: permits leaked", a, c)
	}
	if n := sp.s.Waiting(); n != 0 {
		t.Errorf("bulkhead: Waiting() = %d after the run, want 0", n)
	}
}

// limitProbe counts the calls a limiter admitted, to bound them by the rates
// it was set to (virtual runs only, where time is exact).
type limitProbe struct {
	w        *world
	lim      *limit.TokenBucket
	burst    int
	maxWait  time.Duration
	admitted atomic.Int64

	// mu guards the fields below.
	mu      sync.Mutex
	changes []rateChange // the rates set, in order, after the one at construction
}

type rateChange struct {
	at   time.Time
	rate limit.Rate
}

func (lp *limitProbe) inner() policy.Policy[int] {
	return policy.New("probe(limiter)", func(ctx context.Context, next policy.Next[int]) (int, error) {
		lp.admitted.Add(1)
		return next.Call(ctx)
	})
}

func (lp *limitProbe) setRate(r limit.Rate) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if err := lp.lim.SetRate(r); err != nil {
		lp.w.anomaly("SetRate(%v) = %v", r, err)
		return
	}
	lp.changes = append(lp.changes, rateChange{at: time.Now(), rate: r})
}

// check bounds the admissions: at most the burst, plus what the rates in
// force accrued, plus what a waiting caller may have reserved ahead at the
// highest rate, plus one for rounding. Only meaningful in virtual time with
// finite rates.
func (lp *limitProbe) check(t *testing.T, start, end time.Time) {
	t.Helper()
	if !lp.w.virtual {
		return
	}
	lp.mu.Lock()
	changes := append([]rateChange{{at: start, rate: lp.w.k.rates[0]}}, lp.changes...)
	lp.mu.Unlock()
	bound, peak := float64(lp.burst)+1, 0.0
	for i, c := range changes {
		until := end
		if i+1 < len(changes) {
			until = changes[i+1].at
		}
		bound += float64(c.rate) * until.Sub(c.at).Seconds()
		peak = max(peak, float64(c.rate))
	}
	bound += peak * lp.maxWait.Seconds()
	t.Logf("limiter: admitted %d, bound %.0f", lp.admitted.Load(), bound)
	if got := float64(lp.admitted.Load()); got > bound {
		t.Errorf("limiter: admitted %v calls, above the %v its rates allow: it failed open", got, bound)
	}
}

// poolProbe accounts for every call and task the pool accepted, without
// trusting the pool's own counters, and checks them at the end.
type poolProbe struct {
	w    *world
	p    *pool.Pool
	name string

	// maxSize is the largest size the pool was ever given.
	maxSize atomic.Int64
	running atomic.Int64

	// What ran on a worker (Policy calls, tasks, Go functions), by how it ended.
	okRuns, errRuns, panicRuns atomic.Int64
	// Accepted work that did not run and was reported.
	expired, forced atomic.Int64
	// Policy calls that ended, without running, with their caller's ctx
	// error: not submitted, refused while blocked, or withdrawn while queued.
	ctxUnrun atomic.Int64
	// notStarted counts accepted work not run because its ctx was done
	// when a worker took it (pool.ErrNotStarted); the pool counts it as
	// discarded.
	notStarted atomic.Int64
	// Refusals the caller can tell apart.
	closedRefused, fullRefused atomic.Int64
	// Direct submissions (Submit, TrySubmit, Go) refused with a ctx error.
	directCtx atomic.Int64
	// What the Close calls reported as removed.
	closeReported atomic.Int64
	closes        atomic.Int64
	// Direct submissions: accepted, and by id whether each ran or was
	// reported (exactly once), and what kind of submission it was.
	directAccepted atomic.Int64
	nextID         atomic.Int64
	state          []atomic.Int32 // 0 pending, 1 ran, 2 reported
	kind           []atomic.Int32 // 0 not accepted, else a direct* kind
	anonReports    atomic.Int64   // discard reports of TrySubmit tasks, which carry no id
}

const (
	directSubmit int32 = 1 + iota
	directTry
	directGo
)

type taskKey struct{}

type pflag struct{ ran bool }

func newPoolProbe(w *world, name string, maxTasks int) *poolProbe {
	pp := &poolProbe{w: w, name: name, state: make([]atomic.Int32, maxTasks+1), kind: make([]atomic.Int32, maxTasks+1)}
	o := []pool.Option{pool.WithName(name), pool.WithMaxQueueWait(w.k.queueWait), pool.WithDiscardHandler(pp.discarded)}
	if w.rec != nil {
		o = append(o, pool.WithMetrics(w.rec), pool.WithLogger(w.rec), pool.WithTracer(w.rec))
	}
	pp.p = pool.New(w.k.sizes[0], 32, o...)
	pp.maxSize.Store(int64(w.k.sizes[0]))
	return pp
}

func (pp *poolProbe) outer() policy.Policy[int] {
	return policy.New("probe(pool-out)", func(ctx context.Context, next policy.Next[int]) (int, error) {
		f := &pflag{}
		ctx = context.WithValue(ctx, pp, f)
		v, err := next.Call(ctx)
		if f.ran {
			return v, err
		}
		switch {
		case err == nil:
			pp.w.anomaly("pool: a call returned (%d, nil) without running", v)
		case errors.Is(err, pool.ErrExpired):
			pp.expired.Add(1)
		case errors.Is(err, pool.ErrNotStarted):
			pp.notStarted.Add(1)
		case err == pool.ErrClosed:
			pp.closedRefused.Add(1)
		case errors.Is(err, pool.ErrClosed):
			pp.forced.Add(1) // discarded by a forced Close: the error wraps its ctx's
		case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
			pp.ctxUnrun.Add(1)
		default:
			pp.w.anomaly("pool: a call that did not run returned %v", err)
		}
		return v, err
	})
}

func (pp *poolProbe) inner() policy.Policy[int] {
	return policy.New("probe(pool-in)", func(ctx context.Context, next policy.Next[int]) (v int, err error) {
		f, ok := ctx.Value(pp).(*pflag)
		if !ok {
			pp.w.anomaly("pool: the call's ctx lost the caller's values")
			return next.Call(ctx)
		}
		f.ran = true
		err = pp.count(func() error {
			v, err = next.Call(ctx)
			return err
		})
		return v, err
	})
}

// count runs body on a worker and counts how it ended, as the pool does:
// nil, an error, or a panic (runtime.Goexit included).
func (pp *poolProbe) count(body func() error) error {
	n := pp.running.Add(1)
	defer pp.running.Add(-1)
	if m := pp.maxSize.Load(); n > m {
		pp.w.anomaly("pool: %d calls running at once, above its largest size %d", n, m)
	}
	returned := false
	defer func() {
		if !returned {
			pp.panicRuns.Add(1)
		}
	}()
	err := body()
	returned = true
	if err == nil {
		pp.okRuns.Add(1)
	} else {
		pp.errRuns.Add(1)
	}
	return err
}

// mark moves direct task id from pending to to (1 ran, 2 reported); any
// other move means the task ran or was reported twice.
func (pp *poolProbe) mark(id int64, to int32) {
	if !pp.state[id].CompareAndSwap(0, to) {
		pp.w.anomaly("pool: task %d %s after it had %s", id, [3]string{"", "ran", "was reported"}[to],
			[3]string{"", "run", "been reported"}[pp.state[id].Load()])
	}
}

// report records why accepted work did not run.
func (pp *poolProbe) report(err error) {
	switch {
	case errors.Is(err, pool.ErrExpired):
		pp.expired.Add(1)
	case errors.Is(err, pool.ErrNotStarted):
		pp.notStarted.Add(1)
	case errors.Is(err, pool.ErrClosed) && err != pool.ErrClosed:
		pp.forced.Add(1)
	default:
		pp.w.anomaly("pool: accepted work reported with %v", err)
	}
}

// discarded is the pool's discard handler, for Submit and TrySubmit tasks.
func (pp *poolProbe) discarded(ctx context.Context, _ pool.Task, err error) {
	pp.report(err)
	if id, ok := ctx.Value(taskKey{}).(int64); ok {
		pp.mark(id, 2)
	} else {
		pp.anonReports.Add(1)
	}
}

// refused records a direct submission that returned err.
func (pp *poolProbe) refused(err error) {
	switch {
	case err == pool.ErrClosed:
		pp.closedRefused.Add(1)
	case err == pool.ErrQueueFull:
		pp.fullRefused.Add(1)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		pp.directCtx.Add(1)
	default:
		pp.w.anomaly("pool: a submission was refused with %v", err)
	}
}

// direct submits one task straight to the pool, fire-and-forget or as a
// Future, instead of a call through the pipeline.
func (pp *poolProbe) direct(r uint64) {
	w := pp.w
	id := pp.nextID.Add(1)
	task := func(ctx context.Context) error {
		pp.mark(id, 1)
		return pp.count(func() error {
			_, err := w.invoke(ctx)
			return err
		})
	}
	ctx := context.WithValue(context.Background(), taskKey{}, id)
	if r%4 == 0 { // a submitter that stops waiting for room
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(1+r>>40%uint64(w.k.cancelMax)))
		defer cancel()
	}
	var err error
	switch kind := directSubmit + int32(r>>8%3); kind {
	case directSubmit:
		if err = pp.p.Submit(ctx, task); err == nil {
			pp.accepted(id, kind)
		}
	case directTry:
		if err = pp.p.TrySubmit(task); err == nil {
			pp.accepted(id, kind)
		}
	case directGo:
		var fut *pool.Future[int]
		fut, err = pool.Go(ctx, pp.p, func(ctx context.Context) (int, error) {
			var v int
			err := task(ctx)
			return v, err
		})
		if err != nil {
			break
		}
		pp.accepted(id, kind)
		_, ferr := fut.Wait(context.Background())
		if pp.state[id].Load() != 1 {
			pp.report(ferr)
			pp.mark(id, 2)
		}
	}
	if err != nil {
		pp.refused(err)
	}
}

func (pp *poolProbe) accepted(id int64, kind int32) {
	pp.directAccepted.Add(1)
	pp.kind[id].Store(kind)
}

// resize and closeMidFlight are the controller's actions.
func (pp *poolProbe) resize(n int, closed bool) {
	if n > 0 {
		for m := pp.maxSize.Load(); int64(n) > m && !pp.maxSize.CompareAndSwap(m, int64(n)); m = pp.maxSize.Load() {
		}
	}
	err := pp.p.Resize(n)
	switch {
	case n <= 0 && !errors.Is(err, ion.ErrInvalidConfig):
		pp.w.anomaly("pool: Resize(%d) = %v, want an error matching ion.ErrInvalidConfig", n, err)
	case n > 0 && closed && err != pool.ErrClosed:
		pp.w.anomaly("pool: Resize(%d) after Close = %v, want ErrClosed", n, err)
	case n > 0 && !closed && err != nil && err != pool.ErrClosed:
		pp.w.anomaly("pool: Resize(%d) = %v", n, err)
	}
}

func (pp *poolProbe) close(ctx context.Context) {
	n, err := pp.p.Close(ctx)
	pp.closes.Add(1)
	pp.closeReported.Add(int64(n))
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		pp.w.anomaly("pool: Close = %d, %v", n, err)
	}
	if err == nil && n != 0 {
		pp.w.anomaly("pool: Close = %d, nil: a Close that waited reports nothing", n)
	}
}

// check closes the pool for good and checks that every accepted task is
// accounted for.
func (pp *poolProbe) check(t *testing.T) {
	t.Helper()
	pp.close(context.Background())
	m := pp.p.Snapshot()
	t.Logf("pool %s: %+v", pp.name, m)
	if m.Queued != 0 || m.Running != 0 || m.Blocked != 0 || m.Workers != 0 || !m.Closed {
		t.Errorf("pool after Close: %+v, want nothing queued, running, blocked or alive", m)
	}
	ran := pp.okRuns.Load() + pp.errRuns.Load() + pp.panicRuns.Load()
	if m.Completed != uint64(pp.okRuns.Load()) || m.Failed != uint64(pp.errRuns.Load()) || m.Panicked != uint64(pp.panicRuns.Load()) {
		t.Errorf("pool: Completed, Failed, Panicked = %d, %d, %d; the workers saw %d, %d, %d",
			m.Completed, m.Failed, m.Panicked, pp.okRuns.Load(), pp.errRuns.Load(), pp.panicRuns.Load())
	}
	if m.Expired != uint64(pp.expired.Load()) {
		t.Errorf("pool: Expired = %d, but %d expirations were reported", m.Expired, pp.expired.Load())
	}
	if pp.forced.Load() != pp.closeReported.Load() {
		t.Errorf("pool: %d discards were reported, but Close said it removed %d", pp.forced.Load(), pp.closeReported.Load())
	}
	withdrawn := int64(m.Discarded) - pp.forced.Load() - pp.notStarted.Load()
	if withdrawn < 0 || withdrawn > pp.ctxUnrun.Load() {
		t.Errorf("pool: Discarded = %d: %d forced and %d not started, so %d withdrawn by callers, but only %d callers gave up unrun",
			m.Discarded, pp.forced.Load(), pp.notStarted.Load(), withdrawn, pp.ctxUnrun.Load())
	}
	// Every direct task ran or was reported, exactly once (mark checks the
	// once); TrySubmit's reports carry no id and are matched by count.
	var pendingTry int64
	for id := range pp.state {
		switch k, s := pp.kind[id].Load(), pp.state[id].Load(); {
		case k == 0 && s != 0:
			t.Errorf("pool: task %d was not accepted but ran or was reported", id)
		case k == directTry && s == 0:
			pendingTry++
		case k != 0 && s == 0:
			t.Errorf("pool: task %d (kind %d) was accepted and never ran nor was reported: lost", id, k)
		}
	}
	if pendingTry != pp.anonReports.Load() {
		t.Errorf("pool: %d TrySubmit tasks neither ran nor were reported by id, and %d anonymous reports came", pendingTry, pp.anonReports.Load())
	}
	// The headline: accepted = completed + failed + panicked + expired + reported unrun.
	accepted := m.Completed + m.Failed + m.Panicked + m.Expired + m.Discarded
	if int64(m.Completed+m.Failed+m.Panicked) != ran {
		t.Errorf("pool: %d tasks counted as run, %d ran", m.Completed+m.Failed+m.Panicked, ran)
	}
	if accepted != uint64(ran+pp.expired.Load()+pp.forced.Load()+pp.notStarted.Load()+withdrawn) {
		t.Errorf("pool: accepted %d != ran %d + expired %d + discarded by Close %d + not started %d + withdrawn %d",
			accepted, ran, pp.expired.Load(), pp.forced.Load(), pp.notStarted.Load(), withdrawn)
	}
	known := uint64(pp.closedRefused.Load() + pp.fullRefused.Load())
	if m.Rejected < known || m.Rejected-known > uint64(pp.ctxUnrun.Load()-withdrawn+pp.directCtx.Load()) {
		t.Errorf("pool: Rejected = %d, want %d refusals seen plus at most %d ended by the submitter's ctx",
			m.Rejected, known, pp.ctxUnrun.Load()-withdrawn+pp.directCtx.Load())
	}
	if pp.w.rec != nil {
		name := observe.L("name", pp.name)
		if got := pp.w.rec.Count("ion_pool_tasks_total", name, observe.L("result", "completed")); got != int64(m.Completed) {
			t.Errorf("pool: ion_pool_tasks_total{result=completed} = %d, Completed = %d", got, m.Completed)
		}
	}
}
