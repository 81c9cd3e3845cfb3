package adaptive_test

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

	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// learn runs n successful calls of rtt through lim, one after the other.
// It must run inside a synctest bubble.
func learn(t *testing.T, lim *adaptive.Limiter, n int, rtt time.Duration) {
	t.Helper()
	p := adaptive.Policy[int](lim)
	for range n {
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) {
			time.Sleep(rtt)
			return 0, nil
		})
		require.NoError(t, err)
	}
}

// TestLimiterReconfigure: the learned limit survives, clamped into the new
// bounds, and so do the RTT estimates, whatever the algorithm.
func TestLimiterReconfigure(t *testing.T) {
	perCall := adaptive.WithSampleWindow(time.Nanosecond, 1) // a window per call
	tests := []struct {
		name      string
		opts      []adaptive.LimiterOption
		learn     int // calls of 10 ms before
		reconf    []adaptive.LimiterOption
		wantLimit int
	}{
		{"learned limit kept", []adaptive.LimiterOption{adaptive.WithAlgorithm(adaptive.AIMD), adaptive.WithInitialLimit(2), perCall},
			1, []adaptive.LimiterOption{adaptive.WithAlgorithm(adaptive.AIMD), perCall}, 3}, // not the default initial 20
		{"clamped down", []adaptive.LimiterOption{adaptive.WithInitialLimit(50)},
			0, []adaptive.LimiterOption{adaptive.WithLimits(1, 10)}, 10},
		{"clamped up", []adaptive.LimiterOption{adaptive.WithInitialLimit(5)},
			0, []adaptive.LimiterOption{adaptive.WithLimits(20, 100)}, 20},
		{"within the new bounds", []adaptive.LimiterOption{adaptive.WithInitialLimit(30)},
			0, []adaptive.LimiterOption{adaptive.WithLimits(10, 50)}, 30},
		{"algorithm changed", []adaptive.LimiterOption{adaptive.WithAlgorithm(adaptive.Vegas), adaptive.WithInitialLimit(4), perCall},
			3, []adaptive.LimiterOption{adaptive.WithAlgorithm(adaptive.Gradient), adaptive.WithSmoothing(1), perCall}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lim := adaptive.NewLimiter(tc.opts...)
				learn(t, lim, tc.learn, 10*time.Millisecond)
				before := lim.Stats()
				require.NoError(t, lim.Reconfigure(tc.reconf...))
				after := lim.Stats()
				want := before
				if tc.wantLimit >= 0 {
					want.Limit = tc.wantLimit
				}
				assert.Equal(t, want, after, "the limit (clamped) and the estimates are kept")
				if tc.learn > 0 {
					assert.Equal(t, 10*time.Millisecond, after.NoLoadRTT, "the estimate learned before")
				}
			})
		})
	}
}

// A minimum raised above the calls in flight grants queued waiters their
// permits at once; a maximum lowered below them lets them finish and admits
// nothing new until they have.
func TestLimiterReconfigureBoundsAndWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := []adaptive.LimiterOption{adaptive.WithMaxWait(time.Hour), adaptive.WithMaxQueue(10)}
		lim := adaptive.NewLimiter(append(base, adaptive.WithLimits(1, 1))...)
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		var mu sync.Mutex
		var order []string
		errs := make(chan error, 2)
		waitFor(p, adaptive.Normal, "a", &mu, &order, errs)
		waitFor(p, adaptive.Normal, "b", &mu, &order, errs)
		require.Equal(t, 2, lim.Stats().Queued)

		require.NoError(t, lim.Reconfigure(append(base, adaptive.WithLimits(3, 3))...))
		synctest.Wait()
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		assert.ElementsMatch(t, []string{"a", "b"}, order, "the waiters were served by the reconfiguration")

		hold(t, p, context.Background(), release, &wg)
		hold(t, p, context.Background(), release, &wg)
		require.Equal(t, 3, lim.Stats().InFlight)
		require.NoError(t, lim.Reconfigure(adaptive.WithLimits(1, 1))) // and no waiting
		assert.Equal(t, adaptive.Stats{Limit: 1, InFlight: 3}, lim.Stats(), "the calls in flight stay")
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
		assert.ErrorIs(t, err, adaptive.ErrLimited, "no room, and no waiting now")
		close(release)
		wg.Wait()
		assert.Equal(t, adaptive.Stats{Limit: 1}, lim.Stats(), "every permit came back")
	})
}

// A waiter keeps the max wait it started with; a lower max queue evicts
// nobody.
func TestLimiterReconfigureQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(time.Second), adaptive.WithMaxQueue(5))
		p := adaptive.Policy[int](lim)
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold(t, p, context.Background(), release, &wg)
		start := time.Now()
		var waited [3]time.Duration
		var errs [3]error
		var waiters sync.WaitGroup
		for i := range 3 {
			waiters.Go(func() { // joined by waiters.Wait
				_, errs[i] = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
				waited[i] = time.Since(start)
			})
		}
		synctest.Wait()
		require.Equal(t, 3, lim.Stats().Queued)

		require.NoError(t, lim.Reconfigure(adaptive.WithLimits(1, 1), adaptive.WithMaxWait(time.Hour), adaptive.WithMaxQueue(1)))
		assert.Equal(t, 3, lim.Stats().Queued, "a lower max queue evicts nobody")
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
		assert.ErrorIs(t, err, adaptive.ErrLimited, "an arrival finds the queue full")
		assert.Equal(t, time.Duration(0), time.Since(start), "rejected at once")

		waiters.Wait()
		for i := range 3 {
			assert.ErrorIs(t, errs[i], context.DeadlineExceeded, "waiter %d", i)
			assert.Equal(t, time.Second, waited[i], "waiter %d waited the max wait it started with", i)
		}
		close(release)
		wg.Wait()
	})
}

// An invalid Reconfigure, or one with an option that only NewLimiter takes,
// changes nothing and names the option.
func TestLimiterReconfigureInvalidChangesNothing(t *testing.T) {
	tests := []struct {
		name  string
		opts  []adaptive.LimiterOption
		param string
	}{
		{"min above max", []adaptive.LimiterOption{adaptive.WithLimits(5, 2)}, "WithLimits"},
		{"min 0", []adaptive.LimiterOption{adaptive.WithLimits(0, 2)}, "WithLimits"},
		{"unknown algorithm", []adaptive.LimiterOption{adaptive.WithAlgorithm(9)}, "WithAlgorithm"},
		{"window 0", []adaptive.LimiterOption{adaptive.WithSampleWindow(0, 1)}, "WithSampleWindow"},
		{"smoothing NaN", []adaptive.LimiterOption{adaptive.WithSmoothing(math.NaN())}, "WithSmoothing"},
		{"backoff 1", []adaptive.LimiterOption{adaptive.WithBackoff(1)}, "WithBackoff"},
		{"tolerance below 1", []adaptive.LimiterOption{adaptive.WithTolerance(0.5)}, "WithTolerance"},
		{"max wait negative", []adaptive.LimiterOption{adaptive.WithMaxWait(-1)}, "WithMaxWait"},
		{"max queue 0", []adaptive.LimiterOption{adaptive.WithMaxQueue(0)}, "WithMaxQueue"},
		{"codel 0", []adaptive.LimiterOption{adaptive.WithCoDel(0, time.Second)}, "WithCoDel"},
		{"lifo 0", []adaptive.LimiterOption{adaptive.WithAdaptiveLIFO(0)}, "WithAdaptiveLIFO"},
		{"nil option", []adaptive.LimiterOption{adaptive.WithLimits(1, 2), nil}, "opts"},
		// Valid options that only NewLimiter takes.
		{"initial limit", []adaptive.LimiterOption{adaptive.WithLimits(1, 10), adaptive.WithInitialLimit(5)}, "WithInitialLimit"},
		{"name", []adaptive.LimiterOption{adaptive.WithName("db")}, "WithName"},
		{"metrics", []adaptive.LimiterOption{adaptive.WithMetrics(observe.NewRecorder())}, "WithMetrics"},
		{"tracer", []adaptive.LimiterOption{adaptive.WithTracer(observe.NewRecorder())}, "WithTracer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := adaptive.NewLimiter(adaptive.WithLimits(2, 2))
			p := adaptive.Policy[int](lim)
			release := make(chan struct{})
			var wg sync.WaitGroup
			hold(t, p, context.Background(), release, &wg)
			before := lim.Stats()

			assertConfigError(t, lim.Reconfigure(tc.opts...), tc.param)
			assert.NoError(t, lim.Err(), "a refused Reconfigure does not make the limiter fail closed")
			assert.Equal(t, before, lim.Stats())
			hold(t, p, context.Background(), release, &wg) // the old limit of 2 is in force
			_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
			assert.ErrorIs(t, err, adaptive.ErrLimited, "and no waiting: the old max wait of 0")
			close(release)
			wg.Wait()
		})
	}
	t.Run("fail-closed", func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithBackoff(2))
		assert.Same(t, lim.Err(), lim.Reconfigure(), "a limiter that fails closed stays so")
	})
	t.Run("zero", func(t *testing.T) {
		var lim adaptive.Limiter
		assertConfigError(t, lim.Reconfigure(), "Limiter")
		assert.Equal(t, adaptive.Stats{}, lim.Stats())
	})
}

// TestLimiterReconfigureStress reconfigures a limiter through bounds,
// queues, CoDel, LIFO and algorithms while callers run calls that succeed,
// fail, panic, wait and time out (run with -race): no more calls run at
// once than the highest maximum, and every permit and waiter is accounted
// for at the end.
func TestLimiterReconfigureStress(t *testing.T) {
	configs := [][]adaptive.LimiterOption{
		{adaptive.WithLimits(5, 5)},
		{adaptive.WithLimits(1, 8), adaptive.WithAlgorithm(adaptive.AIMD), adaptive.WithSampleWindow(time.Nanosecond, 2),
			adaptive.WithMaxWait(time.Millisecond)},
		{adaptive.WithLimits(2, 3), adaptive.WithMaxWait(time.Millisecond), adaptive.WithMaxQueue(2),
			adaptive.WithCoDel(10*time.Microsecond, time.Millisecond), adaptive.WithAdaptiveLIFO(1)},
		{adaptive.WithLimits(6, 12), adaptive.WithAlgorithm(adaptive.Gradient), adaptive.WithSampleWindow(time.Microsecond, 1)},
	}
	const most = 12
	lim := adaptive.NewLimiter(configs[0]...)
	p := adaptive.Policy[int](lim)
	var running, peak atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var reconf sync.WaitGroup
	// The reconfiguring goroutine; exits when stop is closed, joined by
	// reconf.Wait.
	reconf.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := lim.Reconfigure(configs[i%len(configs)]...); err != nil {
				t.Error(err)
				return
			}
			if s := lim.Stats(); s.InFlight < 0 || s.Queued < 0 {
				t.Errorf("stats %+v", s)
			}
			runtime.Gosched()
		}
	})
	const goroutines, calls = 12, 300
	for g := range goroutines {
		wg.Go(func() { // joined by wg.Wait
			for i := range calls {
				ctx := adaptive.ContextWithPriority(context.Background(), adaptive.Priority(i%5-2))
				var cancel context.CancelFunc = func() {}
				if i%7 == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(i%3)*time.Microsecond)
				}
				func() {
					defer func() { _ = recover() }()
					_, _ = policy.Run(ctx, p, func(context.Context) (int, error) {
						n := running.Add(1)
						defer running.Add(-1)
						for {
							old := peak.Load()
							if n <= old || peak.CompareAndSwap(old, n) {
								break
							}
						}
						switch (g + i) % 11 {
						case 0:
							panic("boom")
						case 1:
							return 0, errors.New("failed")
						}
						return 0, nil
					})
				}()
				cancel()
			}
		})
	}
	wg.Wait()
	close(stop)
	reconf.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(most), "calls running at once")
	s := lim.Stats()
	assert.Zero(t, s.InFlight, "every permit came back")
	assert.Zero(t, s.Queued, "no waiter left behind")
}

// failAll runs n calls through p that the backend refuses; the throttler
// counts each as a request, sent or not, and none as an accept.
func failAll(p policy.Policy[int], n int) {
	for range n {
		_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, errors.New("503") })
	}
}

// TestThrottlerReconfigureK: a new K applies to the counts kept.
func TestThrottlerReconfigureK(t *testing.T) {
	thr := adaptive.NewThrottler(adaptive.WithSeed(1))
	p := adaptive.ThrottlerPolicy[int](thr)
	for range 25 { // accepted while nothing is throttled
		_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
		require.NoError(t, err)
	}
	failAll(p, 75)
	assert.InDelta(t, (100-2*25)/101.0, thr.RejectionRate(), 1e-9, "100 requests, 25 accepts, K 2")
	require.NoError(t, thr.Reconfigure(adaptive.WithK(1.1)))
	assert.InDelta(t, (100-1.1*25)/101.0, thr.RejectionRate(), 1e-9, "the same counts under K 1.1")
}

// TestThrottlerReconfigureWindow: the counts stay and roll out at the new
// pace, within the new window.
func TestThrottlerReconfigureWindow(t *testing.T) {
	t.Run("shortened", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			thr := adaptive.NewThrottler(adaptive.WithWindow(20*time.Second), adaptive.WithSeed(1)) // 1 s buckets
			failAll(adaptive.ThrottlerPolicy[int](thr), 100)
			time.Sleep(5 * time.Second)
			require.NoError(t, thr.Reconfigure(adaptive.WithWindow(2*time.Second), adaptive.WithSeed(1))) // 100 ms buckets
			assert.InDelta(t, 100/101.0, thr.RejectionRate(), 1e-9, "the counts stay")
			// Their bucket is the 6th newest of 20; 14 more buckets of the
			// new pace keep it in the window.
			time.Sleep(1400*time.Millisecond + 99*time.Millisecond)
			assert.InDelta(t, 100/101.0, thr.RejectionRate(), 1e-9, "still in the window")
			time.Sleep(time.Millisecond)
			assert.Zero(t, thr.RejectionRate(), "rolled out within the new window")
		})
	})
	t.Run("lengthened", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			thr := adaptive.NewThrottler(adaptive.WithWindow(2*time.Second), adaptive.WithSeed(1)) // 100 ms buckets
			failAll(adaptive.ThrottlerPolicy[int](thr), 100)
			require.NoError(t, thr.Reconfigure(adaptive.WithWindow(20*time.Second))) // 1 s buckets
			time.Sleep(10 * time.Second)
			assert.InDelta(t, 100/101.0, thr.RejectionRate(), 1e-9, "kept beyond the old window")
			time.Sleep(10 * time.Second)
			assert.Zero(t, thr.RejectionRate(), "rolled out at the end of the new one")
		})
	})
}

// TestThrottlerReconfigureSeed: the random choices go on unless WithSeed
// gives another seed, which restarts them from that seed.
func TestThrottlerReconfigureSeed(t *testing.T) {
	verdicts := func(thr *adaptive.Throttler, n int) []bool {
		p := adaptive.ThrottlerPolicy[int](thr)
		var out []bool
		for range n {
			sent := false
			_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) {
				sent = true
				return 0, errors.New("503")
			})
			out = append(out, sent)
		}
		return out
	}
	run := func(seed uint64, reconf ...adaptive.ThrottlerOption) []bool {
		thr := adaptive.NewThrottler(adaptive.WithSeed(seed))
		out := verdicts(thr, 100)
		if reconf != nil {
			require.NoError(t, thr.Reconfigure(reconf...))
		}
		return append(out, verdicts(thr, 100)...)
	}
	plain := run(7)
	assert.Equal(t, plain, run(7, adaptive.WithK(2)), "no WithSeed: the same choices")
	assert.Equal(t, plain, run(7, adaptive.WithSeed(7)), "the same seed: the same choices")
	other := run(7, adaptive.WithSeed(8))
	assert.Equal(t, plain[:100], other[:100])
	assert.NotEqual(t, plain[100:], other[100:], "another seed: other choices")
	assert.Equal(t, other[100:], run(9, adaptive.WithSeed(8))[100:], "restarted from seed 8, whatever came before")
}

// An invalid Reconfigure of a throttler, or one with an option that only
// NewThrottler takes, changes nothing and names the option.
func TestThrottlerReconfigureInvalidChangesNothing(t *testing.T) {
	tests := []struct {
		name  string
		opts  []adaptive.ThrottlerOption
		param string
	}{
		{"K below 1", []adaptive.ThrottlerOption{adaptive.WithK(0.5)}, "WithK"},
		{"K infinite", []adaptive.ThrottlerOption{adaptive.WithK(math.Inf(1))}, "WithK"},
		{"window too short", []adaptive.ThrottlerOption{adaptive.WithWindow(19)}, "WithWindow"},
		{"nil option", []adaptive.ThrottlerOption{nil}, "opts"},
		{"name", []adaptive.ThrottlerOption{adaptive.WithName("api")}, "WithName"},
		{"metrics", []adaptive.ThrottlerOption{adaptive.WithK(3), adaptive.WithMetrics(observe.NewRecorder())}, "WithMetrics"},
		{"tracer", []adaptive.ThrottlerOption{adaptive.WithTracer(observe.NewRecorder())}, "WithTracer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				thr := adaptive.NewThrottler(adaptive.WithWindow(20*time.Second), adaptive.WithSeed(1))
				p := adaptive.ThrottlerPolicy[int](thr)
				for range 50 {
					_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
				}
				failAll(p, 150)
				before := thr.RejectionRate()
				require.InDelta(t, (200-2*50)/201.0, before, 1e-9)

				assertConfigError(t, thr.Reconfigure(tc.opts...), tc.param)
				assert.NoError(t, thr.Err())
				assert.Equal(t, before, thr.RejectionRate(), "K and the counts did not change")
				time.Sleep(19 * time.Second)
				assert.Equal(t, before, thr.RejectionRate(), "nor the window")
				time.Sleep(time.Second)
				assert.Zero(t, thr.RejectionRate())
			})
		})
	}
	t.Run("fail-closed", func(t *testing.T) {
		thr := adaptive.NewThrottler(adaptive.WithK(0))
		assert.Same(t, thr.Err(), thr.Reconfigure(), "a throttler that fails closed stays so")
	})
	t.Run("zero", func(t *testing.T) {
		var thr adaptive.Throttler
		assertConfigError(t, thr.Reconfigure(), "Throttler")
	})
}

// TestThrottlerReconfigureStress reconfigures a throttler while callers run
// calls that the backend half refuses (run with -race): the rate stays a
// share, and nothing races.
func TestThrottlerReconfigureStress(t *testing.T) {
	thr := adaptive.NewThrottler(adaptive.WithWindow(time.Millisecond))
	p := adaptive.ThrottlerPolicy[int](thr)
	configs := [][]adaptive.ThrottlerOption{
		{adaptive.WithK(1), adaptive.WithWindow(100 * time.Microsecond)},
		{adaptive.WithK(3), adaptive.WithWindow(10 * time.Millisecond), adaptive.WithSeed(4)},
		{adaptive.WithK(1.5), adaptive.WithSeed(5)},
	}
	stop := make(chan struct{})
	var reconf sync.WaitGroup
	// The reconfiguring goroutine; exits when stop is closed, joined by
	// reconf.Wait.
	reconf.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := thr.Reconfigure(configs[i%len(configs)]...); err != nil {
				t.Error(err)
				return
			}
			if r := thr.RejectionRate(); !(r >= 0 && r < 1) {
				t.Errorf("rejection rate %v", r)
			}
			runtime.Gosched()
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() { // joined by wg.Wait
			for i := range 2000 {
				_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) {
					if (g+i)%2 == 0 {
						return 0, errors.New("503")
					}
					return 0, nil
				})
			}
		})
	}
	wg.Wait()
	close(stop)
	reconf.Wait()
}

// The admit path stays free of allocations after a Reconfigure.
func TestReconfiguredPolicyAdmitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	lim := adaptive.NewLimiter(adaptive.WithSampleWindow(1, 1))
	require.NoError(t, lim.Reconfigure(adaptive.WithSampleWindow(1, 1), adaptive.WithLimits(10, 100), adaptive.WithAlgorithm(adaptive.AIMD)))
	thr := adaptive.NewThrottler()
	require.NoError(t, thr.Reconfigure(adaptive.WithK(3), adaptive.WithSeed(2)))
	for name, p := range map[string]policy.Policy[int]{
		"limiter":   adaptive.Policy[int](lim),
		"throttler": adaptive.ThrottlerPolicy[int](thr),
	} {
		_, err := policy.Run(ctx, p, fn)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(1000, func() { _, _ = policy.Run(ctx, p, fn) })
		assert.Zero(t, allocs, "%s: allocations per admitted call", name)
	}
}

// A policy built before Reconfigure names the new algorithm or K, in its
// String and its spans.
func TestReconfigurePolicyDescription(t *testing.T) {
	rec := observe.NewRecorder()
	lim := adaptive.NewLimiter(adaptive.WithName("db"), adaptive.WithTracer(rec))
	lp := adaptive.Policy[int](lim)
	thr := adaptive.NewThrottler(adaptive.WithName("api"), adaptive.WithTracer(rec))
	tp := adaptive.ThrottlerPolicy[int](thr)
	str := func(p policy.Policy[int]) string { return p.(interface{ String() string }).String() }
	assert.Equal(t, "adaptive limiter(db, vegas)", str(lp))
	assert.Equal(t, "adaptive throttler(api, K 2)", str(tp))

	require.NoError(t, lim.Reconfigure(adaptive.WithAlgorithm(adaptive.AIMD)))
	require.NoError(t, thr.Reconfigure(adaptive.WithK(1.5)))
	assert.Equal(t, "adaptive limiter(db, aimd)", str(lp))
	assert.Equal(t, "adaptive throttler(api, K 1.5)", str(tp))
	fn := func(context.Context) (int, error) { return 0, nil }
	_, err := policy.Run(context.Background(), lp, fn)
	require.NoError(t, err)
	_, err = policy.Run(context.Background(), tp, fn)
	require.NoError(t, err)
	var names []string
	for _, s := range rec.Spans() {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"adaptive limiter(db, aimd)", "adaptive throttler(api, K 1.5)"}, names)
}
