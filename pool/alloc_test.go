package pool_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/pool"
)

// atomicSink is a Metrics sink whose instruments never allocate, to show
// that the pool itself adds no allocation when sinks are configured.
type atomicSink struct{ n atomic.Int64 }

func (s *atomicSink) Counter(string, ...observe.Label) observe.Counter     { return s }
func (s *atomicSink) Gauge(string, ...observe.Label) observe.Gauge         { return s }
func (s *atomicSink) Histogram(string, ...observe.Label) observe.Histogram { return s }
func (s *atomicSink) Add(d int64)                                          { s.n.Add(d) }
func (s *atomicSink) Set(float64)                                          { s.n.Add(1) }
func (s *atomicSink) Observe(float64)                                      { s.n.Add(1) }

// TestSubmitZeroAllocs measures whole tasks, not just the call: the
// allocation count of testing.AllocsPerRun is process-wide, so it includes
// the workers taking and running the tasks.
func TestSubmitZeroAllocs(t *testing.T) {
	tests := []struct {
		name string
		opts []pool.Option
	}{
		{"no sinks", nil},
		{"metrics sink and max queue wait", []pool.Option{pool.WithMetrics(&atomicSink{}), pool.WithMaxQueueWait(time.Hour)}},
		{"LIFO", []pool.Option{pool.WithQueueOrder(pool.LIFO)}},
		{"CoDel, never shedding, and adaptive LIFO", []pool.Option{pool.WithCoDel(time.Hour, time.Hour), pool.WithAdaptiveLIFO(4)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const runs = 1000
			p := newPool(t, 2, 2*runs, tc.opts...)
			ctx := context.Background()
			var ran atomic.Int64
			task := func(context.Context) error { ran.Add(1); return nil }
			// Warm up: start both workers and grow the queue to its size.
			g := newGate()
			fill(t, p, g, 2)
			for range 2 * runs {
				require.NoError(t, p.TrySubmit(task))
			}
			g.open()
			require.NoError(t, p.Wait(ctx))

			allocs := testing.AllocsPerRun(runs, func() {
				if err := p.Submit(ctx, task); err != nil {
					t.Fatal(err)
				}
			})
			require.NoError(t, p.Wait(ctx))
			assert.Zero(t, allocs, "a fire-and-forget Submit with a Background ctx, and running its task, must not allocate")
			assert.Equal(t, int64(2*runs+runs+1), ran.Load())
		})
	}
}

func TestTrySubmitZeroAllocs(t *testing.T) {
	p := newPool(t, 1, 1)
	g := newGate()
	fill(t, p, g, 1)
	require.NoError(t, p.TrySubmit(nop))
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.TrySubmit(nop); err != pool.ErrQueueFull {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "a refused TrySubmit must not allocate")
	allocs = testing.AllocsPerRun(100, func() { _ = p.Snapshot() })
	assert.Zero(t, allocs, "Metrics must not allocate")
	g.open()
}
