package pool_test

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
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// newPool returns a pool that the test closes (gracefully) when it ends.
func newPool(t *testing.T, size, queueSize int, opts ...pool.Option) *pool.Pool {
	t.Helper()
	p := pool.New(size, queueSize, opts...)
	require.NoError(t, p.Err(), "New(%d, %d) must be valid", size, queueSize)
	t.Cleanup(func() {
		n, err := p.Close(context.Background())
		assert.NoError(t, err, "Close at cleanup")
		assert.Zero(t, n, "Close at cleanup must discard nothing")
	})
	return p
}

// gate is a task that blocks until released, reporting when it has started.
type gate struct {
	started chan struct{}
	release chan struct{}
}

func newGate() *gate {
	return &gate{started: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (g *gate) task(context.Context) error {
	g.started <- struct{}{}
	<-g.release
	return nil
}

func (g *gate) open() { close(g.release) }

// fill blocks every worker of p (size workers) on g and waits until they run.
func fill(t *testing.T, p *pool.Pool, g *gate, size int) {
	t.Helper()
	for range size {
		require.NoError(t, p.Submit(context.Background(), g.task))
	}
	for range size {
		<-g.started
	}
}

func nop(context.Context) error { return nil }

// nilCtx is a nil ctx on purpose: no call may panic on it.
var nilCtx context.Context

func TestNewDefaults(t *testing.T) {
	p := newPool(t, 3, 5)
	m := p.Snapshot()
	assert.Equal(t, 3, m.Size)
	assert.Equal(t, 5, m.QueueSize)
	assert.Zero(t, m.Workers, "New must start no worker")
	assert.False(t, m.Closed)
	assert.Equal(t, "pool", p.String())
	assert.Equal(t, "pool(jobs)", pool.New(1, 0, pool.WithName("jobs")).String())
}

func TestNewFailsClosed(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		queue int
		opts  []pool.Option
		param string
	}{
		{"zero size", 0, 1, nil, "size"},
		{"negative size", -1, 1, nil, "size"},
		{"negative queue", 2, -1, nil, "queueSize"},
		{"nil option", 2, 0, []pool.Option{nil}, "opts"},
		{"nil base context", 2, 0, []pool.Option{pool.WithBaseContext(nilCtx)}, "WithBaseContext"},
		{"nil panic handler", 2, 0, []pool.Option{pool.WithPanicHandler(nil)}, "WithPanicHandler"},
		{"nil discard handler", 2, 0, []pool.Option{pool.WithDiscardHandler(nil)}, "WithDiscardHandler"},
		{"nil logger", 2, 0, []pool.Option{pool.WithLogger(nil)}, "WithLogger"},
		{"nil metrics", 2, 0, []pool.Option{pool.WithMetrics(nil)}, "WithMetrics"},
		{"nil tracer", 2, 0, []pool.Option{pool.WithTracer(nil)}, "WithTracer"},
		{"nil task policy", 2, 0, []pool.Option{pool.WithTaskPolicy(nil)}, "WithTaskPolicy"},
		{"unknown order", 2, 0, []pool.Option{pool.WithQueueOrder(7)}, "WithQueueOrder"},
		{"negative max wait", 2, 0, []pool.Option{pool.WithMaxQueueWait(-time.Second)}, "WithMaxQueueWait"},
		{"negative idle timeout", 2, 0, []pool.Option{pool.WithIdleTimeout(-time.Second)}, "WithIdleTimeout"},
		{"CoDel zero target", 2, 4, []pool.Option{pool.WithCoDel(0, time.Second)}, "WithCoDel"},
		{"CoDel negative target", 2, 4, []pool.Option{pool.WithCoDel(-time.Millisecond, time.Second)}, "WithCoDel"},
		{"CoDel zero interval", 2, 4, []pool.Option{pool.WithCoDel(time.Millisecond, 0)}, "WithCoDel"},
		{"CoDel negative interval", 2, 4, []pool.Option{pool.WithCoDel(time.Millisecond, -time.Second)}, "WithCoDel"},
		{"CoDel after a valid one", 2, 4, []pool.Option{pool.WithCoDel(time.Millisecond, time.Second), pool.WithCoDel(0, 0)}, "WithCoDel"},
		{"adaptive LIFO zero", 2, 4, []pool.Option{pool.WithAdaptiveLIFO(0)}, "WithAdaptiveLIFO"},
		{"adaptive LIFO negative", 2, 4, []pool.Option{pool.WithQueueOrder(pool.LIFO), pool.WithAdaptiveLIFO(-1)}, "WithAdaptiveLIFO"},
		{"first error wins", 2, -1, []pool.Option{pool.WithLogger(nil)}, "WithLogger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pool.New(tc.size, tc.queue, tc.opts...)
			err := p.Err()
			require.ErrorIs(t, err, ion.ErrInvalidConfig, "Err() must report the invalid configuration")
			var ce *ion.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.param, ce.Param, "the error must name the parameter")

			ctx := context.Background()
			ran := false
			task := func(context.Context) error { ran = true; return nil }
			assert.ErrorIs(t, p.Submit(ctx, task), ion.ErrInvalidConfig, "Submit must fail closed")
			assert.ErrorIs(t, p.TrySubmit(task), ion.ErrInvalidConfig, "TrySubmit must fail closed")
			_, err = pool.Go(ctx, p, func(context.Context) (int, error) { ran = true; return 1, nil })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "Go must fail closed")
			_, err = policy.Run(ctx, pool.Policy[int](p), func(context.Context) (int, error) { ran = true; return 1, nil })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "Policy must fail closed")
			assert.ErrorIs(t, p.Resize(3), ion.ErrInvalidConfig, "Resize must fail closed")
			assert.ErrorIs(t, p.Wait(ctx), ion.ErrInvalidConfig, "Wait must fail closed")
			assert.ErrorIs(t, p.Drain(ctx), ion.ErrInvalidConfig, "Drain must fail closed")
			_, err = p.Close(ctx)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "Close must fail closed")
			assert.False(t, ran, "a pool that failed closed must never run anything")
		})
	}
}

func TestOrderString(t *testing.T) {
	assert.Equal(t, "FIFO", pool.FIFO.String())
	assert.Equal(t, "LIFO", pool.LIFO.String())
	assert.Equal(t, "Order(9)", pool.Order(9).String())
}

func TestSubmitBadInput(t *testing.T) {
	p := newPool(t, 1, 1)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		task pool.Task
		want error
	}{
		{"nil task", context.Background(), nil, pool.ErrNilTask},
		{"nil ctx", nilCtx, nop, ion.ErrInvalidConfig},
		{"done ctx", cancelled, nop, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Submit(tc.ctx, tc.task)
			assert.ErrorIs(t, err, tc.want, "Submit(%s)", tc.name)
		})
	}
	assert.ErrorIs(t, pool.ErrNilTask, ion.ErrInvalidConfig, "ErrNilTask must match ion.ErrInvalidConfig")
	assert.ErrorIs(t, p.TrySubmit(nil), pool.ErrNilTask)
	assert.Equal(t, pool.Snapshot{Size: 1, QueueSize: 1}, p.Snapshot(), "bad input must change no state")
}

func TestSentinelsAreRejections(t *testing.T) {
	for _, err := range []error{pool.ErrClosed, pool.ErrQueueFull, pool.ErrExpired, pool.ErrShed, pool.ErrNotStarted} {
		assert.ErrorIs(t, err, ion.ErrRejected, "%v must match ion.ErrRejected", err)
	}
}

func TestSubmitRunsTask(t *testing.T) {
	p := newPool(t, 2, 4)
	done := make(chan error, 1)
	require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
		done <- nil
		return nil
	}))
	require.NoError(t, <-done)
	require.NoError(t, p.Wait(context.Background()))
	m := p.Snapshot()
	assert.Equal(t, uint64(1), m.Completed)
	assert.Equal(t, 1, m.Workers, "one task must start one worker")

	require.NoError(t, p.Submit(context.Background(), func(context.Context) error { return errors.New("boom") }))
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, uint64(1), p.Snapshot().Failed, "a task error counts as failed")
}

func TestSubmitBlocksWhileFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1)
		g := newGate()
		fill(t, p, g, 1)
		require.NoError(t, p.Submit(context.Background(), nop), "the queue has one slot")
		assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrQueueFull, "TrySubmit must not block on a full queue")

		// A blocked Submit whose ctx ends returns the ctx error, wrapped.
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		ran := atomic.Bool{}
		go func() {
			errc <- p.Submit(ctx, func(context.Context) error { ran.Store(true); return nil })
		}()
		waitBlocked(t, p, 1)
		cancel()
		err := <-errc
		require.ErrorIs(t, err, context.Canceled, "a blocked Submit must return its ctx error")
		assert.NotEqual(t, context.Canceled, err, "the ctx error must be wrapped")

		// A blocked Submit is admitted when room appears.
		go func() { errc <- p.Submit(context.Background(), nop) }()
		waitBlocked(t, p, 1)
		g.open()
		require.NoError(t, <-errc, "a blocked Submit must be admitted when a worker frees a slot")
		require.NoError(t, p.Wait(context.Background()))
		assert.False(t, ran.Load(), "a task whose Submit failed must never run")
		m := p.Snapshot()
		assert.Equal(t, uint64(3), m.Completed)
		assert.Equal(t, uint64(2), m.Rejected, "queue full and ctx ended while blocked are rejections")
	})
}

// waitBlocked waits until every goroutine of the bubble is blocked, and
// checks that n submitters are blocked on p's full queue. It must be called
// inside a synctest bubble.
func waitBlocked(t *testing.T, p *pool.Pool, n int) {
	t.Helper()
	synctest.Wait()
	require.Equal(t, n, p.Snapshot().Blocked, "submitters blocked on the full queue")
}

func TestHandOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 0)
		g := newGate()
		fill(t, p, g, 1)
		assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrQueueFull, "a hand-off pool with its worker busy has no room")
		errc := make(chan error, 1)
		go func() { errc <- p.Submit(context.Background(), nop) }()
		waitBlocked(t, p, 1)
		g.open()
		require.NoError(t, <-errc, "the worker must take the blocked submission when it frees up")
	})
}

func TestQueueOrder(t *testing.T) {
	tests := []struct {
		order pool.Order
		want  []int
	}{
		{pool.FIFO, []int{1, 2, 3, 4}},
		{pool.LIFO, []int{4, 3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.order.String(), func(t *testing.T) {
			p := newPool(t, 1, 4, pool.WithQueueOrder(tc.order))
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
			g.open()
			require.NoError(t, p.Wait(context.Background()))
			assert.Equal(t, tc.want, got, "%v order", tc.order)
		})
	}
}

func TestHighWaterMarkEqualsSize(t *testing.T) {
	for _, size := range []int{1, 3, 8} {
		p := newPool(t, size, 64)
		var cur, hwm atomic.Int64
		// Tasks hold their worker until size of them have run at once, so
		// the mark must reach size; it must never pass it.
		full := make(chan struct{})
		var once sync.Once
		task := func(context.Context) error {
			n := cur.Add(1)
			for {
				old := hwm.Load()
				if n <= old || hwm.CompareAndSwap(old, n) {
					break
				}
			}
			if n == int64(size) {
				once.Do(func() { close(full) })
			}
			<-full
			runtime.Gosched()
			cur.Add(-1)
			return nil
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 200 {
					assert.NoError(t, p.Submit(context.Background(), task))
				}
			})
		}
		wg.Wait()
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, int64(size), hwm.Load(), "concurrency high-water mark must equal size %d, never size+1", size)
		assert.LessOrEqual(t, p.Snapshot().Workers, size, "never more workers than size")
	}
}

func TestPoolPanicCountedAsCompleted(t *testing.T) {
	var got []*ion.PanicError
	var mu sync.Mutex
	rec := observe.NewRecorder()
	p := newPool(t, 1, 1, pool.WithLogger(rec), pool.WithPanicHandler(func(pe *ion.PanicError) {
		mu.Lock()
		got = append(got, pe)
		mu.Unlock()
	}))
	require.NoError(t, p.Submit(context.Background(), func(context.Context) error { panic("kaboom") }))
	require.NoError(t, p.Wait(context.Background()))
	m := p.Snapshot()
	assert.Equal(t, uint64(1), m.Panicked, "a panic counts as panicked")
	assert.Zero(t, m.Completed, "a panic must not count as completed")
	require.Len(t, got, 1, "the panic handler must see the panic")
	assert.Equal(t, "kaboom", got[0].Value)
	assert.Contains(t, string(got[0].Stack), "pool_test", "the PanicError must carry the task's stack")
	require.Len(t, rec.Logs(), 1, "a panic is logged")
	assert.Equal(t, "pool: task panicked", rec.Logs()[0].Msg)

	// The worker survives: the next task runs.
	require.NoError(t, p.Submit(context.Background(), nop))
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, uint64(1), p.Snapshot().Completed)
}

func TestPanicHandlerPanicIsContained(t *testing.T) {
	rec := observe.NewRecorder()
	p := newPool(t, 1, 1, pool.WithLogger(rec), pool.WithPanicHandler(func(*ion.PanicError) { panic("handler") }))
	require.NoError(t, p.Submit(context.Background(), func(context.Context) error { panic("task") }))
	require.NoError(t, p.Submit(context.Background(), nop))
	require.NoError(t, p.Wait(context.Background()))
	m := p.Snapshot()
	assert.Equal(t, uint64(1), m.Panicked)
	assert.Equal(t, uint64(1), m.Completed, "a panicking handler must not kill the worker")
	var msgs []string
	for _, l := range rec.Logs() {
		msgs = append(msgs, l.Msg)
	}
	assert.Contains(t, msgs, "pool: panic handler panicked")
}

func TestGoexitNeitherHangsNorLosesWorker(t *testing.T) {
	var handled atomic.Int64
	p := newPool(t, 2, 8, pool.WithPanicHandler(func(pe *ion.PanicError) {
		if errors.Is(pe, pool.ErrGoexit) {
			handled.Add(1)
		}
	}))
	for range 3 {
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
			runtime.Goexit()
			return nil
		}))
	}
	f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) {
		runtime.Goexit()
		return 1, nil
	})
	require.NoError(t, err)
	_, err = f.Wait(context.Background())
	var pe *ion.PanicError
	require.ErrorAs(t, err, &pe, "a Goexit must reach the Go caller as a PanicError")
	assert.ErrorIs(t, err, pool.ErrGoexit)

	var ran atomic.Int64
	for range 10 {
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error { ran.Add(1); return nil }))
	}
	require.NoError(t, p.Wait(context.Background()), "Goexit must not hang the pool")
	m := p.Snapshot()
	assert.Equal(t, int64(10), ran.Load())
	assert.Equal(t, uint64(4), m.Panicked, "Goexit counts as panicked")
	assert.Equal(t, int64(4), handled.Load())
	assert.Equal(t, 2, m.Workers, "Goexit must not lose a worker")
	assert.Zero(t, m.Running)
}

type ctxKey string

func TestTaskContext(t *testing.T) {
	base, cancelBase := context.WithCancel(context.WithValue(context.Background(), ctxKey("base"), "b"))
	defer cancelBase()
	p := newPool(t, 1, 4, pool.WithBaseContext(base))

	deadline := time.Now().Add(time.Hour)
	sub, cancelSub := context.WithDeadline(context.WithValue(context.Background(), ctxKey("sub"), "s"), deadline)
	type seen struct {
		base, sub any
		deadline  time.Time
		hasDL     bool
		err       error
	}
	got := make(chan seen, 1)
	release := make(chan struct{})
	require.NoError(t, p.Submit(sub, func(ctx context.Context) error {
		<-release
		d, ok := ctx.Deadline()
		got <- seen{ctx.Value(ctxKey("base")), ctx.Value(ctxKey("sub")), d, ok, ctx.Err()}
		return nil
	}))
	cancelSub() // the submitter gives up after Submit returned
	close(release)
	s := <-got
	assert.Equal(t, "b", s.base, "the task ctx carries the base context's values")
	assert.Equal(t, "s", s.sub, "the task ctx carries the submitter's values")
	assert.True(t, s.hasDL, "the task ctx carries the submitter's deadline")
	assert.True(t, s.deadline.Equal(deadline))
	assert.NoError(t, s.err, "the submitter's cancellation must not cancel a fire-and-forget task")

	// Background submissions share the base-derived context.
	errc := make(chan error, 1)
	require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) error {
		errc <- nil
		if ctx.Value(ctxKey("base")) != "b" {
			return errors.New("missing base value")
		}
		return nil
	}))
	<-errc
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, uint64(2), p.Snapshot().Completed)

	// Cancelling the base context cancels the tasks' contexts.
	started := make(chan struct{})
	require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		errc <- ctx.Err()
		return nil
	}))
	<-started
	cancelBase()
	assert.ErrorIs(t, <-errc, context.Canceled, "the base context's cancellation reaches the task")
}

func TestTaskContextDeadlineFires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1)
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), ctxKey("k"), "v"), time.Millisecond)
		defer cancel()
		errc := make(chan error, 1)
		start := time.Now()
		require.NoError(t, p.Submit(ctx, func(ctx context.Context) error {
			<-ctx.Done() // must close by the submitter's deadline
			errc <- ctx.Err()
			return ctx.Err()
		}))
		assert.ErrorIs(t, <-errc, context.DeadlineExceeded)
		assert.Equal(t, time.Millisecond, time.Since(start), "the task ctx is done exactly at the submitter's deadline")
	})
}

func TestResizeUpWakesBlockedSubmitters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 0)
		g := newGate()
		fill(t, p, g, 1)
		errc := make(chan error, 2)
		for range 2 {
			go func() { errc <- p.Submit(context.Background(), g.task) }()
		}
		waitBlocked(t, p, 2)
		require.NoError(t, p.Resize(3))
		require.NoError(t, <-errc, "Resize up must admit a blocked submitter")
		require.NoError(t, <-errc, "Resize up must admit every blocked submitter it has room for")
		<-g.started
		<-g.started
		m := p.Snapshot()
		assert.Equal(t, 3, m.Running, "the new workers run the admitted tasks")
		assert.Equal(t, 3, m.Size)
		g.open()
	})
}

func TestResizeUpStartsWorkersForQueue(t *testing.T) {
	p := newPool(t, 1, 4)
	g := newGate()
	fill(t, p, g, 1)
	for range 3 {
		require.NoError(t, p.TrySubmit(g.task))
	}
	require.NoError(t, p.Resize(4))
	for range 3 {
		<-g.started // each queued task got a new worker
	}
	assert.Equal(t, 4, p.Snapshot().Running)
	g.open()
}

func TestResizeDown(t *testing.T) {
	p := newPool(t, 4, 16)
	g := newGate()
	fill(t, p, g, 4)
	require.NoError(t, p.Resize(1))
	m := p.Snapshot()
	assert.Equal(t, 4, m.Running, "shrinking lets running tasks finish")
	var cur, hwm atomic.Int64
	for range 8 {
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
			n := cur.Add(1)
			if n > hwm.Load() {
				hwm.Store(n)
			}
			runtime.Gosched()
			cur.Add(-1)
			return nil
		}))
	}
	g.open()
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, int64(1), hwm.Load(), "after shrinking to 1, tasks run one at a time")
	assert.Equal(t, 1, p.Snapshot().Workers, "surplus workers exit")
}

func TestResizeShrinksIdleWorkers(t *testing.T) {
	p := newPool(t, 3, 0)
	g := newGate()
	fill(t, p, g, 3)
	g.open()
	require.NoError(t, p.Wait(context.Background()))
	require.Equal(t, 3, p.Snapshot().Workers)
	require.NoError(t, p.Resize(1))
	assert.Equal(t, 1, p.Snapshot().Workers, "idle surplus workers are stopped at once")
	require.NoError(t, p.Resize(2))
	require.NoError(t, p.Resize(1)) // shrink again before any new worker starts
	assert.Equal(t, 1, p.Snapshot().Workers)
	require.NoError(t, p.Submit(context.Background(), nop))
	require.NoError(t, p.Wait(context.Background()))
}

func TestResizeBadInput(t *testing.T) {
	p := newPool(t, 2, 0)
	for _, n := range []int{0, -1} {
		err := p.Resize(n)
		assert.ErrorIs(t, err, ion.ErrInvalidConfig, "Resize(%d)", n)
		assert.Equal(t, 2, p.Snapshot().Size, "a bad Resize changes nothing")
	}
	_, err := p.Close(context.Background())
	require.NoError(t, err)
	assert.ErrorIs(t, p.Resize(3), pool.ErrClosed)
}

func TestTrySubmitOwnFullPool(t *testing.T) {
	p := newPool(t, 1, 1)
	errc := make(chan error, 2)
	require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
		errc <- p.TrySubmit(nop) // fills the queue
		errc <- p.TrySubmit(nop) // the queue is full and the only worker is us
		return nil
	}))
	assert.NoError(t, <-errc)
	assert.ErrorIs(t, <-errc, pool.ErrQueueFull, "a task that TrySubmits to its own full pool must get ErrQueueFull, not a deadlock")
}

func TestMetricsSink(t *testing.T) {
	rec := observe.NewRecorder()
	p := newPool(t, 1, 1, pool.WithName("m"), pool.WithMetrics(rec))
	g := newGate()
	fill(t, p, g, 1)
	require.NoError(t, p.TrySubmit(func(context.Context) error { return errors.New("x") }))
	assert.ErrorIs(t, p.TrySubmit(nop), pool.ErrQueueFull)
	assert.Equal(t, 1.0, rec.Value("ion_pool_queued", observe.L("name", "m")))
	g.open()
	require.NoError(t, p.Wait(context.Background()))
	require.NoError(t, p.Resize(2))
	n := observe.L("name", "m")
	count := func(result string) int64 {
		return rec.Count("ion_pool_tasks_total", n, observe.L("result", result))
	}
	assert.Equal(t, int64(1), count("completed"))
	assert.Equal(t, int64(1), count("failed"))
	assert.Equal(t, int64(1), count("rejected"))
	assert.Equal(t, 2.0, rec.Value("ion_pool_size", n))
	assert.Len(t, rec.Observations("ion_pool_queue_wait_seconds", n), 2, "one queue-wait observation per task run")
}

func TestTracerSpans(t *testing.T) {
	rec := observe.NewRecorder()
	p := newPool(t, 1, 2, pool.WithTracer(rec))
	require.NoError(t, p.Submit(context.Background(), nop))
	require.NoError(t, p.Submit(context.Background(), func(context.Context) error { return errors.New("x") }))
	require.NoError(t, p.Wait(context.Background()))
	spans := rec.Spans()
	require.Len(t, spans, 2)
	assert.Equal(t, observe.SpanRecord{Name: "pool.task", Ended: true, Outcome: "success"}, spans[0])
	assert.Equal(t, "failure", spans[1].Outcome)
}

func TestTaskPolicy(t *testing.T) {
	// A per-task timeout written with policy.New (the shared Timeout is built
	// elsewhere).
	timeout := func(d time.Duration) policy.Policy[any] {
		return policy.New("timeout", func(ctx context.Context, next policy.Next[any]) (any, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next.Call(ctx)
		})
	}
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 2, pool.WithTaskPolicy(timeout(time.Millisecond)))
		errc := make(chan error, 1)
		require.NoError(t, p.Submit(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			errc <- ctx.Err()
			return ctx.Err()
		}))
		assert.ErrorIs(t, <-errc, context.DeadlineExceeded, "the task policy's timeout must reach the task")
		f, err := pool.Go(context.Background(), p, func(ctx context.Context) (string, error) {
			_, ok := ctx.Deadline()
			if !ok {
				return "", errors.New("no deadline")
			}
			return "ok", nil
		})
		require.NoError(t, err)
		v, err := f.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "ok", v, "Go's calls run under the task policy too")
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, uint64(1), p.Snapshot().Failed)
	})
}

// The zero value of every exported type either works or fails closed at
// once; none blocks or panics.
func TestZeroValues(t *testing.T) {
	ctx := context.Background()
	var p pool.Pool
	assert.ErrorIs(t, p.Err(), ion.ErrInvalidConfig, "Err")
	assert.ErrorContains(t, p.Err(), "use New")
	calls := map[string]func() error{
		"Submit":    func() error { return p.Submit(ctx, nop) },
		"TrySubmit": func() error { return p.TrySubmit(nop) },
		"Go": func() error {
			_, err := pool.Go(ctx, &p, func(context.Context) (int, error) { return 1, nil })
			return err
		},
		"Policy": func() error {
			_, err := policy.Run(ctx, pool.Policy[int](&p), func(context.Context) (int, error) { return 1, nil })
			return err
		},
		"Close":  func() error { _, err := p.Close(ctx); return err },
		"Drain":  func() error { return p.Drain(ctx) },
		"Wait":   func() error { return p.Wait(ctx) },
		"Resize": func() error { return p.Resize(2) },
	}
	for name, call := range calls {
		assert.ErrorIs(t, call(), ion.ErrInvalidConfig, "zero Pool: %s must fail closed", name)
	}
	assert.Equal(t, pool.Snapshot{}, p.Snapshot())
	assert.Equal(t, "pool", p.String())

	var f pool.Future[int]
	select {
	case <-f.Done():
	default:
		t.Fatal("a zero Future must be ready")
	}
	_, err := f.Wait(ctx)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "zero Future: Wait")

	var o pool.Order
	assert.Equal(t, pool.FIFO, o)
	assert.Equal(t, pool.Snapshot{}, pool.Snapshot{})
}
