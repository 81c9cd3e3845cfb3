package breaker_test

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// TestReconfigure steps breakers through reconfigurations: the state, the
// run of consecutive outcomes, the window and the burst ring survive, and
// the new rules judge the results that follow.
func TestReconfigure(t *testing.T) {
	const ns = time.Nanosecond
	with := func(opts ...breaker.Option) step { return step{op: reconf, opts: opts} }
	open := func(retryAfter time.Duration) step {
		return step{op: call, want: breaker.Open, rejected: breaker.ErrOpen, retryAfter: retryAfter}
	}
	c1 := breaker.WithConsecutiveFailures(1)
	tests := []struct {
		name  string
		opts  []breaker.Option
		steps []step
	}{
		{
			name: "consecutive/threshold-lowered-counts-the-run",
			opts: []breaker.Option{breaker.WithConsecutiveFailures(5)},
			steps: []step{
				{op: fail}, {op: fail}, {op: fail},
				with(breaker.WithConsecutiveFailures(3)), // a run of 3 already: no trip by the reconfiguration itself
				{op: fail, want: breaker.Open},           // the next failure is judged by the new rule
			},
		},
		{
			name: "consecutive/threshold-raised",
			opts: []breaker.Option{breaker.WithConsecutiveFailures(2)},
			steps: []step{
				{op: fail},
				with(breaker.WithConsecutiveFailures(4)),
				{op: fail}, {op: fail}, // a run of 3
				{op: fail, want: breaker.Open},
			},
		},
		{
			name: "open/duration-shortened-while-open",
			opts: []breaker.Option{c1, breaker.WithOpenDuration(time.Minute)},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: 10 * time.Second, want: breaker.Open},
				{op: reconf, opts: []breaker.Option{c1, breaker.WithOpenDuration(20 * time.Second)}, want: breaker.Open},
				open(10 * time.Second), // counted from the opening
				{op: wait, d: 10*time.Second - ns, want: breaker.Open},
				{op: wait, d: ns, want: breaker.HalfOpen},
			},
		},
		{
			name: "open/duration-shortened-below-the-time-open",
			opts: []breaker.Option{c1, breaker.WithOpenDuration(time.Minute)},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: 30 * time.Second, want: breaker.Open},
				// The deadline would be in the past: probes go through now.
				{op: reconf, opts: []breaker.Option{c1, breaker.WithOpenDuration(10 * time.Second)}, want: breaker.HalfOpen},
				{op: call, want: breaker.HalfOpen}, // default: 2 successes close
				{op: call, want: breaker.Closed},
			},
		},
		{
			name: "open/duration-lengthened",
			opts: []breaker.Option{c1, breaker.WithOpenDuration(10 * time.Second)},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: 5 * time.Second, want: breaker.Open},
				{op: reconf, opts: []breaker.Option{c1, breaker.WithOpenDuration(time.Minute)}, want: breaker.Open},
				open(55 * time.Second),
				{op: wait, d: 55 * time.Second, want: breaker.HalfOpen},
			},
		},
		{
			name: "open/other-changes-keep-the-deadline",
			opts: []breaker.Option{c1, breaker.WithOpenDuration(10 * time.Second)},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: 4 * time.Second, want: breaker.Open},
				{op: reconf, opts: []breaker.Option{breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(10 * time.Second),
					breaker.WithHalfOpenMaxCalls(1)}, want: breaker.Open},
				open(6 * time.Second),
				{op: wait, d: 6 * time.Second, want: breaker.HalfOpen},
				{op: call, want: breaker.Closed}, // one probe now, and it closes
			},
		},
		{
			name: "open/backoff-added-counts-the-openings-so-far",
			opts: []breaker.Option{c1, breaker.WithOpenDuration(10 * time.Second)},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: 10 * time.Second, want: breaker.HalfOpen},
				{op: fail, want: breaker.Open}, // the second opening in a row
				{op: wait, d: time.Second, want: breaker.Open},
				{op: reconf, opts: []breaker.Option{c1, breaker.WithOpenDuration(10 * time.Second),
					breaker.WithOpenBackoff(2, time.Minute)}, want: breaker.Open},
				open(19 * time.Second), // 10 s × 2 from the opening
				{op: wait, d: 19 * time.Second, want: breaker.HalfOpen},
			},
		},
		{
			name: "half-open/success-threshold-lowered",
			opts: []breaker.Option{c1, breaker.WithOpenDuration(time.Second), breaker.WithHalfOpenMaxCalls(3), breaker.WithSuccessThreshold(3)},
			steps: []step{
				{op: fail, want: breaker.Open},
				{op: wait, d: time.Second, want: breaker.HalfOpen},
				{op: call, want: breaker.HalfOpen},
				{op: call, want: breaker.HalfOpen}, // 2 of 3
				{op: reconf, opts: []breaker.Option{c1, breaker.WithOpenDuration(time.Second), breaker.WithSuccessThreshold(1)},
					want: breaker.HalfOpen}, // 2 ≥ 1, but Reconfigure changes no state
				{op: call, want: breaker.Closed},
			},
		},
		{
			name: "count-window/same-size-keeps-the-calls",
			opts: []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(4, 4)},
			steps: []step{
				{op: fail}, {op: call}, {op: call}, // 3 calls, below the minimum of 4
				with(breaker.WithFailureRate(0.5), breaker.WithCountWindow(4, 2)), // 1/3 over the new minimum: no trip yet
				{op: fail, want: breaker.Open},                                    // f,c,c,f: 2/4, the kept calls count
			},
		},
		{
			name: "count-window/resized-keeps-the-newest-calls",
			opts: []breaker.Option{breaker.WithFailureRate(0.75), breaker.WithCountWindow(4, 4)},
			steps: []step{
				{op: call}, {op: call}, {op: fail}, {op: fail}, // 2/4 < 0.75
				with(breaker.WithFailureRate(0.6), breaker.WithCountWindow(3, 1)), // keeps c,f,f
				{op: call, want: breaker.Open},                                    // f,f,c: 2/3 ≥ 0.6; an empty window would be 0/1
			},
		},
		{
			name: "time-window/same-geometry-keeps-the-calls",
			opts: []breaker.Option{breaker.WithFailureRate(0.7), breaker.WithTimeWindow(10*time.Second, 10, 3)},
			steps: []step{
				{op: fail}, {op: fail},
				with(breaker.WithFailureRate(0.6), breaker.WithTimeWindow(10*time.Second, 10, 3)),
				{op: call, want: breaker.Open}, // f,f,c: 2/3 ≥ 0.6
			},
		},
		{
			name: "time-window/new-length-starts-empty",
			opts: []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 3)},
			steps: []step{
				{op: fail}, {op: fail},
				with(breaker.WithFailureRate(0.5), breaker.WithTimeWindow(20*time.Second, 10, 3)),
				{op: call}, {op: call}, // c,c: the failures are gone
				{op: fail}, // c,c,f: 1/3
				{op: fail, want: breaker.Open},
			},
		},
		{
			name: "rule/rate-to-consecutive-keeps-the-run",
			opts: []breaker.Option{breaker.WithFailureRate(1), breaker.WithCountWindow(10, 10)},
			steps: []step{
				{op: fail}, {op: fail}, {op: fail},
				with(breaker.WithConsecutiveFailures(4)),
				{op: fail, want: breaker.Open},
			},
		},
		{
			name: "slow-calls/added",
			steps: []step{
				{op: slow, d: time.Second},
				with(breaker.WithSlowCalls(time.Second, 0.5), breaker.WithCountWindow(2, 2)),
				{op: slow, d: time.Second},
				{op: call, want: breaker.Open}, // s,c: 1/2 slow
			},
		},
		{
			name: "slow-calls/removed",
			opts: []breaker.Option{breaker.WithSlowCalls(time.Second, 0.5), breaker.WithCountWindow(2, 2)},
			steps: []step{
				{op: slow, d: time.Second},
				with(),
				{op: slow, d: time.Second}, {op: slow, d: time.Second}, {op: call},
			},
		},
		{
			name: "burst/within-shortened-keeps-the-failure-times",
			opts: []breaker.Option{breaker.WithFailuresWithin(3, 10*time.Second)},
			steps: []step{
				{op: fail}, {op: wait, d: time.Second}, {op: fail},
				with(breaker.WithFailuresWithin(3, 5*time.Second)),
				{op: wait, d: time.Second},
				{op: fail, want: breaker.Open}, // 3 failures within 2 s
			},
		},
		{
			name: "burst/n-lowered-keeps-the-newest",
			opts: []breaker.Option{breaker.WithFailuresWithin(4, 10*time.Second)},
			steps: []step{
				{op: fail}, {op: wait, d: 8 * time.Second}, {op: fail}, {op: fail},
				with(breaker.WithFailuresWithin(2, 5*time.Second)), // keeps 8 s, 8 s: the one at 0 s does not fit
				{op: fail, want: breaker.Open},                     // an empty ring would hold one failure
			},
		},
		{
			name: "forced-open-stays",
			steps: []step{
				{op: trip, want: breaker.ForcedOpen},
				{op: reconf, opts: []breaker.Option{breaker.WithOpenDuration(time.Second)}, want: breaker.ForcedOpen},
				{op: wait, d: time.Minute, want: breaker.ForcedOpen},
				{op: reset},
			},
		},
		{
			name: "disabled-stays",
			steps: []step{
				{op: disable, want: breaker.Disabled},
				{op: reconf, opts: []breaker.Option{c1}, want: breaker.Disabled},
				{op: fail, want: breaker.Disabled}, {op: fail, want: breaker.Disabled},
				{op: enable},
				{op: fail, want: breaker.Open},
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

// An opening that ended before Reconfigure, though nobody looked, ended
// under the open duration it began with: a longer one does not extend it.
func TestReconfigureExpiredOpeningStaysExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []breaker.Transition
		cb := breaker.New("e", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(10*time.Second),
			breaker.WithListener(func(tr breaker.Transition) { got = append(got, tr) }))
		opened := time.Now()
		tk, err := cb.Allow()
		require.NoError(t, err)
		tk.Done(policy.Failure)
		time.Sleep(15 * time.Second) // nobody looks

		require.NoError(t, cb.Reconfigure(breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Hour)))
		assert.Equal(t, breaker.HalfOpen, cb.State(), "the opening had ended")
		require.Len(t, got, 2)
		assert.Equal(t, breaker.HalfOpen, got[1].To)
		assert.True(t, got[1].At.Equal(opened.Add(10*time.Second)), "half-open at the old deadline, got %v", got[1].At.Sub(opened))
	})
}

// Snapshot.Until shows an open breaker's deadline, and a new open duration
// moves it; Since stays.
func TestReconfigureSnapshotUntil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("u", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Minute))
		assert.True(t, cb.Snapshot().Until.IsZero(), "a closed breaker has no deadline")
		tk, _ := cb.Allow()
		tk.Done(policy.Failure)
		before := cb.Snapshot()
		require.Equal(t, breaker.Open, before.State)
		assert.Equal(t, time.Minute, before.Until.Sub(before.Since))

		time.Sleep(time.Second)
		require.NoError(t, cb.Reconfigure(breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(30*time.Second)))
		after := cb.Snapshot()
		assert.Equal(t, breaker.Open, after.State)
		assert.Equal(t, before.Since, after.Since, "the opening is the same: no transition")
		assert.Equal(t, 30*time.Second, after.Until.Sub(after.Since), "the deadline follows the new duration")
		assert.Equal(t, before.Counts, after.Counts)
		assert.Equal(t, int64(1), after.Failures)
	})
}

// A lowered WithHalfOpenMaxCalls lets the probes in flight finish and admits
// new ones only below the new limit.
func TestReconfigureHalfOpenMaxCallsLowered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := []breaker.Option{breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Second)}
		cb := breaker.New("h", append(opts, breaker.WithHalfOpenMaxCalls(3), breaker.WithSuccessThreshold(3))...)
		openThenHalfOpen(t, cb, 1, time.Second)
		var probes []breaker.Ticket
		for range 3 {
			tk, err := cb.Allow()
			require.NoError(t, err)
			probes = append(probes, tk)
		}
		require.NoError(t, cb.Reconfigure(append(opts, breaker.WithHalfOpenMaxCalls(1))...))
		_, err := cb.Allow()
		assert.ErrorIs(t, err, breaker.ErrHalfOpenBusy, "three probes in flight, one allowed")
		probes[0].Done(policy.Success) // success threshold now 1: closes
		assert.Equal(t, breaker.Closed, cb.State())
		probes[1].Done(policy.Failure) // stale: the breaker changed state
		probes[2].Done(policy.Failure)
		assert.Equal(t, breaker.Closed, cb.State(), "results of an earlier generation change nothing")
	})
}

// The slow-call rule times only the calls that started while it was on.
func TestReconfigureSlowCallsTimeOnlyCallsStartedUnderThem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("s")
		before, err := cb.Allow() // untimed
		require.NoError(t, err)
		require.NoError(t, cb.Reconfigure(breaker.WithSlowCalls(time.Second, 1), breaker.WithCountWindow(10, 10)))
		after, err := cb.Allow()
		require.NoError(t, err)
		time.Sleep(time.Hour)
		before.Done(policy.Success)
		after.Done(policy.Success)
		s := cb.Snapshot()
		assert.Equal(t, int64(1), s.SlowCalls, "only the call that started under the rule is slow")
		assert.Equal(t, 0.5, s.SlowCallRate, "both results are in the window")
	})
}

// A count window resized keeps its newest calls: the rates show them.
func TestReconfigureWindowRates(t *testing.T) {
	cb := breaker.New("w", breaker.WithFailureRate(1), breaker.WithCountWindow(6, 6))
	for _, o := range []policy.Outcome{policy.Failure, policy.Failure, policy.Success, policy.Failure, policy.Success} {
		tk, err := cb.Allow()
		require.NoError(t, err)
		tk.Done(o)
	}
	assert.Equal(t, 3.0/5, cb.Snapshot().FailureRate)
	require.NoError(t, cb.Reconfigure(breaker.WithFailureRate(1), breaker.WithCountWindow(6, 3)))
	assert.Equal(t, 3.0/5, cb.Snapshot().FailureRate, "same size: the window is kept")
	require.NoError(t, cb.Reconfigure(breaker.WithFailureRate(1), breaker.WithCountWindow(3, 3)))
	assert.Equal(t, 1.0/3, cb.Snapshot().FailureRate, "smaller: the newest 3 (s,f,s) are kept")
	require.NoError(t, cb.Reconfigure(breaker.WithFailureRate(1), breaker.WithCountWindow(100, 3)))
	assert.Equal(t, 1.0/3, cb.Snapshot().FailureRate, "larger: all 3 are kept")
	require.NoError(t, cb.Reconfigure(breaker.WithFailureRate(1), breaker.WithTimeWindow(time.Minute, 6, 3)))
	assert.Zero(t, cb.Snapshot().FailureRate, "another kind: empty")
	require.NoError(t, cb.Reconfigure())
	s := cb.Snapshot()
	assert.Equal(t, 3.0/5, s.FailureRate, "no window: the rates are over the totals")
	assert.Equal(t, breaker.Closed, s.State)
}

// An invalid Reconfigure changes nothing and names the option.
func TestReconfigureInvalidChangesNothing(t *testing.T) {
	tests := []struct {
		name  string
		opts  []breaker.Option
		param string
	}{
		{"threshold 0", []breaker.Option{breaker.WithConsecutiveFailures(0)}, "WithConsecutiveFailures"},
		{"rate NaN", []breaker.Option{breaker.WithFailureRate(math.NaN())}, "WithFailureRate"},
		{"count window min above size", []breaker.Option{breaker.WithCountWindow(10, 11)}, "WithCountWindow"},
		{"time window buckets 0", []breaker.Option{breaker.WithTimeWindow(time.Second, 0, 1)}, "WithTimeWindow"},
		{"open duration 0", []breaker.Option{breaker.WithOpenDuration(0)}, "WithOpenDuration"},
		{"backoff max below open", []breaker.Option{breaker.WithOpenBackoff(2, time.Second)}, "WithOpenBackoff"},
		{"jitter above 1", []breaker.Option{breaker.WithJitter(1.5, 1)}, "WithJitter"},
		{"success above half-open max", []breaker.Option{breaker.WithHalfOpenMaxCalls(2), breaker.WithSuccessThreshold(3)}, "WithSuccessThreshold"},
		{"nil trip func", []breaker.Option{breaker.WithTripFunc(nil)}, "WithTripFunc"},
		{"nil option", []breaker.Option{breaker.WithOpenDuration(time.Second), nil}, "opts"},
		// Valid options that only New takes.
		{"listener", []breaker.Option{breaker.WithOpenDuration(time.Second), breaker.WithListener(func(breaker.Transition) {})}, "WithListener"},
		{"logger", []breaker.Option{breaker.WithLogger(observe.NewRecorder())}, "WithLogger"},
		{"metrics", []breaker.Option{breaker.WithMetrics(observe.NewRecorder())}, "WithMetrics"},
		{"tracer", []breaker.Option{breaker.WithTracer(observe.NewRecorder())}, "WithTracer"},
		{"first fixed option named", []breaker.Option{breaker.WithTracer(observe.NewRecorder()), breaker.WithMetrics(observe.NewRecorder())}, "WithTracer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// A breaker with a window holding calls, open.
				cb := breaker.New("r", breaker.WithFailureRate(0.5), breaker.WithCountWindow(4, 2),
					breaker.WithOpenDuration(time.Minute))
				for _, o := range []policy.Outcome{policy.Success, policy.Failure} {
					tk, err := cb.Allow()
					require.NoError(t, err)
					tk.Done(o)
				}
				time.Sleep(time.Second)
				before := cb.Snapshot()
				require.Equal(t, breaker.Open, before.State)

				err := cb.Reconfigure(tc.opts...)
				require.ErrorIs(t, err, ion.ErrInvalidConfig)
				var ce *ion.ConfigError
				require.True(t, errors.As(err, &ce), "the error is a *ion.ConfigError")
				assert.Equal(t, tc.param, ce.Param, "the error names the option")
				assert.NoError(t, cb.Err(), "a refused Reconfigure does not make the breaker fail closed")
				assert.Equal(t, before, cb.Snapshot(), "nothing changed")
				_, err = cb.Allow()
				d, _ := ion.RetryAfter(err)
				assert.Equal(t, 59*time.Second, d, "the deadline did not move")

				// The old parameters are still in force: half-open after the
				// minute, 2 probe successes close, and the window restarts.
				time.Sleep(59 * time.Second)
				for range 2 {
					tk, err := cb.Allow()
					require.NoError(t, err)
					tk.Done(policy.Success)
				}
				assert.Equal(t, breaker.Closed, cb.State())
			})
		})
	}
}

// A breaker that fails closed, and a zero Breaker, cannot be reconfigured
// into working.
func TestReconfigureFailedClosed(t *testing.T) {
	bad := breaker.New("bad", breaker.WithOpenDuration(-1))
	err := bad.Reconfigure(breaker.WithOpenDuration(time.Second))
	assert.Same(t, bad.Err(), err, "a breaker that fails closed stays so")
	_, err = bad.Allow()
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)

	var zero breaker.Breaker
	assert.ErrorIs(t, zero.Reconfigure(), ion.ErrInvalidConfig, "a zero Breaker")
	assert.Equal(t, breaker.ForcedOpen, zero.State())
}

// Reconfigure(opts...) followed by Reset is New(opts...): the same outcomes
// give the same states and Retry-Afters, whatever the breaker was before.
func TestReconfigureThenResetIsNew(t *testing.T) {
	configs := map[string][]breaker.Option{
		"defaults":     nil,
		"consecutive":  {breaker.WithConsecutiveFailures(2), breaker.WithOpenDuration(3 * time.Second), breaker.WithOpenBackoff(2, 10*time.Second)},
		"count-window": {breaker.WithFailureRate(0.5), breaker.WithCountWindow(4, 2), breaker.WithHalfOpenMaxCalls(1)},
		"time-window":  {breaker.WithFailureRate(0.6), breaker.WithTimeWindow(4*time.Second, 4, 2), breaker.WithSuccessThreshold(1)},
		"slow-calls":   {breaker.WithSlowCalls(time.Second, 0.5), breaker.WithCountWindow(3, 2)},
		"burst":        {breaker.WithFailuresWithin(2, 2*time.Second), breaker.WithOpenDuration(time.Second)},
		"trip-func":    {breaker.Aggressive(), breaker.WithTripFunc(func(c breaker.Counts) bool { return c.Failures >= 3 })},
	}
	// 0 success, 1 failure, 2 slow success, 3 wait a second.
	script := []int{1, 0, 2, 1, 1, 3, 0, 2, 1, 3, 3, 3, 0, 0, 1, 1, 3, 3, 3, 3, 3, 2, 2, 0, 1, 3, 0, 1, 1, 1, 3, 3, 3, 3, 0, 0, 0}
	for fromName, from := range configs {
		for toName, to := range configs {
			t.Run(fromName+"-to-"+toName, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					// One name, so that their rejections read the same.
					reconfigured := breaker.New("x", from...)
					for _, s := range script[:12] { // some history to forget
						drive(t, s, reconfigured)
					}
					require.NoError(t, reconfigured.Reconfigure(to...))
					reconfigured.Reset()
					fresh := breaker.New("x", to...)
					for i, s := range script {
						a, b := drive(t, s, reconfigured, fresh)
						require.Equal(t, b, a, "step %d (%d): rejection", i, s)
						require.Equal(t, fresh.State(), reconfigured.State(), "step %d (%d): state", i, s)
						ca, cb := reconfigured.Snapshot().Counts, fresh.Snapshot().Counts
						require.Equal(t, cb, ca, "step %d (%d): counts", i, s)
					}
				})
			})
		}
	}
}

// drive performs step s of TestReconfigureThenResetIsNew on every breaker at
// the same instants and returns each one's rejection, with its Retry-After.
func drive(t *testing.T, s int, cbs ...*breaker.Breaker) (string, string) {
	t.Helper()
	if s == 3 {
		time.Sleep(time.Second)
		return "", ""
	}
	tickets := make([]breaker.Ticket, len(cbs))
	got := make([]string, 2)
	for i, cb := range cbs {
		tk, err := cb.Allow()
		if err != nil {
			d, _ := ion.RetryAfter(err)
			got[i] = err.Error() + " " + d.String()
			continue
		}
		tickets[i] = tk
	}
	if s == 2 {
		time.Sleep(time.Second)
	}
	for i := range tickets {
		if s == 1 {
			tickets[i].Done(policy.Failure)
		} else {
			tickets[i].Done(policy.Success)
		}
	}
	return got[0], got[1]
}

// Reconfiguring back to the consecutive rule restores the closed path's
// fast form: no allocation and no clock read again.
func TestReconfigureKeepsZeroAllocs(t *testing.T) {
	ctx := context.Background()
	cb := breaker.New("z", breaker.WithSlowCalls(time.Second, 0.5))
	require.NoError(t, cb.Reconfigure(breaker.WithFailureRate(0.5), breaker.WithTimeWindow(time.Minute, 6, 10)))
	require.NoError(t, cb.Reconfigure())
	p := breaker.Policy[int](cb)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := policy.Run(ctx, p, ok); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "a closed-state success after Reconfigure must not allocate")
	allocs = testing.AllocsPerRun(1000, func() {
		tk, err := cb.Allow()
		if err != nil {
			t.Fatal(err)
		}
		tk.Done(policy.Success)
	})
	assert.Zero(t, allocs)
}

// TestReconfigureUnderLoad reconfigures a breaker through every rule,
// window and open duration while goroutines run calls with mixed outcomes
// and another takes snapshots (run with -race): nothing panics, every
// outcome and rejection the callers saw is counted exactly once, and the
// metrics agree. Without a Metrics sink, closed successes take the
// adapter's lock-free path while rate rules come and go.
func TestReconfigureUnderLoad(t *testing.T) {
	t.Run("metrics", func(t *testing.T) { reconfigureUnderLoad(t, true) })
	t.Run("no-sinks", func(t *testing.T) { reconfigureUnderLoad(t, false) })
}

func reconfigureUnderLoad(t *testing.T, metrics bool) {
	configs := [][]breaker.Option{
		{breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(time.Microsecond)},
		{breaker.WithFailureRate(0.5), breaker.WithCountWindow(20, 10), breaker.WithOpenDuration(50 * time.Microsecond)},
		{breaker.WithFailureRate(0.5), breaker.WithCountWindow(7, 3), breaker.WithHalfOpenMaxCalls(1)},
		{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(time.Millisecond, 4, 5), breaker.WithOpenDuration(time.Microsecond)},
		{breaker.WithSlowCalls(time.Hour, 1), breaker.WithCountWindow(9, 9), breaker.WithOpenDuration(time.Microsecond)},
		{breaker.WithFailuresWithin(4, time.Millisecond), breaker.WithOpenDuration(time.Microsecond), breaker.WithHalfOpenMaxCalls(5)},
		{breaker.WithFailuresWithin(2, time.Second), breaker.WithOpenDuration(10 * time.Microsecond),
			breaker.WithOpenBackoff(2, time.Millisecond), breaker.WithJitter(0.5, 3)},
		{breaker.WithTripFunc(func(c breaker.Counts) bool { return c.ConsecutiveFailures >= 4 }), breaker.WithOpenDuration(time.Microsecond)},
	}
	rec := observe.NewRecorder()
	var sinks []breaker.Option
	if metrics {
		sinks = append(sinks, breaker.WithMetrics(rec))
	}
	cb := breaker.New("c", sinks...)
	errIgnore := errors.New("ignore")
	p := policy.Compose(breaker.Policy[int](cb)).WithClassifier(func(_ int, err error) policy.Outcome {
		switch {
		case err == nil:
			return policy.Success
		case errors.Is(err, errIgnore):
			return policy.Ignored
		}
		return policy.Failure
	})
	const goroutines, calls = 6, 4000
	var succ, fails, ign, rej atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bg sync.WaitGroup
	// The reconfiguring goroutine and the snapshot reader; both exit when
	// stop is closed and are joined by bg.Wait.
	bg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := cb.Reconfigure(configs[i%len(configs)]...); err != nil {
				t.Error(err)
				return
			}
			runtime.Gosched()
		}
	})
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := cb.Snapshot()
			if s.FailureRate < 0 || s.FailureRate > 1 || s.SlowCallRate < 0 || s.SlowCallRate > 1 {
				t.Errorf("rates out of range: %+v", s)
			}
			runtime.Gosched()
		}
	})
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for i := range calls {
				kind := (g*7 + i) % 4
				if (i/50)%3 == 2 && kind != 3 {
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
	bg.Wait()
	s := cb.Snapshot()
	assert.Equal(t, int64(goroutines*calls), succ.Load()+fails.Load()+ign.Load()+rej.Load())
	assert.Equal(t, succ.Load(), s.Successes, "successes")
	assert.Equal(t, fails.Load(), s.Failures, "failures")
	assert.Equal(t, ign.Load(), s.Ignored, "ignored")
	assert.Equal(t, rej.Load(), s.Rejected, "rejections")
	assert.Positive(t, rej.Load(), "the breaker tripped at some point")
	if !metrics {
		return
	}
	n := observe.L("name", "c")
	assert.Equal(t, s.Successes, rec.Count("ion_breaker_calls_total", n, observe.L("outcome", "success")))
	assert.Equal(t, s.Failures, rec.Count("ion_breaker_calls_total", n, observe.L("outcome", "failure")))
	assert.Equal(t, s.Rejected, rec.Count("ion_breaker_rejections_total", n))
}
