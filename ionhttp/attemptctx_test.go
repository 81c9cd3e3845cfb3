package ionhttp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lightCtx returns an attempt's ctx under a request ctx that cannot end, as
// an attempt under http.Get has.
func lightCtx() *attemptCtx {
	c := &call{Context: context.Background(), t: &Transport{}}
	a := &c.firstAttempt.ctx
	a.call = c
	return a
}

// TestAttemptCtxLight checks the ctx of an attempt whose request ctx cannot
// end: ctxs derived from it (as net/http derives one per request) attach
// through its AfterFunc, without a cancelable ctx behind it, end with it
// and see its cause; one cancelled first detaches; one derived after its
// end ends at once.
func TestAttemptCtxLight(t *testing.T) { synctest.Test(t, testAttemptCtxLight) }

func testAttemptCtxLight(t *testing.T) {
	errWhy := errors.New("why")
	for _, cause := range []error{nil, errWhy} {
		a := lightCtx()
		early, cancelEarly := context.WithCancelCause(a)
		child, cancelChild := context.WithCancelCause(a)
		defer cancelChild(nil)
		fired := make(chan struct{})
		context.AfterFunc(a, func() { close(fired) })
		require.Equal(t, modeLight, a.mode.Load())
		assert.Nil(t, a.actx, "no cancelable ctx behind it")
		assert.Len(t, a.afters, 3)
		cancelEarly(nil)
		assert.Len(t, a.afters, 2, "a derived ctx cancelled first detaches")
		require.NoError(t, child.Err())
		require.NoError(t, a.Err())

		a.end(cause)
		want := cause
		if want == nil {
			want = context.Canceled
		}
		assert.Equal(t, context.Canceled, a.Err())
		assert.Equal(t, want, context.Cause(a))
		assert.Equal(t, context.Canceled, child.Err(), "a derived ctx ends with it")
		assert.Equal(t, want, context.Cause(child), "and sees its cause")
		<-fired
		assert.Nil(t, a.afters)
		late, cancelLate := context.WithCancel(a)
		assert.Equal(t, context.Canceled, late.Err(), "a ctx derived after its end ends at once")
		cancelLate()
		assert.Equal(t, context.Canceled, early.Err())
		select {
		case <-a.Done():
		default:
			t.Fatal("Done is not closed")
		}
	}
}

// TestAttemptCtxLightEndedFirst ends the ctx before anything waited on it:
// its first Done is already closed, and AfterFunc runs at once.
func TestAttemptCtxLightEndedFirst(t *testing.T) {
	a := lightCtx()
	a.end(nil)
	select {
	case <-a.Done():
	default:
		t.Fatal("Done is not closed")
	}
	ran := make(chan struct{})
	stop := a.AfterFunc(func() { close(ran) })
	<-ran
	assert.False(t, stop(), "nothing to stop: it ran")
}

// TestAttemptCtxLightStress derives and cancels ctxs from several
// goroutines while the attempt ends, under -race: every derived ctx ends,
// none is left attached. In a synctest bubble, a derived ctx that never
// ends fails the test as a deadlock.
func TestAttemptCtxLightStress(t *testing.T) { synctest.Test(t, testAttemptCtxLightStress) }

func testAttemptCtxLightStress(t *testing.T) {
	for range 50 {
		a := lightCtx()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var derived []context.Context
		for g := range 4 {
			wg.Go(func() {
				for i := range 20 {
					ctx, cancel := context.WithCancel(a)
					if (g+i)%2 == 0 {
						cancel()
					} else {
						defer cancel()
					}
					mu.Lock()
					derived = append(derived, ctx)
					mu.Unlock()
				}
			})
		}
		wg.Go(func() { a.end(nil) })
		wg.Wait()
		for _, ctx := range derived {
			<-ctx.Done()
		}
		a.mu.Lock()
		assert.Empty(t, a.afters)
		a.mu.Unlock()
	}
}
