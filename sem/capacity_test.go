package sem_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// capStep is one row of a SetCapacity step table: an operation, then the
// state it must leave.
type capStep struct {
	do       func(w *waiters) error
	err      error // the error do must return (nil: none)
	granted  []int // the waiters granted by the step
	capacity int64
	avail    int64
	inUse    int64
	waiting  int
}

func try(n int64) func(*waiters) error {
	return func(w *waiters) error {
		if !w.s.TryAcquire(n) {
			return errTryFailed
		}
		return nil
	}
}

func rel(n int64) func(*waiters) error { return func(w *waiters) error { return w.s.Release(n) } }

func setCap(n int64) func(*waiters) error {
	return func(w *waiters) error { return w.s.SetCapacity(n) }
}

func queue(weights ...int64) func(*waiters) error {
	return func(w *waiters) error {
		w.queue(weights...)
		return nil
	}
}

var errTryFailed = ion.NewConfigError("test", "TryAcquire", "returned false")

// runCapSteps runs steps on s, a semaphore built inside the synctest bubble
// that runs it, checking the state after each.
func runCapSteps(t *testing.T, s *sem.Weighted, steps []capStep) *waiters {
	t.Helper()
	w := newWaiters(t, s)
	for i, st := range steps {
		err := st.do(w)
		if st.err == nil {
			require.NoError(t, err, "step %d", i)
		} else {
			require.ErrorIs(t, err, st.err, "step %d", i)
		}
		got := w.take()
		if got == nil {
			got = []int{}
		}
		want := st.granted
		if want == nil {
			want = []int{}
		}
		assert.Equal(t, want, got, "step %d: granted", i)
		assert.Equal(t, st.capacity, s.Capacity(), "step %d: Capacity", i)
		assert.Equal(t, st.avail, s.Available(), "step %d: Available", i)
		assert.Equal(t, st.inUse, sem.InUse(s), "step %d: in use", i)
		assert.Equal(t, st.waiting, s.Waiting(), "step %d: Waiting", i)
	}
	return w
}

func TestSetCapacity(t *testing.T) {
	tests := []struct {
		name     string
		fairness sem.Fairness
		capacity int64
		steps    []capStep
	}{
		{"grow and shrink, nobody waiting", sem.FIFO, 5, []capStep{
			{do: try(3), capacity: 5, avail: 2, inUse: 3},
			{do: setCap(8), capacity: 8, avail: 5, inUse: 3},
			{do: setCap(3), capacity: 3, avail: 0, inUse: 3}, // exactly the permits in use: no debt
			{do: try(1), err: errTryFailed, capacity: 3, avail: 0, inUse: 3},
			{do: rel(1), capacity: 3, avail: 1, inUse: 2},
			{do: setCap(3), capacity: 3, avail: 1, inUse: 2}, // the same capacity changes nothing
			{do: rel(2), capacity: 3, avail: 3, inUse: 0},
			{do: setCap(1), capacity: 1, avail: 1, inUse: 0},
			{do: setCap(0), err: ion.ErrInvalidConfig, capacity: 1, avail: 1, inUse: 0},
			{do: setCap(-7), err: ion.ErrInvalidConfig, capacity: 1, avail: 1, inUse: 0},
		}},
		{"shrink below in use: releases pay the debt", sem.FIFO, 10, []capStep{
			{do: try(6), capacity: 10, avail: 4, inUse: 6},
			{do: try(3), capacity: 10, avail: 1, inUse: 9},
			{do: setCap(4), capacity: 4, avail: 0, inUse: 9}, // 5 owed
			{do: try(1), err: errTryFailed, capacity: 4, avail: 0, inUse: 9},
			{do: rel(3), capacity: 4, avail: 0, inUse: 6},    // all 3 pay the debt
			{do: setCap(5), capacity: 5, avail: 0, inUse: 6}, // growing pays the debt first: 1 owed
			{do: rel(2), capacity: 5, avail: 1, inUse: 4},    // 1 pays, 1 frees
			{do: try(1), capacity: 5, avail: 0, inUse: 5},
			{do: rel(5), capacity: 5, avail: 5, inUse: 0}, // 4 of them acquired under the old capacity: no over-release
		}},
		{"shrink below in use with waiters", sem.FIFO, 4, []capStep{
			{do: try(4), capacity: 4, avail: 0, inUse: 4},
			{do: queue(1, 2), capacity: 4, avail: 0, inUse: 4, waiting: 2},
			{do: setCap(2), capacity: 2, avail: 0, inUse: 4, waiting: 2}, // 2 owed
			{do: rel(2), capacity: 2, avail: 0, inUse: 2, waiting: 2},    // pays the debt: nobody is served
			{do: rel(1), granted: []int{0}, capacity: 2, avail: 0, inUse: 2, waiting: 1},
			{do: setCap(3), capacity: 3, avail: 1, inUse: 2, waiting: 1}, // waiter 1 needs 2
			{do: rel(1), granted: []int{1}, capacity: 3, avail: 0, inUse: 3},
			{do: rel(3), capacity: 3, avail: 3, inUse: 0},
		}},
		{"shrink below a waiter's weight", sem.FIFO, 4, []capStep{
			{do: try(2), capacity: 4, avail: 2, inUse: 2},
			{do: queue(4, 1), capacity: 4, avail: 2, inUse: 2, waiting: 2}, // the head needs 4; 1 queues behind it
			// Waiter 0 can never be served with 3: it leaves with
			// ErrWeightExceedsCapacity, which unblocks waiter 1.
			{do: setCap(3), granted: []int{1}, capacity: 3, avail: 0, inUse: 3},
			{do: rel(1), capacity: 3, avail: 1, inUse: 2},
			{do: rel(2), capacity: 3, avail: 3, inUse: 0},
		}},
		{"grow serves FIFO waiters in order", sem.FIFO, 2, []capStep{
			{do: try(2), capacity: 2, avail: 0, inUse: 2},
			{do: queue(1, 2, 1, 1), capacity: 2, avail: 0, inUse: 2, waiting: 4},
			{do: setCap(4), granted: []int{0}, capacity: 4, avail: 1, inUse: 3, waiting: 3}, // waiter 1 needs 2: head-of-line
			{do: setCap(7), granted: []int{1, 2, 3}, capacity: 7, avail: 0, inUse: 7},
			{do: rel(7), capacity: 7, avail: 7, inUse: 0},
		}},
		{"grow serves LIFO waiters newest first", sem.LIFO, 2, []capStep{
			{do: try(2), capacity: 2, avail: 0, inUse: 2},
			{do: queue(1, 1, 2), capacity: 2, avail: 0, inUse: 2, waiting: 3},
			{do: setCap(3), capacity: 3, avail: 1, inUse: 2, waiting: 3}, // the newest needs 2
			{do: setCap(4), granted: []int{2}, capacity: 4, avail: 0, inUse: 4, waiting: 2},
			{do: setCap(5), granted: []int{1}, capacity: 5, avail: 0, inUse: 5, waiting: 1},
			{do: rel(5), granted: []int{0}, capacity: 5, avail: 4, inUse: 1},
			{do: rel(1), capacity: 5, avail: 5, inUse: 0},
		}},
		{"grow serves None waiters that fit", sem.None, 3, []capStep{
			{do: try(3), capacity: 3, avail: 0, inUse: 3},
			{do: queue(3, 1), capacity: 3, avail: 0, inUse: 3, waiting: 2},
			{do: setCap(4), granted: []int{1}, capacity: 4, avail: 0, inUse: 4, waiting: 1}, // the oldest needs 3
			{do: rel(3), granted: []int{0}, capacity: 4, avail: 0, inUse: 4},
			{do: rel(4), capacity: 4, avail: 4, inUse: 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(tc.capacity, sem.WithFairness(tc.fairness))
				w := runCapSteps(t, s, tc.steps)
				for id, err := range w.errs {
					assert.ErrorIs(t, err, sem.ErrWeightExceedsCapacity, "waiter %d: only a weight above the new capacity fails", id)
				}
			})
		})
	}
}

func TestSetCapacityInvalid(t *testing.T) {
	s := sem.NewWeighted(3)
	require.True(t, s.TryAcquire(2))
	for _, n := range []int64{0, -1, math.MinInt64} {
		err := s.SetCapacity(n)
		require.ErrorIs(t, err, ion.ErrInvalidConfig, "SetCapacity(%d)", n)
		var cerr *ion.ConfigError
		require.ErrorAs(t, err, &cerr)
		assert.Equal(t, "capacity", cerr.Param, "the error must name the parameter")
		assert.Equal(t, int64(3), s.Capacity(), "an invalid capacity changes nothing")
		assert.Equal(t, int64(1), s.Available(), "an invalid capacity changes nothing")
		assert.NoError(t, s.Err(), "an invalid SetCapacity does not make the semaphore fail closed")
	}

	closed := sem.NewWeighted(0)
	assert.Same(t, closed.Err(), closed.SetCapacity(5), "a fail-closed semaphore returns its error")
	assert.Zero(t, closed.Capacity(), "and stays closed")
	assert.False(t, closed.TryAcquire(1))

	var zero sem.Weighted
	assert.ErrorIs(t, zero.SetCapacity(5), ion.ErrInvalidConfig, "a zero Weighted stays closed")
	assert.Zero(t, zero.Capacity())
	assert.False(t, zero.TryAcquire(1))
}

// TestOverReleaseAcrossCapacityChanges: a release is judged against the
// permits in use, not against the capacity they were acquired under.
func TestOverReleaseAcrossCapacityChanges(t *testing.T) {
	t.Run("after a shrink", func(t *testing.T) {
		s := sem.NewWeighted(10)
		require.True(t, s.TryAcquire(6))
		require.NoError(t, s.SetCapacity(4))
		require.NoError(t, s.Release(6), "permits acquired under the old capacity are released without error")
		assert.Equal(t, int64(4), s.Available())
		err := s.Release(1)
		require.ErrorIs(t, err, sem.ErrOverRelease, "a release beyond the new capacity is caught")
		assert.EqualError(t, err, "sem: released more permits than held: Release(1) with 4 of 4 permits free; 1 ignored")
		assert.Equal(t, int64(4), s.Available())
	})
	t.Run("while a debt is owed", func(t *testing.T) {
		s := sem.NewWeighted(10)
		require.True(t, s.TryAcquire(10))
		require.NoError(t, s.SetCapacity(2)) // 8 owed
		err := s.Release(12)
		require.ErrorIs(t, err, sem.ErrOverRelease)
		assert.EqualError(t, err, "sem: released more permits than held: Release(12) with 0 of 2 permits free and 8 in use beyond the capacity; 2 ignored")
		assert.Equal(t, int64(2), s.Available())
		assert.Zero(t, sem.InUse(s))
	})
	t.Run("after a grow", func(t *testing.T) {
		s := sem.NewWeighted(4)
		require.True(t, s.TryAcquire(4))
		require.NoError(t, s.SetCapacity(10))
		require.NoError(t, s.Release(4))
		assert.Equal(t, int64(10), s.Available())
		err := s.Release(1)
		require.ErrorIs(t, err, sem.ErrOverRelease, "a release beyond the new capacity is caught")
		assert.Contains(t, err.Error(), "with 10 of 10 permits free; 1 ignored")
		require.ErrorIs(t, s.Release(11), sem.ErrOverRelease, "a release above the new capacity")
		assert.Equal(t, int64(10), s.Available())
	})
	t.Run("a weight above the old capacity", func(t *testing.T) {
		s := sem.NewWeighted(2)
		require.NoError(t, s.SetCapacity(5))
		require.NoError(t, s.Acquire(context.Background(), 5), "the new capacity bounds the weight")
		require.NoError(t, s.SetCapacity(2))
		require.ErrorIs(t, s.Acquire(context.Background(), 3), sem.ErrWeightExceedsCapacity)
		require.NoError(t, s.Release(5), "a release above the current capacity that pays the debt")
		assert.Equal(t, int64(2), s.Available())
	})
}

// TestTrimAfterShrinkRace drives the repair of a fast-path release that
// passed a capacity a concurrent shrink lowered (protocol point 7), which no
// black-box test can time: the count is left above the capacity as such a
// release would leave it.
func TestTrimAfterShrinkRace(t *testing.T) {
	rec := observe.NewRecorder()
	s := sem.NewWeighted(5, sem.WithMetrics(rec), sem.WithLogger(rec))
	sem.ForceAvailable(s, 7) // a Release(3) of 1 held, passed against an old capacity
	err := sem.Trim(s, 3)
	require.ErrorIs(t, err, sem.ErrOverRelease, "the release must learn of its over-release")
	assert.Contains(t, err.Error(), "Release(3) with 4 of 5 permits free; 2 ignored")
	assert.Equal(t, int64(5), s.Available(), "the count is back at the capacity")
	assert.Equal(t, int64(2), rec.Count("ion_sem_over_released_total", observe.L("name", "")))
	require.Len(t, rec.Logs(), 1)

	require.True(t, s.TryAcquire(1))
	assert.NoError(t, sem.Trim(s, 1), "a count within the capacity is left alone (a SetCapacity accounted for it)")
	assert.Equal(t, int64(4), s.Available())

	sem.ForceAvailable(s, 7) // as above, and then a SetCapacity runs first
	require.NoError(t, s.SetCapacity(6))
	assert.Equal(t, int64(6), s.Available(), "SetCapacity clamps a count above the old capacity")
	assert.Equal(t, int64(4), rec.Count("ion_sem_over_released_total", observe.L("name", "")), "and counts the excess")
	assert.Zero(t, sem.InUse(s))
}

func TestSetCapacityPolicy(t *testing.T) {
	s := sem.NewWeighted(4, sem.WithName("db"))
	heavy := sem.Policy[string](s, sem.WithWeight(3))
	waiting := sem.Policy[string](s, sem.WithWeight(3), sem.WithMaxWait(1))
	assert.Equal(t, "bulkhead(db, capacity 4, FIFO, weight 3, no wait)", heavy.(interface{ String() string }).String())
	require.NoError(t, s.SetCapacity(2))
	assert.Equal(t, "bulkhead(db, capacity 2, FIFO, weight 3, no wait)", heavy.(interface{ String() string }).String(),
		"String names the current capacity")
	for _, p := range []policy.Policy[string]{heavy, waiting} {
		_, err := policy.Run(context.Background(), p, ok)
		assert.ErrorIs(t, err, sem.ErrWeightExceedsCapacity, "a weight above the shrunk capacity")
	}
	require.NoError(t, s.SetCapacity(3))
	v, err := policy.Run(context.Background(), heavy, ok)
	assert.NoError(t, err, "the bulkhead works again once the capacity grows back")
	assert.Equal(t, "ok", v)
}

func TestSetCapacityZeroAllocs(t *testing.T) {
	s := sem.NewWeighted(10)
	require.True(t, s.TryAcquire(6))
	allocs := testing.AllocsPerRun(100, func() {
		_ = s.SetCapacity(4)
		_ = s.SetCapacity(10)
	})
	assert.Zero(t, allocs, "SetCapacity must not allocate")
	assert.Equal(t, int64(4), s.Available())
}

// TestSetCapacityStress changes the capacity while goroutines acquire (fast,
// queued, cancelled) and release. A caller that is admitted is admitted
// against some capacity that was set, so the permits in use never exceed
// the largest capacity set so far; once everyone has released, every
// permit of the final capacity is free and nobody waits.
func TestSetCapacityStress(t *testing.T) {
	configs := []struct {
		name string
		opts []sem.Option
	}{
		{"FIFO", nil},
		{"LIFO", []sem.Option{sem.WithFairness(sem.LIFO)}},
		{"None", []sem.Option{sem.WithFairness(sem.None)}},
		{"FIFO adaptive LIFO CoDel", []sem.Option{sem.WithAdaptiveLIFO(4), sem.WithCoDel(1000, 10_000)}},
		{"None adaptive LIFO CoDel", []sem.Option{sem.WithFairness(sem.None), sem.WithAdaptiveLIFO(2), sem.WithCoDel(1000, 10_000)}},
	}
	goroutines, cycles := 16, 4_000
	if testing.Short() || raceEnabled {
		cycles = 1_000
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			const initial = 2
			s := sem.NewWeighted(initial, cfg.opts...)
			var maxCap, inUse atomic.Int64
			maxCap.Store(initial)
			done := make(chan struct{}) // closed when the callers are done
			var setter sync.WaitGroup
			var changes int
			setter.Go(func() { // owner: this test; exits once done is closed; joined by setter.Wait
				rng := rand.New(rand.NewPCG(1, 2))
				for i := 0; ; i++ {
					select {
					case <-done:
						changes = i
						return
					default:
					}
					hi := 2 + min(int64(i/64), 10) // the largest capacity grows over the run
					n := 1 + rng.Int64N(hi)
					for m := maxCap.Load(); n > m && !maxCap.CompareAndSwap(m, n); m = maxCap.Load() {
					}
					require.NoError(t, s.SetCapacity(n))
					if i%16 == 0 {
						runtime.Gosched() // not synchronization: lets the callers run between changes
					}
				}
			})
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() { // owner: this test; exits after its cycles; joined by wg.Wait
					rng := rand.New(rand.NewPCG(uint64(g), 3))
					for i := range cycles {
						n := 1 + rng.Int64N(3)
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
							// No waiter can hang: SetCapacity turns away those
							// heavier than the new capacity.
							err = s.Acquire(context.Background(), n)
						}
						if err != nil {
							if !assert.True(t, isAllowedAcquireErr(err), "unexpected Acquire error: %v", err) {
								return
							}
							continue
						}
						if v, m := inUse.Add(n), maxCap.Load(); v > m {
							t.Errorf("in use = %d, above the largest capacity set (%d)", v, m)
						}
						if i%3 == 0 {
							runtime.Gosched() // not synchronization: holding permits across a yield varies the interleavings
						}
						inUse.Add(-n)
						if err := s.Release(n); err != nil {
							t.Errorf("Release(%d) of permits held: %v", n, err)
						}
					}
				})
			}
			wg.Wait()
			close(done)
			setter.Wait()
			t.Logf("%d capacity changes, the largest %d", changes, maxCap.Load())
			assert.Equal(t, s.Capacity(), s.Available(), "every permit of the final capacity must be free")
			assert.Zero(t, sem.InUse(s), "no debt may be left")
			assert.Zero(t, s.Waiting(), "nobody may be left queued")
		})
	}
}

// TestSetCapacityOverReleaseStress adds releases of permits never acquired
// (a misuse) to changes of the capacity and correct callers: the free
// count must never be left above the capacity, and once the correct callers
// are done every permit is free.
func TestSetCapacityOverReleaseStress(t *testing.T) {
	cycles := 5_000
	if testing.Short() || raceEnabled {
		cycles = 1_000
	}
	s := sem.NewWeighted(4)
	done := make(chan struct{}) // closed when the correct callers are done
	var bg sync.WaitGroup
	bg.Go(func() { // owner: this test; the setter; exits once done is closed; joined by bg.Wait
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			require.NoError(t, s.SetCapacity(1+int64(i%7)))
		}
	})
	bg.Go(func() { // owner: this test; the misuse; exits once done is closed; joined by bg.Wait
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = s.Release(1) // an over-release, caught or not
		}
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { // owner: this test; a correct caller; joined by wg.Wait
			for range cycles {
				if s.TryAcquire(1) {
					_ = s.Release(1) // may be reported: the misuse above can take the blame onto it
				}
			}
		})
	}
	wg.Wait()
	close(done)
	bg.Wait()
	assert.Equal(t, s.Capacity(), s.Available(), "every permit must be free, and no more")
	assert.Zero(t, sem.InUse(s))
}

// isAllowedAcquireErr reports whether err is one an Acquire may return in
// the stress tests: a cancellation, a weight above a shrunk capacity, or a
// CoDel shed.
func isAllowedAcquireErr(err error) bool {
	for _, target := range []error{context.Canceled, sem.ErrWeightExceedsCapacity, sem.ErrShed} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// FuzzSetCapacity checks the accounting of capacity changes against a model:
// with held permits in use, Available is max(0, capacity - held), a take
// succeeds exactly when it fits, and releasing what is held is never an
// over-release, whatever the capacities in between.
func FuzzSetCapacity(f *testing.F) {
	f.Add(int64(10), []byte{3, 0x80 | 2, 7, 0x40 | 5, 0x80 | 9, 0xc0})
	f.Add(int64(1), []byte{0x80, 1, 0x80 | 63, 0x40 | 1}) // 0x80: SetCapacity(0)
	f.Add(int64(math.MaxInt64), []byte{0x80 | 1, 0xff})
	f.Fuzz(func(t *testing.T, capacity int64, ops []byte) {
		s := sem.NewWeighted(capacity)
		if capacity < 1 {
			require.ErrorIs(t, s.SetCapacity(1), ion.ErrInvalidConfig, "a fail-closed semaphore stays closed")
			return
		}
		var held []int64 // what each take holds, released last in first out
		var total int64
		for i, op := range ops {
			v := int64(op & 0x3f)
			switch op >> 6 {
			case 0, 1: // take
				want := v == 0 || v <= s.Capacity() && v <= s.Capacity()-total
				require.Equal(t, want, s.TryAcquire(v), "op %d: TryAcquire(%d) with %d held of %d", i, v, total, s.Capacity())
				if want && v > 0 {
					held = append(held, v)
					total += v
				}
			case 2: // change the capacity; 0 is invalid and changes nothing
				err := s.SetCapacity(v)
				if v == 0 {
					require.ErrorIs(t, err, ion.ErrInvalidConfig)
				} else {
					require.NoError(t, err)
				}
			case 3: // release the newest take
				if len(held) > 0 {
					n := held[len(held)-1]
					held = held[:len(held)-1]
					total -= n
					require.NoError(t, s.Release(n), "op %d: a release of what is held", i)
				}
			}
			require.Equal(t, max(s.Capacity()-total, 0), s.Available(), "op %d: Available with %d held", i, total)
			require.Equal(t, total, sem.InUse(s), "op %d: in use", i)
		}
		for _, n := range held {
			require.NoError(t, s.Release(n))
		}
		require.Equal(t, s.Capacity(), s.Available())
		require.ErrorIs(t, s.Release(1), sem.ErrOverRelease, "a release of nothing held")
	})
}

// TestInUseAcrossShrink: InUse counts the permits held, above the capacity
// after a shrink until releases bring it down.
func TestInUseAcrossShrink(t *testing.T) {
	s := sem.NewWeighted(10)
	require.True(t, s.TryAcquire(6))
	assert.Equal(t, int64(6), s.InUse())
	require.NoError(t, s.SetCapacity(4))
	assert.Equal(t, int64(6), s.InUse(), "a shrink revokes nothing")
	require.NoError(t, s.Release(2))
	assert.Equal(t, int64(4), s.InUse())
	assert.Zero(t, s.Available())
	require.NoError(t, s.Release(1))
	assert.Equal(t, int64(3), s.InUse())
	assert.Equal(t, int64(1), s.Available())
}
