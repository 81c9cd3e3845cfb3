package breaker_test

import (
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// TestGobreaker37ListenerCallsBackNoDeadlock guards against sony/gobreaker
// #37: its OnStateChange runs under the breaker's mutex, so a listener that
// calls State or Counts deadlocks. Here listeners run with no lock held and
// may call any method, including ones that make another transition.
func TestGobreaker37ListenerCallsBackNoDeadlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cb *breaker.Breaker
		var got []string
		var seen []breaker.State
		cb = breaker.New("db", breaker.WithConsecutiveFailures(1),
			breaker.WithListener(func(tr breaker.Transition) {
				got = append(got, tr.From.String()+">"+tr.To.String())
				seen = append(seen, cb.State())
				_ = cb.Snapshot()
				if tr.To == breaker.Open {
					cb.Trip() // a transition from inside a listener is queued behind this one
				}
			}),
			breaker.WithListener(func(tr breaker.Transition) {
				got = append(got, "second:"+tr.To.String())
			}))
		tk, err := cb.Allow()
		require.NoError(t, err)
		tk.Done(policy.Failure)
		assert.Equal(t, []string{"closed>open", "second:open", "open>forced-open", "second:forced-open"}, got,
			"every listener, once per transition, in transition order")
		assert.Equal(t, []breaker.State{breaker.Open, breaker.ForcedOpen}, seen,
			"State inside a listener reads the current state")
		assert.Equal(t, breaker.ForcedOpen, cb.State())
	})
}

func TestListenerTransitionFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var got []breaker.Transition
		cb := breaker.New("db", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Minute),
			breaker.WithListener(func(tr breaker.Transition) { got = append(got, tr) }))
		time.Sleep(time.Second)
		tk, _ := cb.Allow()
		tk.Done(policy.Failure)
		time.Sleep(time.Hour) // expires at 1 min, noticed much later
		require.Equal(t, breaker.HalfOpen, cb.State())
		require.Len(t, got, 2)
		assert.Equal(t, breaker.Transition{Name: "db", From: breaker.Closed, To: breaker.Open, At: start.Add(time.Second)},
			withoutMonotonic(got[0]))
		assert.Equal(t, breaker.Transition{Name: "db", From: breaker.Open, To: breaker.HalfOpen, At: start.Add(time.Minute + time.Second)},
			withoutMonotonic(got[1]), "an open state expires at its deadline, not when it is noticed")
		assert.True(t, cb.Snapshot().Since.Equal(start.Add(time.Minute+time.Second)))
	})
}

func withoutMonotonic(tr breaker.Transition) breaker.Transition {
	tr.At = tr.At.Round(0)
	return tr
}

// TestListenerOrderUnderConcurrentTransitions makes transitions from many
// goroutines at once: each listener sees every transition exactly once, as
// one chain (each From is the previous To), and ends at the final state.
func TestListenerOrderUnderConcurrentTransitions(t *testing.T) {
	var mu sync.Mutex
	var got []breaker.Transition
	active := 0
	rec := observe.NewRecorder()
	cb := breaker.New("db", breaker.WithConsecutiveFailures(1), breaker.WithMetrics(rec),
		breaker.WithListener(func(tr breaker.Transition) {
			mu.Lock()
			active++
			require.Equal(t, 1, active, "listeners are never called concurrently")
			got = append(got, tr)
			mu.Unlock()
			mu.Lock()
			active--
			mu.Unlock()
		}))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				switch (g + i) % 5 {
				case 0:
					cb.Trip()
				case 1:
					cb.Reset()
				case 2:
					cb.Disable()
				case 3:
					cb.Enable()
				default:
					if tk, err := cb.Allow(); err == nil {
						tk.Done(policy.Failure)
					}
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, got)
	assert.Equal(t, breaker.Closed, got[0].From)
	var total int64
	for i, tr := range got {
		assert.NotEqual(t, tr.From, tr.To, "transition %d changes state", i)
		if i > 0 {
			require.Equal(t, got[i-1].To, tr.From, "transition %d follows transition %d", i, i-1)
		}
	}
	assert.Equal(t, cb.State(), got[len(got)-1].To, "the last notification is the current state")
	for from := range breaker.State(5) {
		for to := range breaker.State(5) {
			if from != to {
				total += rec.Count("ion_breaker_transitions_total", observe.L("name", "db"),
					observe.L("from", from.String()), observe.L("to", to.String()))
			}
		}
	}
	assert.Equal(t, int64(len(got)), total, "one metric per transition")
	assert.Equal(t, float64(cb.State()), rec.Value("ion_breaker_state", observe.L("name", "db")))
}

func TestListenerPanicPropagatesAndDeliveryResumes(t *testing.T) {
	var got []breaker.State
	cb := breaker.New("db", breaker.WithConsecutiveFailures(1),
		breaker.WithListener(func(tr breaker.Transition) {
			if tr.To == breaker.ForcedOpen && len(got) == 0 {
				got = append(got, 99)
				panic("listener")
			}
			got = append(got, tr.To)
		}))
	assert.PanicsWithValue(t, "listener", cb.Trip, "a listener's panic reaches the goroutine that delivered")
	assert.Equal(t, breaker.ForcedOpen, cb.State(), "the transition itself happened")
	cb.Reset()
	assert.Equal(t, []breaker.State{99, breaker.Closed}, got, "delivery resumes with the next transition")
}

func TestLoggerRecordsTransitions(t *testing.T) {
	rec := observe.NewRecorder()
	cb := breaker.New("db", breaker.WithConsecutiveFailures(1), breaker.WithLogger(rec))
	tk, _ := cb.Allow()
	tk.Done(policy.Failure)
	cb.Reset()
	logs := rec.Logs()
	require.Len(t, logs, 2)
	assert.Equal(t, slog.LevelWarn, logs[0].Level, "opening is a warning")
	assert.Equal(t, slog.LevelInfo, logs[1].Level)
	assert.Equal(t, "breaker: state change", logs[0].Msg)
	assert.Contains(t, logs[0].Attrs, slog.String("to", "open"))
	assert.Contains(t, logs[0].Attrs, slog.String("name", "db"))
}
