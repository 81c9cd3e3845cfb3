package breaker_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/policy"
)

func TestInvalidConfigFailsClosed(t *testing.T) {
	tests := []struct {
		name  string
		opts  []breaker.Option
		param string
	}{
		{"threshold 0", []breaker.Option{breaker.WithConsecutiveFailures(0)}, "WithConsecutiveFailures"},
		{"threshold negative", []breaker.Option{breaker.WithConsecutiveFailures(-3)}, "WithConsecutiveFailures"},
		{"rate 0", []breaker.Option{breaker.WithFailureRate(0)}, "WithFailureRate"},
		{"rate above 1", []breaker.Option{breaker.WithFailureRate(1.01)}, "WithFailureRate"},
		{"rate NaN", []breaker.Option{breaker.WithFailureRate(math.NaN())}, "WithFailureRate"},
		{"slow threshold 0", []breaker.Option{breaker.WithSlowCalls(0, 0.5)}, "WithSlowCalls"},
		{"slow threshold negative", []breaker.Option{breaker.WithSlowCalls(-time.Second, 0.5)}, "WithSlowCalls"},
		{"slow rate negative", []breaker.Option{breaker.WithSlowCalls(time.Second, -0.5)}, "WithSlowCalls"},
		{"count window 0", []breaker.Option{breaker.WithCountWindow(0, 1)}, "WithCountWindow"},
		{"count window min 0", []breaker.Option{breaker.WithCountWindow(10, 0)}, "WithCountWindow"},
		{"count window min above size", []breaker.Option{breaker.WithCountWindow(10, 11)}, "WithCountWindow"},
		{"time window length negative", []breaker.Option{breaker.WithTimeWindow(-time.Second, 10, 1)}, "WithTimeWindow"},
		{"time window buckets 0", []breaker.Option{breaker.WithTimeWindow(time.Second, 0, 1)}, "WithTimeWindow"},
		{"time window buckets above ns", []breaker.Option{breaker.WithTimeWindow(5, 6, 1)}, "WithTimeWindow"},
		{"time window min 0", []breaker.Option{breaker.WithTimeWindow(time.Second, 10, 0)}, "WithTimeWindow"},
		{"open duration 0", []breaker.Option{breaker.WithOpenDuration(0)}, "WithOpenDuration"},
		{"open duration negative", []breaker.Option{breaker.WithOpenDuration(-time.Second)}, "WithOpenDuration"},
		{"backoff factor below 1", []breaker.Option{breaker.WithOpenBackoff(0.5, time.Minute)}, "WithOpenBackoff"},
		{"backoff factor infinite", []breaker.Option{breaker.WithOpenBackoff(math.Inf(1), time.Minute)}, "WithOpenBackoff"},
		{"backoff max negative", []breaker.Option{breaker.WithOpenBackoff(2, -time.Minute)}, "WithOpenBackoff"},
		{"backoff max below open", []breaker.Option{breaker.WithOpenBackoff(2, time.Second)}, "WithOpenBackoff"},
		{"jitter negative", []breaker.Option{breaker.WithJitter(-0.1, 1)}, "WithJitter"},
		{"jitter above 1", []breaker.Option{breaker.WithJitter(1.5, 1)}, "WithJitter"},
		{"half-open max 0", []breaker.Option{breaker.WithHalfOpenMaxCalls(0)}, "WithHalfOpenMaxCalls"},
		{"success threshold 0", []breaker.Option{breaker.WithSuccessThreshold(0)}, "WithSuccessThreshold"},
		// The seed accepted this and got stuck half-open forever.
		{"success threshold above half-open max", []breaker.Option{breaker.WithHalfOpenMaxCalls(2), breaker.WithSuccessThreshold(3)}, "WithSuccessThreshold"},
		{"burst n 0", []breaker.Option{breaker.WithFailuresWithin(0, time.Second)}, "WithFailuresWithin"},
		{"burst n too large", []breaker.Option{breaker.WithFailuresWithin(1<<16+1, time.Second)}, "WithFailuresWithin"},
		{"burst d 0", []breaker.Option{breaker.WithFailuresWithin(3, 0)}, "WithFailuresWithin"},
		{"nil trip func", []breaker.Option{breaker.WithTripFunc(nil)}, "WithTripFunc"},
		{"nil listener", []breaker.Option{breaker.WithListener(nil)}, "WithListener"},
		{"nil logger", []breaker.Option{breaker.WithLogger(nil)}, "WithLogger"},
		{"nil metrics", []breaker.Option{breaker.WithMetrics(nil)}, "WithMetrics"},
		{"nil tracer", []breaker.Option{breaker.WithTracer(nil)}, "WithTracer"},
		{"nil option", []breaker.Option{nil}, "opts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cb := breaker.New("bad", tc.opts...)
			err := cb.Err()
			require.ErrorIs(t, err, ion.ErrInvalidConfig, "invalid config must fail closed with ErrInvalidConfig")
			var ce *ion.ConfigError
			require.True(t, errors.As(err, &ce), "the error is a *ion.ConfigError")
			assert.Equal(t, tc.param, ce.Param, "the error names the parameter")
			assert.Equal(t, "breaker", ce.Pkg)

			_, aerr := cb.Allow()
			assert.Same(t, err, aerr, "Allow returns the config error")
			ran := false
			_, perr := policy.Run(context.Background(), breaker.Policy[int](cb), func(context.Context) (int, error) {
				ran = true
				return 0, nil
			})
			assert.Same(t, err, perr, "the policy returns the config error")
			assert.False(t, ran, "a breaker with invalid config never runs a call")
			assert.Equal(t, breaker.ForcedOpen, cb.State(), "a failed-closed breaker reads as forced open")
			cb.Reset()
			cb.Enable()
			cb.Disable()
			cb.Trip()
			_, aerr = cb.Allow()
			assert.Same(t, err, aerr, "no manual transition reopens a failed-closed breaker")
			assert.Equal(t, breaker.ForcedOpen, cb.Snapshot().State)
		})
	}
}

func TestValidConfigEdges(t *testing.T) {
	for name, opts := range map[string][]breaker.Option{
		"rate 1":                {breaker.WithFailureRate(1)},
		"window min = size":     {breaker.WithCountWindow(5, 5)},
		"buckets = length ns":   {breaker.WithTimeWindow(5, 5, 1)},
		"jitter 0 and 1":        {breaker.WithJitter(0, 0), breaker.WithJitter(1, 0)},
		"backoff max = open":    {breaker.WithOpenDuration(time.Minute), breaker.WithOpenBackoff(1, time.Minute)},
		"success = max":         {breaker.WithHalfOpenMaxCalls(1), breaker.WithSuccessThreshold(1)},
		"later option corrects": {breaker.WithSuccessThreshold(9), breaker.WithHalfOpenMaxCalls(9)},
	} {
		assert.NoError(t, breaker.New(name, opts...).Err(), name)
	}
}

// FuzzOptions builds breakers from arbitrary option values and drives them
// with arbitrary outcomes. Properties: New never panics; an invalid value
// fails closed (every call returns an error matching ion.ErrInvalidConfig,
// nothing runs); a valid breaker only ever rejects with errors that match
// ion.ErrRejected and reports a valid state and rates.
func FuzzOptions(f *testing.F) {
	f.Add(5, 0.0, 0.0, int64(0), 0, 0, int64(0), 0, int64(30e9), 1.0, int64(0), 0.0, 3, 2, 0, int64(0), false, []byte{1, 1, 1, 1, 1, 0})
	f.Add(0, 0.5, 0.5, int64(1e9), 10, 5, int64(0), 0, int64(1e9), 2.0, int64(10e9), 0.5, 1, 1, 3, int64(1e9), false, []byte{1, 0, 2, 1})
	f.Add(3, 0.5, 0.0, int64(0), 0, 0, int64(10e9), 10, int64(1), 1.5, int64(5), 1.0, 2, 3, 0, int64(0), true, []byte{1, 1, 1, 0})
	f.Fuzz(func(t *testing.T, threshold int, rate, slowRate float64, slowDur int64, size, minCalls int,
		winLen int64, buckets int, open int64, factor float64, bmax int64, jitter float64, maxCalls, successes int,
		burst int, burstWithin int64, tripFunc bool, outcomes []byte) {
		opts := []breaker.Option{breaker.WithOpenDuration(time.Duration(open))}
		if threshold != 0 {
			opts = append(opts, breaker.WithConsecutiveFailures(threshold))
		}
		if rate != 0 {
			opts = append(opts, breaker.WithFailureRate(rate))
		}
		if slowDur != 0 || slowRate != 0 {
			opts = append(opts, breaker.WithSlowCalls(time.Duration(slowDur), slowRate))
		}
		if size != 0 {
			opts = append(opts, breaker.WithCountWindow(size%(1<<20), minCalls))
		}
		if winLen != 0 {
			opts = append(opts, breaker.WithTimeWindow(time.Duration(winLen), buckets%(1<<17), minCalls))
		}
		if bmax != 0 {
			opts = append(opts, breaker.WithOpenBackoff(factor, time.Duration(bmax)))
		}
		if jitter != 0 {
			opts = append(opts, breaker.WithJitter(jitter, uint64(open)))
		}
		if maxCalls != 0 {
			opts = append(opts, breaker.WithHalfOpenMaxCalls(maxCalls%(1<<20)))
		}
		if successes != 0 {
			opts = append(opts, breaker.WithSuccessThreshold(successes))
		}
		if burst != 0 || burstWithin != 0 {
			opts = append(opts, breaker.WithFailuresWithin(burst, time.Duration(burstWithin)))
		}
		if tripFunc {
			opts = append(opts, breaker.WithTripFunc(func(c breaker.Counts) bool {
				if c.Requests != c.Successes+c.Failures || c.ConsecutiveSuccesses > 0 && c.ConsecutiveFailures > 0 {
					panic("inconsistent counts")
				}
				return c.Failures > c.Successes
			}))
		}
		cb := breaker.New("fuzz", opts...)
		if err := cb.Err(); err != nil {
			require.ErrorIs(t, err, ion.ErrInvalidConfig)
			_, aerr := cb.Allow()
			require.ErrorIs(t, aerr, ion.ErrInvalidConfig, "fail closed")
			return
		}
		var held []breaker.Ticket
		for _, b := range outcomes {
			tk, err := cb.Allow()
			if err != nil {
				require.ErrorIs(t, err, ion.ErrRejected, "a valid breaker only rejects")
				if b%7 == 6 { // finish the oldest held probe
					if len(held) > 0 {
						held[0].Done(policy.Success)
						held = held[1:]
					}
				}
				continue
			}
			switch b % 4 {
			case 0:
				tk.Done(policy.Success)
			case 1:
				tk.Done(policy.Failure)
			case 2:
				tk.Done(policy.Ignored)
			case 3:
				held = append(held, tk) // still running
			}
			if b%11 == 10 {
				cb.Reset()
			}
			s := cb.State()
			require.Less(t, int(s), 5, "a valid state")
		}
		for i := range held {
			held[i].Done(policy.Outcome(i % 4)) // includes an out-of-range outcome
		}
		snap := cb.Snapshot()
		require.GreaterOrEqual(t, snap.FailureRate, 0.0)
		require.LessOrEqual(t, snap.FailureRate, 1.0)
	})
}

// TestSlowCallsAloneKeepsConsecutiveDefault: the slow-call rule needs a
// window, and the default window it got used to switch the failure rule to a
// failure rate over 100 calls, so 99 failures in a row left the breaker
// closed. Only an explicit window option may change the failure rule.
func TestSlowCallsAloneKeepsConsecutiveDefault(t *testing.T) {
	cb := breaker.New("x", breaker.WithSlowCalls(time.Second, 0.5))
	for i := range 5 {
		tk, err := cb.Allow()
		require.NoError(t, err, "call %d must run: the breaker trips only at the fifth failure", i+1)
		tk.Done(policy.Failure)
	}
	assert.Equal(t, breaker.Open, cb.State(), "WithSlowCalls alone keeps the default rule: 5 consecutive failures trip")
}

// TestHalfOpenMaxCallsOneAloneIsValid: one probe is the most common choice
// (gobreaker's default), but the default success threshold of 2 made
// WithHalfOpenMaxCalls(1) alone fail closed. A default adapts to the options
// given; only a contradiction the user wrote is invalid.
func TestHalfOpenMaxCallsOneAloneIsValid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := breaker.New("x", breaker.WithHalfOpenMaxCalls(1), breaker.WithConsecutiveFailures(1))
		require.NoError(t, cb.Err(), "WithHalfOpenMaxCalls(1) alone is valid")
		openThenHalfOpen(t, cb, 1, 30*time.Second)
		tk, err := cb.Allow()
		require.NoError(t, err)
		_, err = cb.Allow()
		require.ErrorIs(t, err, breaker.ErrHalfOpenBusy, "one probe at a time")
		tk.Done(policy.Success)
		assert.Equal(t, breaker.Closed, cb.State(), "one probe success closes: the success threshold defaulted to 1")
	})
	err := breaker.New("x", breaker.WithHalfOpenMaxCalls(1), breaker.WithSuccessThreshold(2)).Err()
	require.ErrorIs(t, err, ion.ErrInvalidConfig, "an explicit contradiction stays invalid")
}
