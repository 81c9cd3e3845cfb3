package schedule_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/schedule"
)

// TestStressAddRemoveStop hammers a scheduler in real time with concurrent
// Add, Remove and Snapshot calls while jobs run at sub-millisecond rates,
// then stops it while some still do. Invariants: no run starts once Stop
// has returned, every surviving job's runs equal its invocations, and
// nothing is left running or pending.
func TestStressAddRemoveStop(t *testing.T) {
	const goroutines, iterations = 8, 200
	s := schedule.New()
	var afterStop atomic.Bool
	var late atomic.Int64
	var calls sync.Map // job name -> *atomic.Int64
	job := func(name string) schedule.Job {
		n := new(atomic.Int64)
		calls.Store(name, n)
		return func(ctx context.Context) error {
			if afterStop.Load() {
				late.Add(1)
			}
			n.Add(1)
			if n.Load()%3 == 0 {
				return fmt.Errorf("run %d of %s fails", n.Load(), name)
			}
			return nil
		}
	}
	var wg, halfway sync.WaitGroup
	halfway.Add(goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				if i == iterations/2 {
					halfway.Done()
				}
				name := fmt.Sprintf("g%d-%d", g, i)
				var when schedule.Trigger
				var opts []schedule.JobOption
				switch i % 4 {
				case 0:
					when = schedule.FixedRate(50 * time.Microsecond)
				case 1:
					when, opts = schedule.FixedRate(20*time.Microsecond), []schedule.JobOption{schedule.WithOverlap(schedule.QueueOne())}
				case 2:
					when, opts = schedule.FixedDelay(30*time.Microsecond), []schedule.JobOption{schedule.WithJitter(10 * time.Microsecond)}
				default:
					when, opts = schedule.After(0), []schedule.JobOption{schedule.WithOverlap(schedule.AllowConcurrent(3))}
				}
				err := s.Add(name, when, job(name), opts...)
				if err != nil {
					assert.ErrorIs(t, err, schedule.ErrStopped, "Add may only fail because of Stop")
					if i < iterations/2 {
						halfway.Done()
					}
					return
				}
				if i%2 == 0 {
					prev := fmt.Sprintf("g%d-%d", g, i-1)
					s.Remove(prev)
				}
				if i%16 == 0 {
					_ = s.Snapshot()
				}
			}
		})
	}
	halfway.Wait() // stop while the adders are half-way
	n, err := s.Stop(context.Background())
	afterStop.Store(true)
	require.NoError(t, err)
	wg.Wait()
	snap := s.Snapshot()
	require.True(t, snap.Stopped)
	assert.Zero(t, late.Load(), "a run started after Stop returned")
	var discarded uint64
	for _, j := range snap.Jobs {
		v, _ := calls.Load(j.Name)
		assert.Equal(t, uint64(v.(*atomic.Int64).Load()), j.Runs, "%s: runs counted and runs made differ", j.Name)
		assert.Zero(t, j.Running, "%s: still running after Stop", j.Name)
		assert.Zero(t, j.Pending, "%s: still pending after Stop", j.Name)
		assert.True(t, j.Next.IsZero(), "%s: has a next time after Stop", j.Name)
		discarded += j.Discarded
		if j.LastErr != nil {
			assert.NotErrorIs(t, j.LastErr, ion.ErrInvalidConfig)
		}
	}
	assert.LessOrEqual(t, discarded, uint64(n), "Stop's count covers the discards of the jobs left (and of jobs removed after their runs were due)")
}
