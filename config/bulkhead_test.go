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
	"github.com/ionkit/ion/sem"
)

// TestApply_bulkheadChangesEveryFieldInPlace changes each field of a
// bulkhead while two calls hold its permits and a third waits: the
// registry keeps the same semaphore, the permits in use and the waiter, and
// the new setting is in force. Once the calls return, the waiter is served.
func TestApply_bulkheadChangesEveryFieldInPlace(t *testing.T) {
	d := func(fields string) string {
		return fmt.Sprintf(`{"bulkheads": {"h": {%s}}, "pipelines": {"p": {"bulkhead": {"use": "h", "max_wait": "1h"}}}}`, fields)
	}
	tests := []struct {
		name    string
		fields  string
		desc    string // of a bulkhead over the semaphore after the reload
		status  config.BulkheadStatus
		timeout time.Duration // the acquire timeout in force, checked when not 0
	}{
		{"capacity", `"capacity": 1`, "bulkhead(h, capacity 1, FIFO, weight 1, no wait)",
			config.BulkheadStatus{Capacity: 1, InUse: 2, Waiting: 1}, 0},
		{"fairness", `"capacity": 2, "fairness": "lifo"`, "bulkhead(h, capacity 2, LIFO, weight 1, no wait)",
			config.BulkheadStatus{Capacity: 2, InUse: 2, Waiting: 1}, 0},
		{"acquire timeout", `"capacity": 2, "acquire_timeout": "1s"`, "bulkhead(h, capacity 2, FIFO, weight 1, no wait)",
			config.BulkheadStatus{Capacity: 2, InUse: 2, Waiting: 1}, time.Second},
		{"codel", `"capacity": 2, "codel": {"target": "5ms", "interval": "100ms"}`, "bulkhead(h, capacity 2, FIFO, CoDel 5ms/100ms, weight 1, no wait)",
			config.BulkheadStatus{Capacity: 2, InUse: 2, Waiting: 1}, 0},
		{"adaptive LIFO", `"capacity": 2, "adaptive_lifo": 3`, "bulkhead(h, capacity 2, FIFO, adaptive LIFO from 3, weight 1, no wait)",
			config.BulkheadStatus{Capacity: 2, InUse: 2, Waiting: 1}, 0},
		// Growing serves the waiter at once.
		{"every field", `"capacity": 3, "fairness": "none", "acquire_timeout": "2s", "codel": {"target": "1ms", "interval": "10ms"}, "adaptive_lifo": 2`,
			"bulkhead(h, capacity 3, None, adaptive LIFO from 2, CoDel 1ms/10ms, weight 1, no wait)",
			config.BulkheadStatus{Capacity: 3, InUse: 3}, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRegistry(t, d(`"capacity": 2`))
				p := config.Pipeline[string](r, "p")
				s := config.BulkheadOf(r, "h")
				require.NotNil(t, s)
				hold := make(chan struct{})
				var calls sync.WaitGroup
				for range 3 {
					calls.Go(func() { // owner: the test; exits when its call returns; joined by calls.Wait
						_, err := p.Run(context.Background(), func(context.Context) (string, error) {
							<-hold
							return "ok", nil
						})
						assert.NoError(t, err)
					})
					synctest.Wait()
				}
				require.Equal(t, config.BulkheadStatus{Capacity: 2, InUse: 2, Waiting: 1}, r.Snapshot().Bulkheads["h"])

				require.NoError(t, r.Apply(doc(t, d(tc.fields))))
				synctest.Wait()
				assert.Same(t, s, config.BulkheadOf(r, "h"), "the same semaphore")
				assert.Equal(t, tc.status, r.Snapshot().Bulkheads["h"], "its permits in use and its waiter survive the reload")
				assert.Equal(t, tc.desc, sem.Policy[int](s).(fmt.Stringer).String(), "the new settings are in force")
				if tc.timeout > 0 {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					start := time.Now()
					err := s.Acquire(ctx, 1)
					assert.ErrorIs(t, err, sem.ErrFull, "an Acquire that queues waits the new acquire timeout")
					assert.Equal(t, tc.timeout, time.Since(start))
				}

				close(hold)
				calls.Wait()
				st := r.Snapshot().Bulkheads["h"]
				assert.Zero(t, st.InUse+int64(st.Waiting), "every call was served and released its permit")
			})
		})
	}
}
