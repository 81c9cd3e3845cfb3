package breaker_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errBoom = errors.New("boom")

// op is one step of a state-machine table.
type op int

const (
	call    op = iota // a call that succeeds at once
	fail              // a call that fails at once
	ignore            // a call that the caller cancels (Ignored)
	slow              // a call that succeeds after d
	slowErr           // a call that fails after d
	wait              // time passes: d
	trip              // Trip
	reset             // Reset
	disable           // Disable
	enable            // Enable
	check             // nothing: only check the state
	reconf            // Reconfigure with opts
)

func (o op) String() string {
	return [...]string{"call", "fail", "ignore", "slow", "slowErr", "wait", "trip", "reset", "disable", "enable", "check", "reconf"}[o]
}

type step struct {
	op   op
	d    time.Duration
	want breaker.State // the state after the step
	// For calls: the rejection expected (nil: the call runs), and for an
	// open rejection the expected Retry-After.
	rejected   error
	retryAfter time.Duration
	// For reconf: the options.
	opts []breaker.Option
}

// run performs s on cb through the adapter and checks its result and the
// state after it. It must run inside a synctest bubble.
func (s step) run(t *testing.T, i int, cb *breaker.Breaker) {
	t.Helper()
	p := breaker.Policy[int](cb)
	ran := false
	switch s.op {
	case check:
	case wait:
		time.Sleep(s.d)
	case trip:
		cb.Trip()
	case reset:
		cb.Reset()
	case disable:
		cb.Disable()
	case enable:
		cb.Enable()
	case reconf:
		require.NoError(t, cb.Reconfigure(s.opts...), "step %d: Reconfigure", i)
	default:
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := policy.Run(ctx, p, func(ctx context.Context) (int, error) {
			ran = true
			switch s.op {
			case fail:
				return 0, errBoom
			case ignore:
				cancel()
				return 0, ctx.Err()
			case slow:
				time.Sleep(s.d)
			case slowErr:
				time.Sleep(s.d)
				return 0, errBoom
			}
			return 1, nil
		})
		switch {
		case s.rejected != nil:
			require.ErrorIs(t, err, s.rejected, "step %d (%v): the call must be rejected", i, s.op)
			require.ErrorIs(t, err, ion.ErrRejected, "step %d (%v): every rejection matches ion.ErrRejected", i, s.op)
			require.False(t, ran, "step %d (%v): a rejected call must not run", i, s.op)
			if s.retryAfter != 0 {
				d, ok := ion.RetryAfter(err)
				require.True(t, ok, "step %d: an open rejection carries Retry-After", i)
				require.Equal(t, s.retryAfter, d, "step %d: Retry-After is the time left until half-open", i)
			}
		case s.op == fail || s.op == slowErr:
			require.ErrorIs(t, err, errBoom, "step %d (%v)", i, s.op)
		case s.op == ignore:
			require.ErrorIs(t, err, context.Canceled, "step %d (%v)", i, s.op)
		default:
			require.NoError(t, err, "step %d (%v)", i, s.op)
		}
	}
	require.Equal(t, s.want, cb.State(), "step %d (%v %v): state after the step", i, s.op, s.d)
}

func TestStateMachine(t *testing.T) {
	const ns = time.Nanosecond
	open := func(retryAfter time.Duration) step {
		return step{op: call, want: breaker.Open, rejected: breaker.ErrOpen, retryAfter: retryAfter}
	}
	tests := []struct {
		name  string
		opts  []breaker.Option
		steps []step
	}{
		{
			name: "consecutive/defaults",
			steps: []step{
				{op: fail}, {op: fail}, {op: fail}, {op: fail},
				{op: call}, // a success resets the run
				{op: fail}, {op: fail}, {op: fail}, {op: fail},
				{op: ignore}, // the caller's cancellation neither counts nor resets
				{op: fail, want: breaker.Open},
				open(30 * time.Second),
				{op: wait, d: 30*time.Second - ns, want: breaker.Open},
				open(ns), // open exactly for the duration, not a nanosecond less
				{op: wait, d: ns, want: breaker.HalfOpen},
				{op: call, want: breaker.HalfOpen}, // 1 of 2 successes
				{op: call, want: breaker.Closed},
				{op: fail}, {op: fail}, {op: fail}, {op: fail}, // a fresh run after closing
				{op: fail, want: breaker.Open},
			},
		},
		{
			name: "consecutive/probe-failure-reopens-with-fresh-duration",
			opts: []breaker.Option{breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(10 * time.Second)},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: 10 * time.Second, want: breaker.HalfOpen},
				{op: wait, d: time.Hour, want: breaker.HalfOpen}, // half-open has no timeout
				{op: call, want: breaker.HalfOpen},
				{op: fail, want: breaker.Open}, // one failure re-opens despite a success
				open(10 * time.Second),
				{op: wait, d: 10*time.Second - ns, want: breaker.Open},
				{op: wait, d: ns, want: breaker.HalfOpen},
				{op: ignore, want: breaker.HalfOpen}, // counts neither way
				{op: call, want: breaker.HalfOpen},
				{op: call, want: breaker.Closed},
			},
		},
		{
			name: "count-window",
			opts: []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(4, 3)},
			steps: []step{
				{op: fail}, {op: call}, // 2 calls: below the minimum of 3
				{op: call},                 // f,c,c: 1/3
				{op: call},                 // f,c,c,c: 1/4
				{op: ignore}, {op: ignore}, // not recorded
				{op: fail},                     // c,c,c,f: the oldest failure slid out, 1/4
				{op: fail, want: breaker.Open}, // c,c,f,f: 2/4 = 0.5 reaches the rate
				open(30 * time.Second),
				{op: wait, d: 30 * time.Second, want: breaker.HalfOpen},
				{op: call, want: breaker.HalfOpen}, {op: call, want: breaker.Closed},
				{op: fail}, {op: fail}, // the window restarted empty on closing: 2 < 3 calls
				{op: call, want: breaker.Open}, // f,f,c: 2/3 ≥ 0.5, tripped by a success's recording
			},
		},
		{
			name: "time-window",
			opts: []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 3)},
			steps: []step{
				{op: fail}, {op: fail}, // 2 < 3 calls
				{op: wait, d: 10 * time.Second},
				{op: fail}, // the first two expired: 1 call
				{op: call},
				{op: wait, d: 5 * time.Second},
				{op: fail, want: breaker.Open}, // f,c,f within 5 s: 2/3
			},
		},
		{
			name: "time-window/minimum-throughput",
			opts: []breaker.Option{breaker.WithTimeWindow(time.Second, 4, 5)},
			steps: []step{
				// The default failure rate is 0.5 with a window alone.
				{op: fail}, {op: fail}, {op: fail}, {op: fail}, // 4 < 5 calls
				{op: wait, d: time.Second},
				{op: fail}, {op: fail}, {op: fail}, {op: fail},
				{op: call, want: breaker.Open}, // 4/5
			},
		},
		{
			name: "slow-calls",
			opts: []breaker.Option{breaker.WithSlowCalls(time.Second, 0.5), breaker.WithCountWindow(2, 2)},
			steps: []step{
				{op: slow, d: time.Second - ns}, // not slow
				{op: call},                      // 0/2
				{op: slow, d: time.Second, want: breaker.Open}, // slow at exactly the threshold: 1/2
				{op: wait, d: 30 * time.Second, want: breaker.HalfOpen},
				{op: slow, d: time.Second, want: breaker.Open}, // a slow probe fails
			},
		},
		{
			name: "slow-calls/keep-consecutive-failure-rule",
			opts: []breaker.Option{breaker.WithSlowCalls(time.Second, 1), breaker.WithConsecutiveFailures(2)},
			steps: []step{
				{op: fail},
				{op: fail, want: breaker.Open}, // the window's minimum (100) is far away
			},
		},
		{
			name: "slow-and-failure-rate",
			opts: []breaker.Option{
				breaker.WithFailureRate(0.5), breaker.WithSlowCalls(time.Second, 0.5),
				breaker.WithCountWindow(4, 4),
			},
			steps: []step{
				{op: fail}, {op: slow, d: time.Second}, {op: call}, {op: call}, // failure 1/4, slow 1/4
				// f,s,c,c → s,c,c,fs: failure 1/4, slow 2/4 reaches the slow rate.
				{op: slowErr, d: time.Second, want: breaker.Open},
			},
		},
		{
			name: "backoff",
			opts: []breaker.Option{
				breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(10 * time.Second),
				breaker.WithOpenBackoff(2, 30*time.Second),
			},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: 10 * time.Second, want: breaker.HalfOpen},
				{op: fail, want: breaker.Open}, // second opening: 20 s
				{op: wait, d: 20*time.Second - ns, want: breaker.Open},
				{op: wait, d: ns, want: breaker.HalfOpen},
				{op: fail, want: breaker.Open}, // third: 40 s capped at 30 s
				open(30 * time.Second),
				{op: wait, d: 30 * time.Second, want: breaker.HalfOpen},
				{op: call, want: breaker.HalfOpen}, {op: call, want: breaker.Closed},
				{op: fail, want: breaker.Open}, // closing reset the growth: 10 s
				{op: wait, d: 10 * time.Second, want: breaker.HalfOpen},
			},
		},
		{
			name: "manual",
			opts: []breaker.Option{breaker.WithConsecutiveFailures(2)},
			steps: []step{
				{op: fail},
				{op: trip, want: breaker.ForcedOpen},
				{op: call, want: breaker.ForcedOpen, rejected: breaker.ErrOpen},
				{op: wait, d: 24 * time.Hour, want: breaker.ForcedOpen}, // never expires
				{op: enable, want: breaker.ForcedOpen},                  // only leaves Disabled
				{op: reset, want: breaker.Closed},
				{op: fail}, // the run started over: 1 of 2
				{op: reset},
				{op: fail}, // Reset of a closed breaker cleared the run again
				{op: disable, want: breaker.Disabled},
				{op: fail, want: breaker.Disabled}, {op: fail, want: breaker.Disabled}, {op: fail, want: breaker.Disabled},
				{op: enable, want: breaker.Closed},
				{op: fail},
				{op: fail, want: breaker.Open},
				{op: disable, want: breaker.Disabled},
				{op: wait, d: time.Hour, want: breaker.Disabled},
				{op: trip, want: breaker.ForcedOpen},
				{op: disable, want: breaker.Disabled},
				{op: reset, want: breaker.Closed},
			},
		},
		{
			name: "presets/QuickFailover",
			opts: []breaker.Option{breaker.QuickFailover()},
			steps: []step{
				{op: fail}, {op: fail}, {op: fail, want: breaker.Open},
				{op: wait, d: 10 * time.Second, want: breaker.HalfOpen},
				{op: call, want: breaker.Closed}, // 1 success closes
			},
		},
		{
			name: "presets/Conservative",
			opts: []breaker.Option{breaker.Conservative()},
			steps: append(repeat(step{op: fail}, 9),
				step{op: fail, want: breaker.Open},
				step{op: wait, d: 60*time.Second - ns, want: breaker.Open},
				step{op: wait, d: ns, want: breaker.HalfOpen},
				step{op: call, want: breaker.HalfOpen}, step{op: call, want: breaker.HalfOpen},
				step{op: call, want: breaker.Closed}, // 3 successes close
			),
		},
		{
			name: "presets/Aggressive-then-override",
			opts: []breaker.Option{breaker.Aggressive(), breaker.WithOpenDuration(time.Second)},
			steps: []step{
				{op: fail}, {op: fail, want: breaker.Open},
				{op: wait, d: time.Second, want: breaker.HalfOpen},
				{op: call, want: breaker.Closed},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cb := breaker.New(tc.name, tc.opts...)
				require.NoError(t, cb.Err())
				for i, s := range tc.steps {
					s.run(t, i, cb)
				}
			})
		})
	}
}

func repeat(s step, n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestStateString(t *testing.T) {
	for s, want := range map[breaker.State]string{
		breaker.Closed: "closed", breaker.Open: "open", breaker.HalfOpen: "half-open",
		breaker.ForcedOpen: "forced-open", breaker.Disabled: "disabled", breaker.State(9): "State(9)",
	} {
		assert.Equal(t, want, s.String())
	}
	var zero breaker.State
	assert.Equal(t, breaker.Closed, zero, "the zero State is Closed")
}

// TestConcurrentExactCounts runs 10 goroutines × 10,000 calls with mixed
// outcomes while another goroutine keeps resetting the breaker: every
// outcome and rejection the callers saw is counted exactly once, and the
// metrics agree. Without a Metrics sink, closed successes take the
// adapter's lock-free path, whose compare-and-swap the other goroutines'
// results keep failing.
func TestConcurrentExactCounts(t *testing.T) {
	errIgnore := errors.New("ignore")
	for _, tc := range []struct {
		name    string
		opts    []breaker.Option
		metrics bool
	}{
		{"consecutive", []breaker.Option{breaker.WithConsecutiveFailures(3)}, true},
		{"consecutive-no-sinks", []breaker.Option{breaker.WithConsecutiveFailures(3)}, false},
		{"count-window", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(20, 10),
			breaker.WithSlowCalls(time.Hour, 1)}, true},
		{"time-window", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(time.Minute, 6, 10)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := observe.NewRecorder()
			opts := tc.opts
			if tc.metrics {
				opts = append(opts, breaker.WithMetrics(rec))
			}
			cb := breaker.New("c", opts...)
			p := policy.Compose(breaker.Policy[int](cb)).WithClassifier(func(_ int, err error) policy.Outcome {
				switch {
				case err == nil:
					return policy.Success
				case errors.Is(err, errIgnore):
					return policy.Ignored
				}
				return policy.Failure
			})
			const goroutines, calls = 10, 10_000
			var succ, fails, ign, rej atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			resetter := make(chan struct{})
			// Owner: this test. Exits when stop is closed; joined on resetter.
			go func() {
				defer close(resetter)
				for {
					select {
					case <-stop:
						return
					default:
						cb.Reset()
						runtime.Gosched()
					}
				}
			}()
			for g := range goroutines {
				wg.Go(func() {
					ctx := context.Background()
					for i := range calls {
						// Bursts of failures between mixed stretches,
						// so that every rule trips now and then.
						kind := (g*7 + i) % 4
						if (i/100)%3 == 2 && kind != 3 {
							kind = 2
						}
						_, err := p.Run(ctx, func(context.Context) (int, error) {
							switch kind {
							case 0, 1:
								return 1, nil
							case 2:
								return 0, errBoom
							}
							return 0, errIgnore
						})
						switch {
						case errors.Is(err, ion.ErrRejected):
							rej.Add(1)
						case err == nil:
							succ.Add(1)
						case errors.Is(err, errBoom):
							fails.Add(1)
						default:
							ign.Add(1)
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			<-resetter
			s := cb.Snapshot()
			assert.Equal(t, int64(goroutines*calls), succ.Load()+fails.Load()+ign.Load()+rej.Load())
			assert.Equal(t, succ.Load(), s.Successes, "successes")
			assert.Equal(t, fails.Load(), s.Failures, "failures")
			assert.Equal(t, ign.Load(), s.Ignored, "ignored")
			assert.Equal(t, rej.Load(), s.Rejected, "rejections")
			assert.Positive(t, rej.Load(), "the breaker tripped at some point")
			if !tc.metrics {
				return
			}
			n := observe.L("name", "c")
			assert.Equal(t, s.Successes, rec.Count("ion_breaker_calls_total", n, observe.L("outcome", "success")))
			assert.Equal(t, s.Failures, rec.Count("ion_breaker_calls_total", n, observe.L("outcome", "failure")))
			assert.Equal(t, s.Ignored, rec.Count("ion_breaker_calls_total", n, observe.L("outcome", "ignored")))
			assert.Equal(t, s.Rejected, rec.Count("ion_breaker_rejections_total", n))
		})
	}
}

// TestRollingWindowExpiry checks that calls leave a time window when their
// bucket falls out of it, and not before.
func TestRollingWindowExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("w", breaker.WithFailureRate(0.6), breaker.WithTimeWindow(10*time.Second, 10, 1))
		done := func(o policy.Outcome) {
			t.Helper()
			tk, err := cb.Allow()
			require.NoError(t, err)
			tk.Done(o)
		}
		done(policy.Success) // t=0, bucket 0
		time.Sleep(9 * time.Second)
		done(policy.Failure) // t=9 s: s,f = 1/2 < 0.6
		assert.Equal(t, breaker.Closed, cb.State())
		assert.InDelta(t, 0.5, cb.Snapshot().FailureRate, 1e-9)

		time.Sleep(time.Second - time.Nanosecond) // t=10 s - 1 ns: bucket 0 still inside
		assert.InDelta(t, 0.5, cb.Snapshot().FailureRate, 1e-9, "the success is still in the window")
		time.Sleep(time.Nanosecond) // t=10 s: bucket 0 expired
		assert.InDelta(t, 1.0, cb.Snapshot().FailureRate, 1e-9, "the success left the window")
		done(policy.Failure) // f,f = 1
		assert.Equal(t, breaker.Open, cb.State())

		time.Sleep(30 * time.Second)
		done(policy.Success)
		done(policy.Success)
		require.Equal(t, breaker.Closed, cb.State())
		assert.Zero(t, cb.Snapshot().FailureRate, "closing starts an empty window")

		// A long quiet spell empties the whole window.
		done(policy.Success)
		time.Sleep(5 * time.Second)
		done(policy.Failure) // s,s,s,f: 1/4
		require.Equal(t, breaker.Closed, cb.State())
		time.Sleep(time.Hour)
		assert.Zero(t, cb.Snapshot().FailureRate, "every bucket expired")
		done(policy.Success)
		assert.Zero(t, cb.Snapshot().FailureRate, "only the new success counts, not the old failure")
	})
}

func TestJitterIsSeededAndBounded(t *testing.T) {
	durations := func(seed uint64) []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			cb := breaker.New("j", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(10*time.Second),
				breaker.WithJitter(0.5, seed))
			for range 20 {
				tk, err := cb.Allow()
				require.NoError(t, err)
				tk.Done(policy.Failure)
				_, err = cb.Allow()
				d, ok := ion.RetryAfter(err)
				require.True(t, ok)
				out = append(out, d)
				cb.Reset()
			}
		})
		return out
	}
	a, b, c := durations(1), durations(1), durations(2)
	assert.Equal(t, a, b, "the same seed gives the same open durations")
	assert.NotEqual(t, a, c, "another seed gives others")
	distinct := map[time.Duration]bool{}
	for _, d := range a {
		assert.GreaterOrEqual(t, d, 5*time.Second, "jitter 0.5 of 10 s")
		assert.LessOrEqual(t, d, 15*time.Second, "jitter 0.5 of 10 s")
		distinct[d] = true
	}
	assert.Greater(t, len(distinct), 10, "the durations vary")
}

func TestBackoffWithJitterNeverExceedsMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("j", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Second),
			breaker.WithOpenBackoff(3, 20*time.Second), breaker.WithJitter(1, 7),
			breaker.WithHalfOpenMaxCalls(1), breaker.WithSuccessThreshold(1))
		tk, _ := cb.Allow()
		tk.Done(policy.Failure)
		for range 50 {
			_, err := cb.Allow()
			d, ok := ion.RetryAfter(err)
			require.True(t, ok)
			require.LessOrEqual(t, d, 20*time.Second, "never longer than the backoff max")
			time.Sleep(d)
			tk, err := cb.Allow()
			require.NoError(t, err, "half-open after the open duration")
			tk.Done(policy.Failure)
		}
	})
}

func TestZeroAllocs(t *testing.T) {
	ctx := context.Background()
	for name, opts := range map[string][]breaker.Option{
		"consecutive":  nil,
		"count-window": {breaker.WithFailureRate(0.5)},
		"time-window":  {breaker.WithTimeWindow(time.Minute, 60, 10), breaker.WithSlowCalls(time.Second, 0.5)},
		"metrics":      {breaker.WithMetrics(observe.NewRecorder())},
		"burst":        {breaker.WithFailuresWithin(5, time.Nanosecond)}, // never trips here
		"trip func":    {breaker.WithTripFunc(func(c breaker.Counts) bool { return c.ConsecutiveFailures >= 5 })},
	} {
		cb := breaker.New(name, opts...)
		p := breaker.Policy[int](cb)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := policy.Run(ctx, p, ok); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%s: a closed-state success through policy.Run must not allocate", name)
		allocs = testing.AllocsPerRun(1000, func() {
			tk, err := cb.Allow()
			if err != nil {
				t.Fatal(err)
			}
			tk.Done(policy.Success)
		})
		assert.Zero(t, allocs, "%s: Allow+Done in the closed state must not allocate", name)
		allocs = testing.AllocsPerRun(1000, func() {
			// One failure in three: below every rule, so the breaker stays
			// closed without a Reset (which starts a new generation).
			if _, err := policy.Run(ctx, p, failing); err == nil {
				t.Fatal("want the error")
			}
			for range 2 {
				if _, err := policy.Run(ctx, p, ok); err != nil {
					t.Fatal(err)
				}
			}
		})
		assert.Zero(t, allocs, "%s: a closed-state failure must not allocate", name)
		assert.Equal(t, breaker.Closed, cb.State(), "%s: the failures stayed below the rule", name)
	}
	cb := breaker.New("forced")
	cb.Trip()
	allocs := testing.AllocsPerRun(1000, func() { _, _ = policy.Run(ctx, breaker.Policy[int](cb), ok) })
	assert.Zero(t, allocs, "a forced-open rejection must not allocate")
	allocs = testing.AllocsPerRun(1000, func() { _ = cb.State(); _ = cb.Snapshot() })
	assert.Zero(t, allocs, "State and Snapshot must not allocate")
}

func failing(context.Context) (int, error) { return 0, errBoom }

// TestZeroValues covers the zero value of every exported type: each works or
// fails closed with an error matching ion.ErrInvalidConfig; none panics. A
// zero Breaker used to panic in Ticket.Done.
func TestZeroValues(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Breaker", func(t *testing.T) {
			var cb breaker.Breaker
			require.ErrorIs(t, cb.Err(), ion.ErrInvalidConfig, "a zero Breaker fails closed")
			tk, err := cb.Allow()
			require.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.Contains(t, err.Error(), "use New")
			tk.Done(policy.Success)
			tk.Done(policy.Failure)
			ran := false
			_, err = policy.Run(context.Background(), breaker.Policy[int](&cb), func(context.Context) (int, error) {
				ran = true
				return 0, nil
			})
			require.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.False(t, ran, "a zero Breaker runs nothing")
			cb.Trip()
			cb.Reset()
			cb.Disable()
			cb.Enable()
			assert.Equal(t, breaker.ForcedOpen, cb.State())
			assert.Equal(t, breaker.Snapshot{State: breaker.ForcedOpen}, cb.Snapshot())
			_, err = cb.Allow()
			require.ErrorIs(t, err, ion.ErrInvalidConfig, "no manual transition opens a zero Breaker")
		}},
		{"Ticket", func(t *testing.T) {
			var tk breaker.Ticket
			tk.Done(policy.Success) // does nothing
			tk.Done(policy.Failure)
		}},
		{"State", func(t *testing.T) {
			var s breaker.State
			assert.Equal(t, breaker.Closed, s)
			assert.Equal(t, "closed", s.String())
		}},
		{"Snapshot", func(t *testing.T) {
			var s breaker.Snapshot
			assert.True(t, s.IsHealthy(), "closed with no failures")
		}},
		{"Counts", func(t *testing.T) {
			var c breaker.Counts
			assert.Zero(t, c.Requests)
		}},
		{"Transition", func(t *testing.T) {
			var tr breaker.Transition
			assert.Equal(t, breaker.Closed, tr.From)
		}},
		{"OpenError", func(t *testing.T) {
			var e breaker.OpenError
			assert.Equal(t, "breaker: open", e.Error())
			assert.ErrorIs(t, &e, breaker.ErrOpen)
			assert.ErrorIs(t, &e, ion.ErrRejected)
			assert.Zero(t, e.RetryAfter())
		}},
		{"Option", func(t *testing.T) {
			var o breaker.Option
			require.ErrorIs(t, breaker.New("x", o).Err(), ion.ErrInvalidConfig, "a nil Option fails closed")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.NotPanics(t, func() { tc.run(t) })
		})
	}
}
