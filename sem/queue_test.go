package sem_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// holders runs callers that each wait for one permit, hold it for a while
// and release it, inside a synctest bubble, and records who was served, in
// order, and who failed.
type holders struct {
	t      *testing.T
	s      *sem.Weighted
	run    func(ctx context.Context, id int, hold time.Duration) error // acquires, records the grant, holds, releases
	wg     sync.WaitGroup
	mu     sync.Mutex
	served []int
	errs   map[int]error
	next   int
}

// acquirer is a holders.run through Acquire and Release.
func acquirer(h *holders) func(context.Context, int, time.Duration) error {
	return func(ctx context.Context, id int, hold time.Duration) error {
		if err := h.s.Acquire(ctx, 1); err != nil {
			return err
		}
		h.granted(id)
		time.Sleep(hold)
		return h.s.Release(1)
	}
}

// bulkheadCaller is a holders.run through a bulkhead over h.s that waits up
// to a minute.
func bulkheadCaller(h *holders) func(context.Context, int, time.Duration) error {
	p := sem.Policy[int](h.s, sem.WithMaxWait(time.Minute))
	return func(ctx context.Context, id int, hold time.Duration) error {
		_, err := policy.Run(ctx, p, func(context.Context) (int, error) {
			h.granted(id)
			time.Sleep(hold)
			return id, nil
		})
		return err
	}
}

func newHolders(t *testing.T, s *sem.Weighted, run func(*holders) func(context.Context, int, time.Duration) error) *holders {
	h := &holders{t: t, s: s, errs: map[int]error{}}
	h.run = run(h)
	return h
}

func (h *holders) granted(id int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.served = append(h.served, id)
}

// queue starts k callers that each hold their permit for hold, and waits
// until each is queued, so that the queue order is the start order.
func (h *holders) queue(k int, hold time.Duration) {
	h.t.Helper()
	for range k {
		id := h.next
		h.next++
		before := h.s.Waiting()
		h.wg.Go(func() { // owner: the test; exits when served and released, or failed; joined by h.wait
			if err := h.run(h.t.Context(), id, hold); err != nil {
				h.mu.Lock()
				h.errs[id] = err
				h.mu.Unlock()
			}
		})
		synctest.Wait()
		require.Equal(h.t, before+1, h.s.Waiting(), "caller %d must be queued", id)
	}
}

// wait waits for every caller to finish and returns who was served, in
// order, and who failed.
func (h *holders) wait() ([]int, map[int]error) {
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.served, h.errs
}

// TestCoDelShedsStandingQueue: five callers queue at once behind a holder;
// each holds its permit 50ms. The first three are served within CoDel's
// first interval (10ms to 110ms), whose shortest wait, 10ms, is above the
// 5ms target: the queue stood for a whole interval. So the two left, at
// 160ms, have waited longer than the target and are shed instead of
// served, holding nothing.
func TestCoDelShedsStandingQueue(t *testing.T) {
	for _, via := range []struct {
		name string
		run  func(*holders) func(context.Context, int, time.Duration) error
	}{
		{"Acquire", acquirer},
		{"bulkhead", bulkheadCaller},
	} {
		t.Run(via.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := observe.NewRecorder()
				s := sem.NewWeighted(1, sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond),
					sem.WithMetrics(rec), sem.WithTracer(rec), sem.WithName("db"))
				require.True(t, s.TryAcquire(1))
				h := newHolders(t, s, via.run)
				h.queue(5, 50*time.Millisecond)
				time.Sleep(10 * time.Millisecond)
				require.NoError(t, s.Release(1))

				served, errs := h.wait()
				assert.Equal(t, []int{0, 1, 2}, served, "the callers served before the queue was found standing")
				require.Len(t, errs, 2, "the two old waiters of a standing queue are shed")
				for _, id := range []int{3, 4} {
					err := errs[id]
					assert.ErrorIs(t, err, sem.ErrShed, "caller %d", id)
					assert.ErrorIs(t, err, ion.ErrRejected, "a shed is a rejection")
					assert.NotErrorIs(t, err, sem.ErrFull)
					assert.EqualError(t, err, "sem: shed from a standing queue after waiting 160ms")
				}
				assert.Equal(t, int64(1), s.Available(), "a shed waiter holds nothing: every permit is back")
				assert.Zero(t, sem.InUse(s))
				assert.Zero(t, s.Waiting())

				name := observe.L("name", "db")
				assert.Equal(t, int64(2), rec.Count("ion_sem_acquire_total", name, observe.L("result", "shed")))
				assert.Equal(t, int64(4), rec.Count("ion_sem_acquire_total", name, observe.L("result", "acquired")),
					"the holder and the three served")
				assert.Equal(t, 0.0, rec.Value("ion_sem_waiting", name))
				if via.name == "bulkhead" {
					var rejected int
					for _, sp := range rec.Spans() {
						if sp.Outcome == "rejected" {
							rejected++
						}
					}
					assert.Equal(t, 2, rejected, "the bulkhead records a shed call as rejected")
				}

				// The queue drained: a new caller is served at once.
				require.NoError(t, s.Acquire(t.Context(), 1))
				require.NoError(t, s.Release(1))
			})
		})
	}
}

// TestCoDelSparesBursts: a burst that drains within CoDel's interval loses
// nobody, however long its waits, and so does a burst after the queue has
// been empty for a whole interval.
func TestCoDelSparesBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(1, sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond))
		h := newHolders(t, s, acquirer)
		for burst := range 2 {
			require.True(t, s.TryAcquire(1))
			h.queue(5, 10*time.Millisecond) // served at 10, 20, ... 50ms: waits all above the target
			time.Sleep(10 * time.Millisecond)
			require.NoError(t, s.Release(1))
			synctest.Wait()
			time.Sleep(time.Second)
			synctest.Wait()
			assert.Zero(t, s.Waiting(), "burst %d drained", burst)
		}
		served, errs := h.wait()
		assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, served, "nobody is shed from a burst")
		assert.Empty(t, errs)
		assert.Equal(t, int64(1), s.Available())
	})
}

// TestCoDelShedPermitsGoOn: a shed waiter's permits go on to the next
// waiter that fits, in the same pass.
func TestCoDelShedPermitsGoOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(2, sem.WithFairness(sem.None), sem.WithCoDel(5*time.Millisecond, 100*time.Millisecond))
		require.True(t, s.TryAcquire(2))
		w := newWaiters(t, s)
		w.queue(1, 1, 1)
		// The first grant starts the interval; the queue stands from there.
		time.Sleep(10 * time.Millisecond)
		require.NoError(t, s.Release(1))
		assert.Equal(t, []int{0}, w.take())
		time.Sleep(150 * time.Millisecond)
		w.queue(1) // waiter 3, fresh
		// The interval is over and its lowest wait was 10ms: standing.
		// Waiters 1 and 2 (160ms) are shed; the permit goes on to waiter
		// 3, who waited 0.
		require.NoError(t, s.Release(1))
		assert.Equal(t, []int{3}, w.take())
		assert.ErrorIs(t, w.errs[1], sem.ErrShed)
		assert.ErrorIs(t, w.errs[2], sem.ErrShed)
		assert.Zero(t, s.Waiting())
		assert.Zero(t, s.Available())
		require.NoError(t, s.Release(2), "waiters 0 and 3 leave")
		assert.Equal(t, int64(2), s.Available(), "no permit is lost to the shed")
	})
}

func TestAdaptiveLIFOOrder(t *testing.T) {
	// Capacity 5, all held; five waiters of weight 1 queue in order and
	// the holder releases one permit at a time.
	tests := []struct {
		name     string
		fairness sem.Fairness
		lifoAt   int
		want     []int
	}{
		// 5, 4 and 3 waiting: newest first; then 2 and 1: oldest first.
		{"FIFO from 3", sem.FIFO, 3, []int{4, 3, 2, 0, 1}},
		{"FIFO from 1", sem.FIFO, 1, []int{4, 3, 2, 1, 0}},
		{"FIFO from 6", sem.FIFO, 6, []int{0, 1, 2, 3, 4}}, // never 6 waiting: plain FIFO
		{"LIFO from 3", sem.LIFO, 3, []int{4, 3, 2, 1, 0}}, // changes nothing
		{"None from 3", sem.None, 3, []int{4, 3, 2, 0, 1}}, // the pass starts from the newest
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(5, sem.WithFairness(tc.fairness), sem.WithAdaptiveLIFO(tc.lifoAt))
				require.True(t, s.TryAcquire(5))
				w := newWaiters(t, s)
				w.queue(1, 1, 1, 1, 1)
				var got []int
				for range 5 {
					require.NoError(t, s.Release(1))
					g := w.take()
					require.Len(t, g, 1, "each Release(1) grants exactly one waiter")
					got = append(got, g...)
				}
				assert.Equal(t, tc.want, got, "grant order")
				assert.Zero(t, s.Waiting())
				require.NoError(t, s.Release(5), "the five waiters leave")
				assert.Equal(t, int64(5), s.Available(), "every permit is back")
			})
		})
	}
}

// TestAdaptiveLIFOBlocksAtNewest: under FIFO, from n waiters the newest is
// served first and blocks the others until it fits, as under LIFO; below n
// the queue is FIFO again.
func TestAdaptiveLIFOBlocksAtNewest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.NewWeighted(4, sem.WithAdaptiveLIFO(2))
		require.True(t, s.TryAcquire(4))
		w := newWaiters(t, s)
		w.queue(1, 3, 2)
		steps := []struct {
			release int64 // by the holder, then by waiter 2
			want    []int
		}{
			{2, []int{2}}, // 3 waiting: the newest fits
			{1, []int{}},  // 2 waiting: the newest (3) does not fit and blocks waiter 0, which would
			{2, []int{1}}, // waiter 2 leaves: the newest fits; then 1 waiting, below 2: FIFO, and nothing is free
			{1, []int{0}}, // the holder's last permit
		}
		for i, st := range steps {
			require.NoError(t, s.Release(st.release))
			got := w.take()
			if got == nil {
				got = []int{}
			}
			assert.Equal(t, st.want, got, "step %d: Release(%d)", i, st.release)
		}
		assert.Zero(t, s.Waiting())
		require.NoError(t, s.Release(4), "waiters 0 and 1 leave")
		assert.Equal(t, int64(4), s.Available())
	})
}

// TestAdaptiveLIFONewCallerTakesFreePermits: under FIFO with adaptive LIFO
// in force, a new Acquire would be the newest waiter, so it takes free
// permits at once; TryAcquire, which never queues, keeps FIFO's rule.
func TestAdaptiveLIFONewCallerTakesFreePermits(t *testing.T) {
	// Capacity 3, all held; waiters 0 and 1 need 2 each; the holder
	// releases 1, which fits neither; then a new caller asks for 1 and
	// would be the third waiter.
	tests := []struct {
		lifoAt int
		barges bool
	}{
		{2, true},
		{3, true},  // the new caller would make 3 waiting: in force
		{4, false}, // 3 waiting would be below 4: FIFO, the caller queues
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.lifoAt), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := sem.NewWeighted(3, sem.WithAdaptiveLIFO(tc.lifoAt))
				require.True(t, s.TryAcquire(3))
				w := newWaiters(t, s)
				weights := []int64{2, 2}
				w.queue(weights...)
				require.NoError(t, s.Release(1))
				assert.Empty(t, w.take(), "1 free fits neither waiter")
				assert.False(t, s.TryAcquire(1), "TryAcquire never takes ahead of waiters under FIFO")
				if tc.barges {
					require.NoError(t, s.Acquire(t.Context(), 1), "the would-be newest waiter takes the free permit")
					assert.Equal(t, 2, s.Waiting())
					require.NoError(t, s.Release(1))
				} else {
					w.queue(1) // fails unless the caller queues
					weights = append(weights, 1)
				}

				// Everyone is served in the end, and every permit comes back.
				require.NoError(t, s.Release(2), "the holder's last permits")
				for served := 0; served < len(weights); {
					got := w.take()
					require.NotEmpty(t, got, "a release must serve someone")
					for _, id := range got {
						require.NoError(t, s.Release(weights[id]))
					}
					served += len(got)
				}
				assert.Zero(t, s.Waiting())
				assert.Equal(t, int64(3), s.Available(), "every permit is back")
			})
		})
	}
}
