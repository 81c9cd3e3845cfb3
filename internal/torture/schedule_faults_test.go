package torture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/schedule"
)

// schedTally is what one scheduled job did and was told, by the test's own
// count: the runs its outermost policy layer saw, the panics it injected,
// and the discards the scheduler reported for it, by reason.
type schedTally struct {
	runs, panics                            atomic.Int64
	missed, overlap, stopped, rejected, any atomic.Int64
}

// TestScheduleFaults drives a scheduler in virtual time with jobs of every
// trigger and policy on a small shared pool, while the jobs fail, panic,
// overrun and ignore their context, jobs are removed and added mid-flight,
// and Stop's deadline passes while runs are still going. Then it checks
// the accounting: every run the policies saw is counted once, every
// discard reported is counted, nothing is left running or pending, and a
// second Stop joins the runs that ignored their context.
func TestScheduleFaults(t *testing.T) {
	for i := range 3 {
		seed := seedOf(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runScheduleFaults(t, seed) })
		})
	}
}

func runScheduleFaults(t *testing.T, seed uint64) {
	p := pool.New(8, 4, pool.WithName("shared"))
	var mu sync.Mutex
	tallies := map[string]*schedTally{}
	tally := func(name string) *schedTally {
		mu.Lock()
		defer mu.Unlock()
		if tallies[name] == nil {
			tallies[name] = &schedTally{}
		}
		return tallies[name]
	}
	s := schedule.New(schedule.WithPool(p), schedule.WithDiscardHandler(func(name string, n int, err error) {
		tl := tally(name)
		tl.any.Add(int64(n))
		switch {
		case errors.Is(err, schedule.ErrMissed):
			tl.missed.Add(int64(n))
		case errors.Is(err, schedule.ErrOverlap):
			tl.overlap.Add(int64(n))
		case errors.Is(err, schedule.ErrStopped):
			tl.stopped.Add(int64(n))
		case errors.Is(err, pool.ErrQueueFull), errors.Is(err, pool.ErrClosed):
			tl.rejected.Add(int64(n))
		default:
			t.Errorf("%s: discard of %d runs for an unknown reason: %v", name, n, err)
		}
	}))
	cb := breaker.New("dependency", breaker.WithConsecutiveFailures(4), breaker.WithOpenDuration(20*time.Second))
	var calls atomic.Uint64
	add := func(i int) string {
		r := mix(seed ^ uint64(i)*0x9e37)
		name := fmt.Sprintf("job%d", i)
		tl := tally(name)
		var when schedule.Trigger
		switch r % 5 {
		case 0:
			when = schedule.FixedRate(time.Duration(1+r>>8%20) * time.Second)
		case 1:
			when = schedule.FixedDelay(time.Duration(1+r>>8%20) * time.Second)
		case 2:
			c, err := schedule.ParseCron([]string{"* * * * *", "*/2 * * * *", "@every 13s", "0,30 * * * *"}[r>>8%4], time.UTC)
			if err != nil {
				t.Error(err) // not Fatal: add also runs on the controller's goroutine
			}
			when = c
		case 3:
			when = schedule.After(time.Duration(r>>8%600) * time.Second)
		default:
			when = schedule.FixedRate(500 * time.Millisecond)
		}
		overlap := []schedule.Overlap{schedule.SkipIfRunning(), schedule.QueueOne(), schedule.AllowConcurrent(3)}[r>>16%3]
		missed := []schedule.Missed{schedule.RunMissedOnce(), schedule.SkipMissed(time.Second), schedule.RunMissed(3)}[r>>20%3]
		count := policy.New("count", func(ctx context.Context, next policy.Next[struct{}]) (struct{}, error) {
			tl.runs.Add(1)
			return next.Call(ctx)
		})
		layers := []policy.Policy[struct{}]{count}
		if r>>24%2 == 0 {
			layers = append(layers, policy.Retry[struct{}](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(time.Second))))
		}
		if r>>25%2 == 0 {
			layers = append(layers, breaker.Policy[struct{}](cb))
		}
		if r>>26%2 == 0 {
			layers = append(layers, policy.Timeout[struct{}](30*time.Second))
		}
		job := func(ctx context.Context) error {
			f := mix(seed ^ calls.Add(1))
			switch f % 20 {
			case 0, 1, 2:
				return errInjected
			case 3:
				tl.panics.Add(1)
				panic(errPanicked)
			case 4, 5, 6:
				select { // overruns its interval, honouring ctx
				case <-time.After(time.Duration(f>>8%60) * time.Second):
				case <-ctx.Done():
					return ctx.Err()
				}
			case 7:
				time.Sleep(time.Duration(f>>8%20) * time.Second) // ignores ctx
			}
			return nil
		}
		err := s.Add(name, when, job,
			schedule.WithOverlap(overlap), schedule.WithMissed(missed),
			schedule.WithJitter(time.Duration(r>>28%3)*time.Second),
			schedule.WithPolicy(policy.Compose(layers...)))
		if err != nil {
			t.Errorf("Add(%s) = %v", name, err)
		}
		return name
	}
	const jobs = 40
	for i := range jobs {
		add(i)
	}
	// The controller removes a job and adds a new one every 30s; it is
	// owned by the test and joined on ctlDone.
	ctlDone := make(chan struct{})
	quit := make(chan struct{})
	removed := map[string]bool{}
	go func() {
		defer close(ctlDone)
		next := jobs
		for k := 0; ; k++ {
			select {
			case <-quit:
				return
			case <-time.After(30 * time.Second):
			}
			name := fmt.Sprintf("job%d", mix(seed^uint64(k))%uint64(next))
			if s.Remove(name) {
				removed[name] = true
			}
			add(next)
			next++
			_ = s.Snapshot()
		}
	}()
	time.Sleep(20 * time.Minute)
	close(quit)
	<-ctlDone

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	n1, err := s.Stop(ctx)
	cancel()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want nil or a deadline", err)
	}
	n2, err := s.Stop(context.Background())
	if err != nil {
		t.Errorf("second Stop = %v", err)
	}
	if n2 < n1 {
		t.Errorf("second Stop counts %d discards, the first %d", n2, n1)
	}
	var stoppedSum int64
	var sum schedule.JobSnapshot
	for _, j := range s.Snapshot().Jobs {
		sum.Runs += j.Runs
		sum.Failures += j.Failures
		sum.Panics += j.Panics
		sum.Skipped += j.Skipped
		sum.Rejected += j.Rejected
		sum.Discarded += j.Discarded
		tl := tally(j.Name)
		if removed[j.Name] {
			t.Errorf("%s: removed but in the snapshot", j.Name)
		}
		if j.Running != 0 || j.Pending != 0 {
			t.Errorf("%s: %d running, %d pending after Stop", j.Name, j.Running, j.Pending)
		}
		if got := tl.runs.Load(); uint64(got) != j.Runs {
			t.Errorf("%s: the policy saw %d runs, the snapshot counts %d", j.Name, got, j.Runs)
		}
		if got := tl.panics.Load(); uint64(got) != j.Panics {
			t.Errorf("%s: %d panics injected, %d counted", j.Name, got, j.Panics)
		}
		if got := tl.missed.Load() + tl.overlap.Load(); uint64(got) != j.Skipped {
			t.Errorf("%s: %d skips reported, %d counted", j.Name, got, j.Skipped)
		}
		if got := tl.stopped.Load(); uint64(got) != j.Discarded {
			t.Errorf("%s: %d discards reported, %d counted", j.Name, got, j.Discarded)
		}
		if got := tl.rejected.Load(); uint64(got) != j.Rejected {
			t.Errorf("%s: %d rejections reported, %d counted", j.Name, got, j.Rejected)
		}
		if j.LastErr != nil {
			var pe *ion.PanicError
			if !errors.Is(j.LastErr, errInjected) && !errors.As(j.LastErr, &pe) && !errors.Is(j.LastErr, ion.ErrRejected) &&
				!errors.Is(j.LastErr, context.Canceled) && !errors.Is(j.LastErr, policy.ErrTimeout) {
				t.Errorf("%s: last error %v is none of the injected or policy errors", j.Name, j.LastErr)
			}
		}
		stoppedSum += tl.stopped.Load()
	}
	t.Logf("runs %d (failed %d, panicked %d), skipped %d, rejected %d, discarded %d, Stop: %d then %d",
		sum.Runs, sum.Failures, sum.Panics, sum.Skipped, sum.Rejected, sum.Discarded, n1, n2)
	if sum.Runs == 0 || sum.Failures == 0 || sum.Panics == 0 || sum.Skipped == 0 {
		t.Errorf("the scenario did not exercise runs, failures, panics and skips: %+v", sum)
	}
	if int64(n2) < stoppedSum {
		t.Errorf("Stop counts %d discards, the jobs left %d", n2, stoppedSum)
	}
	if _, err := p.Close(context.Background()); err != nil {
		t.Errorf("closing the shared pool: %v", err)
	}
	ps := p.Snapshot()
	if ps.Running+ps.Queued != 0 {
		t.Errorf("the shared pool still holds tasks: %+v", ps)
	}
}
