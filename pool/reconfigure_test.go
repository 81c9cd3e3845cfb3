package pool_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// accounted checks Snapshot's accounting identity for a pool that accepted
// n tasks.
func accounted(t *testing.T, p *pool.Pool, n int) {
	t.Helper()
	m := p.Snapshot()
	got := uint64(m.Queued+m.Running) + m.Completed + m.Failed + m.Panicked + m.Expired + m.Shed + m.Discarded
	assert.Equal(t, uint64(n), got, "accepted = Queued + Running + Completed + Failed + Panicked + Expired + Shed + Discarded (%+v)", m)
}

// TestReconfigureQueueOrder: a new order, or adaptive LIFO threshold,
// decides which of the tasks already queued the worker takes next.
func TestReconfigureQueueOrder(t *testing.T) {
	tests := []struct {
		name string
		from []pool.Option
		to   []pool.Option
		want []int
	}{
		{"FIFO to LIFO", nil, []pool.Option{pool.WithQueueOrder(pool.LIFO)}, []int{4, 3, 2, 1}},
		{"LIFO to FIFO", []pool.Option{pool.WithQueueOrder(pool.LIFO)}, nil, []int{1, 2, 3, 4}},
		// 4 and 3 queued: the newest first; then 2, below 3: the oldest.
		{"adaptive LIFO on", nil, []pool.Option{pool.WithAdaptiveLIFO(3)}, []int{4, 3, 1, 2}},
		{"adaptive LIFO off", []pool.Option{pool.WithAdaptiveLIFO(1)}, nil, []int{1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, 1, 4, tc.from...)
			g := newGate()
			fill(t, p, g, 1)
			var mu sync.Mutex
			var got []int
			for i := 1; i <= 4; i++ {
				require.NoError(t, p.TrySubmit(func(context.Context) error {
					mu.Lock()
					got = append(got, i)
					mu.Unlock()
					return nil
				}))
			}
			require.NoError(t, p.Reconfigure(tc.to...))
			g.open()
			require.NoError(t, p.Wait(context.Background()))
			assert.Equal(t, tc.want, got, "the order in which the queued tasks ran")
			accounted(t, p, 5)
		})
	}
}

// TestReconfigureMaxQueueWait: a max queue wait turned on, lowered or
// turned off applies to the tasks already queued at the next take; in a
// pool that kept no time for them, their wait counts from Reconfigure.
func TestReconfigureMaxQueueWait(t *testing.T) {
	tests := []struct {
		name    string
		from    []pool.Option
		to      pool.Option // at 1h; the worker takes the queued tasks at 2h
		expired bool
	}{
		// Queued 2h, but 1h since the pool started keeping time.
		{"turned on counts from Reconfigure", nil, pool.WithMaxQueueWait(90 * time.Minute), false},
		{"turned on, shorter", nil, pool.WithMaxQueueWait(30 * time.Minute), true},
		{"lowered", []pool.Option{pool.WithMaxQueueWait(3 * time.Hour)}, pool.WithMaxQueueWait(90 * time.Minute), true},
		{"raised", []pool.Option{pool.WithMaxQueueWait(90 * time.Minute)}, pool.WithMaxQueueWait(3 * time.Hour), false},
		{"turned off", []pool.Option{pool.WithMaxQueueWait(90 * time.Minute)}, pool.WithMaxQueueWait(0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTracker()
				tr.p = newPool(t, 1, 4, append(tc.from, pool.WithDiscardHandler(tr.onDiscard))...)
				tr.submit(t, 0, 2*time.Hour)
				synctest.Wait()
				for id := 1; id <= 3; id++ {
					tr.submit(t, id, 0)
				}
				time.Sleep(time.Hour)
				require.NoError(t, tr.p.Reconfigure(tc.to))
				require.NoError(t, tr.p.Wait(context.Background()))
				tr.exactlyOnce(t, 4)
				if tc.expired {
					assert.Equal(t, []int{0}, tr.ranIDs())
					for id := 1; id <= 3; id++ {
						if errs := tr.reported()[id]; assert.Len(t, errs, 1, "task %d", id) {
							assert.ErrorIs(t, errs[0], pool.ErrExpired, "task %d", id)
						}
					}
					assert.Equal(t, uint64(3), tr.p.Snapshot().Expired)
				} else {
					assert.Equal(t, []int{0, 1, 2, 3}, tr.ranIDs())
					assert.Empty(t, tr.reported())
				}
				accounted(t, tr.p, 4)
			})
		})
	}
}

// TestReconfigureCoDelCountsFromReconfigure: CoDel turned on in a pool that
// kept no time counts the waits of the queued tasks from Reconfigure, 1ms
// before the worker takes the first: the first interval's lowest wait is
// 1ms, below the target, so the queue does not stand and every task runs.
// Counted from their submission, an hour earlier, the queue would stand and
// tasks 5 and 6 be shed.
func TestReconfigureCoDelCountsFromReconfigure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ms = time.Millisecond
		tr := newTracker()
		tr.p = newPool(t, 1, 8, pool.WithDiscardHandler(tr.onDiscard))
		tr.submit(t, 0, time.Hour)
		synctest.Wait()
		for id := 1; id <= 6; id++ {
			tr.submit(t, id, 30*ms) // taken at 1h, 1h+30ms, ... 1h+150ms
		}
		time.Sleep(time.Hour - ms)
		require.NoError(t, tr.p.Reconfigure(pool.WithCoDel(10*ms, 100*ms)))
		require.NoError(t, tr.p.Wait(context.Background()))
		tr.exactlyOnce(t, 7)
		assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6}, tr.ranIDs())
		assert.Empty(t, tr.reported())
		accounted(t, tr.p, 7)
	})
}

// TestReconfigureCoDelState: one worker, tasks of 30ms queued at once
// behind a 30ms task, CoDel 10ms/100ms. The worker takes task 1 at 30ms
// (the first interval starts, to end at 130ms), 2, 3 and 4 by 120ms; at
// 150ms the interval is over with a lowest wait of 30ms, above the target:
// the queue stands, and tasks 5 to 8 (waited 150ms) are shed. A Reconfigure
// at 140ms keeps CoDel's state when it stays on, so the verdict stands
// unless the new target is above the lowest wait; turned off, or off and on
// again (a fresh state), CoDel sheds nothing.
func TestReconfigureCoDelState(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name    string
		reconfs [][]pool.Option
		shed    bool
		target  string // in the shed tasks' error
	}{
		{"same settings keep the state", [][]pool.Option{{pool.WithCoDel(10*ms, 100*ms)}}, true, "10ms"},
		{"a new interval keeps the state", [][]pool.Option{{pool.WithCoDel(10*ms, 300*ms)}}, true, "10ms"},
		{"a new target judges the next take", [][]pool.Option{{pool.WithCoDel(20*ms, 100*ms)}}, true, "20ms"},
		{"a target above the lowest wait spares them", [][]pool.Option{{pool.WithCoDel(40*ms, 100*ms)}}, false, ""},
		{"off sheds nothing", [][]pool.Option{{}}, false, ""},
		{"off and on starts afresh", [][]pool.Option{{}, {pool.WithCoDel(10*ms, 100*ms)}}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTracker()
				tr.p = newPool(t, 1, 10, pool.WithCoDel(10*ms, 100*ms), pool.WithDiscardHandler(tr.onDiscard))
				for id := range 9 {
					tr.submit(t, id, 30*ms)
				}
				time.Sleep(140 * ms)
				for _, opts := range tc.reconfs {
					require.NoError(t, tr.p.Reconfigure(opts...))
				}
				require.NoError(t, tr.p.Wait(context.Background()))
				tr.exactlyOnce(t, 9)
				if tc.shed {
					assert.Equal(t, []int{0, 1, 2, 3, 4}, tr.ranIDs())
					for id := 5; id <= 8; id++ {
						if errs := tr.reported()[id]; assert.Len(t, errs, 1, "task %d", id) {
							assert.ErrorIs(t, errs[0], pool.ErrShed, "task %d", id)
							assert.EqualError(t, errs[0], "pool: task shed from a standing queue: waited 150ms, over the "+tc.target+" target")
						}
					}
					assert.Equal(t, uint64(4), tr.p.Snapshot().Shed)
				} else {
					assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, tr.ranIDs())
					assert.Empty(t, tr.reported())
				}
				accounted(t, tr.p, 9)
			})
		})
	}
}

// TestReconfigureIdleTimeout: a new idle timeout d applies to the workers
// already idle, who exit d after Reconfigure; 0 keeps them.
func TestReconfigureIdleTimeout(t *testing.T) {
	tests := []struct {
		name     string
		from, to time.Duration
	}{
		{"shorter", time.Hour, time.Minute},
		{"longer", time.Minute, time.Hour},
		{"from none", 0, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPool(t, 4, 0, pool.WithIdleTimeout(tc.from))
				burst(t, p, 4)
				time.Sleep(30 * time.Second)
				require.NoError(t, p.Reconfigure(pool.WithIdleTimeout(tc.to)))
				time.Sleep(tc.to - time.Nanosecond)
				synctest.Wait()
				assert.Equal(t, 4, p.Snapshot().Workers, "no worker exits before the new timeout has passed since Reconfigure")
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				assert.Zero(t, p.Snapshot().Workers, "every worker idle for the new timeout has exited")

				// Workers that go idle later exit between d and 2d.
				burst(t, p, 4)
				time.Sleep(2 * tc.to)
				synctest.Wait()
				assert.Zero(t, p.Snapshot().Workers)
			})
		})
	}
	t.Run("to none", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newPool(t, 4, 0, pool.WithIdleTimeout(time.Minute))
			burst(t, p, 4)
			time.Sleep(30 * time.Second)
			require.NoError(t, p.Reconfigure(pool.WithIdleTimeout(0)))
			time.Sleep(24 * time.Hour)
			synctest.Wait()
			assert.Equal(t, 4, p.Snapshot().Workers, "WithIdleTimeout(0) keeps the idle workers")
		})
	})
}

// TestSetQueueSizeGrow: growing the queue admits the blocked submitters at
// once, oldest first, and every task runs.
func TestSetQueueSizeGrow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1)
		g := newGate()
		fill(t, p, g, 1)
		var ran atomic.Int64
		task := func(context.Context) error { ran.Add(1); return nil }
		require.NoError(t, p.TrySubmit(task))
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- p.Submit(context.Background(), task) }() // owner: the test; exits once admitted; joined by the reads of errs
		}
		waitBlocked(t, p, 3)

		require.NoError(t, p.SetQueueSize(3))
		for range 2 {
			require.NoError(t, <-errs, "a blocked submitter is admitted at once")
		}
		waitBlocked(t, p, 1)
		m := p.Snapshot()
		assert.Equal(t, 3, m.QueueSize)
		assert.Equal(t, 3, m.Queued)
		accounted(t, p, 4)
		assert.ErrorIs(t, p.TrySubmit(task), pool.ErrQueueFull, "the queue is full again")

		g.open()
		require.NoError(t, <-errs)
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, int64(4), ran.Load())
		accounted(t, p, 5)
	})
}

// TestSetQueueSizeShrink: shrinking below the tasks queued keeps them all;
// they run, and new submissions wait until the queue is below the new size.
func TestSetQueueSizeShrink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 4)
		g := newGate()
		fill(t, p, g, 1)
		queued := newGate()
		for range 4 {
			require.NoError(t, p.TrySubmit(queued.task))
		}
		require.NoError(t, p.SetQueueSize(1))
		m := p.Snapshot()
		assert.Equal(t, 1, m.QueueSize)
		assert.Equal(t, 4, m.Queued, "no queued task is dropped")
		assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrQueueFull)
		admitted := make(chan error, 1)
		go func() { admitted <- p.Submit(context.Background(), nop) }() // owner: the test; exits once admitted; joined by the read of admitted
		waitBlocked(t, p, 1)

		g.open() // the worker takes the queued tasks one by one
		for left := 3; left > 0; left-- {
			<-queued.started
			synctest.Wait()
			m := p.Snapshot()
			assert.Equal(t, left, m.Queued)
			assert.Equal(t, 1, m.Blocked, "%d queued, 1 allowed: the submitter still waits", left)
			queued.release <- struct{}{}
		}
		<-queued.started // the last queued task runs: the queue is empty
		require.NoError(t, <-admitted, "the submitter is admitted once the queue is below its size")
		assert.Equal(t, 1, p.Snapshot().Queued)
		queued.open()
		require.NoError(t, p.Wait(context.Background()))
		m = p.Snapshot()
		assert.Equal(t, uint64(6), m.Completed, "every accepted task ran")
		assert.Equal(t, uint64(1), m.Rejected, "only the TrySubmit refused")
		accounted(t, p, 6)
	})
}

// TestSetQueueSizeZeroHandsOff: a queue shrunk to 0 runs its queued tasks,
// then every submission is a hand-off.
func TestSetQueueSizeZeroHandsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 2)
		g := newGate()
		fill(t, p, g, 1)
		require.NoError(t, p.TrySubmit(nop))
		require.NoError(t, p.SetQueueSize(0))
		assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrQueueFull)
		g.open()
		require.NoError(t, p.Wait(context.Background()))
		require.NoError(t, p.TrySubmit(nop), "the idle worker takes the hand-off")
		require.NoError(t, p.Wait(context.Background()))
		accounted(t, p, 3)
	})
}

// TestSetQueueSizeShrinkExpires: a submitter that finds a shrunk queue over
// its size expires the tasks whose wait passed the limit, and takes the
// room they leave.
func TestSetQueueSizeShrinkExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker()
		tr.p = newPool(t, 1, 4, pool.WithMaxQueueWait(time.Minute), pool.WithDiscardHandler(tr.onDiscard))
		g := newGate()
		fill(t, tr.p, g, 1)
		for id := range 4 {
			tr.submit(t, id, 0)
		}
		require.NoError(t, tr.p.SetQueueSize(2))
		time.Sleep(2 * time.Minute)
		require.NoError(t, tr.p.TrySubmit(nop), "the expired tasks make room")
		m := tr.p.Snapshot()
		assert.Equal(t, uint64(4), m.Expired)
		assert.Equal(t, 1, m.Queued)
		g.open()
		require.NoError(t, tr.p.Wait(context.Background()))
		tr.exactlyOnce(t, 4)
		accounted(t, tr.p, 6)
	})
}

func TestSetQueueSizeBadInput(t *testing.T) {
	p := newPool(t, 1, 2)
	err := p.SetQueueSize(-1)
	require.ErrorIs(t, err, ion.ErrInvalidConfig)
	var cerr *ion.ConfigError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "n", cerr.Param)
	assert.Equal(t, 2, p.Snapshot().QueueSize, "nothing changed")

	closed := pool.New(1, 2)
	mustClose(t, closed)
	assert.ErrorIs(t, closed.SetQueueSize(4), pool.ErrClosed)
	assert.Equal(t, 2, closed.Snapshot().QueueSize)

	var zero pool.Pool
	assert.ErrorIs(t, zero.SetQueueSize(4), ion.ErrInvalidConfig)
	assert.ErrorIs(t, pool.New(0, 2).SetQueueSize(4), ion.ErrInvalidConfig, "a pool that fails closed")
}

// TestReconfigureRefusedChangesNothing: an invalid option, or one that only
// New takes, makes Reconfigure return an error naming it and change
// nothing; so does a closed pool.
func TestReconfigureRefusedChangesNothing(t *testing.T) {
	rec := observe.NewRecorder()
	tests := []struct {
		name  string
		opts  []pool.Option
		param string
	}{
		{"name", []pool.Option{pool.WithQueueOrder(pool.LIFO), pool.WithName("w")}, "WithName"},
		{"base context", []pool.Option{pool.WithBaseContext(context.Background())}, "WithBaseContext"},
		{"panic handler", []pool.Option{pool.WithPanicHandler(func(*ion.PanicError) {})}, "WithPanicHandler"},
		{"discard handler", []pool.Option{pool.WithDiscardHandler(func(context.Context, pool.Task, error) {})}, "WithDiscardHandler"},
		{"logger", []pool.Option{pool.WithLogger(rec)}, "WithLogger"},
		{"metrics", []pool.Option{pool.WithMetrics(rec), pool.WithName("w")}, "WithMetrics"},
		{"tracer", []pool.Option{pool.WithTracer(rec)}, "WithTracer"},
		{"task policy", []pool.Option{pool.WithTaskPolicy(policy.Timeout[any](time.Second))}, "WithTaskPolicy"},
		{"unknown order", []pool.Option{pool.WithQueueOrder(9)}, "WithQueueOrder"},
		{"negative max wait", []pool.Option{pool.WithQueueOrder(pool.LIFO), pool.WithMaxQueueWait(-1)}, "WithMaxQueueWait"},
		{"negative idle timeout", []pool.Option{pool.WithIdleTimeout(-1)}, "WithIdleTimeout"},
		{"zero CoDel target", []pool.Option{pool.WithCoDel(0, time.Second)}, "WithCoDel"},
		{"zero adaptive LIFO", []pool.Option{pool.WithAdaptiveLIFO(0)}, "WithAdaptiveLIFO"},
		{"nil option", []pool.Option{nil}, "opts"},
		{"invalid before fixed", []pool.Option{pool.WithName("w"), pool.WithAdaptiveLIFO(-1)}, "WithAdaptiveLIFO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, 2, 4, pool.WithName("workers"), pool.WithMaxQueueWait(time.Minute), pool.WithIdleTimeout(time.Hour),
				pool.WithCoDel(5*time.Millisecond, 100*time.Millisecond), pool.WithAdaptiveLIFO(3))
			before := pool.SettingsOf(p)
			err := p.Reconfigure(tc.opts...)
			require.ErrorIs(t, err, ion.ErrInvalidConfig)
			var cerr *ion.ConfigError
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, "pool", cerr.Pkg)
			assert.Equal(t, tc.param, cerr.Param, "the error names the option")
			assert.Equal(t, before, pool.SettingsOf(p), "nothing changed")
			assert.NoError(t, p.Err(), "a refused Reconfigure does not make p fail closed")
		})
	}
	t.Run("closed", func(t *testing.T) {
		p := pool.New(1, 1, pool.WithMaxQueueWait(time.Minute))
		mustClose(t, p)
		before := pool.SettingsOf(p)
		assert.ErrorIs(t, p.Reconfigure(pool.WithQueueOrder(pool.LIFO)), pool.ErrClosed)
		assert.Equal(t, before, pool.SettingsOf(p))
	})
	t.Run("fail closed", func(t *testing.T) {
		var zero pool.Pool
		assert.ErrorIs(t, zero.Reconfigure(), ion.ErrInvalidConfig)
		p := pool.New(0, 1)
		assert.Same(t, p.Err(), p.Reconfigure())
	})
}

// TestReconfigureSettings: every setting takes the value opts give it, and
// a setting left out returns to its default.
func TestReconfigureSettings(t *testing.T) {
	const ms = time.Millisecond
	p := newPool(t, 1, 1)
	none := int(^uint(0) >> 1) // FIFO: the newest is never taken first
	steps := []struct {
		opts []pool.Option
		want pool.Settings
	}{
		{[]pool.Option{pool.WithQueueOrder(pool.LIFO)}, pool.Settings{LIFOAt: 1, IdleTimeout: pool.DefaultIdleTimeout}},
		{[]pool.Option{pool.WithMaxQueueWait(time.Second), pool.WithAdaptiveLIFO(4), pool.WithIdleTimeout(0)},
			pool.Settings{LIFOAt: 4, MaxWait: time.Second, Stamp: true}},
		{[]pool.Option{pool.WithCoDel(5*ms, 100*ms), pool.WithIdleTimeout(time.Minute)},
			pool.Settings{LIFOAt: none, IdleTimeout: time.Minute, CoDelTarget: 5 * ms, CoDelInterval: 100 * ms, Stamp: true}},
		{nil, pool.Settings{LIFOAt: none, IdleTimeout: pool.DefaultIdleTimeout}},
	}
	for i, st := range steps {
		require.NoError(t, p.Reconfigure(st.opts...), "step %d", i)
		assert.Equal(t, st.want, pool.SettingsOf(p), "step %d", i)
	}

	// A pool with metrics keeps the time of its tasks whatever the settings.
	m := newPool(t, 1, 1, pool.WithMetrics(&atomicSink{}))
	require.NoError(t, m.Reconfigure())
	assert.True(t, pool.SettingsOf(m).Stamp, "the wait histogram needs the time of each task")
}

// TestReconfigureStress reconfigures the queue settings, the queue's size
// and the number of workers while callers submit every way, give up, and
// have tasks expired and shed (run with -race): every accepted task is run
// or reported exactly once, and the counters add up.
func TestReconfigureStress(t *testing.T) {
	const us = time.Microsecond
	settings := [][]pool.Option{
		nil,
		{pool.WithQueueOrder(pool.LIFO)},
		{pool.WithCoDel(10*us, 100*us)},
		{pool.WithCoDel(us, 50*us), pool.WithMaxQueueWait(300 * us), pool.WithAdaptiveLIFO(2)},
		{pool.WithMaxQueueWait(100 * us), pool.WithIdleTimeout(50 * us)},
		{pool.WithAdaptiveLIFO(3), pool.WithIdleTimeout(0)},
		{pool.WithIdleTimeout(time.Microsecond)},
	}
	rng := rand.New(rand.NewPCG(1, 2)) // used by the changer goroutine only
	var changes int
	m := stressQueueManagement(t, nil, func(p *pool.Pool, i int) {
		changes = i + 1
		switch i % 4 {
		case 0, 1:
			require.NoError(t, p.Reconfigure(settings[rng.IntN(len(settings))]...))
		case 2:
			require.NoError(t, p.SetQueueSize(rng.IntN(12)))
		case 3:
			require.NoError(t, p.Resize(1+rng.IntN(3)))
		}
		if i%8 == 0 {
			runtime.Gosched() // not synchronization: lets the callers run between changes
		}
	})
	t.Logf("%d changes; queue size at the end: %d", changes, m.QueueSize)
}
