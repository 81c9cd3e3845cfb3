package policy

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// The reasons a [Retry] gives up, found in [RetryError.Reason] and matched
// by errors.Is on the error it returns.
var (
	// ErrRetriesExhausted is the reason when the last allowed attempt
	// failed, or when the next one could not start within the policy's max
	// duration.
	ErrRetriesExhausted = errors.New("policy: retries exhausted")
	// ErrRetryDeadline is the reason when the ctx deadline cannot fit the
	// next delay, so that Retry neither waits nor tries again.
	ErrRetryDeadline = errors.New("policy: retry would miss the deadline")
	// ErrRetryBudget is the reason when the retry budget refused the next
	// retry.
	ErrRetryBudget = errors.New("policy: retry budget exhausted")
	// ErrRetryAfterTooLong is the reason when the failed attempt asked to
	// wait (ion.RetryAfter) longer than the Retry waits out (see
	// [WithMaxRetryAfter]): an open breaker, a limiter with a long wait.
	ErrRetryAfterTooLong = errors.New("policy: retry-after too long")
)

// RetryError is the error a [Retry] returns when it gives up on a call that
// kept failing. It matches both its Reason and the last attempt's error with
// errors.Is (and errors.As), and ion.RetryAfter sees the last error's delay,
// so an outer policy still honours it.
type RetryError struct {
	// Reason is why the retry stopped: ErrRetriesExhausted,
	// ErrRetryDeadline, ErrRetryBudget, ErrRetryAfterTooLong, or the ctx's
	// error when the caller's ctx ended during a backoff.
	Reason error
	// Attempts is the number of attempts made.
	Attempts int
	// Err is the last attempt's error. It is nil when the last attempt
	// returned a result that was a failure without an error (see
	// [Classifier] and [RetryLayer.RetryIf]).
	Err error
}

// Error returns, for example, "policy: retries exhausted after 3 attempts:
// connection refused".
func (e *RetryError) Error() string {
	reason := "policy: retry stopped: <nil>"
	if e.Reason != nil {
		reason = e.Reason.Error()
		switch e.Reason {
		case ErrRetriesExhausted, ErrRetryDeadline, ErrRetryBudget, ErrRetryAfterTooLong:
		default:
			reason = "policy: retry stopped: " + reason
		}
	}
	last := "last result was a failure"
	if e.Err != nil {
		last = e.Err.Error()
	}
	unit := " attempts: "
	if e.Attempts == 1 {
		unit = " attempt: "
	}
	return reason + " after " + strconv.Itoa(e.Attempts) + unit + last
}

// Unwrap returns the reason and the last attempt's error.
func (e *RetryError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// RetryLayer is the policy built by [Retry]: it runs a call again when an
// attempt fails, waiting a backoff between attempts.
//
// Its configuration is immutable: [RetryLayer.RetryIf] and
// [RetryLayer.AbortIf] return modified copies. A RetryLayer is safe for
// concurrent use by multiple goroutines.
type RetryLayer[T any] struct {
	attempts    int // the maximum number of attempts; 0 when unlimited
	maxDuration time.Duration
	backoff     Backoff
	jitter      Jitter
	fraction    float64       // proportional jitter, when jitter is proportionalJitter
	absolute    time.Duration // absolute jitter added to every delay; 0 for none
	maxWait     time.Duration // the longest Retry-After waited out
	seeded      bool
	seed        uint64
	calls       *atomic.Uint64 // numbers the jittered calls of a seeded policy
	onRetry     func(ctx context.Context, attempt int, err error, delay time.Duration)
	budget      *Budget
	retryIf     func(v T, err error) bool
	abortIf     func(v T, err error) bool
	desc        string
	err         error

	obs           observer
	mAttempts     observe.Counter
	mRetries      observe.Counter
	mBudgetRefuse observe.Counter
}

type retryConfig struct {
	common
	attempts    int
	unlimited   bool
	maxDuration time.Duration
	backoff     Backoff
	jitter      Jitter
	fraction    float64
	absolute    time.Duration
	maxWait     time.Duration
	maxWaitSet  bool
	seeded      bool
	seed        uint64
	onRetry     func(ctx context.Context, attempt int, err error, delay time.Duration)
}

type retryOption func(*retryConfig)

func (o retryOption) applyRetry(c *retryConfig) { o(c) }

// WithAttempts sets the maximum number of attempts, the first included: 3
// (the default) means one call and up to two retries. An n below 1 is
// invalid; ask for unlimited attempts with [WithUnlimitedAttempts].
func WithAttempts(n int) RetryOption {
	return retryOption(func(c *retryConfig) {
		if n < 1 {
			c.fail(ion.NewConfigError("policy", "WithAttempts", "must be at least 1, got %d (use WithUnlimitedAttempts for no limit)", n))
			return
		}
		c.attempts, c.unlimited = n, false
	})
}

// WithUnlimitedAttempts lifts the limit on attempts. The retries are then
// bounded by [WithMaxDuration] or by the ctx deadline: a call with neither
// fails closed at once with an error matching ion.ErrInvalidConfig, so an
// unbounded retry loop can never start by accident.
func WithUnlimitedAttempts() RetryOption {
	return retryOption(func(c *retryConfig) { c.unlimited = true })
}

// WithMaxDuration bounds the whole call: every retry starts strictly
// before d has passed since the call began, so a retry that would start at
// d or later is not made, as for a ctx deadline (the running attempt is not
// interrupted; compose a [Timeout] outside the Retry for that). When the
// next retry could not start in time, Retry gives up at once, without
// waiting, with [ErrRetriesExhausted]. 0, the default, means no bound; a
// negative d is invalid.
func WithMaxDuration(d time.Duration) RetryOption {
	return retryOption(func(c *retryConfig) {
		if d < 0 {
			c.fail(ion.NewConfigError("policy", "WithMaxDuration", "must not be negative, got %v", d))
			return
		}
		c.maxDuration = d
	})
}

// WithBackoff sets the delays between attempts. The default is
// Exponential(100ms, 10s). An invalid b makes the policy fail closed.
func WithBackoff(b Backoff) RetryOption {
	return retryOption(func(c *retryConfig) {
		if b.err != nil {
			c.fail(b.err)
			return
		}
		c.backoff = b
	})
}

// WithJitter randomizes the backoff delays (see [Jitter]). The default is
// NoJitter. An unknown Jitter value is invalid.
func WithJitter(j Jitter) RetryOption {
	return retryOption(func(c *retryConfig) {
		if j > DecorrelatedJitter {
			c.fail(ion.NewConfigError("policy", "WithJitter", "unknown jitter %v", j))
			return
		}
		c.jitter, c.fraction = j, 0
	})
}

// WithMaxRetryAfter sets the longest delay asked by a failed attempt
// (ion.RetryAfter: an open breaker, a rate limiter, a server's Retry-After)
// that Retry waits out before retrying. A longer one ends the retry at
// once, without waiting, with a [*RetryError] whose reason is
// [ErrRetryAfterTooLong] and whose last error is the attempt's (so it
// matches ion.ErrRejected for a rejection, and ion.RetryAfter still reads
// the delay for an outer policy). The default is the longest delay this
// Retry would wait on its own: the backoff's maximum, widened by the
// jitter's bounds (see [Jitter], [WithProportionalJitter],
// [WithAbsoluteJitter]). 0 waits out no Retry-After at all; a negative d is
// invalid.
func WithMaxRetryAfter(d time.Duration) RetryOption {
	return retryOption(func(c *retryConfig) {
		if d < 0 {
			c.fail(ion.NewConfigError("policy", "WithMaxRetryAfter", "must not be negative, got %v", d))
			return
		}
		c.maxWait, c.maxWaitSet = d, true
	})
}

// WithProportionalJitter randomizes each backoff delay d by ± fraction of
// it: the delay waited is uniform in [d - fraction*d, d + fraction*d]
// (0.2 waits between 80 % and 120 % of d), so it may exceed the backoff's
// maximum by up to fraction of it. fraction must be in [0, 1]. It replaces
// the [WithJitter] kind, and WithJitter replaces it: the last given wins.
func WithProportionalJitter(fraction float64) RetryOption {
	return retryOption(func(c *retryConfig) {
		if !(fraction >= 0 && fraction <= 1) {
			c.fail(ion.NewConfigError("policy", "WithProportionalJitter", "must be in [0, 1], got %v", fraction))
			return
		}
		c.jitter, c.fraction = proportionalJitter, fraction
	})
}

// WithAbsoluteJitter adds a uniformly random delay in [0, d] to every
// backoff delay, after any other jitter: a delay d0 becomes one in
// [d0, d0+d], which may exceed the backoff's maximum by up to d. It
// combines with [WithJitter] and [WithProportionalJitter]. 0, the default,
// adds nothing; a negative d is invalid.
func WithAbsoluteJitter(d time.Duration) RetryOption {
	return retryOption(func(c *retryConfig) {
		if d < 0 {
			c.fail(ion.NewConfigError("policy", "WithAbsoluteJitter", "must not be negative, got %v", d))
			return
		}
		c.absolute = d
	})
}

// WithSeed makes the jitter deterministic, for tests: the k-th call through
// the policy that needs a jittered delay draws from a PCG source seeded with
// (seed, k). Without it each call draws a fresh seed from math/rand/v2.
func WithSeed(seed uint64) RetryOption {
	return retryOption(func(c *retryConfig) { c.seed, c.seeded = seed, true })
}

// WithOnRetry calls fn before each retry, with the caller's ctx, the number
// of the attempt about to run (2 for the first retry), the error of the
// attempt that failed (nil for a failed result without error) and the delay
// about to be waited. fn runs on the caller's goroutine, outside any lock;
// it should be quick. A nil fn is invalid.
func WithOnRetry(fn func(ctx context.Context, attempt int, err error, delay time.Duration)) RetryOption {
	return retryOption(func(c *retryConfig) {
		if fn == nil {
			c.fail(ion.NewConfigError("policy", "WithOnRetry", "nil function"))
			return
		}
		c.onRetry = fn
	})
}

// Retry returns a policy that runs a call again when an attempt fails.
//
// Which results are retried: a [Failure], as decided by [Next.Classify]
// with the pipeline's classifier, is retried, and so is a rejection by an
// inner policy (an error matching ion.ErrRejected), after the delay it
// carries; a [Success] and the caller's own cancellation are returned as
// they are.
// [RetryLayer.RetryIf] adds results to retry (a Success, or an Ignored
// result that is not the caller's cancellation, such as a 429 that the
// pipeline's classifier keeps from the breaker) and [RetryLayer.AbortIf]
// vetoes retries.
//
// When: before retry n Retry waits the backoff's Delay(n) (default
// Exponential(100ms, 10s)), jittered by [WithJitter],
// [WithProportionalJitter] or [WithAbsoluteJitter]. When the failed
// attempt's error carries a delay (ion.RetryAfter: an open breaker, a rate
// limiter), the wait is at least that delay: a rejection is never retried
// sooner than it asks. A delay longer than the longest wait this Retry
// would make on its own (the backoff's maximum widened by the jitter's
// bounds, 10 s by default; set it with [WithMaxRetryAfter]) is not waited
// out: Retry returns at once with the attempt's error and
// [ErrRetryAfterTooLong]. So a default Retry around an open breaker (30 s
// by default) fails fast instead of stalling its caller.
//
// How often: at most [WithAttempts] attempts (default 3), within
// [WithMaxDuration] if set, within the ctx deadline, and within the
// [WithBudget] budget if set. Retry never sleeps past the ctx deadline:
// when the deadline cannot fit the next delay (a Retry-After included) it
// returns at once with [ErrRetryDeadline]; likewise with WithMaxDuration. When it gives up, the error is a [*RetryError]
// matching its reason and the last attempt's error, returned with the last
// attempt's value. When the caller's ctx ends during a backoff, Retry
// returns at once with a *RetryError matching ctx.Err() and the last error,
// and the zero value: the failed attempt's value was already discarded.
//
// Discarded results: before waiting out a backoff, Retry hands the failed
// attempt's value to the pipeline's discard hook ([Next.Discard],
// [Pipeline.WithDiscard]; by default an [io.Closer] is closed), so a
// response that will not be returned frees its connection at once. The
// value Retry returns is never discarded.
//
// Each attempt's ctx carries its number, read with [Attempt]. Attempts run
// on the caller's goroutine; a panic propagates unchanged. The backoff wait
// uses one timer per call, stopped on every path, so Retry works inside a
// testing/synctest bubble.
//
// Cost: a call that succeeds first time adds no allocation and reads the
// clock only when a max duration or a budget is configured.
//
// Invalid configuration makes every call fail with an error matching
// ion.ErrInvalidConfig that names the parameter ([RetryLayer.Err]).
func Retry[T any](opts ...RetryOption) *RetryLayer[T] {
	c := retryConfig{attempts: 3, backoff: Exponential(100*time.Millisecond, 10*time.Second)}
	for i, o := range opts {
		if o == nil {
			c.nilOption(i)
			continue
		}
		o.applyRetry(&c)
	}
	r := &RetryLayer[T]{
		attempts:    c.attempts,
		maxDuration: c.maxDuration,
		backoff:     c.backoff,
		jitter:      c.jitter,
		fraction:    c.fraction,
		absolute:    c.absolute,
		maxWait:     c.maxWait,
		seeded:      c.seeded,
		seed:        c.seed,
		calls:       new(atomic.Uint64),
		onRetry:     c.onRetry,
		budget:      c.budget,
		err:         c.err,
		obs:         newObserver("retry", &c.common),
	}
	if c.unlimited {
		r.attempts = 0
	}
	if !c.maxWaitSet {
		r.maxWait = r.longestDelay()
	}
	r.desc = r.describe()
	r.obs.span = r.desc
	r.mAttempts = r.obs.counter("ion_policy_attempts_total")
	r.mRetries = r.obs.counter("ion_policy_retries_total")
	r.mBudgetRefuse = r.obs.counter("ion_policy_budget_refused_total")
	return r
}

func (r *RetryLayer[T]) describe() string {
	if r.err != nil {
		return "retry(invalid: " + r.err.Error() + ")"
	}
	s := "retry("
	if r.obs.named() {
		s += r.obs.name + " "
	}
	if r.attempts == 0 {
		s += "attempts=unlimited"
	} else {
		s += "attempts=" + strconv.Itoa(r.attempts)
	}
	s += " backoff=" + r.backoff.String()
	switch {
	case r.jitter == proportionalJitter:
		s += " jitter=±" + strconv.FormatFloat(r.fraction*100, 'g', -1, 64) + "%"
	case r.jitter != NoJitter:
		s += " jitter=" + r.jitter.String()
	}
	if r.absolute > 0 {
		s += " jitter=+" + r.absolute.String()
	}
	if r.maxDuration > 0 {
		s += " max=" + r.maxDuration.String()
	}
	return s + ")"
}

// RetryIf returns a copy of r that also retries the results for which pred
// returns true, even those the classifier calls a [Success] (a "pending"
// status, say). [Failure] results are retried whatever pred says; use
// [RetryLayer.AbortIf] to stop those. pred runs on the caller's goroutine
// after each attempt that is not Ignored; it must be safe for concurrent
// use. A nil pred makes the copy fail closed. r itself is unchanged.
func (r *RetryLayer[T]) RetryIf(pred func(v T, err error) bool) *RetryLayer[T] {
	q := r.copy()
	if pred == nil {
		q.setErr(ion.NewConfigError("policy", "RetryIf", "nil predicate"))
	}
	q.retryIf = pred
	return q
}

// AbortIf returns a copy of r that never retries the results for which pred
// returns true (a "bad request" that will fail again, say): such a result
// is returned at once, unchanged. pred runs on the caller's goroutine after
// each attempt that would otherwise be retried; it must be safe for
// concurrent use. A nil pred makes the copy fail closed. r itself is
// unchanged.
func (r *RetryLayer[T]) AbortIf(pred func(v T, err error) bool) *RetryLayer[T] {
	q := r.copy()
	if pred == nil {
		q.setErr(ion.NewConfigError("policy", "AbortIf", "nil predicate"))
	}
	q.abortIf = pred
	return q
}

func (r *RetryLayer[T]) copy() *RetryLayer[T] {
	q := *r
	q.calls = new(atomic.Uint64)
	return &q
}

func (r *RetryLayer[T]) setErr(err error) {
	if r.err == nil {
		r.err = err
		r.desc = r.describe()
		r.obs.span = r.desc
	}
}

// Err returns the configuration error that makes r fail closed, or nil.
func (r *RetryLayer[T]) Err() error { return r.err }

// String describes the policy, for example
// "retry(attempts=3 backoff=exponential(100ms..10s))".
func (r *RetryLayer[T]) String() string { return r.desc }

// errUnbounded is returned per call by a Retry with unlimited attempts when
// neither a max duration nor a ctx deadline bounds it.
var errUnbounded = ion.NewConfigError("policy", "WithUnlimitedAttempts",
	"unlimited attempts need WithMaxDuration or a ctx deadline")

// Execute implements [Policy]. See [Retry] for the behaviour.
func (r *RetryLayer[T]) Execute(ctx context.Context, next Next[T]) (T, error) {
	if r.err != nil {
		var zero T
		return zero, r.err
	}
	if r.obs.tracer != nil {
		return traced(ctx, &r.obs, next, r.run)
	}
	return r.run(ctx, next)
}

// retryCall is the state of one call that had to retry: the random source
// and the timer, both created on first need.
type retryCall struct {
	src    rand.PCG
	seeded bool
	prev   time.Duration // the previous jittered delay, for DecorrelatedJitter
	timer  *time.Timer
}

func (r *RetryLayer[T]) run(ctx context.Context, next Next[T]) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	var start time.Time
	if r.maxDuration > 0 || r.budget != nil {
		start = time.Now()
	}
	if r.attempts == 0 && r.maxDuration == 0 {
		if _, ok := ctx.Deadline(); !ok {
			var zero T
			return zero, errUnbounded
		}
	}
	if r.budget != nil {
		r.budget.deposit(start)
	}
	var call retryCall
	for attempt := 1; ; attempt++ {
		add(r.mAttempts)
		v, err := next.Call(withAttempt(ctx, attempt))
		if !r.retryable(ctx, next, v, err) {
			return v, err
		}
		if r.attempts > 0 && attempt >= r.attempts {
			return v, r.giveUp(ctx, ErrRetriesExhausted, attempt, err)
		}
		if ra, ok := ion.RetryAfter(err); ok && ra > r.maxWait {
			return v, r.giveUp(ctx, ErrRetryAfterTooLong, attempt, err)
		}
		delay := r.delay(attempt, err, &call)
		now := time.Now()
		// Strictly before, as documented: a retry due at exactly
		// start+maxDuration is not made, like one due at the ctx deadline.
		if r.maxDuration > 0 && !now.Add(delay).Before(start.Add(r.maxDuration)) {
			return v, r.giveUp(ctx, ErrRetriesExhausted, attempt, err)
		}
		if dl, ok := ctx.Deadline(); ok && !now.Add(delay).Before(dl) {
			return v, r.giveUp(ctx, ErrRetryDeadline, attempt, err)
		}
		if r.budget != nil && !r.budget.withdraw(now) {
			add(r.mBudgetRefuse)
			return v, r.giveUp(ctx, ErrRetryBudget, attempt, err)
		}
		add(r.mRetries)
		// The failed attempt's value is thrown away from here on: the
		// caller gets a later attempt's.
		next.Discard(v)
		if r.onRetry != nil {
			r.onRetry(ctx, attempt+1, err, delay)
		}
		if cerr := call.sleep(ctx, delay); cerr != nil {
			var zero T
			return zero, &RetryError{Reason: cerr, Attempts: attempt, Err: err}
		}
	}
}

// retryable reports whether the result of an attempt is retried.
func (r *RetryLayer[T]) retryable(ctx context.Context, next Next[T], v T, err error) bool {
	switch next.Classify(ctx, v, err) {
	case Ignored:
		// The caller's cancellation is final; a rejection is retried; any
		// other Ignored result (a classifier's verdict, such as a 429 the
		// breaker should not count) only when RetryIf asks for it.
		if ctx.Err() != nil {
			return false
		}
		if !rejected(ctx, err) && (r.retryIf == nil || !r.retryIf(v, err)) {
			return false
		}
	case Success:
		if r.retryIf == nil || !r.retryIf(v, err) {
			return false
		}
	}
	return r.abortIf == nil || !r.abortIf(v, err)
}

// delay returns the wait before retry n after an attempt that failed with
// err: the backoff's delay, jittered, raised to the error's Retry-After.
func (r *RetryLayer[T]) delay(n int, err error, call *retryCall) time.Duration {
	d := r.backoff.Delay(n)
	if r.jitter != NoJitter || r.absolute > 0 {
		if !call.seeded {
			if r.seeded {
				call.src.Seed(r.seed, r.calls.Add(1))
			} else {
				call.src.Seed(rand.Uint64(), rand.Uint64())
			}
			call.seeded, call.prev = true, r.backoff.initial
		}
		if r.jitter == proportionalJitter {
			d = proportional(d, r.fraction, &call.src)
		} else {
			d = r.jitter.apply(r.backoff, d, call.prev, &call.src)
		}
		call.prev = d
		if r.absolute > 0 {
			d = addSat(d, between(&call.src, 0, r.absolute))
		}
	}
	if ra, ok := ion.RetryAfter(err); ok && ra > d {
		d = ra
	}
	return max(d, 0)
}

// longestDelay returns the longest delay r waits on its own between two
// attempts: the backoff's maximum, widened by the jitter's bounds.
func (r *RetryLayer[T]) longestDelay() time.Duration {
	d := r.backoff.maxDelay
	if r.jitter == proportionalJitter {
		d = addSat(d, scale(d, r.fraction))
	}
	return addSat(d, r.absolute)
}

// sleep waits d, or until ctx is done, and returns ctx.Err() in that case.
// The timer is created once per call and reused; it is stopped when ctx
// ends first and has fired otherwise, so none is left running.
func (c *retryCall) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
		return ctx.Err()
	case <-ctx.Done():
		c.timer.Stop()
		return ctx.Err()
	}
}

// giveUp returns the error of a retry that stops for reason after attempts
// attempts, the last of which failed with err, and logs it.
func (r *RetryLayer[T]) giveUp(ctx context.Context, reason error, attempts int, err error) error {
	if r.obs.logger != nil {
		r.obs.log(ctx, slog.LevelDebug, "retry gave up", slog.String("reason", reason.Error()), slog.Int("attempts", attempts))
	}
	return &RetryError{Reason: reason, Attempts: attempts, Err: err}
}
