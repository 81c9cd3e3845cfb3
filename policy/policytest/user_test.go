package policytest_test

// This file is the complete test shown in the package doc: a user's own
// policy (RetryBusy, standing for any code that uses Ion) tested inside a
// synctest bubble with scripted calls and a Recorder. Keep the two in step.

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

// ErrBusy is what the user's backend returns when it is overloaded.
var ErrBusy = errors.New("busy")

// RetryBusy is the user's code under test: it retries calls that fail with
// ErrBusy, up to attempts calls in all, pausing between them.
func RetryBusy[T any](attempts int, pause time.Duration) policy.Policy[T] {
	return policy.New("retry-busy", func(ctx context.Context, next policy.Next[T]) (T, error) {
		for n := 1; ; n++ {
			v, err := next.Call(ctx)
			if !errors.Is(err, ErrBusy) || n == attempts {
				return v, err
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return v, ctx.Err()
			}
		}
	})
}

func TestRetryBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy.Compose(RetryBusy[string](3, 10*time.Millisecond))
		policytest.AssertLayers(t, p, "retry-busy")

		// A backend that takes 5ms per call and is busy twice.
		backend := policytest.Record(policytest.Delay(5*time.Millisecond,
			policytest.FailTimes(2, ErrBusy, "ok")))
		start := time.Now()
		v, err := p.Run(t.Context(), backend.Func)
		require.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, 3, backend.Count(), "busy twice: two retries")
		// Three calls of 5ms and two pauses of 10ms, exactly: the bubble's clock.
		assert.Equal(t, 35*time.Millisecond, time.Since(start))
		calls := backend.Calls()
		assert.Equal(t, 15*time.Millisecond, calls[1].Start.Sub(calls[0].Start))

		// The caller gives up after 12ms: no call after that.
		ctx, cancel := context.WithTimeout(t.Context(), 12*time.Millisecond)
		defer cancel()
		backend = policytest.Record(policytest.FailTimes(5, ErrBusy, "ok"))
		_, err = p.Run(ctx, backend.Func)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 2, backend.Count(), "calls at 0ms and 10ms only")
		assert.Equal(t, 2*time.Millisecond, backend.Calls()[1].Deadline.Sub(backend.Calls()[1].Start),
			"the second call had 2ms left")
	})
}
