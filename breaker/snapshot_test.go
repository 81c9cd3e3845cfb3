package breaker_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func TestSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		// An explicit consecutive rule stays alongside the slow-call rule.
		cb := breaker.New("s", breaker.WithConsecutiveFailures(3), breaker.WithSlowCalls(time.Second, 1))
		s := cb.Snapshot()
		assert.Equal(t, breaker.Closed, s.State)
		assert.True(t, s.Since.Equal(start), "Since is New's time before any transition")
		assert.True(t, s.IsHealthy())

		record := func(o policy.Outcome, d time.Duration) {
			tk, err := cb.Allow()
			require.NoError(t, err)
			time.Sleep(d)
			tk.Done(o)
		}
		record(policy.Success, time.Second) // slow
		record(policy.Failure, 0)
		record(policy.Failure, 0)
		record(policy.Ignored, time.Hour) // not slow: ignored outcomes are not timed
		s = cb.Snapshot()
		assert.Equal(t, int64(2), s.Counts.ConsecutiveFailures)
		assert.False(t, s.IsHealthy(), "a run of failures is not healthy")
		assert.Equal(t, int64(1), s.Successes)
		assert.Equal(t, int64(2), s.Failures)
		assert.Equal(t, int64(1), s.Ignored)
		assert.Equal(t, int64(1), s.SlowCalls)
		assert.InDelta(t, 2.0/3, s.FailureRate, 1e-9, "over the window of the slow rule")
		assert.InDelta(t, 1.0/3, s.SlowCallRate, 1e-9)

		record(policy.Failure, 0)
		s = cb.Snapshot()
		assert.Equal(t, breaker.Open, s.State)
		assert.Zero(t, s.Counts.ConsecutiveFailures, "a new generation starts with no run")
		assert.False(t, s.IsHealthy())
		assert.True(t, s.Since.Equal(start.Add(time.Hour+time.Second)))

		time.Sleep(30 * time.Second)
		assert.Equal(t, breaker.HalfOpen, cb.Snapshot().State, "Snapshot sees the expiry like State")
		cb.Disable()
		assert.True(t, cb.Snapshot().IsHealthy(), "a disabled breaker lets everything through")
	})
}

func TestSnapshotConsecutiveRatesAreTotals(t *testing.T) {
	cb := breaker.New("s")
	for _, o := range []policy.Outcome{policy.Success, policy.Failure, policy.Success, policy.Success, policy.Ignored} {
		tk, _ := cb.Allow()
		tk.Done(o)
	}
	s := cb.Snapshot()
	assert.InDelta(t, 0.25, s.FailureRate, 1e-9, "failures over successes and failures since New")
	assert.Zero(t, s.SlowCallRate)
	assert.True(t, s.IsHealthy())
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		cb := breaker.New("db", breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenMaxCalls(1),
			breaker.WithSuccessThreshold(1), breaker.WithMetrics(rec))
		n := observe.L("name", "db")
		assert.Equal(t, float64(breaker.Closed), rec.Value("ion_breaker_state", n))
		tr := func(from, to breaker.State) int64 {
			return rec.Count("ion_breaker_transitions_total", n, observe.L("from", from.String()), observe.L("to", to.String()))
		}

		tk, _ := cb.Allow()
		tk.Done(policy.Failure)
		assert.Equal(t, float64(breaker.Open), rec.Value("ion_breaker_state", n))
		_, err := cb.Allow()
		require.ErrorIs(t, err, breaker.ErrOpen)
		time.Sleep(30 * time.Second)
		probe, err := cb.Allow()
		require.NoError(t, err)
		assert.Equal(t, float64(breaker.HalfOpen), rec.Value("ion_breaker_state", n))
		_, err = cb.Allow()
		require.ErrorIs(t, err, breaker.ErrHalfOpenBusy)
		probe.Done(policy.Success)
		assert.Equal(t, float64(breaker.Closed), rec.Value("ion_breaker_state", n))

		assert.Equal(t, int64(1), tr(breaker.Closed, breaker.Open))
		assert.Equal(t, int64(1), tr(breaker.Open, breaker.HalfOpen))
		assert.Equal(t, int64(1), tr(breaker.HalfOpen, breaker.Closed))
		assert.Equal(t, int64(2), rec.Count("ion_breaker_rejections_total", n))
		assert.Equal(t, int64(1), rec.Count("ion_breaker_calls_total", n, observe.L("outcome", "success")))
		assert.Equal(t, int64(1), rec.Count("ion_breaker_calls_total", n, observe.L("outcome", "failure")))
	})
}

// TestSlowProbeSuccessCountsAsFailure: a half-open probe that succeeds but
// takes at least the slow-call threshold re-opens the breaker, so the totals
// and ion_breaker_calls_total count it as a failure (and a slow call), not as
// the success the caller reported.
func TestSlowProbeSuccessCountsAsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		cb := breaker.New("p", breaker.WithConsecutiveFailures(1), breaker.WithSlowCalls(time.Second, 1),
			breaker.WithOpenDuration(time.Minute), breaker.WithMetrics(rec))
		openThenHalfOpen(t, cb, 1, time.Minute)
		before := cb.Snapshot()

		tk, err := cb.Allow()
		require.NoError(t, err)
		time.Sleep(time.Second)
		tk.Done(policy.Success)

		s := cb.Snapshot()
		assert.Equal(t, breaker.Open, s.State, "a slow probe re-opens the breaker")
		assert.Equal(t, before.Successes, s.Successes, "the slow probe is not counted as a success")
		assert.Equal(t, before.Failures+1, s.Failures, "the slow probe is counted as a failure")
		assert.Equal(t, before.SlowCalls+1, s.SlowCalls, "and as a slow call")
		assert.Equal(t, int64(2), rec.Count("ion_breaker_calls_total", observe.L("name", "p"), observe.L("outcome", "failure")),
			"the metric agrees with the Snapshot: the tripping failure and the slow probe")
		assert.Zero(t, rec.Count("ion_breaker_calls_total", observe.L("name", "p"), observe.L("outcome", "success")))
	})
}
