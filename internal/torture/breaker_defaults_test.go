package torture

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/policy"
)

// breakerDefaults is what the breaker's docs promise for one combination of
// options: the failure rule, the open duration, the half-open probes and the
// successes that close it.
type breakerDefaults struct {
	consecutive int // the rule: this many consecutive failures trip; 0 for a failure rate
	rateMin     int // with a failure rate of 0.5: the window's minimum number of calls
	open        time.Duration
	maxCalls    int
	successes   int
}

// TestBreakerOptionCombinationsKeepDocumentedDefaults drives breakers built
// from combinations of options and checks every value the options do not
// set against the documented default, and every value they set against the
// option. An option must change only what it says it changes: the slow-call
// rule once switched the failure rule to a failure rate, and one half-open
// probe once made the default success threshold invalid.
func TestBreakerOptionCombinationsKeepDocumentedDefaults(t *testing.T) {
	def := breakerDefaults{consecutive: 5, open: 30 * time.Second, maxCalls: 3, successes: 2}
	with := func(f func(*breakerDefaults)) breakerDefaults { d := def; f(&d); return d }
	tests := []struct {
		name string
		opts []breaker.Option
		want breakerDefaults
	}{
		{"none", nil, def},
		{"slow calls alone", []breaker.Option{breaker.WithSlowCalls(time.Hour, 1)}, def},
		{"open duration", []breaker.Option{breaker.WithOpenDuration(time.Second)},
			with(func(d *breakerDefaults) { d.open = time.Second })},
		{"jitter 0", []breaker.Option{breaker.WithJitter(0, 7)}, def},
		{"backoff", []breaker.Option{breaker.WithOpenBackoff(2, time.Hour)}, def},
		{"consecutive", []breaker.Option{breaker.WithConsecutiveFailures(2)},
			with(func(d *breakerDefaults) { d.consecutive = 2 })},
		{"consecutive then slow calls", []breaker.Option{breaker.WithConsecutiveFailures(3), breaker.WithSlowCalls(time.Hour, 1)},
			with(func(d *breakerDefaults) { d.consecutive = 3 })},
		{"failure rate alone", []breaker.Option{breaker.WithFailureRate(0.5)},
			with(func(d *breakerDefaults) { d.consecutive, d.rateMin = 0, 100 })},
		{"count window alone", []breaker.Option{breaker.WithCountWindow(10, 4)},
			with(func(d *breakerDefaults) { d.consecutive, d.rateMin = 0, 4 })},
		{"slow calls and count window", []breaker.Option{breaker.WithSlowCalls(time.Hour, 1), breaker.WithCountWindow(10, 4)},
			with(func(d *breakerDefaults) { d.consecutive, d.rateMin = 0, 4 })},
		{"consecutive and count window", []breaker.Option{breaker.WithConsecutiveFailures(3), breaker.WithCountWindow(10, 4)},
			with(func(d *breakerDefaults) { d.consecutive = 3 })},
		{"half-open max calls raised", []breaker.Option{breaker.WithHalfOpenMaxCalls(5)},
			with(func(d *breakerDefaults) { d.maxCalls = 5 })},
		// One probe, gobreaker's default: the default success threshold
		// adapts to it instead of making the breaker fail closed.
		{"one half-open probe", []breaker.Option{breaker.WithHalfOpenMaxCalls(1)},
			with(func(d *breakerDefaults) { d.maxCalls, d.successes = 1, 1 })},
		{"conservative with one probe", []breaker.Option{breaker.Conservative(), breaker.WithHalfOpenMaxCalls(1)},
			breakerDefaults{consecutive: 10, open: 60 * time.Second, maxCalls: 1, successes: 1}},
		{"success threshold", []breaker.Option{breaker.WithSuccessThreshold(3)},
			with(func(d *breakerDefaults) { d.successes = 3 })},
		{"quick failover", []breaker.Option{breaker.QuickFailover()},
			breakerDefaults{consecutive: 3, open: 10 * time.Second, maxCalls: 2, successes: 1}},
		{"conservative refined", []breaker.Option{breaker.Conservative(), breaker.WithOpenDuration(time.Second)},
			breakerDefaults{consecutive: 10, open: time.Second, maxCalls: 5, successes: 3}},
		{"aggressive then slow calls", []breaker.Option{breaker.Aggressive(), breaker.WithSlowCalls(time.Hour, 1)},
			breakerDefaults{consecutive: 2, open: 45 * time.Second, maxCalls: 1, successes: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cb := breaker.New(tc.name, tc.opts...)
				require.NoError(t, cb.Err(), "a valid combination must not fail closed")
				checkBreakerDefaults(t, cb, tc.want)
			})
		})
	}
}

// checkBreakerDefaults trips cb by its rule, then checks the open duration,
// the half-open probes and the successes that close it. It must run inside a
// synctest bubble.
func checkBreakerDefaults(t *testing.T, cb *breaker.Breaker, want breakerDefaults) {
	t.Helper()
	do := func(o policy.Outcome) {
		t.Helper()
		tk, err := cb.Allow()
		require.NoError(t, err, "a closed breaker lets the call through")
		tk.Done(o)
	}
	if want.consecutive > 0 {
		// One failure short of the rule, cut by a success: still closed.
		for range want.consecutive - 1 {
			do(policy.Failure)
		}
		require.Equal(t, breaker.Closed, cb.State(), "%d consecutive failures must not trip", want.consecutive-1)
		do(policy.Success)
		for range want.consecutive - 1 {
			do(policy.Failure)
		}
		require.Equal(t, breaker.Closed, cb.State(), "a success cuts the run of failures")
		do(policy.Failure)
		require.Equal(t, breaker.Open, cb.State(), "%d consecutive failures trip", want.consecutive)
	} else {
		// A failure rate of 0.5 applies once the window holds rateMin calls:
		// alternating outcomes reach 0.5 exactly at the minimum, not before.
		for i := range want.rateMin - 1 {
			do(policy.Outcome(i % 2)) // Success, Failure, ...
			require.Equal(t, breaker.Closed, cb.State(), "below the window's minimum, after %d calls", i+1)
		}
		for cb.State() == breaker.Closed {
			do(policy.Failure)
		}
		require.Equal(t, breaker.Open, cb.State(), "the failure rate trips once the window holds its minimum")
	}

	time.Sleep(want.open - time.Nanosecond)
	require.Equal(t, breaker.Open, cb.State(), "still open 1ns before the open duration")
	time.Sleep(time.Nanosecond)
	require.Equal(t, breaker.HalfOpen, cb.State(), "half-open at the open duration")

	probes := make([]breaker.Ticket, want.maxCalls)
	for i := range probes {
		tk, err := cb.Allow()
		require.NoError(t, err, "probe %d of %d", i+1, want.maxCalls)
		probes[i] = tk
	}
	_, err := cb.Allow()
	require.True(t, errors.Is(err, breaker.ErrHalfOpenBusy), "probe %d is one too many: got %v", want.maxCalls+1, err)
	for i := range want.successes - 1 {
		probes[i].Done(policy.Success)
	}
	assert.Equal(t, breaker.HalfOpen, cb.State(), "%d probe successes do not close", want.successes-1)
	probes[want.successes-1].Done(policy.Success)
	assert.Equal(t, breaker.Closed, cb.State(), "%d probe successes close", want.successes)
	for i := want.successes; i < len(probes); i++ {
		probes[i].Done(policy.Success) // stale now: changes nothing
	}
	assert.Equal(t, breaker.Closed, cb.State())
}
