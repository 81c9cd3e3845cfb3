package adaptive_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func TestLimiterMetricsAndSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		lim := adaptive.NewLimiter(adaptive.WithName("db"), adaptive.WithMetrics(rec), adaptive.WithTracer(rec),
			adaptive.WithLimits(1, 1), adaptive.WithSampleWindow(time.Millisecond, 1))
		p := adaptive.Policy[int](lim)
		name := observe.L("name", "db")
		assert.Equal(t, 1.0, rec.Value("ion_adaptive_limit", name), "the limit is set at construction")

		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
		require.ErrorIs(t, err, adaptive.ErrLimited)
		time.Sleep(2 * time.Millisecond)
		close(release)
		wg.Wait()
		_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, errors.New("boom") })
		assert.Panics(t, func() {
			_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { panic("boom") })
		})

		assert.Equal(t, int64(3), rec.Count("ion_adaptive_calls_total", name, observe.L("result", "admitted")))
		assert.Equal(t, int64(1), rec.Count("ion_adaptive_calls_total", name, observe.L("result", "rejected")))
		assert.Equal(t, int64(0), rec.Count("ion_adaptive_calls_total", name, observe.L("result", "canceled")))
		assert.Equal(t, 0.002, rec.Value("ion_adaptive_rtt_seconds", name), "the held call's 2 ms closed the first window")
		assert.Equal(t, 0.002, rec.Value("ion_adaptive_no_load_rtt_seconds", name))

		var outcomes []string
		for _, s := range rec.Spans() {
			assert.Equal(t, "adaptive limiter(db, vegas)", s.Name)
			assert.True(t, s.Ended)
			outcomes = append(outcomes, s.Outcome)
		}
		assert.ElementsMatch(t, []string{"success", "rejected", "failure", "failure"}, outcomes)
	})
}

// TestLimiterMetricsCountEachCallOnce: an evicted waiter, a waiter that
// waited too long and one whose ctx ended are each counted once.
func TestLimiterMetricsCountEachCallOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		lim := adaptive.NewLimiter(adaptive.WithMetrics(rec), adaptive.WithLimits(1, 1),
			adaptive.WithMaxWait(50*time.Millisecond), adaptive.WithMaxQueue(1))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		errs := make(chan error, 3)
		run := func(ctx context.Context, prio adaptive.Priority) {
			go func() { // joined by reading errs
				_, err := policy.Run(adaptive.ContextWithPriority(ctx, prio), p, func(context.Context) (int, error) { return 0, nil })
				errs <- err
			}()
			synctest.Wait()
		}
		run(context.Background(), adaptive.Low)  // evicted by the next
		run(context.Background(), adaptive.High) // waits its 50 ms out
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		run(ctx, adaptive.Critical) // ctx already done
		for range 3 {
			<-errs
		}
		close(release)
		wg.Wait()
		n := func(r string) int64 {
			return rec.Count("ion_adaptive_calls_total", observe.L("name", ""), observe.L("result", r))
		}
		assert.Equal(t, int64(1), n("admitted"))
		assert.Equal(t, int64(2), n("rejected"), "the evicted waiter and the one that waited too long")
		assert.Equal(t, int64(0), n("canceled"), "policy.Run refuses a done ctx before the limiter sees it")
	})
}

func TestThrottlerMetricsAndSpans(t *testing.T) {
	rec := observe.NewRecorder()
	thr := adaptive.NewThrottler(adaptive.WithName("api"), adaptive.WithMetrics(rec), adaptive.WithTracer(rec), adaptive.WithSeed(1))
	p := adaptive.ThrottlerPolicy[int](thr)
	for range 50 {
		_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, errors.New("503") })
	}
	name := observe.L("name", "api")
	sent := rec.Count("ion_adaptive_throttler_calls_total", name, observe.L("result", "sent"))
	throttled := rec.Count("ion_adaptive_throttler_calls_total", name, observe.L("result", "throttled"))
	assert.Equal(t, int64(50), sent+throttled)
	assert.Positive(t, throttled)
	n := map[string]int64{}
	for _, s := range rec.Spans() {
		n[s.Outcome]++
	}
	assert.Equal(t, map[string]int64{"failure": sent, "rejected": throttled}, n)
}

func TestNilSinksFailClosed(t *testing.T) {
	assertConfigError(t, adaptive.NewLimiter(adaptive.WithMetrics(nil)).Err(), "WithMetrics")
	assertConfigError(t, adaptive.NewLimiter(adaptive.WithTracer(nil)).Err(), "WithTracer")
	assertConfigError(t, adaptive.NewThrottler(adaptive.WithMetrics(nil)).Err(), "WithMetrics")
	assertConfigError(t, adaptive.NewThrottler(adaptive.WithTracer(nil)).Err(), "WithTracer")
}
