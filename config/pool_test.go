package config_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/pool"
)

// TestApply_poolChangesEveryFieldInPlace changes each field of a pool of
// one worker while call 0 runs and calls 1 and 2 are queued: the registry
// keeps the same pool, its running and queued calls, and the new setting
// decides what happens to them. Each call waits for the test, then takes
// 200ms; the test lets them go a second after the reload.
func TestApply_poolChangesEveryFieldInPlace(t *testing.T) {
	d := func(fields string) string {
		return fmt.Sprintf(`{"pools": {"w": {%s}}, "pipelines": {"p": {"pool": "w"}}}`, fields)
	}
	tests := []struct {
		name            string
		fields          string
		running, queued int     // right after the reload
		started         []int   // the calls that ran, in the order they started
		failed          []error // per call: what it returned
		workersAt30s    int     // 30s after the last call, with the default idle timeout of 10s: 0
	}{
		{"size", `"size": 2, "queue_size": 4`, 2, 1, []int{0, 1, 2}, nil, 0},
		{"queue size", `"size": 1, "queue_size": 1`, 1, 2, []int{0, 1, 2}, nil, 0},
		{"idle timeout", `"size": 1, "queue_size": 4, "idle_timeout": "1m"`, 1, 2, []int{0, 1, 2}, nil, 1},
		// The queued calls' wait counts from the reload: 1.2s at the take.
		{"max queue wait", `"size": 1, "queue_size": 4, "max_queue_wait": "500ms"`, 1, 2, []int{0},
			[]error{nil, pool.ErrExpired, pool.ErrExpired}, 0},
		{"queue order", `"size": 1, "queue_size": 4, "queue_order": "lifo"`, 1, 2, []int{0, 2, 1}, nil, 0},
		// Call 1 is taken at 1.2s and starts CoDel's first interval; call 2,
		// taken at 1.4s after that interval, finds the queue standing (the
		// interval's lowest wait was 1.2s) and is shed.
		{"codel", `"size": 1, "queue_size": 4, "codel": {"target": "5ms", "interval": "100ms"}`, 1, 2, []int{0, 1},
			[]error{nil, nil, pool.ErrShed}, 0},
		{"adaptive LIFO", `"size": 1, "queue_size": 4, "adaptive_lifo": 2`, 1, 2, []int{0, 2, 1}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRegistry(t, d(`"size": 1, "queue_size": 4`))
				p := config.Pipeline[int](r, "p")
				w := config.PoolOf(r, "w")
				require.NotNil(t, w)
				hold := make(chan struct{})
				var (
					mu      sync.Mutex
					started []int
					errs    = make([]error, 3)
					calls   sync.WaitGroup
				)
				for id := range 3 {
					calls.Go(func() { // owner: the test; exits when its call returns; joined by calls.Wait
						_, errs[id] = p.Run(context.Background(), func(context.Context) (int, error) {
							mu.Lock()
							started = append(started, id)
							mu.Unlock()
							<-hold
							time.Sleep(200 * time.Millisecond)
							return id, nil
						})
					})
					synctest.Wait() // queued in the order of the ids
				}
				s := r.Snapshot().Pools["w"]
				require.Equal(t, [2]int{1, 2}, [2]int{s.Running, s.Queued}, "call 0 runs, calls 1 and 2 wait")

				require.NoError(t, r.Apply(doc(t, d(tc.fields))))
				synctest.Wait()
				assert.Same(t, w, config.PoolOf(r, "w"), "the same pool")
				s = r.Snapshot().Pools["w"]
				assert.Equal(t, [2]int{tc.running, tc.queued}, [2]int{s.Running, s.Queued}, "running and queued after the reload")
				queueSize := 4
				if tc.name == "queue size" {
					queueSize = 1
				}
				assert.Equal(t, queueSize, s.QueueSize, "the queue size in force")
				assert.False(t, s.Closed)

				time.Sleep(time.Second)
				close(hold)
				calls.Wait()
				assert.Equal(t, tc.started, started, "the calls that ran, in order")
				for id, err := range errs {
					var want error
					if tc.failed != nil {
						want = tc.failed[id]
					}
					if want == nil {
						assert.NoError(t, err, "call %d", id)
					} else {
						assert.ErrorIs(t, err, want, "call %d", id)
					}
				}
				s = r.Snapshot().Pools["w"]
				assert.Equal(t, uint64(3), s.Completed+s.Expired+s.Shed, "every call was accounted for once")
				assert.Zero(t, s.Queued+s.Running)

				time.Sleep(30 * time.Second)
				synctest.Wait()
				assert.Equal(t, tc.workersAt30s, r.Snapshot().Pools["w"].Workers, "the idle timeout in force")
			})
		})
	}
}
