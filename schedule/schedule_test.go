package schedule_test

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

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/schedule"
)

// starts records when the runs of a job start, relative to t0.
type starts struct {
	t0 time.Time
	mu sync.Mutex
	at []time.Duration
}

func newStarts() *starts { return &starts{t0: time.Now()} }

// job returns a Job that records its start and then works for d (or until
// its ctx ends).
func (r *starts) job(d time.Duration) schedule.Job {
	return func(ctx context.Context) error {
		r.mu.Lock()
		r.at = append(r.at, time.Since(r.t0))
		r.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return nil
	}
}

func (r *starts) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.at...)
}

func secs(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, s := range v {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, m := range v {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func jobSnap(t *testing.T, s *schedule.Scheduler, name string) schedule.JobSnapshot {
	t.Helper()
	for _, j := range s.Snapshot().Jobs {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("no job %q in the snapshot", name)
	return schedule.JobSnapshot{}
}

func stop(t *testing.T, s *schedule.Scheduler) int {
	t.Helper()
	n, err := s.Stop(context.Background())
	require.NoError(t, err, "Stop")
	return n
}

// TestTiming pins the start times of every trigger and overlap policy in
// virtual time, with a job slower than its interval where that matters.
func TestTiming(t *testing.T) {
	tests := []struct {
		name    string
		when    schedule.Trigger
		opts    []schedule.JobOption
		work    time.Duration // how long each run takes
		until   time.Duration // when the test stops the scheduler
		want    []time.Duration
		skipped uint64
	}{
		{"after", schedule.After(5 * time.Second), nil, 0, 10 * time.Second, secs(5), 0},
		{"after zero runs at once", schedule.After(0), nil, 0, time.Second, secs(0), 0},
		{"fixed rate, fast job", schedule.FixedRate(time.Second), nil, 100 * time.Millisecond, 3500 * time.Millisecond, secs(1, 2, 3), 0},
		// Due at 1, 2, 3, ...: the runs at 2 and 3 fall while the first
		// (1 to 3.5) runs and are skipped; the due times do not move.
		{"fixed rate, slow job, skip if running", schedule.FixedRate(time.Second), nil,
			2500 * time.Millisecond, 7500 * time.Millisecond, secs(1, 4, 7), 4},
		// The run due at 2 waits for the first to end (3.4); the one due at
		// 3 finds the queue full. So do 5, 7 and 8.
		{"fixed rate, slow job, queue one", schedule.FixedRate(time.Second), []schedule.JobOption{schedule.WithOverlap(schedule.QueueOne())},
			2400 * time.Millisecond, 8500 * time.Millisecond, ms(1000, 3400, 5800, 8200), 4},
		{"fixed rate, slow job, zero Overlap skips", schedule.FixedRate(time.Second), []schedule.JobOption{schedule.WithOverlap(schedule.Overlap{})},
			2500 * time.Millisecond, 7500 * time.Millisecond, secs(1, 4, 7), 4},
		{"fixed rate, slow job, two at once", schedule.FixedRate(time.Second), []schedule.JobOption{schedule.WithOverlap(schedule.AllowConcurrent(2))},
			2500 * time.Millisecond, 7500 * time.Millisecond, secs(1, 2, 4, 5, 7), 2},
		// Fixed delay counts from the end of each run: 1, 1+2.5+1, ...
		{"fixed delay, slow job", schedule.FixedDelay(time.Second), nil,
			2500 * time.Millisecond, 9 * time.Second, secs(1, 4.5, 8), 0},
		{"cron every minute", mustCron(t, "* * * * *", time.UTC), nil, 0, 210 * time.Second, secs(60, 120, 180), 0},
		{"cron every", mustCron(t, "@every 90s", time.UTC), nil, 0, 200 * time.Second, secs(90, 180), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := schedule.New()
				r := newStarts()
				require.NoError(t, s.Add("job", tc.when, r.job(tc.work), tc.opts...))
				time.Sleep(tc.until)
				snap := jobSnap(t, s, "job")
				assert.Equal(t, tc.want, r.get(), "start times")
				assert.Equal(t, tc.skipped, snap.Skipped, "skipped runs")
				assert.Equal(t, 0, stop(t, s), "Stop discards nothing")
				snap = jobSnap(t, s, "job")
				assert.Equal(t, uint64(len(tc.want)), snap.Runs, "every started run returned before Stop did")
				assert.Zero(t, snap.Running+snap.Pending)
				assert.Equal(t, tc.want, r.get(), "no run starts during or after Stop")
			})
		})
	}
}

func TestNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := schedule.New()
		t0 := time.Now()
		require.NoError(t, s.Add("rate", schedule.FixedRate(time.Minute), func(context.Context) error { return nil }))
		require.NoError(t, s.Add("once", schedule.After(time.Second), func(context.Context) error { return nil }))
		require.NoError(t, s.Add("delay", schedule.FixedDelay(time.Minute), func(ctx context.Context) error {
			time.Sleep(time.Second)
			return nil
		}))
		snap := s.Snapshot()
		require.Len(t, snap.Jobs, 3)
		assert.Equal(t, []string{"delay", "once", "rate"}, []string{snap.Jobs[0].Name, snap.Jobs[1].Name, snap.Jobs[2].Name}, "sorted by name")
		assert.Equal(t, t0.Add(time.Minute), snap.Jobs[2].Next)
		time.Sleep(90 * time.Second)
		assert.Equal(t, t0.Add(2*time.Minute), jobSnap(t, s, "rate").Next)
		assert.True(t, jobSnap(t, s, "once").Next.IsZero(), "a one-shot job that ran has no next time")
		assert.Equal(t, t0.Add(2*time.Minute+time.Second), jobSnap(t, s, "delay").Next, "fixed delay counts from the end of the run")
		stop(t, s)
		assert.True(t, jobSnap(t, s, "rate").Next.IsZero(), "a stopped scheduler has no next times")
	})
}

func TestJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := schedule.New()
		r := newStarts()
		const jitter = 3 * time.Second
		require.NoError(t, s.Add("job", schedule.FixedRate(10*time.Second), r.job(0), schedule.WithJitter(jitter)))
		time.Sleep(205 * time.Second)
		stop(t, s)
		at := r.get()
		require.Len(t, at, 20, "jitter delays runs but drops none")
		seen := map[time.Duration]bool{}
		for i, a := range at {
			delay := a - time.Duration(i+1)*10*time.Second
			assert.True(t, delay >= 0 && delay < jitter, "run %d starts %v after its due time, want [0, %v)", i, delay, jitter)
			seen[delay] = true
		}
		assert.Greater(t, len(seen), 1, "the jitter is drawn per due time")
	})
}

// TestMissedRuns makes the scheduler find a fixed-rate job 10m30s behind
// (as after a suspended process): eleven due times have passed, the latest
// 30s ago.
func TestMissedRuns(t *testing.T) {
	tests := []struct {
		name    string
		opt     schedule.JobOption
		want    []time.Duration
		skipped uint64
	}{
		{"run once (default)", nil, secs(30, 60), 10},
		{"run once", schedule.WithMissed(schedule.RunMissedOnce()), secs(30, 60), 10},
		{"zero Missed runs once", schedule.WithMissed(schedule.Missed{}), secs(30, 60), 10},
		{"run all up to 3, one after another", schedule.WithMissed(schedule.RunMissed(3)), secs(30, 31, 32, 60), 8},
		{"run all up to 20", schedule.WithMissed(schedule.RunMissed(20)), secs(30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 60), 0},
		{"skip, late beyond grace", schedule.WithMissed(schedule.SkipMissed(10 * time.Second)), secs(60), 11},
		{"skip, latest within grace", schedule.WithMissed(schedule.SkipMissed(time.Minute)), secs(30, 60), 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var reported atomic.Int64
				s := schedule.New(schedule.WithDiscardHandler(func(name string, n int, err error) {
					assert.Equal(t, "job", name)
					assert.ErrorIs(t, err, schedule.ErrMissed)
					assert.ErrorIs(t, err, ion.ErrRejected)
					reported.Add(int64(n))
				}))
				r := newStarts()
				var opts []schedule.JobOption
				if tc.opt != nil {
					opts = append(opts, tc.opt)
				}
				require.NoError(t, s.Add("job", schedule.FixedRate(time.Minute), r.job(time.Second), opts...))
				time.Sleep(30 * time.Second)
				require.True(t, schedule.SetDue(s, "job", time.Now().Add(-630*time.Second)))
				time.Sleep(65 * time.Second)
				stop(t, s)
				assert.Equal(t, tc.want, r.get(), "start times")
				assert.Equal(t, tc.skipped, jobSnap(t, s, "job").Skipped, "skipped")
				assert.Equal(t, int64(tc.skipped), reported.Load(), "every skipped run is reported")
			})
		})
	}
}

// TestMissedCatchUpKeepsQueue checks that a due time arriving during a
// catch-up drops itself, not the catch-up runs still waiting.
func TestMissedCatchUpKeepsQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := schedule.New()
		r := newStarts()
		require.NoError(t, s.Add("job", schedule.FixedRate(time.Minute), r.job(20*time.Second), schedule.WithMissed(schedule.RunMissed(4))))
		time.Sleep(30 * time.Second)
		schedule.SetDue(s, "job", time.Now().Add(-200*time.Second)) // due at -170, -110, -50, +10: three behind
		time.Sleep(105 * time.Second)
		stop(t, s)
		// The four catch-up runs run back to back from 30s; the run due at
		// 70s finds them still waiting and drops itself, not one of them.
		assert.Equal(t, secs(30, 50, 70, 90, 130), r.get())
	})
}

func TestCronAcrossDST(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	synctest.Test(t, func(t *testing.T) {
		// The bubble starts at 2000-01-01 00:00 UTC. In 2000 New York
		// sprang forward on April 2 and fell back on October 29.
		s := schedule.New()
		r := newStarts()
		require.NoError(t, s.Add("spring", mustCron(t, "30 2 * * *", ny), r.job(0)))
		fall := newStarts()
		require.NoError(t, s.Add("fall", mustCron(t, "30 1 * * *", ny), fall.job(0)))
		every := newStarts()
		require.NoError(t, s.Add("half-hourly", mustCron(t, "*/30 * 29 10 *", ny), every.job(0)))

		time.Sleep(time.Until(time.Date(2000, 4, 4, 0, 0, 0, 0, time.UTC)))
		at := r.get()
		require.GreaterOrEqual(t, len(at), 3)
		last := at[len(at)-3:]
		t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		assert.Equal(t, []time.Time{
			time.Date(2000, 4, 1, 7, 30, 0, 0, time.UTC), // 02:30 EST
			time.Date(2000, 4, 2, 7, 0, 0, 0, time.UTC),  // 02:30 does not exist: 03:00 EDT
			time.Date(2000, 4, 3, 6, 30, 0, 0, time.UTC), // 02:30 EDT
		}, []time.Time{t0.Add(last[0]), t0.Add(last[1]), t0.Add(last[2])}, "spring-forward firings")

		time.Sleep(time.Until(time.Date(2000, 10, 31, 0, 0, 0, 0, time.UTC)))
		stop(t, s)
		at = fall.get()
		last = at[len(at)-3:]
		assert.Equal(t, []time.Time{
			time.Date(2000, 10, 28, 5, 30, 0, 0, time.UTC), // 01:30 EDT
			time.Date(2000, 10, 29, 5, 30, 0, 0, time.UTC), // the first 01:30, EDT, once
			time.Date(2000, 10, 30, 6, 30, 0, 0, time.UTC), // 01:30 EST
		}, []time.Time{t0.Add(last[0]), t0.Add(last[1]), t0.Add(last[2])}, "fall-back firings")
		// On October 29 a half-hourly job runs 48 times, once per wall-clock
		// half hour, not 50: the repeated hour 01:00-02:00 runs once.
		assert.Len(t, every.get(), 48, "half-hourly firings on the fall-back day")
	})
}

func TestLeapDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := schedule.New()
		r := newStarts()
		require.NoError(t, s.Add("leap", mustCron(t, "0 12 29 2 *", time.UTC), r.job(0)))
		assert.Equal(t, time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC), jobSnap(t, s, "leap").Next)
		time.Sleep(time.Until(time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC)))
		assert.Equal(t, time.Date(2004, 2, 29, 12, 0, 0, 0, time.UTC), jobSnap(t, s, "leap").Next, "the next leap year")
		stop(t, s)
		assert.Len(t, r.get(), 1)
	})
}

func TestPanicBecomesResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		s := schedule.New(schedule.WithMetrics(rec), schedule.WithLogger(rec), schedule.WithTracer(rec))
		var n atomic.Int64
		require.NoError(t, s.Add("job", schedule.FixedRate(time.Second), func(context.Context) error {
			switch n.Add(1) {
			case 1:
				panic("boom")
			case 2:
				runtime.Goexit()
			}
			return nil
		}))
		time.Sleep(1500 * time.Millisecond)
		snap := jobSnap(t, s, "job")
		var pe *ion.PanicError
		require.ErrorAs(t, snap.LastErr, &pe, "a panic is the run's result")
		assert.Equal(t, "boom", pe.Value)
		assert.NotEmpty(t, pe.Stack)
		time.Sleep(time.Second)
		snap = jobSnap(t, s, "job")
		require.ErrorAs(t, snap.LastErr, &pe, "runtime.Goexit is reported as a panic")
		assert.ErrorContains(t, pe, "Goexit")
		time.Sleep(time.Second)
		stop(t, s)
		snap = jobSnap(t, s, "job")
		assert.Equal(t, uint64(3), snap.Runs, "the scheduler keeps running the job after its panics")
		assert.Equal(t, uint64(2), snap.Panics)
		assert.Equal(t, uint64(0), snap.Failures, "panics are not counted as failures")
		assert.NoError(t, snap.LastErr)
		assert.Equal(t, int64(2), rec.Count("ion_schedule_runs_total", observe.L("name", "job"), observe.L("result", "panicked")))
		assert.Equal(t, int64(1), rec.Count("ion_schedule_runs_total", observe.L("name", "job"), observe.L("result", "completed")))
		assert.NotEmpty(t, rec.Logs(), "panics are logged")
		spans := rec.Spans()
		require.Len(t, spans, 3, "one span per run")
		for i, want := range []string{"failure", "failure", "success"} {
			assert.Equal(t, "schedule.run", spans[i].Name)
			assert.True(t, spans[i].Ended)
			assert.Equal(t, want, spans[i].Outcome, "span %d", i)
		}
		var spe *ion.PanicError
		assert.ErrorAs(t, spans[0].Err, &spe, "a panic ends its span with the *ion.PanicError")
	})
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		s := schedule.New(schedule.WithMetrics(rec))
		name := observe.L("name", "job")
		var n atomic.Int64
		require.NoError(t, s.Add("job", schedule.FixedRate(time.Second), func(context.Context) error {
			if n.Add(1)%2 == 0 {
				return errors.New("even")
			}
			time.Sleep(1500 * time.Millisecond)
			return nil
		}))
		time.Sleep(4200 * time.Millisecond) // runs at 1 (to 2.5), 3 (fails), 4 (to 5.5); 2 skipped
		assert.Equal(t, float64(1), rec.Value("ion_schedule_running", name))
		assert.Equal(t, float64(time.Now().Add(800*time.Millisecond).Unix()), rec.Value("ion_schedule_next_run_timestamp_seconds", name))
		stop(t, s)
		result := func(r string) int64 { return rec.Count("ion_schedule_runs_total", name, observe.L("result", r)) }
		assert.Equal(t, int64(2), result("completed"))
		assert.Equal(t, int64(1), result("failed"))
		assert.Equal(t, int64(1), result("skipped"))
		assert.Equal(t, float64(0), rec.Value("ion_schedule_running", name))
		assert.Equal(t, []float64{1.5, 0, 1.5}, rec.Observations("ion_schedule_run_duration_seconds", name))
		snap := jobSnap(t, s, "job")
		assert.Equal(t, uint64(3), snap.Runs)
		assert.Equal(t, uint64(1), snap.Failures)
		assert.Equal(t, uint64(1), snap.Skipped)
	})
}

func TestWithPolicy(t *testing.T) {
	t.Run("retry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := schedule.New()
			var attempts atomic.Int64
			retry := policy.Retry[struct{}](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(time.Second)))
			require.NoError(t, s.Add("flaky", schedule.After(0), func(context.Context) error {
				if attempts.Add(1) < 3 {
					return errors.New("flaky")
				}
				return nil
			}, schedule.WithPolicy(retry)))
			time.Sleep(time.Minute)
			stop(t, s)
			snap := jobSnap(t, s, "flaky")
			assert.Equal(t, int64(3), attempts.Load())
			assert.Equal(t, uint64(1), snap.Runs, "a run retried to success is one run")
			assert.Zero(t, snap.Failures)
			assert.NoError(t, snap.LastErr)
		})
	})
	t.Run("breaker", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := schedule.New()
			var calls atomic.Int64
			cb := breaker.New("dependency", breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(time.Hour))
			require.NoError(t, s.Add("sync", schedule.FixedRate(time.Second), func(context.Context) error {
				calls.Add(1)
				return errors.New("down")
			}, schedule.WithPolicy(breaker.Policy[struct{}](cb))))
			time.Sleep(5500 * time.Millisecond)
			stop(t, s)
			snap := jobSnap(t, s, "sync")
			assert.Equal(t, int64(3), calls.Load(), "the open breaker keeps the job from the dependency")
			assert.Equal(t, uint64(5), snap.Runs)
			assert.ErrorIs(t, snap.LastErr, breaker.ErrOpen)
		})
	})
}

func TestStopWaitsForRunningJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := schedule.New()
		r := newStarts()
		require.NoError(t, s.Add("job", schedule.After(0), r.job(5*time.Second)))
		time.Sleep(time.Second)
		t0 := time.Now()
		assert.Equal(t, 0, stop(t, s))
		assert.Equal(t, 4*time.Second, time.Since(t0), "Stop returns when the run ends")
		assert.Equal(t, uint64(1), jobSnap(t, s, "job").Runs)
		assert.ErrorIs(t, s.Add("late", schedule.After(0), r.job(0)), schedule.ErrStopped)
		n, err := s.Stop(context.Background())
		assert.Equal(t, 0, n, "Stop is idempotent")
		assert.NoError(t, err)
		assert.True(t, s.Snapshot().Stopped)
	})
}

func TestStopCancelsWhenCtxEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := schedule.New()
		cause := make(chan error, 1)
		require.NoError(t, s.Add("job", schedule.After(0), func(ctx context.Context) error {
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		}))
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := s.Stop(ctx)
		assert.Equal(t, 0, n)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, <-cause, schedule.ErrStopped, "the run's ctx is cancelled with ErrStopped")
		n, err = s.Stop(context.Background())
		assert.Equal(t, 0, n)
		assert.NoError(t, err, "a later Stop waits for the cancelled run")
		snap := jobSnap(t, s, "job")
		assert.Equal(t, uint64(1), snap.Runs)
		assert.Equal(t, uint64(1), snap.Failures)
	})
}

func TestStopDiscardsDueRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reports []error
		var mu sync.Mutex
		rec := observe.NewRecorder()
		s := schedule.New(schedule.WithLogger(rec), schedule.WithMetrics(rec), schedule.WithDiscardHandler(func(name string, n int, err error) {
			mu.Lock()
			defer mu.Unlock()
			for range n {
				reports = append(reports, err)
			}
		}))
		r := newStarts()
		require.NoError(t, s.Add("job", schedule.FixedRate(time.Second), r.job(10*time.Second), schedule.WithOverlap(schedule.QueueOne())))
		time.Sleep(3500 * time.Millisecond) // running since 1; due at 2 queued; due at 3 skipped
		assert.Equal(t, 1, jobSnap(t, s, "job").Pending)
		assert.Equal(t, 1, stop(t, s), "the queued run is discarded and counted")
		snap := jobSnap(t, s, "job")
		assert.Equal(t, uint64(1), snap.Discarded)
		assert.Equal(t, uint64(1), snap.Skipped)
		assert.Equal(t, uint64(1), snap.Runs)
		assert.Zero(t, snap.Pending)
		assert.Equal(t, int64(1), rec.Count("ion_schedule_runs_total", observe.L("name", "job"), observe.L("result", "discarded")))
		logs := rec.Logs()
		require.NotEmpty(t, logs)
		assert.Equal(t, "schedule: due runs discarded", logs[len(logs)-1].Msg, "Stop's discards are logged")
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, reports, 2)
		assert.ErrorIs(t, reports[0], schedule.ErrOverlap)
		assert.ErrorIs(t, reports[1], schedule.ErrStopped)
	})
}

func TestRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := schedule.New()
		r := newStarts()
		require.NoError(t, s.Add("job", schedule.FixedRate(time.Second), r.job(0)))
		time.Sleep(2500 * time.Millisecond)
		assert.True(t, s.Remove("job"))
		assert.False(t, s.Remove("job"))
		assert.Empty(t, s.Snapshot().Jobs)
		time.Sleep(5 * time.Second)
		assert.Equal(t, secs(1, 2), r.get(), "a removed job does not run")
		require.NoError(t, s.Add("job", schedule.After(0), r.job(0)), "the name is free again")
		time.Sleep(time.Second)
		stop(t, s)
		assert.Len(t, r.get(), 3)
	})
}

func TestWithPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 0)
		var reported atomic.Int64
		s := schedule.New(schedule.WithPool(p), schedule.WithDiscardHandler(func(_ string, n int, err error) {
			assert.ErrorIs(t, err, pool.ErrQueueFull)
			reported.Add(int64(n))
		}))
		block := make(chan struct{})
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error { <-block; return nil }))
		var ran atomic.Int64
		require.NoError(t, s.Add("job", schedule.FixedRate(time.Second), func(context.Context) error { ran.Add(1); return nil }))
		time.Sleep(1500 * time.Millisecond)
		snap := jobSnap(t, s, "job")
		assert.Equal(t, uint64(1), snap.Rejected, "a run the busy pool refuses is counted")
		assert.Equal(t, int64(1), reported.Load(), "and reported")
		close(block)
		time.Sleep(time.Second)
		stop(t, s)
		assert.Equal(t, int64(1), ran.Load())
		assert.False(t, p.Snapshot().Closed, "Stop leaves a given pool open")
		_, err := p.Close(context.Background())
		assert.NoError(t, err)
	})
}

func TestBadInput(t *testing.T) {
	ok := func(context.Context) error { return nil }
	var zeroCron schedule.Cron
	var nilCron *schedule.Cron
	tests := []struct {
		name  string
		jname string
		when  schedule.Trigger
		job   schedule.Job
		opts  []schedule.JobOption
		param string
	}{
		{"empty name", "", schedule.After(0), ok, nil, "name"},
		{"nil job", "j", schedule.After(0), nil, nil, "job"},
		{"nil trigger", "j", nil, ok, nil, "trigger"},
		{"nil cron", "j", nilCron, ok, nil, "trigger"},
		{"zero cron", "j", &zeroCron, ok, nil, "trigger"},
		{"negative delay", "j", schedule.After(-time.Second), ok, nil, "delay"},
		{"zero rate", "j", schedule.FixedRate(0), ok, nil, "interval"},
		{"negative rate", "j", schedule.FixedRate(-time.Second), ok, nil, "interval"},
		{"negative fixed delay", "j", schedule.FixedDelay(-time.Second), ok, nil, "interval"},
		{"negative jitter", "j", schedule.After(0), ok, []schedule.JobOption{schedule.WithJitter(-1)}, "WithJitter"},
		{"nil policy", "j", schedule.After(0), ok, []schedule.JobOption{schedule.WithPolicy(nil)}, "WithPolicy"},
		{"run missed zero", "j", schedule.After(0), ok, []schedule.JobOption{schedule.WithMissed(schedule.RunMissed(0))}, "RunMissed"},
		{"skip missed no grace", "j", schedule.After(0), ok, []schedule.JobOption{schedule.WithMissed(schedule.SkipMissed(0))}, "SkipMissed"},
		{"concurrent zero", "j", schedule.After(0), ok, []schedule.JobOption{schedule.WithOverlap(schedule.AllowConcurrent(0))}, "AllowConcurrent"},
		{"nil option", "j", schedule.After(0), ok, []schedule.JobOption{nil}, "option"},
		{"duplicate name", "dup", schedule.After(time.Hour), ok, nil, "name"},
	}
	s := schedule.New()
	require.NoError(t, s.Add("dup", schedule.After(time.Hour), ok))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Add(tc.jname, tc.when, tc.job, tc.opts...)
			require.ErrorIs(t, err, ion.ErrInvalidConfig)
			var ce *ion.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "schedule", ce.Pkg)
			assert.Equal(t, tc.param, ce.Param, "Add(...) = %v: wrong parameter named", err)
		})
	}
	assert.Len(t, s.Snapshot().Jobs, 1, "a refused Add schedules nothing")
	stop(t, s)

	for _, tc := range []struct {
		name  string
		opt   schedule.Option
		param string
	}{
		{"nil pool", schedule.WithPool(nil), "WithPool"},
		{"nil metrics", schedule.WithMetrics(nil), "WithMetrics"},
		{"nil logger", schedule.WithLogger(nil), "WithLogger"},
		{"nil tracer", schedule.WithTracer(nil), "WithTracer"},
		{"nil handler", schedule.WithDiscardHandler(nil), "WithDiscardHandler"},
		{"nil option", nil, "option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := schedule.New(tc.opt)
			var ce *ion.ConfigError
			require.ErrorAs(t, s.Err(), &ce)
			assert.Equal(t, tc.param, ce.Param)
			assert.ErrorIs(t, s.Add("j", schedule.After(0), ok), ion.ErrInvalidConfig, "a scheduler with a bad option fails closed")
			_, err := s.Stop(context.Background())
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.False(t, s.Remove("j"))
			assert.Empty(t, s.Snapshot().Jobs)
		})
	}

	var nilSched *schedule.Scheduler
	assert.ErrorIs(t, nilSched.Add("j", schedule.After(0), ok), ion.ErrInvalidConfig, "a nil *Scheduler fails closed")
	_, err := nilSched.Stop(context.Background())
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.False(t, nilSched.Remove("j"))
	assert.Empty(t, nilSched.Snapshot().Jobs)

	var zero schedule.Scheduler
	assert.ErrorIs(t, zero.Add("j", schedule.After(0), ok), ion.ErrInvalidConfig, "the zero Scheduler fails closed")
	assert.ErrorIs(t, zero.Err(), ion.ErrInvalidConfig)
	var nilCtx context.Context // a nil ctx is the bad input under test
	_, err = schedule.New().Stop(nilCtx)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
}

// TestMissedOneShotAndFixedDelay covers the missed-run policy of the
// triggers that have one due time at a time.
func TestMissedOneShotAndFixedDelay(t *testing.T) {
	t.Run("one-shot skipped for good", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := schedule.New()
			r := newStarts()
			require.NoError(t, s.Add("once", schedule.After(time.Hour), r.job(0), schedule.WithMissed(schedule.SkipMissed(time.Second))))
			schedule.SetDue(s, "once", time.Now().Add(-time.Minute))
			time.Sleep(2 * time.Hour)
			stop(t, s)
			snap := jobSnap(t, s, "once")
			assert.Empty(t, r.get(), "a one-shot run found late beyond grace does not run")
			assert.Equal(t, uint64(1), snap.Skipped)
		})
	})
	t.Run("fixed delay counts from now", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := schedule.New()
			r := newStarts()
			require.NoError(t, s.Add("poll", schedule.FixedDelay(10*time.Second), r.job(time.Second), schedule.WithMissed(schedule.SkipMissed(time.Second))))
			time.Sleep(5 * time.Second)
			schedule.SetDue(s, "poll", time.Now().Add(-time.Minute))
			time.Sleep(20 * time.Second)
			stop(t, s)
			assert.Equal(t, secs(15), r.get(), "skipped at 5s, the next run is 10s later")
			assert.Equal(t, uint64(1), jobSnap(t, s, "poll").Skipped)
		})
	})
}

// TestDiscardQueuedInPool checks that a run handed to a busy pool and not
// yet taken by a worker is discarded, not run, when Remove or Stop comes
// first, and that Stop counts it.
func TestDiscardQueuedInPool(t *testing.T) {
	for _, how := range []string{"remove", "stop"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := pool.New(1, 1)
				var stopped atomic.Int64
				s := schedule.New(schedule.WithPool(p), schedule.WithDiscardHandler(func(_ string, n int, err error) {
					assert.ErrorIs(t, err, schedule.ErrStopped)
					stopped.Add(int64(n))
				}))
				block := make(chan struct{})
				require.NoError(t, p.Submit(context.Background(), func(context.Context) error { <-block; return nil }))
				var ran atomic.Int64
				require.NoError(t, s.Add("job", schedule.After(time.Second), func(context.Context) error { ran.Add(1); return nil }))
				time.Sleep(2 * time.Second)
				require.Equal(t, 1, p.Snapshot().Queued, "the run waits in the pool's queue")
				var n int
				if how == "remove" {
					require.True(t, s.Remove("job"))
					close(block)
					synctest.Wait()
					n = stop(t, s)
					assert.Equal(t, 0, n, "Remove's discards are not Stop's")
				} else {
					done := make(chan int)
					// Owned by the test: it returns once Stop does, joined on done.
					go func() { done <- stop(t, s) }()
					synctest.Wait()
					close(block)
					n = <-done
					assert.Equal(t, 1, n, "Stop counts the run it discarded from the pool's queue")
					assert.Equal(t, uint64(1), jobSnap(t, s, "job").Discarded)
				}
				assert.Zero(t, ran.Load(), "the run never starts")
				assert.Equal(t, int64(1), stopped.Load(), "the discard is reported")
				_, err := p.Close(context.Background())
				assert.NoError(t, err)
			})
		})
	}
}

// TestMissedFarBehind checks that a job found years behind is handled at
// once: the count of skipped runs is capped, and the job is back on its
// schedule.
func TestMissedFarBehind(t *testing.T) {
	for _, tc := range []struct {
		name string
		when schedule.Trigger
	}{
		{"fixed rate", schedule.FixedRate(time.Millisecond)},
		{"cron every", mustCron(t, "@every 1ms", time.UTC)},
		{"cron", mustCron(t, "* * * * *", time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := schedule.New()
				r := newStarts()
				require.NoError(t, s.Add("job", tc.when, r.job(0)))
				schedule.SetDue(s, "job", time.Now().Add(-10*365*24*time.Hour))
				synctest.Wait()
				snap := jobSnap(t, s, "job")
				assert.Equal(t, uint64(1), snap.Runs, "one run for all the missed ones")
				assert.Equal(t, uint64(100_000-1), snap.Skipped, "the count stops at the bound")
				assert.True(t, snap.Next.After(time.Now()), "back on schedule")
				stop(t, s)
			})
		})
	}
}
