package torture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/config"
)

// TestConfigReloadKeepsPrimitives applies a new document hundreds of times
// while callers hammer two pipelines that share a bulkhead, a breaker and a
// limiter, whose identity never changes (the limiter's burst does, in
// place). Reloads must neither leak nor duplicate their state:
//
//   - the bulkhead never lets more calls in than its capacity, and every
//     permit is back at the end;
//   - the breaker counts every outcome exactly once, whatever generation of
//     the pipeline the call ran under;
//   - the limiter, a fixed allowance (rate 0) whose burst goes up and down,
//     admits exactly its initial tokens in all: a reload never mints tokens.
func TestConfigReloadKeepsPrimitives(t *testing.T) {
	const (
		capacity  = 4
		allowance = 500
		callers   = 64
		calls     = 40
		reloads   = 300
	)
	docs := make([]config.Document, 2)
	for i, v := range []struct {
		burst    int
		attempts int
		order    string
	}{{allowance, 1, `"limiter", "breaker", "bulkhead"`}, {allowance * 2, 1, `"bulkhead", "limiter", "breaker"`}} {
		require.NoError(t, json.Unmarshal([]byte(fmt.Sprintf(`{
			"breakers": {"db": {"consecutive_failures": 1000000}},
			"limiters": {"allowance": {"rate": "0/s", "burst": %d}},
			"bulkheads": {"db": {"capacity": %d}},
			"pipelines": {
				"read": {"retry": {"attempts": %d}, "breaker": "db", "limiter": {"use": "allowance"}, "bulkhead": {"use": "db", "max_wait": "1h"}},
				"write": {"breaker": "db", "limiter": {"use": "allowance"}, "bulkhead": {"use": "db", "max_wait": "1h"}, "order": [%s]}}}`,
			v.burst, capacity, v.attempts, v.order)), &docs[i]))
	}
	reg, err := config.New(docs[0])
	require.NoError(t, err)
	defer reg.Close(context.Background())
	read := config.Pipeline[int](reg, "read")
	write := config.Pipeline[string](reg, "write")

	var (
		running, most       atomic.Int64
		admitted, limited   atomic.Int64
		successes, failures atomic.Int64
		unexpected          atomic.Int64
		wg                  sync.WaitGroup
	)
	enter := func() {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		admitted.Add(1)
	}
	for c := range callers {
		// A caller; joined by wg.Wait.
		wg.Go(func() {
			for i := range calls {
				fail := (c+i)%3 == 0
				var err error
				if c%2 == 0 {
					_, err = read.Run(context.Background(), func(context.Context) (int, error) {
						enter()
						defer running.Add(-1)
						if fail {
							return 0, errInjected
						}
						return 1, nil
					})
				} else {
					_, err = write.Run(context.Background(), func(context.Context) (string, error) {
						enter()
						defer running.Add(-1)
						if fail {
							return "", errInjected
						}
						return "ok", nil
					})
				}
				switch {
				case err == nil:
					successes.Add(1)
				case errors.Is(err, errInjected):
					failures.Add(1)
				case errors.Is(err, ion.ErrRejected):
					limited.Add(1)
				default:
					unexpected.Add(1)
					t.Errorf("unexpected error: %v", err)
				}
			}
		})
	}
	for i := range reloads {
		require.NoError(t, reg.Apply(docs[(i+1)%2]))
	}
	wg.Wait()

	s := reg.Snapshot()
	assert.Zero(t, unexpected.Load())
	assert.LessOrEqual(t, most.Load(), int64(capacity), "the bulkhead never admitted more than its capacity")
	assert.Equal(t, int64(0), s.Bulkheads["db"].InUse, "every permit is back")
	assert.Equal(t, int64(allowance), admitted.Load(), "the allowance was spent exactly once across reloads")
	assert.Equal(t, int64(callers*calls), admitted.Load()+limited.Load(), "every call was admitted or limited")
	b := s.Breakers["db"]
	assert.Equal(t, successes.Load(), b.TotalSuccesses, "the breaker counted every success once")
	assert.Equal(t, failures.Load(), b.TotalFailures, "the breaker counted every failure once")
	assert.Equal(t, uint64(reloads+1), s.Generation)
}
