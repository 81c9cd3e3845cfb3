package pool_test

import (
	"context"
	"errors"
	"strings"
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

// The tests in this file cover queue management under overload: CoDel
// (WithCoDel) and adaptive LIFO (WithAdaptiveLIFO). The CoDel tests run in
// a synctest bubble, where every wait is exact, so each row of their
// timelines is a fact, not an estimate.

// idKey carries a task's id in its submitter's ctx, so that the discard
// handler can tell which task it is given.
type idKey struct{}

// tracker follows numbered tasks submitted every way (Submit, Go, Policy)
// and records, per id, its runs and its reports (a discard-handler call, or
// its caller's error), so that a test can check that each accepted task was
// run or reported exactly once.
type tracker struct {
	p       *pool.Pool
	mu      sync.Mutex
	ran     map[int]int
	errs    map[int][]error // reports: the discard handler's, or the caller's error
	futures map[int]*pool.Future[int]
	calls   sync.WaitGroup // Policy calls in flight
}

func newTracker() *tracker {
	return &tracker{ran: map[int]int{}, errs: map[int][]error{}, futures: map[int]*pool.Future[int]{}}
}

// onDiscard is the pool's discard handler.
func (tr *tracker) onDiscard(ctx context.Context, _ pool.Task, err error) {
	tr.report(ctx.Value(idKey{}).(int), err)
}

func (tr *tracker) report(id int, err error) {
	tr.mu.Lock()
	tr.errs[id] = append(tr.errs[id], err)
	tr.mu.Unlock()
}

// work is the body of task id: it counts the run, then takes d.
func (tr *tracker) work(id int, d time.Duration) {
	tr.mu.Lock()
	tr.ran[id]++
	tr.mu.Unlock()
	time.Sleep(d)
}

// submit submits task id, taking d, with Submit.
func (tr *tracker) submit(t *testing.T, id int, d time.Duration) {
	t.Helper()
	ctx := context.WithValue(context.Background(), idKey{}, id)
	require.NoError(t, tr.p.Submit(ctx, func(context.Context) error { tr.work(id, d); return nil }), "Submit(%d)", id)
}

// goCall submits task id, taking d, with Go; wait collects its result.
func (tr *tracker) goCall(t *testing.T, id int, d time.Duration) {
	t.Helper()
	f, err := pool.Go(context.Background(), tr.p, func(context.Context) (int, error) { tr.work(id, d); return id, nil })
	require.NoError(t, err, "Go(%d)", id)
	tr.futures[id] = f
}

// policyCall runs task id, taking d, through the Policy adapter on a
// goroutine of its own and waits until it is queued (or running). It must
// be called inside a synctest bubble.
func (tr *tracker) policyCall(id int, d time.Duration) {
	tr.calls.Go(func() {
		_, err := policy.Run(context.Background(), pool.Policy[int](tr.p), func(context.Context) (int, error) {
			tr.work(id, d)
			return id, nil
		})
		if err != nil {
			tr.report(id, err)
		}
	})
	synctest.Wait()
}

// wait collects the results of the Go and Policy calls: an error is a
// report.
func (tr *tracker) wait(t *testing.T) {
	t.Helper()
	for id, f := range tr.futures {
		if _, err := f.Wait(context.Background()); err != nil {
			tr.report(id, err)
		}
	}
	clear(tr.futures)
	tr.calls.Wait()
}

// exactlyOnce checks that each of the ids 0..n-1 was run or reported, once.
func (tr *tracker) exactlyOnce(t *testing.T, n int) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for id := range n {
		assert.Equal(t, 1, tr.ran[id]+len(tr.errs[id]), "task %d must be run or reported exactly once: ran %d times, reported %v", id, tr.ran[id], tr.errs[id])
	}
}

func (tr *tracker) ranIDs() []int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ids []int
	for id := range 100 {
		if tr.ran[id] > 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

func (tr *tracker) reported() map[int][]error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[int][]error, len(tr.errs))
	for id, errs := range tr.errs {
		out[id] = append([]error(nil), errs...)
	}
	return out
}

// TestCoDelShedsStandingQueueNotBurst runs one worker behind a queue that
// stands (tasks arrive at once and take 30ms each, against a 10ms target),
// then a burst that drains within an interval. Timeline, in ms since the
// start:
//
//	  0  task 0 starts the worker; tasks 1..10 are queued (1, 3, 5, 7, 9
//	     with Go, 2, 4, 6, 8 with Submit, 10 through the Policy adapter)
//	 30  the worker takes 1 (waited 30): CoDel's first interval starts, to
//	     end at 130; no standing verdict yet, so it runs
//	 60  takes 2 (waited 60), 90: 3, 120: 4: all run; the interval's lowest
//	     wait is 30, above the target
//	145  task 11 is queued
//	150  takes 5 (waited 150): the interval ended with its lowest wait above
//	     target, so the queue is standing; 5..10 waited 150 > 10: shed, all
//	     at once. 11 waited 5 <= 10: it runs (and marks the new interval)
//	400  more than an interval after the last one ended: task 12 goes
//	     straight to the idle worker; the burst 13..16 is queued
//	430  takes 13 (waited 30 > 10): a whole interval passed without a take,
//	     so the queue is not standing; 13..16 all run, done by 434
func TestCoDelShedsStandingQueueNotBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const target, interval = 10 * time.Millisecond, 100 * time.Millisecond
		const ms = time.Millisecond
		tr := newTracker()
		rec := observe.NewRecorder()
		p := newPool(t, 1, 16, pool.WithCoDel(target, interval), pool.WithMetrics(rec), pool.WithDiscardHandler(tr.onDiscard))
		tr.p = p
		start := time.Now()

		tr.submit(t, 0, 30*ms)
		for id := 1; id <= 9; id++ {
			if id%2 == 1 {
				tr.goCall(t, id, 30*ms)
			} else {
				tr.submit(t, id, 30*ms)
			}
		}
		tr.policyCall(10, 30*ms)
		require.Equal(t, 10, p.Snapshot().Queued)
		time.Sleep(145 * ms)
		tr.submit(t, 11, ms)
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, 151*ms, time.Since(start), "the standing queue's old tasks are shed at once at 150ms, and 11 runs then")
		tr.wait(t)

		assert.Equal(t, []int{0, 1, 2, 3, 4, 11}, tr.ranIDs(), "the shed tasks never run")
		got := tr.reported()
		require.Len(t, got, 6, "tasks 5..10 are reported, and no other")
		for id := 5; id <= 10; id++ {
			require.Len(t, got[id], 1, "task %d is reported once", id)
			err := got[id][0]
			assert.ErrorIs(t, err, pool.ErrShed, "task %d", id)
			assert.ErrorIs(t, err, ion.ErrRejected, "a shed task is a rejection")
			assert.NotErrorIs(t, err, pool.ErrExpired, "shed is not expired")
			assert.EqualError(t, err, "pool: task shed from a standing queue: waited 150ms, over the 10ms target", "task %d", id)
		}
		m := p.Snapshot()
		assert.Equal(t, uint64(6), m.Shed)
		assert.Equal(t, uint64(6), m.Completed)
		assert.Zero(t, m.Expired+m.Discarded+m.Failed)
		n := observe.L("name", "")
		assert.Equal(t, int64(6), rec.Count("ion_pool_tasks_total", n, observe.L("result", "shed")))
		assert.Zero(t, rec.Count("ion_pool_tasks_total", n, observe.L("result", "expired")))

		// The burst.
		time.Sleep(400*ms - time.Since(start))
		tr.submit(t, 12, 30*ms)
		for id := 13; id <= 16; id++ {
			tr.submit(t, id, ms)
		}
		require.Equal(t, 4, p.Snapshot().Queued)
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, 434*ms, time.Since(start))
		assert.Equal(t, []int{0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16}, tr.ranIDs(), "a burst that drains within the interval is not shed, though each task waited more than the target")
		assert.Equal(t, uint64(6), p.Snapshot().Shed)
		tr.exactlyOnce(t, 17)
	})
}

// TestCoDelWithMaxQueueWait: each option keeps its meaning. A task whose
// wait passed the max queue wait is expired, not shed, and the tasks behind
// it are judged by CoDel. Timeline, in ms: tasks 1..6 are queued at 0 and
// 7..10 at 20 behind task 0 (30ms each, max queue wait 140ms); 1..4 run as
// in TestCoDelShedsStandingQueueNotBurst; at 150, 5 and 6 (waited 150 >
// 140) expire, and 7..10 (waited 130) are shed from the standing queue.
func TestCoDelWithMaxQueueWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ms = time.Millisecond
		tr := newTracker()
		p := newPool(t, 1, 16, pool.WithCoDel(10*ms, 100*ms), pool.WithMaxQueueWait(140*ms), pool.WithDiscardHandler(tr.onDiscard))
		tr.p = p
		start := time.Now()
		for id := range 11 {
			if id == 7 {
				time.Sleep(20 * ms)
			}
			if id%2 == 1 {
				tr.goCall(t, id, 30*ms)
			} else {
				tr.submit(t, id, 30*ms)
			}
		}
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, 150*time.Millisecond, time.Since(start))
		tr.wait(t)
		assert.Equal(t, []int{0, 1, 2, 3, 4}, tr.ranIDs())
		got := tr.reported()
		for id := 5; id <= 6; id++ {
			require.Len(t, got[id], 1, "task %d", id)
			assert.ErrorIs(t, got[id][0], pool.ErrExpired, "task %d waited past the max queue wait", id)
			assert.NotErrorIs(t, got[id][0], pool.ErrShed, "task %d", id)
		}
		for id := 7; id <= 10; id++ {
			require.Len(t, got[id], 1, "task %d", id)
			assert.ErrorIs(t, got[id][0], pool.ErrShed, "task %d waited less than the max queue wait, in a standing queue", id)
			assert.ErrorContains(t, got[id][0], "waited 130ms")
		}
		m := p.Snapshot()
		assert.Equal(t, uint64(2), m.Expired)
		assert.Equal(t, uint64(4), m.Shed)
		assert.Equal(t, uint64(5), m.Completed)
		tr.exactlyOnce(t, 11)
	})
}

// TestCoDelRefillsFromBlockedSubmitters: each slot that a shed task frees
// goes to the oldest submitter blocked on the full queue at once, as a taken
// task's does, so no submitter stays blocked while the queue has room. The
// tasks they bring in have waited nothing, and run. Timeline, in ms (tasks
// 0..6 take 40, 7..9 take 1; queue of 3; target 10, interval 100):
//
//	  0  0 runs, 1..3 queued
//	 40  1 taken (waited 40): CoDel's first interval, to end at 140
//	 50  4 queued; 80: 2 taken (waited 80); 90: 5 queued; 120: 3 taken
//	     (waited 120); 130: 6 queued: the queue is full again
//	155  7, 8 and 9 block on the full queue, in that order
//	160  4 taken (waited 110): the queue has stood for the interval: shed,
//	     and 7 takes its slot; 5 (waited 70) shed, 8 in; 6 (waited 30) shed,
//	     9 in; 7 (waited 0) runs. 8 and 9 follow (waited 1 and 2), done by 163.
func TestCoDelRefillsFromBlockedSubmitters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ms = time.Millisecond
		tr := newTracker()
		p := newPool(t, 1, 3, pool.WithCoDel(10*ms, 100*ms), pool.WithDiscardHandler(tr.onDiscard))
		tr.p = p
		start := time.Now()
		at := func(d time.Duration) { time.Sleep(d - time.Since(start)) }
		for id := range 4 {
			tr.submit(t, id, 40*ms)
		}
		at(50 * ms)
		tr.submit(t, 4, 40*ms)
		at(90 * ms)
		tr.submit(t, 5, 40*ms)
		at(130 * ms)
		tr.submit(t, 6, 40*ms)
		at(155 * ms)
		errc := make(chan error, 3)
		for id := 7; id <= 9; id++ {
			go func() {
				ctx := context.WithValue(context.Background(), idKey{}, id)
				errc <- p.Submit(ctx, func(context.Context) error { tr.work(id, ms); return nil })
			}()
			synctest.Wait() // blocked in this order
		}
		require.Equal(t, 3, p.Snapshot().Blocked)
		at(160 * ms)
		synctest.Wait()
		m := p.Snapshot()
		assert.Equal(t, uint64(3), m.Shed, "4, 5 and 6 are shed")
		assert.Zero(t, m.Blocked, "the slots the shed tasks freed went to the blocked submitters")
		assert.Equal(t, 2, m.Queued, "8 and 9 are queued, 7 runs")
		for range 3 {
			require.NoError(t, <-errc)
		}
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, 163*ms, time.Since(start))
		assert.Equal(t, []int{0, 1, 2, 3, 7, 8, 9}, tr.ranIDs())
		assert.Equal(t, uint64(3), p.Snapshot().Shed)
		tr.exactlyOnce(t, 10)
	})
}

func TestAdaptiveLIFO(t *testing.T) {
	tests := []struct {
		name string
		opts []pool.Option
		want []int
	}{
		// 5 queued: while at least 3 are, the newest first; then the oldest.
		{"FIFO from 3", []pool.Option{pool.WithAdaptiveLIFO(3)}, []int{5, 4, 3, 1, 2}},
		{"FIFO from 5", []pool.Option{pool.WithAdaptiveLIFO(5)}, []int{5, 1, 2, 3, 4}},
		{"FIFO from 6: never reached", []pool.Option{pool.WithAdaptiveLIFO(6)}, []int{1, 2, 3, 4, 5}},
		{"FIFO from 1: always", []pool.Option{pool.WithAdaptiveLIFO(1)}, []int{5, 4, 3, 2, 1}},
		// LIFO takes the newest at every length already.
		{"LIFO from 3", []pool.Option{pool.WithQueueOrder(pool.LIFO), pool.WithAdaptiveLIFO(3)}, []int{5, 4, 3, 2, 1}},
		{"LIFO from 3, options reversed", []pool.Option{pool.WithAdaptiveLIFO(3), pool.WithQueueOrder(pool.LIFO)}, []int{5, 4, 3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, 1, 8, tc.opts...)
			g := newGate()
			fill(t, p, g, 1)
			var mu sync.Mutex
			var got []int
			for i := 1; i <= 5; i++ {
				require.NoError(t, p.TrySubmit(func(context.Context) error {
					mu.Lock()
					got = append(got, i)
					mu.Unlock()
					return nil
				}))
			}
			g.open()
			require.NoError(t, p.Wait(context.Background()))
			assert.Equal(t, tc.want, got, "order of the queued tasks taken")
		})
	}
}

// TestAdaptiveLIFOFollowsQueueLength: the threshold is judged at each take,
// so tasks queued while a backlog drains are taken newest first again once
// it passes the threshold.
func TestAdaptiveLIFOFollowsQueueLength(t *testing.T) {
	p := newPool(t, 1, 8, pool.WithAdaptiveLIFO(3))
	g := newGate()
	fill(t, p, g, 1)
	var mu sync.Mutex
	var got []int
	record := func(i int) pool.Task {
		return func(context.Context) error {
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			return nil
		}
	}
	hold := newGate()
	require.NoError(t, p.TrySubmit(record(1)))
	require.NoError(t, p.TrySubmit(record(2)))
	require.NoError(t, p.TrySubmit(func(ctx context.Context) error { // 3: the newest of 3, taken first
		_ = record(3)(ctx)
		return hold.task(ctx)
	}))
	g.open()
	<-hold.started
	// 1 and 2 are queued: below the threshold. Two more make four.
	require.NoError(t, p.TrySubmit(record(4)))
	require.NoError(t, p.TrySubmit(record(5)))
	hold.open()
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, []int{3, 5, 4, 1, 2}, got)
}

// TestStressQueueManagement hammers pools with CoDel, a max queue wait and
// adaptive LIFO, from every way in, with callers giving up, in real time
// under -race. Invariant: every accepted task is run, expired, shed or
// discarded exactly once; the Snapshot counters add up to what the tasks
// and their reports saw.
func TestStressQueueManagement(t *testing.T) {
	const us = time.Microsecond
	tests := []struct {
		name     string
		opts     []pool.Option
		wantShed bool // the queue stands long enough for CoDel to shed, on any machine
	}{
		{"CoDel", []pool.Option{pool.WithCoDel(us, 50*us)}, true},
		{"CoDel and max queue wait", []pool.Option{pool.WithCoDel(20*us, 200*us), pool.WithMaxQueueWait(300 * us)}, false},
		{"CoDel and adaptive LIFO", []pool.Option{pool.WithCoDel(5*us, 100*us), pool.WithAdaptiveLIFO(4)}, false},
		{"everything", []pool.Option{pool.WithCoDel(us, 50*us), pool.WithMaxQueueWait(500 * us), pool.WithAdaptiveLIFO(2), pool.WithMetrics(&atomicSink{})}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := stressQueueManagement(t, tc.opts, nil)
			if tc.wantShed {
				assert.NotZero(t, m.Shed, "a queue kept full for the whole run must stand")
			}
		})
	}
}

// stressQueueManagement runs the callers of TestStressQueueManagement on a
// pool of opts and checks the accounting. If change is not nil, another
// goroutine calls it with the pool and a count, over and over, until the
// callers are done.
func stressQueueManagement(t *testing.T, opts []pool.Option, change func(p *pool.Pool, i int)) pool.Snapshot {
	const workers, loops = 6, 400
	var (
		accepted, ran         atomic.Int64 // tasks accepted; task bodies run
		handled, reported     atomic.Int64 // not-run reports: to the discard handler; to a Go or Policy caller
		withdrawn, full, gone atomic.Int64 // Policy calls withdrawn from the queue; TrySubmits refused; Policy calls never accepted
		spin                  atomic.Int64
	)
	p := pool.New(2, 8, append(opts, pool.WithDiscardHandler(func(_ context.Context, _ pool.Task, err error) {
		handled.Add(1)
		if !isNotRun(err) {
			t.Errorf("discard handler: unexpected error %v", err)
		}
	}))...)
	require.NoError(t, p.Err())
	// busy keeps its worker a moment, so that queues form.
	busy := func() {
		ran.Add(1)
		n := 0
		for i := range 20000 {
			n += i
		}
		spin.Add(int64(n))
	}
	task := func(context.Context) error { busy(); return nil }
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range loops {
				switch (g + i) % 6 {
				case 0, 1, 2:
					if err := p.Submit(context.Background(), task); err != nil {
						t.Errorf("Submit = %v", err)
						continue
					}
					accepted.Add(1)
				case 3:
					if err := p.TrySubmit(task); err != nil {
						if !errors.Is(err, pool.ErrQueueFull) {
							t.Errorf("TrySubmit = %v", err)
						}
						full.Add(1)
						continue
					}
					accepted.Add(1)
				case 4:
					f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { busy(); return i, nil })
					if err != nil {
						t.Errorf("Go = %v", err)
						continue
					}
					accepted.Add(1)
					switch v, err := f.Wait(context.Background()); {
					case err == nil && v == i:
					case isNotRun(err):
						reported.Add(1)
					default:
						t.Errorf("Future.Wait = %v, %v", v, err)
					}
				case 5:
					ctx, cancel := context.WithCancel(context.Background())
					if i%3 == 0 {
						go cancel() // gives up at any point: before, blocked, queued or running
					}
					_, err := policy.Run(ctx, pool.Policy[int](p), func(context.Context) (int, error) { busy(); return 1, nil })
					switch {
					case err == nil:
						accepted.Add(1) // ran (cancelled while it ran or not: busy ignores its ctx)
					case isNotRun(err):
						accepted.Add(1)
						reported.Add(1)
					case errors.Is(err, context.Canceled) && strings.Contains(err.Error(), "withdrawn"):
						accepted.Add(1) // withdrawn from the queue: counted as discarded
						withdrawn.Add(1)
					case errors.Is(err, context.Canceled):
						gone.Add(1) // refused while blocked (Rejected), or before it was submitted
					default:
						t.Errorf("Policy call = %v", err)
					}
					cancel()
				}
			}
		})
	}
	done := make(chan struct{}) // closed when the callers are done
	var changer sync.WaitGroup
	if change != nil {
		changer.Go(func() { // owner: this test; exits once done is closed; joined by changer.Wait
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				change(p, i)
			}
		})
	}
	wg.Wait()
	close(done)
	changer.Wait()
	n, err := p.Close(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	m := p.Snapshot()
	assert.Equal(t, uint64(ran.Load()), m.Completed, "every task that ran is counted once, as completed")
	assert.Zero(t, m.Failed+m.Panicked)
	assert.Equal(t, uint64(accepted.Load()), m.Completed+m.Expired+m.Shed+m.Discarded,
		"accepted = Completed + Expired + Shed + Discarded: each accepted task ran or was reported, once")
	assert.Equal(t, uint64(handled.Load()+reported.Load()+withdrawn.Load()), m.Expired+m.Shed+m.Discarded,
		"every task counted as not run was reported once, to the discard handler or its caller")
	assert.LessOrEqual(t, m.Rejected-uint64(full.Load()), uint64(gone.Load()), "the only other refusals are Policy calls whose callers gave up")
	assert.Zero(t, m.Queued+m.Running+m.Workers+m.Blocked, "a closed pool is empty")
	t.Logf("accepted %d, ran %d, expired %d, shed %d, discarded %d, rejected %d", accepted.Load(), m.Completed, m.Expired, m.Shed, m.Discarded, m.Rejected)
	return m
}

// isNotRun reports whether err is the report of a queued task that was not
// run: expired, shed or not started.
func isNotRun(err error) bool {
	return errors.Is(err, pool.ErrExpired) || errors.Is(err, pool.ErrShed) || errors.Is(err, pool.ErrNotStarted)
}

// TestWaitWhenLastQueuedTasksAreSkipped guards the bug that a worker that
// found every queued task expired (or shed) parked without waking the
// goroutines in Wait: no task ended after, so Wait returned only when the
// idle sweep retired the worker, 10s later by default, and never with
// WithIdleTimeout(0). Wait must return as the pool goes quiet, once the
// reports are delivered.
func TestWaitWhenLastQueuedTasksAreSkipped(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name string
		opt  pool.Option
		want error
		at   time.Duration // when the worker skips the last queued tasks
	}{
		// 0 ends at 30: 1, 2 and 3 have waited 30 > 10.
		{"expired", pool.WithMaxQueueWait(10 * ms), pool.ErrExpired, 30 * ms},
		// 1 is taken at 30 (waited 30) and runs until 150; CoDel's first
		// interval ends at 130 with its lowest wait above target, so 2 and
		// 3, which waited 150, are shed at 150.
		{"shed", pool.WithCoDel(10*ms, 100*ms), pool.ErrShed, 150 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTracker()
				p := newPool(t, 1, 4, tc.opt, pool.WithIdleTimeout(0), pool.WithDiscardHandler(tr.onDiscard))
				tr.p = p
				start := time.Now()
				tr.submit(t, 0, 30*ms)
				tr.submit(t, 1, 120*ms)
				tr.submit(t, 2, ms)
				tr.goCall(t, 3, ms)
				require.NoError(t, p.Wait(context.Background()))
				assert.Equal(t, tc.at, time.Since(start), "Wait returns as the last queued tasks are skipped")
				got := tr.reported()
				require.Len(t, got[2], 1, "the discard handler has been called when Wait returns")
				assert.ErrorIs(t, got[2][0], tc.want)
				tr.wait(t)
				tr.exactlyOnce(t, 4)
			})
		})
	}
}
