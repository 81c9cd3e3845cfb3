package sem_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/ionkit/ion/sem"
)

// TestReconfigureFairnessWithWaiters changes the fairness while callers
// wait: the waiters stay queued in arrival order, the new fairness orders
// the grants from then on (Reconfigure's own included), and a change to
// FIFO stops new callers from taking permits ahead of the queue.
func TestReconfigureFairnessWithWaiters(t *testing.T) {
	t.Run("FIFO to LIFO", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := sem.NewWeighted(1)
			require.True(t, s.TryAcquire(1))
			w := newWaiters(t, s)
			w.queue(1, 1, 1)
			require.NoError(t, s.Reconfigure(sem.WithFairness(sem.LIFO)))
			assert.Empty(t, w.take(), "nothing is free: Reconfigure grants nothing")
			var got []int
			for range 3 {
				require.NoError(t, s.Release(1))
				got = append(got, w.take()...)
			}
			assert.Equal(t, []int{2, 1, 0}, got, "the waiters queued under FIFO are served newest first")
		})
	})
	t.Run("LIFO to FIFO serves the oldest that fits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := sem.NewWeighted(4, sem.WithFairness(sem.LIFO))
			require.True(t, s.TryAcquire(4))
			w := newWaiters(t, s)
			w.queue(1, 3)
			require.NoError(t, s.Release(2))
			require.Empty(t, w.take(), "LIFO: the newest (3) does not fit and blocks the oldest")
			require.NoError(t, s.Reconfigure(sem.WithFairness(sem.FIFO)))
			assert.Equal(t, []int{0}, w.take(), "FIFO: Reconfigure serves the head, which fits")
			assert.Equal(t, int64(1), s.Available())
			assert.False(t, s.TryAcquire(1), "FIFO: no barging past waiter 1")
			require.NoError(t, s.Release(2), "the holder's last permits")
			assert.Equal(t, []int{1}, w.take())
			require.NoError(t, s.Release(4), "the waiters leave")
			assert.Equal(t, int64(4), s.Available())
		})
	})
	t.Run("None to FIFO stops barging", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := sem.NewWeighted(3, sem.WithFairness(sem.None))
			require.True(t, s.TryAcquire(2))
			w := newWaiters(t, s)
			w.queue(2)
			require.True(t, s.TryAcquire(1), "None: the free permit is taken past the waiter")
			require.NoError(t, s.Release(1))
			require.Empty(t, w.take(), "1 free does not fit waiter 0")

			require.NoError(t, s.Reconfigure(sem.WithFairness(sem.FIFO)))
			assert.False(t, s.TryAcquire(1), "FIFO: TryAcquire does not take past the queue")
			w.queue(1) // fails unless Acquire queues behind waiter 0
			assert.Equal(t, 2, s.Waiting())
			assert.Equal(t, int64(1), s.Available(), "the free permit waits for the head")
			require.NoError(t, s.Release(2))
			assert.Equal(t, []int{0, 1}, w.take(), "the head, then the one behind it")
			require.NoError(t, s.Release(3))
			assert.Equal(t, int64(3), s.Available())
		})
	})
	t.Run("FIFO to None lets new callers take free permits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := sem.NewWeighted(3)
			require.True(t, s.TryAcquire(2))
			w := newWaiters(t, s)
			w.queue(2)
			require.False(t, s.TryAcquire(1), "FIFO: no barging")
			require.NoError(t, s.Reconfigure(sem.WithFairness(sem.None)))
			assert.Empty(t, w.take(), "1 free still does not fit waiter 0")
			assert.True(t, s.TryAcquire(1), "None: the free permit is taken past the waiter")
			require.NoError(t, s.Release(3))
			assert.Equal(t, []int{0}, w.take())
			require.NoError(t, s.Release(2))
			assert.Equal(t, int64(3), s.Available())
		})
	})
}

// TestReconfigureAcquireTimeout: a new acquire timeout bounds the Acquires
// that queue after Reconfigure; a waiter keeps the bound it queued with.
func TestReconfigureAcquireTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(1, sem.WithAcquireTimeout(time.Hour))
		require.True(t, s.TryAcquire(1))
		w := newWaiters(t, s)
		w.queue(1) // 0: an hour
		require.NoError(t, s.Reconfigure(sem.WithAcquireTimeout(time.Second)))
		w.queue(1) // 1: a second
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.ErrorIs(t, w.errs[1], sem.ErrFull, "the Acquire that queued after Reconfigure waits a second")
		assert.ErrorIs(t, w.errs[1], context.DeadlineExceeded)
		assert.NotContains(t, w.errs, 0, "the waiter queued before keeps its hour")
		assert.Equal(t, 1, s.Waiting())

		require.NoError(t, s.Reconfigure(), "the default: no acquire timeout")
		w.queue(1) // 2: no bound
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.ErrorIs(t, w.errs[0], sem.ErrFull, "waiter 0's hour is up")
		assert.NotContains(t, w.errs, 2, "waiter 2 waits as long as its ctx allows")
		require.NoError(t, s.Release(1))
		assert.Equal(t, []int{2}, w.take())
		require.NoError(t, s.Release(1))
		assert.Equal(t, int64(1), s.Available())
	})
}

// TestReconfigureCoDelCountsFromReconfigure: CoDel turned on while callers
// wait counts their waits from Reconfigure (the semaphore kept no time for
// them), so an hour in the queue before it does not make the queue
// standing. The holder releases at once; each caller holds 60ms, so the
// first interval (0 to 100ms) sees waits of 0 and 60ms and does not stand,
// and the caller served at 120ms is served, not shed.
func TestReconfigureCoDelCountsFromReconfigure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(1)
		require.True(t, s.TryAcquire(1))
		h := newHolders(t, s, acquirer)
		h.queue(3, 60*time.Millisecond)
		time.Sleep(time.Hour)
		require.NoError(t, s.Reconfigure(sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond)))
		require.NoError(t, s.Release(1))
		served, errs := h.wait()
		assert.Equal(t, []int{0, 1, 2}, served, "no caller is shed for the wait before CoDel was on")
		assert.Empty(t, errs)
		assert.Equal(t, int64(1), s.Available())
	})
}

// TestReconfigureCoDelState runs TestCoDelShedsStandingQueue's scenario
// (the queue stands from 110ms on, so the two callers left at 160ms are
// shed) with a Reconfigure at 130ms: the same or a longer interval keeps
// CoDel's state, a higher target spares them, and CoDel turned off, or off
// and on again (a fresh state), sheds no one.
func TestReconfigureCoDelState(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		reconfs [][]sem.Option
		served  []int
	}{
		{"same settings keep the state", [][]sem.Option{{sem.WithCoDel(5*ms, 100*ms)}}, []int{0, 1, 2}},
		{"a new interval keeps the state", [][]sem.Option{{sem.WithCoDel(5*ms, 300*ms)}}, []int{0, 1, 2}},
		{"a higher target spares the waiters", [][]sem.Option{{sem.WithCoDel(200*ms, 100*ms)}}, []int{0, 1, 2, 3, 4}},
		{"off sheds no one", [][]sem.Option{{}}, []int{0, 1, 2, 3, 4}},
		{"off and on starts afresh", [][]sem.Option{{}, {sem.WithCoDel(5*ms, 100*ms)}}, []int{0, 1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(1, sem.WithCoDel(5*ms, 100*ms))
				require.True(t, s.TryAcquire(1))
				h := newHolders(t, s, acquirer)
				h.queue(5, 50*ms)
				time.Sleep(10 * ms)
				require.NoError(t, s.Release(1))
				time.Sleep(120 * ms)
				for _, opts := range tc.reconfs {
					require.NoError(t, s.Reconfigure(opts...))
				}
				served, errs := h.wait()
				assert.Equal(t, tc.served, served)
				for id, err := range errs {
					assert.ErrorIs(t, err, sem.ErrShed, "caller %d", id)
				}
				assert.Len(t, errs, 5-len(tc.served), "everyone else is shed")
				assert.Equal(t, int64(1), s.Available(), "every permit is back")
				assert.Zero(t, s.Waiting())
			})
		})
	}
}

// TestReconfigureAdaptiveLIFO: a new threshold orders the grants from the
// next one on, and Reconfigure serves at once a newest waiter it puts
// first.
func TestReconfigureAdaptiveLIFO(t *testing.T) {
	t.Run("order", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := sem.NewWeighted(1)
			require.True(t, s.TryAcquire(1))
			w := newWaiters(t, s)
			w.queue(1, 1, 1, 1, 1)
			require.NoError(t, s.Release(1))
			require.Equal(t, []int{0}, w.take(), "FIFO")
			require.NoError(t, s.Reconfigure(sem.WithAdaptiveLIFO(3)))
			var got []int
			for range 3 {
				require.NoError(t, s.Release(1))
				got = append(got, w.take()...)
			}
			// 4 and 3 waiting: newest first; then 2, below 3: oldest first.
			assert.Equal(t, []int{4, 3, 1}, got)
			require.NoError(t, s.Reconfigure(sem.WithAdaptiveLIFO(1)))
			require.NoError(t, s.Release(1))
			assert.Equal(t, []int{2}, w.take())
			require.NoError(t, s.Release(1))
			assert.Equal(t, int64(1), s.Available())
		})
	})
	t.Run("Reconfigure serves the newest that fits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := sem.NewWeighted(4)
			require.True(t, s.TryAcquire(4))
			w := newWaiters(t, s)
			w.queue(3, 1)
			require.NoError(t, s.Release(1))
			require.Empty(t, w.take(), "FIFO: the head (3) does not fit and blocks waiter 1")
			require.NoError(t, s.Reconfigure(sem.WithAdaptiveLIFO(2)))
			assert.Equal(t, []int{1}, w.take(), "2 waiting: the newest first, and it fits")
			require.NoError(t, s.Release(3))
			assert.Equal(t, []int{0}, w.take())
			require.NoError(t, s.Release(4))
			assert.Equal(t, int64(4), s.Available())
		})
	})
}

// TestReconfigureRefusedChangesNothing: an invalid option, or one that only
// NewWeighted takes, makes Reconfigure return an error naming it and change
// nothing.
func TestReconfigureRefusedChangesNothing(t *testing.T) {
	rec := observe.NewRecorder()
	tests := []struct {
		name  string
		opts  []sem.Option
		param string
	}{
		{"name", []sem.Option{sem.WithFairness(sem.LIFO), sem.WithName("db")}, "WithName"},
		{"logger", []sem.Option{sem.WithLogger(rec)}, "WithLogger"},
		{"metrics", []sem.Option{sem.WithAcquireTimeout(time.Second), sem.WithMetrics(rec)}, "WithMetrics"},
		{"tracer", []sem.Option{sem.WithTracer(rec), sem.WithName("db")}, "WithTracer"},
		{"unknown fairness", []sem.Option{sem.WithFairness(7)}, "WithFairness"},
		{"negative timeout", []sem.Option{sem.WithFairness(sem.LIFO), sem.WithAcquireTimeout(-time.Second)}, "WithAcquireTimeout"},
		{"zero CoDel interval", []sem.Option{sem.WithCoDel(time.Millisecond, 0)}, "WithCoDel"},
		{"zero adaptive LIFO", []sem.Option{sem.WithAdaptiveLIFO(0)}, "WithAdaptiveLIFO"},
		{"nil option", []sem.Option{sem.WithFairness(sem.LIFO), nil}, "opts"},
		{"invalid before fixed", []sem.Option{sem.WithName("db"), sem.WithAdaptiveLIFO(-1)}, "WithAdaptiveLIFO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sem.NewWeighted(4, sem.WithName("api"), sem.WithFairness(sem.None), sem.WithAcquireTimeout(time.Minute),
				sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond), sem.WithAdaptiveLIFO(3))
			bulkhead := sem.Policy[int](s)
			before, desc := sem.SettingsOf(s), bulkhead.(fmt.Stringer).String()
			require.True(t, s.TryAcquire(1))

			err := s.Reconfigure(tc.opts...)
			require.ErrorIs(t, err, ion.ErrInvalidConfig)
			var cerr *ion.ConfigError
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, "sem", cerr.Pkg)
			assert.Equal(t, tc.param, cerr.Param, "the error names the option")
			assert.Equal(t, before, sem.SettingsOf(s), "nothing changed")
			assert.Equal(t, desc, bulkhead.(fmt.Stringer).String())
			assert.NoError(t, s.Err(), "a refused Reconfigure does not make s fail closed")
			assert.Equal(t, int64(1), s.InUse())
		})
	}
}

func TestReconfigureFailClosed(t *testing.T) {
	var zero sem.Weighted
	assert.ErrorIs(t, zero.Reconfigure(), ion.ErrInvalidConfig, "a zero Weighted")
	s := sem.NewWeighted(0)
	assert.Same(t, s.Err(), s.Reconfigure(sem.WithFairness(sem.LIFO)), "a fail-closed Weighted returns its error")
	assert.False(t, s.TryAcquire(1), "and stays closed")
}

// TestReconfigureSettings: every setting takes the value opts give it, and
// a setting left out returns to its default.
func TestReconfigureSettings(t *testing.T) {
	ms := time.Millisecond
	s := sem.NewWeighted(4)
	steps := []struct {
		opts []sem.Option
		want sem.Settings
	}{
		{[]sem.Option{sem.WithFairness(sem.LIFO)}, sem.Settings{Fairness: sem.LIFO, Barge: true}},
		{[]sem.Option{sem.WithAcquireTimeout(time.Second), sem.WithAdaptiveLIFO(2)},
			sem.Settings{Timeout: time.Second, LIFOAt: 2}}, // back to FIFO
		{[]sem.Option{sem.WithFairness(sem.None), sem.WithCoDel(5*ms, 100*ms)},
			sem.Settings{Fairness: sem.None, Barge: true, CoDelTarget: 5 * ms, CoDelInterval: 100 * ms, CoDelOn: true}},
		{[]sem.Option{sem.WithCoDel(1*ms, 10*ms), sem.WithCoDel(2*ms, 20*ms)}, // the later option wins
			sem.Settings{CoDelTarget: 2 * ms, CoDelInterval: 20 * ms, CoDelOn: true}},
		{nil, sem.Settings{}},
	}
	for i, st := range steps {
		require.NoError(t, s.Reconfigure(st.opts...), "step %d", i)
		assert.Equal(t, st.want, sem.SettingsOf(s), "step %d", i)
	}
}

// TestReconfigureBulkheadString: a bulkhead describes the settings in force.
func TestReconfigureBulkheadString(t *testing.T) {
	s := sem.NewWeighted(4, sem.WithName("db"))
	bulkhead := sem.Policy[int](s, sem.WithMaxWait(time.Second)).(fmt.Stringer)
	assert.Equal(t, "bulkhead(db, capacity 4, FIFO, weight 1, max wait 1s)", bulkhead.String())
	require.NoError(t, s.Reconfigure(sem.WithFairness(sem.LIFO), sem.WithAdaptiveLIFO(8),
		sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond)))
	assert.Equal(t, "bulkhead(db, capacity 4, LIFO, adaptive LIFO from 8, CoDel 5ms/100ms, weight 1, max wait 1s)", bulkhead.String())
	require.NoError(t, s.Reconfigure())
	assert.Equal(t, "bulkhead(db, capacity 4, FIFO, weight 1, max wait 1s)", bulkhead.String())
}

// TestReconfigureStress changes every setting while goroutines acquire
// (fast, queued, timed out, shed, cancelled, through TryAcquire) and
// release (run with -race). However the settings change under them, the
// permits in use never exceed the capacity, and once everyone has released
// every permit is free and nobody waits.
func TestReconfigureStress(t *testing.T) {
	const capacity = 4
	goroutines, cycles := 16, 4_000
	if testing.Short() || raceEnabled {
		cycles = 1_000
	}
	settings := [][]sem.Option{
		nil,
		{sem.WithFairness(sem.LIFO)},
		{sem.WithFairness(sem.None), sem.WithAdaptiveLIFO(2)},
		{sem.WithAdaptiveLIFO(3), sem.WithAcquireTimeout(50 * time.Microsecond)},
		{sem.WithCoDel(10*time.Microsecond, 100*time.Microsecond)},
		{sem.WithFairness(sem.LIFO), sem.WithCoDel(time.Microsecond, 20*time.Microsecond), sem.WithAcquireTimeout(time.Millisecond)},
		{sem.WithFairness(sem.None), sem.WithAcquireTimeout(20 * time.Microsecond)},
	}
	s := sem.NewWeighted(capacity)
	var inUse atomic.Int64
	done := make(chan struct{}) // closed when the callers are done
	var reconf sync.WaitGroup
	var changes int
	reconf.Go(func() { // owner: this test; exits once done is closed; joined by reconf.Wait
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; ; i++ {
			select {
			case <-done:
				changes = i
				return
			default:
			}
			require.NoError(t, s.Reconfigure(settings[rng.IntN(len(settings))]...))
			if i%8 == 0 {
				runtime.Gosched() // not synchronization: lets the callers run between changes
			}
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() { // owner: this test; exits after its cycles; joined by wg.Wait
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for i := range cycles {
				n := 1 + rng.Int64N(capacity)
				var err error
				switch i % 4 {
				case 0:
					if !s.TryAcquire(n) {
						continue
					}
				case 1:
					ctx, cancel := context.WithCancel(context.Background())
					if i%8 == 1 {
						cancel() // a done ctx never acquires
					}
					err = s.Acquire(ctx, n)
					cancel()
				default:
					err = s.Acquire(context.Background(), n)
				}
				if err != nil {
					if !errors.Is(err, sem.ErrFull) && !errors.Is(err, sem.ErrShed) && !errors.Is(err, context.Canceled) {
						t.Errorf("unexpected Acquire error: %v", err)
						return
					}
					continue
				}
				holdThenRelease(t, s, &inUse, nil, n, capacity, i%3 == 0)
			}
		})
	}
	wg.Wait()
	close(done)
	reconf.Wait()
	t.Logf("%d reconfigurations", changes)
	assert.Equal(t, s.Capacity(), s.Available(), "every permit must be free")
	assert.Zero(t, s.InUse(), "no permit may be lost or owed")
	assert.Zero(t, s.Waiting(), "nobody may be left queued")
}
