package pool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

func TestGroupResultsInOrderWithinLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 8, 16)
		g, _ := pool.NewGroup[int](context.Background(), p)
		const limit, n = 3, 50
		require.NoError(t, g.SetLimit(limit))
		var cur, hwm atomic.Int64
		for i := range n {
			g.Go(func(ctx context.Context) (int, error) {
				c := cur.Add(1)
				defer cur.Add(-1)
				for {
					old := hwm.Load()
					if c <= old || hwm.CompareAndSwap(old, c) {
						break
					}
				}
				time.Sleep(time.Duration(n-i) * time.Millisecond) // later calls finish first
				return i * i, nil
			})
		}
		got, err := g.Wait()
		require.NoError(t, err)
		require.Len(t, got, n)
		for i, v := range got {
			assert.Equal(t, i*i, v, "result %d is the %dth call's, in the order Go was called", i, i)
		}
		assert.Equal(t, int64(limit), hwm.Load(), "at most the limit run at once, and the limit is reached")
	})
}

func TestGroupFirstErrorCancelsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 4, 16)
		g, gctx := pool.NewGroup[int](context.Background(), p)
		require.NoError(t, g.SetLimit(2))
		boom := errors.New("boom")
		var ran atomic.Int64
		var causes []error
		var mu sync.Mutex
		g.Go(func(ctx context.Context) (int, error) { // runs, waits for the failure
			ran.Add(1)
			<-ctx.Done()
			mu.Lock()
			causes = append(causes, context.Cause(ctx))
			mu.Unlock()
			return -1, ctx.Err()
		})
		g.Go(func(ctx context.Context) (int, error) {
			ran.Add(1)
			time.Sleep(time.Second)
			return 0, boom
		})
		for range 5 { // blocked on the limit, then not run
			g.Go(func(ctx context.Context) (int, error) { ran.Add(1); return 1, nil })
		}
		got, err := g.Wait()
		assert.Same(t, boom, err, "Wait returns the first error unchanged")
		assert.Equal(t, int64(2), ran.Load(), "no call starts after the first error")
		assert.Equal(t, []error{boom}, causes, "the running call sees the Group's ctx cancelled by the error")
		assert.ErrorIs(t, context.Cause(gctx), boom)
		assert.Equal(t, []int{-1, 0, 0, 0, 0, 0, 0}, got, "one result per call, in order; calls not run hold zero")
	})
}

func TestGroupPanicIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var handled atomic.Int64
		p := newPool(t, 2, 4, pool.WithPanicHandler(func(*ion.PanicError) { handled.Add(1) }))
		g, _ := pool.NewGroup[string](context.Background(), p)
		g.Go(func(context.Context) (string, error) { return "ok", nil })
		synctest.Wait()
		g.Go(func(context.Context) (string, error) { panic("kaboom") })
		got, err := g.Wait()
		var pe *ion.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "kaboom", pe.Value)
		assert.Equal(t, []string{"ok", ""}, got)
		assert.Equal(t, int64(1), handled.Load(), "the pool's panic handler hears of it too")
	})
}

func TestGroupPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 2, 4)
		g, _ := pool.NewGroup[int](context.Background(), p)
		require.NoError(t, g.SetPolicy(policy.Retry[int](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(time.Second)))))
		var attempts [4]atomic.Int64
		for i := range 4 {
			g.Go(func(context.Context) (int, error) {
				if attempts[i].Add(1) <= int64(i%3) { // call i fails i%3 times first
					return 0, errors.New("flaky")
				}
				return i, nil
			})
		}
		got, err := g.Wait()
		require.NoError(t, err)
		assert.Equal(t, []int{0, 1, 2, 3}, got)
		assert.Equal(t, int64(3), attempts[2].Load(), "each call runs through the Group's policy")
	})
}

func TestGroupParentCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 4)
		ctx, cancel := context.WithCancel(context.Background())
		g, _ := pool.NewGroup[int](ctx, p)
		var ran atomic.Int64
		g.Go(func(ctx context.Context) (int, error) { ran.Add(1); <-ctx.Done(); return 0, ctx.Err() })
		g.Go(func(ctx context.Context) (int, error) { ran.Add(1); return 1, nil }) // queued
		synctest.Wait()
		cancel()
		_, err := g.Wait()
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, int64(1), ran.Load(), "the queued call is not started")
		g2, _ := pool.NewGroup[int](ctx, p) // a Group of a done ctx runs nothing
		g2.Go(func(ctx context.Context) (int, error) { ran.Add(1); return 1, nil })
		_, err = g2.Wait()
		assert.ErrorIs(t, err, pool.ErrNotStarted)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, int64(1), ran.Load())
	})
}

func TestGroupForcedClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, 4)
		g, gctx := pool.NewGroup[int](context.Background(), p)
		g.Go(func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
		g.Go(func(ctx context.Context) (int, error) { return 1, nil }) // queued, discarded
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := p.Close(ctx)
		assert.Equal(t, 1, n)
		assert.ErrorIs(t, err, context.Canceled)
		_, err = g.Wait()
		assert.ErrorIs(t, err, pool.ErrClosed, "a forced Close ends the Group with ErrClosed")
		assert.ErrorIs(t, context.Cause(gctx), pool.ErrClosed)
	})
}

func TestGroupBadInput(t *testing.T) {
	ctx := context.Background()
	var zero pool.Group[int]
	assert.ErrorIs(t, zero.SetLimit(2), ion.ErrInvalidConfig)
	assert.ErrorIs(t, zero.SetPolicy(policy.Retry[int]()), ion.ErrInvalidConfig)
	ran := false
	zero.Go(func(context.Context) (int, error) { ran = true; return 1, nil })
	got, err := zero.Wait()
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "the zero Group fails closed")
	assert.ErrorContains(t, err, "use NewGroup")
	assert.Equal(t, []int{0}, got)
	assert.False(t, ran)
	_, err = (&pool.Group[int]{}).Wait()
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "a zero Group with no call fails closed too")

	for name, mk := range map[string]func() (*pool.Group[int], context.Context){
		"nil pool":     func() (*pool.Group[int], context.Context) { return pool.NewGroup[int](ctx, nil) },
		"nil ctx":      func() (*pool.Group[int], context.Context) { return pool.NewGroup[int](nilCtx, pool.New(1, 0)) },
		"invalid pool": func() (*pool.Group[int], context.Context) { return pool.NewGroup[int](ctx, pool.New(0, 0)) },
		"zero pool":    func() (*pool.Group[int], context.Context) { return pool.NewGroup[int](ctx, &pool.Pool{}) },
	} {
		g, gctx := mk()
		require.Error(t, gctx.Err(), "%s: the ctx returned is already done", name)
		assert.ErrorIs(t, context.Cause(gctx), ion.ErrInvalidConfig, name)
		g.Go(func(context.Context) (int, error) { ran = true; return 1, nil })
		_, err := g.Wait()
		assert.ErrorIs(t, err, ion.ErrInvalidConfig, "%s: Wait fails closed", name)
		assert.False(t, ran, name)
	}

	p := newPool(t, 1, 1)
	g, _ := pool.NewGroup[int](ctx, p)
	assert.ErrorIs(t, g.SetLimit(0), ion.ErrInvalidConfig, "a limit of 0 would run nothing")
	assert.ErrorIs(t, g.SetPolicy(nil), ion.ErrInvalidConfig)
	g.Go(nil)
	assert.ErrorIs(t, g.SetLimit(2), ion.ErrInvalidConfig, "SetLimit after Go")
	assert.ErrorIs(t, g.SetPolicy(policy.Retry[int]()), ion.ErrInvalidConfig, "SetPolicy after Go")
	_, err = g.Wait()
	assert.ErrorIs(t, err, pool.ErrNilTask)
	g.Go(func(context.Context) (int, error) { ran = true; return 1, nil })
	got, err = g.Wait()
	assert.ErrorIs(t, err, pool.ErrNilTask, "the first error stays")
	assert.Len(t, got, 2, "a Go after Wait is recorded")
	assert.False(t, ran, "a Go after Wait runs nothing")
	g2, _ := pool.NewGroup[int](ctx, p)
	g2.Go(func(context.Context) (int, error) { return 1, nil })
	_, err = g2.Wait()
	require.NoError(t, err)
	g2.Go(func(context.Context) (int, error) { ran = true; return 1, nil })
	_, err = g2.Wait()
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "Go after Wait is reported by the next Wait")
}

// Many Groups share one pool under -race: each gets exactly its own results
// in order, each call runs at most once, a failing Group stops early, and
// the pool accounts for every call.
func TestGroupStress(t *testing.T) {
	p := newPool(t, 4, 8)
	const groups, calls = 40, 50
	var wg sync.WaitGroup
	var started atomic.Int64
	for gi := range groups {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(gi), 1))
			fail := gi%3 == 0
			failAt := rng.IntN(calls)
			g, _ := pool.NewGroup[string](context.Background(), p)
			if gi%2 == 0 {
				assert.NoError(t, g.SetLimit(1+rng.IntN(4)))
			}
			var runs [calls]atomic.Int32
			for i := range calls {
				g.Go(func(ctx context.Context) (string, error) {
					started.Add(1)
					if runs[i].Add(1) != 1 {
						t.Errorf("group %d call %d ran twice", gi, i)
					}
					if fail && i == failAt {
						return "", fmt.Errorf("group %d call %d failed", gi, i)
					}
					return fmt.Sprint(gi, "/", i), nil
				})
			}
			got, err := g.Wait()
			if !assert.Len(t, got, calls) {
				return
			}
			if !fail {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, fmt.Sprintf("group %d call %d failed", gi, failAt))
			}
			for i, v := range got {
				if v != "" && v != fmt.Sprint(gi, "/", i) {
					t.Errorf("group %d result %d = %q, another call's", gi, i, v)
				}
				if !fail && v == "" {
					t.Errorf("group %d result %d missing", gi, i)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, p.Wait(context.Background()))
	m := p.Snapshot()
	assert.Equal(t, uint64(started.Load()), m.Completed+m.Failed, "every call that started is counted once")
	assert.Zero(t, m.Queued+m.Running)
}
