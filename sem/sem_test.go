package sem_test

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fairnesses = []sem.Fairness{sem.FIFO, sem.LIFO, sem.None}

func TestNewWeightedFailsClosed(t *testing.T) {
	tests := []struct {
		name     string
		capacity int64
		opts     []sem.Option
		param    string
	}{
		{"zero capacity", 0, nil, "capacity"},
		{"negative capacity", -1, nil, "capacity"},
		{"min int64 capacity", math.MinInt64, nil, "capacity"},
		{"unknown fairness", 1, []sem.Option{sem.WithFairness(7)}, "WithFairness"},
		{"negative fairness", 1, []sem.Option{sem.WithFairness(-1)}, "WithFairness"},
		{"negative acquire timeout", 1, []sem.Option{sem.WithAcquireTimeout(-time.Second)}, "WithAcquireTimeout"},
		{"zero CoDel target", 1, []sem.Option{sem.WithCoDel(0, time.Second)}, "WithCoDel"},
		{"negative CoDel target", 1, []sem.Option{sem.WithCoDel(-time.Millisecond, time.Second)}, "WithCoDel"},
		{"zero CoDel interval", 1, []sem.Option{sem.WithCoDel(time.Millisecond, 0)}, "WithCoDel"},
		{"zero adaptive LIFO", 1, []sem.Option{sem.WithAdaptiveLIFO(0)}, "WithAdaptiveLIFO"},
		{"negative adaptive LIFO", 1, []sem.Option{sem.WithAdaptiveLIFO(-3)}, "WithAdaptiveLIFO"},
		{"nil logger", 1, []sem.Option{sem.WithLogger(nil)}, "WithLogger"},
		{"nil metrics", 1, []sem.Option{sem.WithMetrics(nil)}, "WithMetrics"},
		{"nil tracer", 1, []sem.Option{sem.WithTracer(nil)}, "WithTracer"},
		{"nil option", 1, []sem.Option{nil}, "opts"},
		{"first error wins", 0, []sem.Option{sem.WithLogger(nil)}, "WithLogger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sem.NewWeighted(tc.capacity, tc.opts...)
			err := s.Err()
			require.ErrorIs(t, err, ion.ErrInvalidConfig, "an invalid configuration must fail closed")
			var cerr *ion.ConfigError
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, "sem", cerr.Pkg)
			assert.Equal(t, tc.param, cerr.Param, "the error must name the parameter")

			assert.Same(t, err, s.Acquire(context.Background(), 1), "Acquire must return the configuration error")
			assert.Same(t, err, s.Acquire(context.Background(), 0), "even a zero weight must fail closed")
			assert.Same(t, err, s.Acquire(context.Background(), -1))
			assert.False(t, s.TryAcquire(1), "TryAcquire must never fail open")
			assert.False(t, s.TryAcquire(0), "TryAcquire must never fail open")
			s.Release(1) // must not panic or grow anything
			s.Release(-1)
			assert.Zero(t, s.Capacity())
			assert.Zero(t, s.Available())
			assert.Zero(t, s.Waiting())
		})
	}
}

func TestNewWeightedDefaults(t *testing.T) {
	s := sem.NewWeighted(math.MaxInt64)
	require.NoError(t, s.Err())
	assert.Equal(t, int64(math.MaxInt64), s.Capacity())
	assert.Equal(t, int64(math.MaxInt64), s.Available(), "all permits start available")
	require.NoError(t, s.Acquire(context.Background(), math.MaxInt64), "the whole capacity can be taken at once")
	assert.Zero(t, s.Available())
	s.Release(math.MaxInt64)
	assert.Equal(t, int64(math.MaxInt64), s.Available())
}

// TestZeroValues covers the zero value of every exported type: each works
// or fails closed with an error matching ion.ErrInvalidConfig; none panics.
func TestZeroValues(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Weighted", func(t *testing.T) {
			var s sem.Weighted
			require.ErrorIs(t, s.Err(), ion.ErrInvalidConfig, "a zero Weighted fails closed")
			assert.Contains(t, s.Err().Error(), "use NewWeighted")
			assert.ErrorIs(t, s.Acquire(context.Background(), 1), ion.ErrInvalidConfig)
			assert.ErrorIs(t, s.Acquire(context.Background(), 0), ion.ErrInvalidConfig, "even a zero weight")
			assert.False(t, s.TryAcquire(1))
			assert.False(t, s.TryAcquire(0))
			assert.ErrorIs(t, s.Release(1), ion.ErrInvalidConfig)
			assert.Zero(t, s.Available(), "a release must never grow the zero value")
			assert.Zero(t, s.Capacity())
			assert.Zero(t, s.Waiting())
			_, err := policy.Run(context.Background(), sem.Policy[int](&s), func(context.Context) (int, error) { return 1, nil })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "a bulkhead over a zero Weighted fails closed")
			assert.Contains(t, err.Error(), "use NewWeighted", "and says why")
		}},
		{"Fairness", func(t *testing.T) {
			var f sem.Fairness
			assert.Equal(t, sem.FIFO, f, "the zero Fairness is the default")
		}},
		{"Option", func(t *testing.T) {
			var o sem.Option
			assert.ErrorIs(t, sem.NewWeighted(1, o).Err(), ion.ErrInvalidConfig, "a nil Option fails closed")
		}},
		{"PolicyOption", func(t *testing.T) {
			var o sem.PolicyOption
			_, err := policy.Run(context.Background(), sem.Policy[int](sem.NewWeighted(1), o),
				func(context.Context) (int, error) { return 1, nil })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "a nil PolicyOption fails closed")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.NotPanics(t, func() { tc.run(t) })
		})
	}
}

func TestFairnessString(t *testing.T) {
	tests := []struct {
		f    sem.Fairness
		want string
	}{
		{sem.FIFO, "FIFO"},
		{sem.LIFO, "LIFO"},
		{sem.None, "None"},
		{sem.Fairness(9), "Fairness(9)"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.f.String())
	}
	var zero sem.Fairness
	assert.Equal(t, sem.FIFO, zero, "the zero Fairness must be the default, FIFO")
}

func TestAcquireBadInput(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		n    int64
		want error
	}{
		{"negative weight", context.Background(), -1, sem.ErrInvalidWeight},
		{"min int64 weight", context.Background(), math.MinInt64, sem.ErrInvalidWeight},
		{"weight above capacity", context.Background(), 4, sem.ErrWeightExceedsCapacity},
		{"max int64 weight", context.Background(), math.MaxInt64, sem.ErrWeightExceedsCapacity},
		{"nil ctx", nil, 1, ion.ErrInvalidConfig},
		{"zero weight, done ctx", canceled, 0, context.Canceled},
		{"zero weight", context.Background(), 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sem.NewWeighted(3)
			require.True(t, s.TryAcquire(2))
			err := s.Acquire(tc.ctx, tc.n)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want, "Acquire(%d) = %v, want %v", tc.n, err, tc.want)
			}
			assert.Equal(t, int64(1), s.Available(), "bad input must not change state")
			assert.Zero(t, s.Waiting(), "bad input must not queue")
		})
	}
}

func TestTryAcquire(t *testing.T) {
	s := sem.NewWeighted(3)
	steps := []struct {
		n       int64
		want    bool
		release int64 // released after the step
		avail   int64 // Available after the step and its release
	}{
		{0, true, 0, 3},
		{-1, false, 0, 3},
		{4, false, 0, 3},
		{2, true, 0, 1},
		{2, false, 0, 1}, // one free, two asked
		{1, true, 3, 3},
		{3, true, 3, 3},
	}
	for i, st := range steps {
		got := s.TryAcquire(st.n)
		assert.Equal(t, st.want, got, "step %d: TryAcquire(%d) = %v, want %v", i, st.n, got, st.want)
		s.Release(st.release)
		assert.Equal(t, st.avail, s.Available(), "step %d: Available", i)
	}
}

// waiters runs Acquire calls in a synctest bubble and records who is
// granted, in the order the test observes it.
type waiters struct {
	t       *testing.T
	s       *sem.Weighted
	mu      sync.Mutex
	granted []int
	errs    map[int]error
	cancels map[int]context.CancelFunc
}

func newWaiters(t *testing.T, s *sem.Weighted) *waiters {
	return &waiters{t: t, s: s, errs: map[int]error{}, cancels: map[int]context.CancelFunc{}}
}

// queue starts one Acquire(n) per weight, ids numbered from the current
// count, and waits until each is blocked, so the queue order is the call
// order. It must be called inside a synctest bubble.
func (w *waiters) queue(weights ...int64) {
	w.t.Helper()
	for _, n := range weights {
		w.mu.Lock()
		id := len(w.cancels)
		ctx, cancel := context.WithCancel(w.t.Context())
		w.cancels[id] = cancel
		w.mu.Unlock()
		before := w.s.Waiting()
		go func() { // owner: the test; exits when granted or cancelled; joined by synctest.Wait
			err := w.s.Acquire(ctx, n)
			w.mu.Lock()
			defer w.mu.Unlock()
			if err == nil {
				w.granted = append(w.granted, id)
			} else {
				w.errs[id] = err
			}
		}()
		synctest.Wait()
		require.Equal(w.t, before+1, w.s.Waiting(), "waiter %d (weight %d) must be queued", id, n)
	}
}

// take returns the ids granted since the last take, sorted.
func (w *waiters) take() []int {
	synctest.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	g := slices.Sorted(slices.Values(w.granted))
	w.granted = nil
	return g
}

func (w *waiters) cancel(id int) {
	w.cancels[id]()
	synctest.Wait()
}

func TestOrderingUnitWeights(t *testing.T) {
	tests := []struct {
		fairness sem.Fairness
		want     []int
	}{
		{sem.FIFO, []int{0, 1, 2, 3, 4}},
		{sem.LIFO, []int{4, 3, 2, 1, 0}},
		{sem.None, []int{0, 1, 2, 3, 4}}, // None serves the oldest waiter that fits
	}
	for _, tc := range tests {
		t.Run(tc.fairness.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(5, sem.WithFairness(tc.fairness))
				require.True(t, s.TryAcquire(5))
				w := newWaiters(t, s)
				w.queue(1, 1, 1, 1, 1)
				var got []int
				for range 5 {
					s.Release(1)
					g := w.take()
					require.Len(t, g, 1, "each Release(1) must grant exactly one waiter")
					got = append(got, g...)
				}
				assert.Equal(t, tc.want, got, "%v grant order", tc.fairness)
				assert.Zero(t, s.Waiting())
				assert.Zero(t, s.Available())
			})
		})
	}
}

func TestOrderingMixedWeights(t *testing.T) {
	// Capacity 10, all held. Waiters queue in order with weights
	// 0:3 1:1 2:2 3:1 4:3 (10 in all); the holder releases 1, 2, 3, 1, 3.
	// Granted waiters keep their permits. Each row lists who is granted by
	// each release.
	weights := []int64{3, 1, 2, 1, 3}
	releases := []int64{1, 2, 3, 1, 3}
	tests := []struct {
		fairness sem.Fairness
		want     [][]int
	}{
		// FIFO blocks at the head: 1 free is not enough for waiter 0, and
		// waiter 1 (which would fit) may not pass it.
		{sem.FIFO, [][]int{{}, {0}, {1, 2}, {3}, {4}}},
		// LIFO serves the newest first and blocks at the newest.
		{sem.LIFO, [][]int{{}, {4}, {2, 3}, {1}, {0}}},
		// None serves whoever fits, oldest first.
		{sem.None, [][]int{{1}, {2}, {0}, {3}, {4}}},
	}
	for _, tc := range tests {
		t.Run(tc.fairness.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(10, sem.WithFairness(tc.fairness))
				require.True(t, s.TryAcquire(10))
				w := newWaiters(t, s)
				w.queue(weights...)
				for i, r := range releases {
					s.Release(r)
					got := w.take()
					if got == nil {
						got = []int{}
					}
					assert.Equal(t, tc.want[i], got, "%v: release %d of %d", tc.fairness, i, r)
				}
				assert.Zero(t, s.Waiting())
				assert.Zero(t, s.Available())
			})
		})
	}
}

// TestSeedSemaphoreBarging guards the seed's bug where TryAcquire and
// Acquire took free permits ahead of queued callers under FIFO.
func TestSeedSemaphoreBarging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(3)
		require.True(t, s.TryAcquire(2))
		w := newWaiters(t, s)
		w.queue(2) // waiter 0 needs 2, 1 is free
		assert.False(t, s.TryAcquire(1), "FIFO: TryAcquire must not barge past a queued waiter")
		w.queue(1) // waiter 1 fits but must queue behind waiter 0
		assert.Equal(t, 2, s.Waiting(), "FIFO: a new Acquire must queue behind a queued waiter")
		assert.Empty(t, w.take())
		s.Release(1)
		assert.Equal(t, []int{0}, w.take(), "the head is served first")
		s.Release(1)
		assert.Equal(t, []int{1}, w.take())
		assert.Zero(t, s.Available())
	})
}

func TestLIFOAndNoneTakeFreePermits(t *testing.T) {
	for _, f := range []sem.Fairness{sem.LIFO, sem.None} {
		t.Run(f.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(3, sem.WithFairness(f))
				require.True(t, s.TryAcquire(2))
				w := newWaiters(t, s)
				w.queue(2)
				assert.True(t, s.TryAcquire(1), "%v: a caller takes free permits that fit while a larger one waits", f)
				s.Release(1)
				require.NoError(t, s.Acquire(t.Context(), 1), "%v: Acquire of free permits must not wait", f)
				assert.Equal(t, 1, s.Waiting())
				s.Release(3)
				assert.Equal(t, []int{0}, w.take())
				assert.Equal(t, int64(1), s.Available())
			})
		})
	}
}

// TestSeedSemaphoreSmallOvertakesLarge guards the seed's FIFO, which served
// the first waiter that fit, so a large weight starved behind small ones.
func TestSeedSemaphoreSmallOvertakesLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(4)
		require.True(t, s.TryAcquire(4))
		w := newWaiters(t, s)
		w.queue(3, 1) // big first, then small
		s.Release(1)
		assert.Empty(t, w.take(), "FIFO: the small waiter must not overtake the big head")
		s.Release(2)
		assert.Equal(t, []int{0}, w.take(), "the big head is served as soon as it fits")
		s.Release(1)
		assert.Equal(t, []int{1}, w.take())
	})
}

// TestSeedSemaphoreNoneIsFIFO guards the seed's None mode, which was FIFO
// in disguise.
func TestSeedSemaphoreNoneIsFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(4, sem.WithFairness(sem.None))
		require.True(t, s.TryAcquire(4))
		w := newWaiters(t, s)
		w.queue(3, 1)
		s.Release(1)
		assert.Equal(t, []int{1}, w.take(), "None: the small waiter that fits is served past the big one")
		s.Release(1)
		s.Release(2)
		assert.Equal(t, []int{0}, w.take())
	})
}

// TestGolangGo63615DoneCtxFailsWithFreePermits guards golang/go#63615: an
// Acquire with an already-done ctx must fail even when permits are free.
func TestGolangGo63615DoneCtxFailsWithFreePermits(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, f := range fairnesses {
		s := sem.NewWeighted(5, sem.WithFairness(f))
		err := s.Acquire(canceled, 1)
		assert.ErrorIs(t, err, context.Canceled, "%v: a done ctx must fail the call", f)
		err = s.Acquire(expired, 5)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%v: an expired ctx must fail the call", f)
		assert.NotErrorIs(t, err, sem.ErrFull, "the caller's deadline is not a rejection")
		assert.Equal(t, int64(5), s.Available(), "%v: a failed Acquire holds nothing", f)
	}
}

// TestGolangGo37852CancelledHeadWakesFollowers guards golang/go#37852: when
// the waiter that blocks the queue gives up, the waiters behind it that fit
// must be served without waiting for another release.
func TestGolangGo37852CancelledHeadWakesFollowers(t *testing.T) {
	tests := []struct {
		fairness sem.Fairness
		weights  []int64
		blocker  int   // the waiter that blocks the others
		want     []int // granted when the blocker leaves
	}{
		{sem.FIFO, []int64{3, 1, 1}, 0, []int{1, 2}},
		{sem.LIFO, []int64{1, 1, 3}, 2, []int{0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.fairness.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(4, sem.WithFairness(tc.fairness))
				require.True(t, s.TryAcquire(4))
				w := newWaiters(t, s)
				w.queue(tc.weights...)
				s.Release(2) // 2 free: enough for the small ones, not for the blocker
				assert.Empty(t, w.take(), "the blocker holds the others back")
				w.cancel(tc.blocker)
				assert.Equal(t, tc.want, w.take(), "the cancelled blocker must wake the waiters that fit")
				assert.ErrorIs(t, w.errs[tc.blocker], context.Canceled)
				assert.Zero(t, s.Waiting())
				assert.Zero(t, s.Available())
			})
		})
	}
}

func TestOversizedWeightDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(2)
		err := s.Acquire(t.Context(), 3)
		require.ErrorIs(t, err, sem.ErrWeightExceedsCapacity, "a weight above capacity fails at once")
		assert.Zero(t, s.Waiting(), "an oversized weight must not queue")
		require.NoError(t, s.Acquire(t.Context(), 2), "nobody is blocked by the oversized call")
		s.Release(2)
	})
}

func TestAcquireTimeout(t *testing.T) {
	for _, f := range fairnesses {
		t.Run(f.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := observe.NewRecorder()
				s := sem.NewWeighted(2, sem.WithFairness(f), sem.WithAcquireTimeout(100*time.Millisecond),
					sem.WithMetrics(rec), sem.WithName("db"))
				require.True(t, s.TryAcquire(2))
				start := time.Now()
				err := s.Acquire(t.Context(), 1)
				assert.Equal(t, 100*time.Millisecond, time.Since(start), "the wait must last exactly the timeout")
				assert.ErrorIs(t, err, context.DeadlineExceeded, "the acquire timeout must wrap DeadlineExceeded")
				assert.ErrorIs(t, err, sem.ErrFull)
				assert.ErrorIs(t, err, ion.ErrRejected)
				assert.EqualError(t, err, "sem: full: no permit within 100ms: context deadline exceeded")
				assert.Zero(t, s.Available(), "a timed-out Acquire holds nothing")
				assert.Zero(t, s.Waiting(), "a timed-out Acquire leaves the queue")
				assert.Equal(t, int64(1), rec.Count("ion_sem_acquire_total", observe.L("name", "db"), observe.L("result", "timeout")))
				assert.Equal(t, []float64{0.1}, rec.Observations("ion_sem_wait_seconds", observe.L("name", "db")))

				// Served within the timeout: no error.
				go func() { // owner: the test; exits after the release; joined by synctest.Wait
					time.Sleep(50 * time.Millisecond)
					s.Release(1)
				}()
				require.NoError(t, s.Acquire(t.Context(), 1))
				synctest.Wait()
				s.Release(2)
				assert.Equal(t, int64(2), s.Available())
			})
		})
	}
}

func TestAcquireCallerDeadlineAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(1, sem.WithAcquireTimeout(time.Hour))
		require.True(t, s.TryAcquire(1))

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := s.Acquire(ctx, 1)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline must be wrapped")
		assert.NotErrorIs(t, err, sem.ErrFull, "the caller's own deadline is not a rejection")
		assert.EqualError(t, err, "sem: acquire: context deadline exceeded")

		ctx2, cancel2 := context.WithCancel(t.Context())
		go func() { // owner: the test; exits after cancelling; joined by synctest.Wait
			time.Sleep(time.Second)
			cancel2()
		}()
		err = s.Acquire(ctx2, 1)
		assert.ErrorIs(t, err, context.Canceled)
		synctest.Wait()
		assert.Zero(t, s.Waiting())
		s.Release(1)
		assert.Equal(t, int64(1), s.Available())
	})
}

// TestSeedSemaphoreLostWakeup guards the seed's lost wakeups: a grant sent
// before the waiter reached its select was lost, and a release between the
// fast path and the enqueue left the waiter asleep, so timed-out waiters
// leaked permits. Goroutines here hammer every path at once: fast and slow
// acquires, timeouts, cancellations racing grants, and releases; at the end
// every permit must be back and nobody queued. Alongside, an in-use gauge
// kept by the callers must never exceed the capacity.
func TestSeedSemaphoreLostWakeup(t *testing.T) {
	const (
		goroutines = 64
		capacity   = 10
	)
	cycles := 10_000
	if testing.Short() || raceEnabled {
		cycles = 1_000 // 64,000 cycles per fairness still cover every race; the full count runs without -race
	}
	for _, f := range fairnesses {
		t.Run(f.String(), func(t *testing.T) {
			s := sem.NewWeighted(capacity, sem.WithFairness(f))
			var inUse, maxInUse, acquired atomic.Int64
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() { // owner: this test; exits after its cycles; joined by wg.Wait
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					for i := range cycles {
						n := 1 + rng.Int64N(capacity)
						var err error
						switch i % 8 {
						case 0:
							if !s.TryAcquire(n) {
								continue
							}
						case 1: // a ctx that ends before or while the call waits
							ctx, cancel := context.WithCancel(context.Background())
							canceled := make(chan struct{})
							go func() { // owner: this cycle; exits after cancelling; joined by <-canceled
								cancel()
								close(canceled)
							}()
							err = s.Acquire(ctx, n)
							<-canceled
						default:
							err = s.Acquire(context.Background(), n)
						}
						if err != nil {
							require.ErrorIs(t, err, context.Canceled)
							continue
						}
						acquired.Add(1)
						if !holdThenRelease(t, s, &inUse, &maxInUse, n, capacity, i%3 == 0) {
							return
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(capacity), s.Available(), "%v: every permit must be back", f)
			assert.Zero(t, s.Waiting(), "%v: nobody may be left queued", f)
			assert.LessOrEqual(t, maxInUse.Load(), int64(capacity))
			assert.Positive(t, acquired.Load())
		})
	}
}

// TestCancelRacingRelease races a waiter's cancellation against the release
// that would serve it, 10,000 times: the waiter must end holding its permits
// (nil) or nothing (an error), and no permit may be lost.
func TestCancelRacingRelease(t *testing.T) {
	rounds := 10_000
	if testing.Short() {
		rounds = 1_000
	}
	for _, f := range fairnesses {
		t.Run(f.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(2, sem.WithFairness(f))
				var won, lost int
				for range rounds {
					require.True(t, s.TryAcquire(2))
					ctx, cancel := context.WithCancel(context.Background())
					errc := make(chan error, 1)
					go func() { errc <- s.Acquire(ctx, 2) }() // owner: this round; exits when served or cancelled; joined by <-errc
					synctest.Wait()                           // the waiter is queued: blocked on its grant or its ctx
					require.Equal(t, 1, s.Waiting())
					release := make(chan struct{})
					go func() { // owner: this round; exits after cancelling; joined by <-release
						cancel()
						close(release)
					}()
					s.Release(2)
					<-release
					if err := <-errc; err == nil {
						won++
						require.Zero(t, s.Available(), "a nil Acquire must hold its permits")
						s.Release(2)
					} else {
						lost++
						require.ErrorIs(t, err, context.Canceled)
					}
					require.Equal(t, int64(2), s.Available(), "no permit may be lost")
					require.Zero(t, s.Waiting())
				}
				t.Logf("%v: granted %d, cancelled %d", f, won, lost)
			})
		})
	}
}

// TestFastPathContention hammers the lock-free fast paths from more
// goroutines than there are Ps, with no pause between operations, so that
// their compare-and-swaps keep losing to each other and take the backoff
// path; the capacity is one permit short of the callers, so that some of
// them queue and releases also lose to a waiter setting the queued bit. The
// permits in use must never exceed the capacity, every permit must be back
// at the end, and nobody may be left queued.
func TestFastPathContention(t *testing.T) {
	goroutines := 2 * runtime.GOMAXPROCS(0)
	cycles := 20_000
	if testing.Short() || raceEnabled {
		cycles = 2_000
	}
	for _, f := range fairnesses {
		t.Run(f.String(), func(t *testing.T) {
			capacity := int64(goroutines - 1)
			s := sem.NewWeighted(capacity, sem.WithFairness(f))
			p := policy.Compose(sem.Policy[int](s))
			var inUse atomic.Int64
			hold := func() {
				if v := inUse.Add(1); v > capacity {
					t.Errorf("in use = %d, exceeds capacity %d", v, capacity)
				}
				inUse.Add(-1)
			}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() { // owner: this test; exits after its cycles; joined by wg.Wait
					for i := range cycles {
						switch (g + i) % 3 {
						case 0:
							if !s.TryAcquire(1) {
								continue
							}
						case 1:
							if _, err := p.Run(context.Background(), func(context.Context) (int, error) {
								hold()
								return 0, nil
							}); err != nil {
								assert.ErrorIs(t, err, sem.ErrFull, "a bulkhead without wait may only be refused")
							}
							continue
						default:
							if err := s.Acquire(context.Background(), 1); err != nil {
								t.Errorf("Acquire with a background ctx failed: %v", err)
								return
							}
						}
						hold()
						s.Release(1)
					}
				})
			}
			wg.Wait()
			assert.Equal(t, capacity, s.Available(), "%v: every permit must be back", f)
			assert.Zero(t, s.Waiting(), "%v: nobody may be left queued", f)
		})
	}
}

func TestGrantRacingDoneCtxHandsBack(t *testing.T) {
	// The head waiter's ctx ends just before the release that serves it.
	// Whether the head sees the grant or its ctx first, it must fail holding
	// nothing, and the permit must go on to the next waiter.
	synctest.Test(t, func(t *testing.T) {
		for range 2000 {
			s := sem.NewWeighted(1)
			require.True(t, s.TryAcquire(1))
			ctx, cancel := context.WithCancel(context.Background())
			head, next := make(chan error, 1), make(chan error, 1)
			go func() { head <- s.Acquire(ctx, 1) }()                  // owner: this round; joined by <-head
			synctest.Wait()                                            // the head is queued
			go func() { next <- s.Acquire(context.Background(), 1) }() // owner: this round; joined by <-next
			synctest.Wait()                                            // and the next one behind it
			require.Equal(t, 2, s.Waiting())
			cancel()
			s.Release(1)
			require.ErrorIs(t, <-head, context.Canceled, "a waiter whose ctx is done must fail")
			require.NoError(t, <-next, "the permit must go on to the next waiter")
			require.Zero(t, s.Available())
			s.Release(1)
			require.Equal(t, int64(1), s.Available())
			require.Zero(t, s.Waiting())
		}
	})
}

// TestOverReleaseReachesTheCaller: a release of more than is held, or of a
// negative weight, used to be only logged (to a no-op logger by default) and
// counted, so a double release was invisible. Release now returns the
// error; the capacity still never grows and nothing panics.
func TestOverReleaseReachesTheCaller(t *testing.T) {
	rec := observe.NewRecorder()
	s := sem.NewWeighted(3, sem.WithLogger(rec), sem.WithMetrics(rec), sem.WithName("db"))
	name := observe.L("name", "db")

	err := s.Release(1) // nothing held
	require.ErrorIs(t, err, sem.ErrOverRelease)
	assert.Equal(t, "sem: released more permits than held: Release(1) with 3 of 3 permits free; 1 ignored", err.Error())
	assert.NotErrorIs(t, err, ion.ErrRejected, "a misuse is not a rejection")
	assert.NotErrorIs(t, err, ion.ErrInvalidConfig)
	assert.Equal(t, int64(3), s.Available(), "a release must never grow the capacity")
	require.True(t, s.TryAcquire(2))
	err = s.Release(5) // 2 held, 5 released
	require.ErrorIs(t, err, sem.ErrOverRelease)
	assert.Contains(t, err.Error(), "Release(5) with 1 of 3 permits free; 3 ignored")
	assert.Equal(t, int64(3), s.Available())
	require.ErrorIs(t, s.Release(100), sem.ErrOverRelease, "a release above the capacity")
	assert.Equal(t, int64(3), s.Available())
	assert.Equal(t, int64(1+3+100), rec.Count("ion_sem_over_released_total", name),
		"the excess permits must be counted")

	require.ErrorIs(t, s.Release(-2), sem.ErrInvalidWeight, "a negative release")
	assert.Equal(t, int64(3), s.Available(), "a negative release must be ignored")
	require.NoError(t, s.Release(0))

	require.True(t, s.TryAcquire(3))
	require.NoError(t, s.Release(2), "a correct release")
	require.NoError(t, s.Release(1))

	logs := rec.Logs()
	require.Len(t, logs, 4, "each over-release and the negative release must be logged")
	for _, l := range logs {
		assert.Equal(t, slog.LevelWarn, l.Level)
	}
	assert.Contains(t, logs[0].Msg, "excess is ignored")
	assert.Contains(t, logs[3].Msg, "negative")
}

// TestOverReleaseCaughtOnlyPastCapacity pins down what "the capacity never
// grows" means for a semaphore that does not track holders: the free count
// never passes the capacity, but a double release is caught only when it
// would; until then more than the capacity can be in use.
func TestOverReleaseCaughtOnlyPastCapacity(t *testing.T) {
	s := sem.NewWeighted(10)
	require.True(t, s.TryAcquire(3)) // holder A
	require.True(t, s.TryAcquire(2)) // holder B
	require.NoError(t, s.Release(3), "A releases")
	require.True(t, s.TryAcquire(8), "others take the 8 free permits")
	require.NoError(t, s.Release(3), "A releases again: a bug, but the free count stays within the capacity")
	require.True(t, s.TryAcquire(3), "so 3 more can run: 2 + 8 + 3 = 13 permits in use against a capacity of 10")
	require.NoError(t, s.Release(2), "B releases correctly")
	require.NoError(t, s.Release(8))
	err := s.Release(3)
	require.ErrorIs(t, err, sem.ErrOverRelease, "the release that would pass the capacity reports the excess")
	assert.Contains(t, err.Error(), "3 ignored")
	assert.Equal(t, int64(10), s.Available(), "the free count never passes the capacity")
}

func TestOverReleaseWithWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		s := sem.NewWeighted(3, sem.WithLogger(rec))
		require.True(t, s.TryAcquire(3))
		w := newWaiters(t, s)
		w.queue(2)
		require.ErrorIs(t, s.Release(10), sem.ErrOverRelease)
		assert.Equal(t, []int{0}, w.take(), "the waiter is served from the clamped permits")
		assert.Equal(t, int64(1), s.Available(), "the excess must not reach the waiters or the count")
		require.Len(t, rec.Logs(), 1)
	})
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		s := sem.NewWeighted(4, sem.WithMetrics(rec), sem.WithName("db"))
		name := observe.L("name", "db")
		count := func(result string) int64 {
			return rec.Count("ion_sem_acquire_total", name, observe.L("result", result))
		}

		require.NoError(t, s.Acquire(t.Context(), 3))
		assert.Equal(t, 3.0, rec.Value("ion_sem_in_use", name))
		assert.False(t, s.TryAcquire(2))
		assert.False(t, s.TryAcquire(5))
		assert.ErrorIs(t, s.Acquire(t.Context(), -1), sem.ErrInvalidWeight)

		w := newWaiters(t, s)
		w.queue(2)
		assert.Equal(t, 1.0, rec.Value("ion_sem_waiting", name))
		time.Sleep(2 * time.Second)
		s.Release(3)
		assert.Equal(t, []int{0}, w.take())
		assert.Equal(t, 0.0, rec.Value("ion_sem_waiting", name))
		assert.Equal(t, 2.0, rec.Value("ion_sem_in_use", name))
		assert.Equal(t, []float64{2}, rec.Observations("ion_sem_wait_seconds", name), "the wait is observed for callers that queued")

		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		assert.Error(t, s.Acquire(canceled, 1))
		s.Release(2)
		assert.Equal(t, 0.0, rec.Value("ion_sem_in_use", name))

		assert.Equal(t, int64(2), count("acquired"))
		assert.Equal(t, int64(1), count("rejected"))
		assert.Equal(t, int64(2), count("invalid"))
		assert.Equal(t, int64(1), count("canceled"))
		assert.Zero(t, count("timeout"))
	})
}

func TestZeroAllocs(t *testing.T) {
	rec := observe.NewRecorder()
	for _, tc := range []struct {
		name string
		s    *sem.Weighted
	}{
		{"no sinks", sem.NewWeighted(10)},
		{"metrics", sem.NewWeighted(10, sem.WithMetrics(rec), sem.WithLogger(rec), sem.WithTracer(rec))},
		{"LIFO", sem.NewWeighted(10, sem.WithFairness(sem.LIFO))},
		{"CoDel and adaptive LIFO", sem.NewWeighted(10, sem.WithCoDel(time.Millisecond, 10*time.Millisecond), sem.WithAdaptiveLIFO(2))},
	} {
		ctx := context.Background()
		s := tc.s
		allocs := testing.AllocsPerRun(1000, func() {
			if err := s.Acquire(ctx, 3); err != nil {
				t.Fatal(err)
			}
			s.Release(3)
		})
		assert.Zero(t, allocs, "%s: uncontended Acquire+Release must not allocate", tc.name)
		allocs = testing.AllocsPerRun(1000, func() {
			if !s.TryAcquire(3) {
				t.Fatal("TryAcquire failed")
			}
			s.Release(3)
		})
		assert.Zero(t, allocs, "%s: uncontended TryAcquire+Release must not allocate", tc.name)
		cctx, cancel := context.WithCancel(ctx)
		allocs = testing.AllocsPerRun(1000, func() {
			if err := s.Acquire(cctx, 3); err != nil {
				t.Fatal(err)
			}
			s.Release(3)
		})
		cancel()
		assert.Zero(t, allocs, "%s: Acquire with a cancelable ctx must not allocate", tc.name)
	}
}

func FuzzWeighted(f *testing.F) {
	f.Add(int64(10), uint8(0), []byte{1, 2, 3, 200, 0, 10})
	f.Add(int64(0), uint8(1), []byte{1})
	f.Add(int64(-5), uint8(2), []byte{})
	f.Add(int64(math.MaxInt64), uint8(3), []byte{255, 127, 128})
	f.Add(int64(1), uint8(2), []byte{129, 1, 1})
	f.Fuzz(func(t *testing.T, capacity int64, fairness uint8, ops []byte) {
		s := sem.NewWeighted(capacity, sem.WithFairness(sem.Fairness(fairness%4)))
		if capacity < 1 || fairness%4 == 3 {
			require.ErrorIs(t, s.Err(), ion.ErrInvalidConfig)
			require.ErrorIs(t, s.Acquire(context.Background(), 1), ion.ErrInvalidConfig)
			require.False(t, s.TryAcquire(1))
			return
		}
		require.NoError(t, s.Err())
		done, cancel := context.WithCancel(context.Background())
		cancel()
		var held int64
		for i, op := range ops {
			// A weight from the byte: small ones, edges and signs.
			n := int64(int8(op))
			switch op % 5 {
			case 3:
				n = capacity - int64(op%4)
			case 4:
				n = -n * (capacity / 64)
			}
			switch i % 4 {
			case 0:
				want := n >= 0 && n <= s.Available()
				got := s.TryAcquire(n)
				require.Equal(t, want, got, "TryAcquire(%d) with %d free and nobody queued", n, s.Available())
				if got {
					held += n
				}
			case 1:
				err := s.Acquire(done, n)
				switch {
				case n < 0:
					require.ErrorIs(t, err, sem.ErrInvalidWeight)
				case n > capacity:
					require.ErrorIs(t, err, sem.ErrWeightExceedsCapacity)
				default:
					require.ErrorIs(t, err, context.Canceled, "a done ctx never acquires")
				}
			case 2:
				if n >= 0 && n <= s.Available() {
					require.NoError(t, s.Acquire(context.Background(), n), "free permits with nobody queued")
					held += n
				}
			case 3:
				if n > 0 && n <= held {
					s.Release(n)
					held -= n
				}
			}
			require.Equal(t, capacity-held, s.Available(), "op %d: the count must match what is held", i)
		}
		s.Release(held)
		require.Equal(t, capacity, s.Available())
		s.Release(capacity) // an over-release
		require.Equal(t, capacity, s.Available(), "an over-release never grows the capacity")
		require.Zero(t, s.Waiting())
	})
}

// holdThenRelease counts the n permits just acquired from s in inUse and
// fails t if that takes the count above capacity (raising peak to it, when
// peak is not nil), yields the processor while holding them when yield is
// set (not synchronization: it varies the interleavings), and releases
// them. It reports false, having failed t, when the release fails.
func holdThenRelease(t *testing.T, s *sem.Weighted, inUse, peak *atomic.Int64, n, capacity int64, yield bool) bool {
	v := inUse.Add(n)
	if v > capacity {
		t.Errorf("in use = %d, exceeds capacity %d", v, capacity)
	}
	for peak != nil {
		m := peak.Load()
		if v <= m || peak.CompareAndSwap(m, v) {
			break
		}
	}
	if yield {
		runtime.Gosched()
	}
	inUse.Add(-n)
	if err := s.Release(n); err != nil {
		t.Errorf("Release(%d) of permits held: %v", n, err)
		return false
	}
	return true
}
