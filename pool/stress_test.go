package pool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// TestStressAccounting hammers one pool with every way in (Submit,
// TrySubmit, Go, Policy with callers giving up), Resize and Wait at once,
// then closes it. Invariant: every accepted task is accounted for exactly
// once, and only accepted tasks run.
func TestStressAccounting(t *testing.T) {
	var discarded atomic.Int64
	p := pool.New(3, 8,
		pool.WithMaxQueueWait(time.Hour), // exercises the clock path without expiring
		pool.WithDiscardHandler(func(context.Context, pool.Task, error) { discarded.Add(1) }))
	var accepted, ran atomic.Int64
	task := func(context.Context) error { ran.Add(1); return nil }
	failing := func(context.Context) error { ran.Add(1); return errors.New("x") }
	var wg sync.WaitGroup
	const loops = 300
	for g := range 4 {
		wg.Go(func() {
			for i := range loops {
				switch (g + i) % 5 {
				case 0:
					if p.Submit(context.Background(), task) == nil {
						accepted.Add(1)
					}
				case 1:
					if p.TrySubmit(failing) == nil {
						accepted.Add(1)
					}
				case 2:
					f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { ran.Add(1); return i, nil })
					if err == nil {
						accepted.Add(1)
						v, err := f.Wait(context.Background())
						if err != nil || v != i {
							t.Errorf("Future.Wait = %v, %v, want %d, nil", v, err, i)
						}
					}
				case 3:
					ctx, cancel := context.WithCancel(context.Background())
					if i%2 == 0 {
						cancel() // gives up at once: never submitted
					}
					go cancel() // gives up at any point: blocked, queued or running
					_, err := policy.Run(ctx, pool.Policy[int](p), func(ctx context.Context) (int, error) {
						ran.Add(1)
						return 1, nil
					})
					switch {
					case err == nil:
						accepted.Add(1)
					case errors.Is(err, context.Canceled):
						// Refused before acceptance (Rejected) or withdrawn
						// from the queue (Discarded): it did not run.
					default:
						t.Errorf("Policy call = %v", err)
					}
					cancel()
				case 4:
					if err := p.Wait(context.Background()); err != nil {
						t.Errorf("Wait = %v", err)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			if err := p.Resize(1 + i%4); err != nil {
				t.Errorf("Resize = %v", err)
			}
		}
	})
	wg.Wait()
	n, err := p.Close(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	m := p.Snapshot()
	run := m.Completed + m.Failed + m.Panicked
	assert.Equal(t, uint64(ran.Load()), run, "every task that ran is counted once")
	assert.Equal(t, accepted.Load(), int64(run), "executed == accepted: only accepted tasks run, each once")
	assert.Zero(t, m.Expired+uint64(discarded.Load()), "nothing expired or was discarded by Close")
	assert.Zero(t, m.Queued+m.Running+m.Workers+m.Blocked, "a closed pool is empty")
	t.Logf("accepted %d, ran %d, withdrawn by their caller %d, rejected %d", accepted.Load(), run, m.Discarded, m.Rejected)
}
