package pool_test

import (
	"context"
	"errors"
	"fmt"
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

// The tests in this file cover task policies that run a call several times
// (Hedge) or let it outlive the call (Timeout with WithAbandon): the result
// is what the task policy returns, taken once, and a panic stays a panic.

// slowFirst returns a call whose first attempt waits for its ctx and
// returns (-1, ctx.Err()), and whose later attempts return (42, nil).
func slowFirst() policy.Func[int] {
	var calls atomic.Int32
	return func(ctx context.Context) (int, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done()
			return -1, ctx.Err()
		}
		return 42, nil
	}
}

// A hedging task policy runs a Go call's fn twice at once: the Future must
// carry the winner's value with the winner's error, not the loser's value
// (the loser, cancelled, returns later).
func TestGoFutureTakesLosingHedgeValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1, pool.WithTaskPolicy(policy.Hedge[any](5*time.Millisecond)))
		f, err := pool.Go(context.Background(), p, slowFirst())
		require.NoError(t, err)
		v, err := f.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 42, v, "Future must hold the winning hedge's value")
	})
}

// The same through pool.Policy: the caller got the loser's value with the
// winner's nil error.
func TestPoolPolicyTakesLosingHedgeValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1, pool.WithTaskPolicy(policy.Hedge[any](5*time.Millisecond)))
		v, err := policy.Run(context.Background(), pool.Policy[int](p), slowFirst())
		require.NoError(t, err)
		assert.Equal(t, 42, v, "Run must return the winning hedge's value")
	})
}

// With a Timeout WithAbandon task policy, the Future is ready with the
// timeout; the abandoned fn returning later must not change it.
func TestGoFutureWrittenAfterReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1, pool.WithTaskPolicy(policy.Timeout[any](5*time.Millisecond, policy.WithAbandon())))
		returned := make(chan struct{})
		f, err := pool.Go(context.Background(), p, func(ctx context.Context) (int, error) {
			defer close(returned)
			time.Sleep(30 * time.Millisecond) // ignores ctx
			return 7, nil
		})
		require.NoError(t, err)
		v1, err1 := f.Wait(context.Background())
		require.ErrorIs(t, err1, policy.ErrTimeout)
		<-returned
		synctest.Wait()
		v2, err2 := f.Wait(context.Background())
		assert.Equal(t, v1, v2, "a ready Future's value must not change")
		assert.Equal(t, err1, err2, "a ready Future's error must not change")
	})
}

// A task that panics under a task policy that recovers panics on its own
// goroutines (Hedge, Timeout WithAbandon) was counted as failed, and the
// panic handler never heard of it.
func TestTaskPanicUnderTaskPolicyNotCountedAsPanic(t *testing.T) {
	for name, pol := range map[string]policy.Policy[any]{
		"hedge":   policy.Hedge[any](time.Hour),
		"abandon": policy.Timeout[any](time.Hour, policy.WithAbandon()),
		"retry":   policy.Retry[any](policy.WithAttempts(2)),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var handled atomic.Int32
				p := pool.New(1, 1, pool.WithTaskPolicy(pol), pool.WithPanicHandler(func(pe *ion.PanicError) {
					if pe.Value == "boom" {
						handled.Add(1)
					}
				}))
				require.NoError(t, p.Submit(context.Background(), func(context.Context) error { panic("boom") }))
				f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { panic("boom") })
				require.NoError(t, err)
				_, err = f.Wait(context.Background())
				var pe *ion.PanicError
				assert.ErrorAs(t, err, &pe, "Go's caller gets the panic")
				_, err = p.Close(context.Background())
				require.NoError(t, err)
				m := p.Snapshot()
				assert.Equal(t, uint64(2), m.Panicked, "panicked tasks (Failed=%d)", m.Failed)
				assert.Zero(t, m.Failed, "a panic is not a failure")
				assert.Equal(t, int32(2), handled.Load(), "the panic handler must hear of every panic")
			})
		})
	}
}

// A task that returns an error wrapping a PanicError it did not raise (from
// a call of its own) is a failure, not a panic, under a task policy too.
func TestTaskReturningPanicErrorUnderTaskPolicyIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 1, 1, pool.WithTaskPolicy(policy.Hedge[any](time.Hour)))
		require.NoError(t, p.Submit(context.Background(), func(context.Context) error {
			return fmt.Errorf("sub-call: %w", &ion.PanicError{Value: "elsewhere"})
		}))
		require.NoError(t, p.Wait(context.Background()))
		m := p.Snapshot()
		assert.Equal(t, uint64(1), m.Failed)
		assert.Zero(t, m.Panicked)
	})
}

// A task policy that replaces the value with one of another type makes the
// call fail closed instead of returning a zero value as a success.
func TestTaskPolicyValueOfAnotherType(t *testing.T) {
	p := newPool(t, 1, 1, pool.WithTaskPolicy(policy.Fallback[any]("cached")))
	f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { return 0, errors.New("down") })
	require.NoError(t, err)
	_, err = f.Wait(context.Background())
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	v, err := pool.Go(context.Background(), p, func(context.Context) (string, error) { return "", errors.New("down") })
	require.NoError(t, err)
	s, err := v.Wait(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "cached", s, "a fallback of the call's type is the call's value")
}
