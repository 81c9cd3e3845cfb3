package torture

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/sem"
)

// TestSemOverReleaseAccounting hammers a semaphore with holders that release
// what they acquired and one rogue caller that releases permits it never
// acquired. The semaphore cannot tell who is wrong, so the errors may land on
// correct holders, but its accounting must be exact: the free count never
// passes the capacity, nothing panics, every permit comes back, and the
// permits reported as ignored add up to exactly what the rogue released.
func TestSemOverReleaseAccounting(t *testing.T) {
	for _, f := range []sem.Fairness{sem.FIFO, sem.LIFO, sem.None} {
		t.Run(f.String(), func(t *testing.T) {
			const (
				capacity  = 8
				holders   = 16
				cycles    = 2_000
				rogueRuns = 500
			)
			rec := observe.NewRecorder()
			s := sem.NewWeighted(capacity, sem.WithFairness(f), sem.WithMetrics(rec), sem.WithName("t"))
			var rogue, errs atomic.Int64
			var wg sync.WaitGroup
			check := func(err error) {
				if err == nil {
					return
				}
				errs.Add(1)
				if !errors.Is(err, sem.ErrOverRelease) {
					t.Errorf("Release = %v, want nil or ErrOverRelease", err)
				}
			}
			for h := range holders {
				wg.Go(func() { // owner: this test; exits after its cycles; joined by wg.Wait
					for i := range cycles {
						n := int64(1 + (h+i)%3)
						if err := s.Acquire(context.Background(), n); err != nil {
							t.Errorf("Acquire(%d) = %v", n, err)
							return
						}
						if a := s.Available(); a > capacity {
							t.Errorf("Available() = %d, past the capacity %d", a, capacity)
						}
						check(s.Release(n))
					}
				})
			}
			wg.Go(func() { // owner: this test; the rogue; exits after its runs; joined by wg.Wait
				for i := range rogueRuns {
					n := int64(1 + i%2)
					rogue.Add(n)
					check(s.Release(n))
				}
			})
			wg.Wait()
			require.Equal(t, int64(capacity), s.Available(), "every permit came back, and no more")
			assert.Zero(t, s.Waiting())
			assert.Equal(t, rogue.Load(), rec.Count("ion_sem_over_released_total", observe.L("name", "t")),
				"the ignored permits are exactly the ones released without an acquire")
			assert.Positive(t, errs.Load(), "the over-releases reached the callers")
		})
	}
}
