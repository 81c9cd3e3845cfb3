package policy

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// HedgeLayer is the policy built by [Hedge] and [HedgeFunc]: it races extra
// attempts against a slow call. A HedgeLayer is safe for concurrent use by
// multiple goroutines.
type HedgeLayer[T any] struct {
	delay   time.Duration
	delayFn func(hedge int) time.Duration // nil for a fixed delay
	hedges  int
	budget  *Budget
	desc    string
	err     error

	obs           observer
	mAttempts     observe.Counter
	mHedges       observe.Counter
	mBudgetRefuse observe.Counter
}

type hedgeConfig struct {
	common
	hedges int
}

type hedgeOption func(*hedgeConfig)

func (o hedgeOption) applyHedge(c *hedgeConfig) { o(c) }

// WithHedges sets the maximum number of extra attempts a Hedge starts per
// call; the default is 1. An n below 1 is invalid.
func WithHedges(n int) HedgeOption {
	return hedgeOption(func(c *hedgeConfig) {
		if n < 1 {
			c.fail(ion.NewConfigError("policy", "WithHedges", "must be at least 1, got %d", n))
			return
		}
		c.hedges = n
	})
}

// Hedge returns a policy that starts a call and, if it has not succeeded
// after delay, starts an extra concurrent attempt (a hedge), and another
// delay after that, up to [WithHedges] hedges (default 1). The first attempt
// whose outcome is a [Success] wins: the others are cancelled through their
// ctx and waited for, so no goroutine outlives the call, and the winner's
// result is returned. A delay of 0 starts every attempt at once.
//
// A failed attempt does not start a hedge early, and the call ends when no
// attempt is running any more: if every attempt failed, the result of the
// last one to finish is returned. Compose a [Retry] outside the Hedge to
// retry failures. A hedge is not started once the caller's ctx has ended.
//
// The first attempt runs on the caller's goroutine, each hedge on a
// goroutine of its own; every attempt's ctx is cancelled when Hedge
// returns, the winner's included (consume a response inside the Func).
// Attempts are numbered for [Attempt]: the first keeps the number of the
// ctx Hedge received, the hedges follow it. A panic in any attempt is
// recovered: it ends the call, and Hedge returns a *ion.PanicError after
// cancelling and waiting for the other attempts. A hedge that calls
// runtime.Goexit ends the call the same way, at once (the PanicError's
// value is an error saying so); in the first attempt, which runs on the
// caller's goroutine, Goexit ends that goroutine as usual, after the hedges
// have been cancelled and waited for. [WithBudget] limits the hedges: when
// the budget refuses, no further hedge starts.
//
// Every attempt's value that is not returned (the losers, including those
// that finish after the winner, and the earlier failures when every attempt
// failed) is handed to the pipeline's discard hook ([Next.Discard],
// [Pipeline.WithDiscard]; by default an [io.Closer] is closed) on the
// attempt's goroutine, before Hedge returns. The returned value is never
// discarded.
//
// Cost: a call that wins before the delay costs a cancellable ctx and a
// timer; each hedge adds a goroutine.
//
// A negative delay makes every call fail with an error matching
// ion.ErrInvalidConfig ([HedgeLayer.Err]).
func Hedge[T any](delay time.Duration, opts ...HedgeOption) *HedgeLayer[T] {
	var c hedgeConfig
	if delay < 0 {
		c.fail(ion.NewConfigError("policy", "Hedge delay", "must not be negative, got %v", delay))
	}
	return newHedge[T](delay, nil, &c, opts)
}

// HedgeFunc is like [Hedge] with a delay computed per hedge: hedge n (1 for
// the first) starts delay(n) after attempt n started. delay runs on the
// caller's goroutine for the first hedge and on the previous hedge's
// goroutine for the others, outside any lock; a negative result counts as
// 0, and a panic (or runtime.Goexit) in it on a hedge's goroutine ends the
// call as for a panicking attempt. A nil
// delay makes every call fail with an error matching ion.ErrInvalidConfig.
func HedgeFunc[T any](delay func(hedge int) time.Duration, opts ...HedgeOption) *HedgeLayer[T] {
	var c hedgeConfig
	if delay == nil {
		c.fail(ion.NewConfigError("policy", "HedgeFunc delay", "nil function"))
	}
	return newHedge[T](0, delay, &c, opts)
}

func newHedge[T any](delay time.Duration, fn func(int) time.Duration, c *hedgeConfig, opts []HedgeOption) *HedgeLayer[T] {
	c.hedges = 1
	for i, o := range opts {
		if o == nil {
			c.nilOption(i)
			continue
		}
		o.applyHedge(c)
	}
	h := &HedgeLayer[T]{delay: delay, delayFn: fn, hedges: c.hedges, budget: c.budget, err: c.err,
		obs: newObserver("hedge", &c.common)}
	if h.err != nil {
		h.desc = "hedge(invalid: " + h.err.Error() + ")"
	} else {
		h.desc = "hedge("
		if h.obs.named() {
			h.desc += h.obs.name + " "
		}
		if fn != nil {
			h.desc += "delay=func"
		} else {
			h.desc += "delay=" + delay.String()
		}
		h.desc += " hedges=" + strconv.Itoa(h.hedges) + ")"
	}
	h.obs.span = h.desc
	h.mAttempts = h.obs.counter("ion_policy_attempts_total")
	h.mHedges = h.obs.counter("ion_policy_hedges_total")
	h.mBudgetRefuse = h.obs.counter("ion_policy_budget_refused_total")
	return h
}

// Err returns the configuration error that makes h fail closed, or nil.
func (h *HedgeLayer[T]) Err() error { return h.err }

// String describes the policy, for example "hedge(delay=50ms hedges=1)".
func (h *HedgeLayer[T]) String() string { return h.desc }

// Execute implements [Policy]. See [Hedge] for the behaviour.
func (h *HedgeLayer[T]) Execute(ctx context.Context, next Next[T]) (T, error) {
	if h.err != nil {
		var zero T
		return zero, h.err
	}
	if h.obs.tracer != nil {
		return traced(ctx, &h.obs, next, h.run)
	}
	return h.run(ctx, next)
}

// delayFor returns the delay before hedge n.
func (h *HedgeLayer[T]) delayFor(n int) time.Duration {
	if h.delayFn != nil {
		return max(h.delayFn(n), 0)
	}
	return h.delay
}

func (h *HedgeLayer[T]) run(ctx context.Context, next Next[T]) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	if h.budget != nil {
		h.budget.deposit(time.Now())
	}
	d := h.delayFor(1)
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &hedgeCall[T]{h: h, next: next, ctx: hctx, outer: ctx, cancel: cancel, base: Attempt(ctx), launched: 1, running: 1}
	c.fireFn = c.fire
	c.wg.Add(1) // for the armed timer; see hedgeCall.wg
	c.mu.Lock() // the timer may fire before the assignment completes
	c.timer = time.AfterFunc(d, c.fireFn)
	c.mu.Unlock()
	add(h.mAttempts)
	c.attempt(1)
	return c.finish()
}

// hedgeCall is the state of one call through a Hedge, shared by the
// caller's goroutine (the first attempt) and the hedges' goroutines.
type hedgeCall[T any] struct {
	h      *HedgeLayer[T]
	next   Next[T]
	ctx    context.Context // the attempts' ctx, cancelled when a winner is found and when the call returns
	outer  context.Context // the ctx Execute received, for classification
	cancel context.CancelFunc
	base   int // the attempt number of the first attempt
	fireFn func()

	// wg counts the armed timer whose callback has not been prevented
	// (Stop returned false or it has not been stopped) and so will run, and
	// each hedge goroutine; finish waits for it.
	wg sync.WaitGroup

	// mu guards the fields below.
	mu       sync.Mutex
	launched int         // attempts started, the first included; only fire increments it
	running  int         // attempts started and not reported
	done     bool        // set once: a winner or a panic ended the call, or no attempt runs
	v        T           // the result to return: the winner's, else the last reported
	err      error       //
	held     bool        // v was returned by an attempt (not a panic's zero), so replacing it discards it
	timer    *time.Timer // the armed timer for the next hedge; replaced by fire
	wake     chan struct{}
}

// attemptResult is one attempt's result and outcome.
type attemptResult[T any] struct {
	v        T
	err      error
	outcome  Outcome
	panicked bool
}

// attempt runs attempt n (1 for the first), classifies its result and
// reports it. A panic in the call or in the classifier is recovered into a
// *ion.PanicError: hedges run on Ion's goroutines, and the first attempt is
// treated like them so that every attempt behaves the same.
//
// A runtime.Goexit (t.FailNow in a test's Func) cannot be stopped: the
// deferred function reports it at once, as a *ion.PanicError, so that the
// call ends as for a panic instead of waiting for an attempt that will
// never report. A hedge's goroutine then exits. On the caller's goroutine
// (attempt 1), Goexit goes on once the other attempts have been cancelled
// and waited for, so that none outlives the call.
func (c *hedgeCall[T]) attempt(n int) {
	returned := false
	defer func() {
		if returned {
			return
		}
		p := recover()
		c.report(attemptResult[T]{err: panicError(p), outcome: Failure, panicked: true})
		if p == nil && n == 1 {
			c.cancel()
			c.wg.Wait()
		}
	}()
	v, err := c.next.Call(withAttempt(c.ctx, c.base+n-1))
	outcome := c.next.Classify(c.outer, v, err)
	returned = true
	c.report(attemptResult[T]{v: v, err: err, outcome: outcome})
}

// errGoexit is the value of the *ion.PanicError that reports a call that
// called runtime.Goexit on a goroutine of a [Hedge] or a [Timeout] (with
// [WithAbandon]), as the pool does for its tasks.
var errGoexit = errors.New("policy: call called runtime.Goexit")

// panicError returns the *ion.PanicError for p, the value recovered by the
// deferred function of a call that did not return: a panic, or, when p is
// nil, runtime.Goexit (recover returns nil for it; a panic(nil) is
// recovered as a *runtime.PanicNilError).
func panicError(p any) *ion.PanicError {
	if p == nil {
		return &ion.PanicError{Value: errGoexit, Stack: debug.Stack()}
	}
	return ion.NewPanicError(p)
}

// fire runs on the timer's goroutine: it starts the next hedge, arms the
// timer for the one after, and runs the hedge's attempt there.
//
// Owner: the hedgeCall. Exit: when the hedge's attempt returns, or at once
// when the call is over or the budget refuses. Join: finish waits for wg,
// which counted this callback when its timer was armed.
func (c *hedgeCall[T]) fire() {
	defer c.wg.Done()
	c.mu.Lock()
	if c.done || c.outer.Err() != nil {
		c.mu.Unlock()
		return
	}
	// Only fire changes launched, and one fire runs at a time (each arms
	// the next), so k stays valid after the lock is released.
	k := c.launched // the number of this hedge
	c.mu.Unlock()

	h := c.h
	more := k < h.hedges
	var d time.Duration
	if more {
		var perr *ion.PanicError
		if d, perr = c.nextDelay(k + 1); perr != nil {
			c.fail(perr)
			return
		}
	}

	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	// The budget is asked last, under c.mu, so that a token is spent only
	// on a hedge that starts. Budget takes its own short lock and calls no
	// user code, so the nesting is safe.
	if h.budget != nil && !h.budget.withdraw(time.Now()) {
		c.mu.Unlock()
		add(h.mBudgetRefuse)
		return
	}
	c.launched++
	c.running++
	if more {
		c.wg.Add(1)
		c.timer = time.AfterFunc(d, c.fireFn)
	}
	c.mu.Unlock()

	add(h.mAttempts)
	add(h.mHedges)
	c.attempt(k + 1)
}

// nextDelay calls the user's delay function for hedge n on a hedge
// goroutine, recovering a panic. A runtime.Goexit in it is reported at
// once, like a panic, before the goroutine exits.
func (c *hedgeCall[T]) nextDelay(n int) (d time.Duration, perr *ion.PanicError) {
	returned := false
	defer func() {
		if returned {
			return
		}
		p := recover()
		perr = panicError(p)
		if p == nil {
			c.fail(perr)
		}
	}()
	d = c.h.delayFor(n)
	returned = true
	return d, nil
}

// fail reports perr, a panic (or runtime.Goexit) in the delay function, as
// the result of an attempt that ends the call.
func (c *hedgeCall[T]) fail(perr *ion.PanicError) {
	c.mu.Lock()
	c.running++
	c.mu.Unlock()
	c.report(attemptResult[T]{err: perr, outcome: Failure, panicked: true})
}

// report records the result of an attempt that ended. The first Success or
// panic wins and cancels the other attempts; when the call is over (a
// winner, or no attempt running), it stops the armed timer and wakes the
// caller.
func (c *hedgeCall[T]) report(r attemptResult[T]) {
	c.mu.Lock()
	c.running--
	won := false
	// drop is the value this report throws away, discarded outside the
	// lock: the result it replaces, or its own when the call is over (a
	// late finisher). A panicked attempt returned no value.
	var drop T
	dropped := false
	if !c.done {
		if c.held {
			drop, dropped = c.v, true
		}
		c.v, c.err, c.held = r.v, r.err, !r.panicked
		won = r.panicked || r.outcome == Success
	} else if !r.panicked {
		drop, dropped = r.v, true
	}
	var t *time.Timer
	var wake chan struct{}
	if !c.done && (won || c.running == 0) {
		c.done = true
		t, wake = c.timer, c.wake
	}
	c.mu.Unlock()

	if won {
		c.cancel()
	}
	if t != nil && t.Stop() {
		c.wg.Done() // its callback will never run
	}
	if wake != nil {
		close(wake)
	}
	if dropped {
		c.discard(drop)
	}
	if r.panicked {
		pe, _ := r.err.(*ion.PanicError)
		c.h.obs.log(context.WithoutCancel(c.outer), slog.LevelError, "hedge attempt panicked", slog.Any("panic", pe.Value))
	}
}

// discard hands v, a result the call will not return, to the pipeline's
// discard hook. It runs on the reporting attempt's goroutine, before
// finish's wg.Wait (or, for the first attempt, before finish) returns, so
// every loser is discarded before Hedge returns. A panic in the hook is
// recovered and logged: it must not crash a hedge's goroutine, and it
// must not change a result that is already decided.
func (c *hedgeCall[T]) discard(v T) {
	defer func() {
		if p := recover(); p != nil {
			c.h.obs.log(context.WithoutCancel(c.outer), slog.LevelError, "hedge discard hook panicked", slog.Any("panic", p))
		}
	}()
	c.next.Discard(v)
}

// finish waits, on the caller's goroutine, until the call is over, then
// cancels the other attempts, waits for their goroutines and returns the
// result.
func (c *hedgeCall[T]) finish() (T, error) {
	c.mu.Lock()
	if !c.done {
		w := make(chan struct{})
		c.wake = w
		c.mu.Unlock()
		<-w
		c.mu.Lock()
	}
	v, err := c.v, c.err
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return v, err
}
