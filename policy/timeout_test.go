package policy_test

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

// waitForCtx is a Func that honours ctx: it returns ctx's error when ctx
// ends, or v after d.
func waitForCtx[T any](d time.Duration, v T) policy.Func[T] {
	return func(ctx context.Context) (T, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return v, nil
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// TestFailsafeGoCooperativeTimeoutHasDeadline guards failsafe-go's
// cooperative timeout, whose child ctx had no Deadline (so HTTP and gRPC
// clients could not pass it on) and ended with context.Canceled. Here the
// call's ctx carries the real deadline, ends with DeadlineExceeded, and its
// cause names the timeout.
func TestFailsafeGoCooperativeTimeoutHasDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var (
			deadline time.Time
			hasDL    bool
			innerErr error
			cause    error
		)
		v, err := policy.Run(t.Context(), policy.Timeout[int](time.Second), func(ctx context.Context) (int, error) {
			deadline, hasDL = ctx.Deadline()
			<-ctx.Done()
			innerErr, cause = ctx.Err(), context.Cause(ctx)
			return 7, errTransient
		})
		assert.True(t, hasDL, "the call's ctx has a real Deadline")
		assert.Equal(t, start.Add(time.Second), deadline)
		assert.Equal(t, context.DeadlineExceeded, innerErr, "the call sees DeadlineExceeded, not Canceled")
		assert.Equal(t, policy.ErrTimeout, cause, "context.Cause names the timeout")
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, 7, v, "the call's value is returned with the timeout error")
		assert.ErrorIs(t, err, policy.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, errTransient, "the call's own error is kept")
		assert.Equal(t, "policy: timeout after 1s: transient", err.Error())
	})
}

func TestTimeoutOutcomes(t *testing.T) {
	t.Run("our timeout is a failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var got []policy.Outcome
			p := policy.Compose(probe[int](&got), policy.Timeout[int](time.Second))
			_, err := p.Run(t.Context(), waitForCtx(time.Hour, 1))
			assert.ErrorIs(t, err, policy.ErrTimeout)
			assert.Equal(t, []policy.Outcome{policy.Failure}, got, "a breaker outside the timeout counts it")
		})
	})
	t.Run("caller cancellation is ignored", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var got []policy.Outcome
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			p := policy.Compose(probe[int](&got), policy.Timeout[int](time.Second))
			_, err := p.Run(ctx, waitForCtx(time.Hour, 1))
			assert.Equal(t, context.Canceled, err, "the caller's cancellation is returned unchanged")
			assert.NotErrorIs(t, err, policy.ErrTimeout)
			assert.Equal(t, []policy.Outcome{policy.Ignored}, got)
		})
	})
	t.Run("caller deadline shorter than the timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var got []policy.Outcome
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			p := policy.Compose(probe[int](&got), policy.Timeout[int](time.Second))
			start := time.Now()
			_, err := p.Run(ctx, waitForCtx(time.Hour, 1))
			assert.Equal(t, 100*time.Millisecond, time.Since(start))
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotErrorIs(t, err, policy.ErrTimeout, "the caller's own deadline is not our timeout")
			assert.Equal(t, []policy.Outcome{policy.Ignored}, got)
		})
	})
	t.Run("a late success is kept", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			v, err := policy.Run(t.Context(), policy.Timeout[int](time.Second), func(context.Context) (int, error) {
				time.Sleep(2 * time.Second) // ignores ctx
				return 3, nil
			})
			require.NoError(t, err)
			assert.Equal(t, 3, v)
		})
	})
	t.Run("fast call", func(t *testing.T) {
		v, err := policy.Run(context.Background(), policy.Timeout[int](time.Hour), func(context.Context) (int, error) { return 2, nil })
		require.NoError(t, err)
		assert.Equal(t, 2, v)
	})
	t.Run("nested timeouts", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := observe.NewRecorder()
			outer := policy.Timeout[int](time.Second, policy.WithName("outer"), policy.WithMetrics(rec))
			inner := policy.Timeout[int](time.Hour, policy.WithName("inner"), policy.WithMetrics(rec))
			_, err := policy.Compose[int](outer, inner).Run(t.Context(), waitForCtx(2*time.Hour, 1))
			assert.ErrorIs(t, err, policy.ErrTimeout)
			assert.Equal(t, int64(1), rec.Count("ion_policy_timeouts_total", observe.L("name", "outer"), observe.L("policy", "timeout")))
			assert.Equal(t, int64(0), rec.Count("ion_policy_timeouts_total", observe.L("name", "inner"), observe.L("policy", "timeout")),
				"the inner timeout did not fire: its parent ended")
		})
	})
}

// TestFailsafeGo134TimeoutCtxLeak guards failsafe-go#134: the timeout's
// child contexts stayed registered under a long-lived parent ctx (a memory
// leak). Every path must cancel the child: success, failure, timeout,
// panic, and the abandon mode.
func TestFailsafeGo134TimeoutCtxLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent := newAfterFuncParent()
		for _, tl := range []*policy.TimeoutLayer[int]{policy.Timeout[int](time.Second), policy.Timeout[int](time.Second, policy.WithAbandon())} {
			for range 100 {
				_, err := policy.Run(parent, tl, func(context.Context) (int, error) { return 1, nil })
				require.NoError(t, err)
			}
			_, _ = policy.Run(parent, tl, func(context.Context) (int, error) { return 0, errTransient })
			_, err := policy.Run(parent, tl, waitForCtx(time.Hour, 1))
			require.ErrorIs(t, err, policy.ErrTimeout)
			assert.Zero(t, parent.live.Load(), "%v: no child ctx stays registered under the parent", tl)
		}
		func() {
			defer func() { _ = recover() }()
			_, _ = policy.Run(parent, policy.Timeout[int](time.Second), func(context.Context) (int, error) { panic("boom") })
		}()
		assert.Zero(t, parent.live.Load(), "a panicking call's child ctx is cancelled too")
	})
}

func TestTimeoutAllocs(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	bare := testing.AllocsPerRun(1000, func() {
		ctx, cancel := context.WithTimeoutCause(parent, time.Hour, policy.ErrTimeout)
		_ = ctx
		cancel()
	})
	ok := func(context.Context) (int, error) { return 1, nil }
	rec := observe.NewRecorder()
	for name, tl := range map[string]*policy.TimeoutLayer[int]{
		"default":      policy.Timeout[int](time.Hour),
		"with metrics": policy.Timeout[int](time.Hour, policy.WithMetrics(rec), policy.WithLogger(rec)),
	} {
		p := policy.Compose[int](tl)
		allocs := testing.AllocsPerRun(1000, func() {
			if v, err := p.Run(parent, ok); v != 1 || err != nil {
				t.Fatalf("Run = %v, %v", v, err)
			}
		})
		assert.Equal(t, bare, allocs, "%s: a Timeout allocates only what context.WithTimeoutCause does", name)
	}
	t.Logf("context.WithTimeoutCause + cancel: %v allocs", bare)
}

func TestTimeoutAbandon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		tl := policy.Timeout[int](time.Second, policy.WithAbandon(), policy.WithMetrics(rec), policy.WithLogger(rec))
		assert.Equal(t, "timeout(1s abandon)", tl.String())
		gauge := func() float64 {
			return rec.Value("ion_policy_timeout_abandoned", observe.L("name", "timeout"), observe.L("policy", "timeout"))
		}
		returned := make(chan struct{})
		start := time.Now()
		v, err := policy.Run(t.Context(), tl, func(context.Context) (int, error) {
			defer close(returned)
			time.Sleep(10 * time.Second) // ignores ctx
			return 5, nil
		})
		assert.Equal(t, time.Second, time.Since(start), "abandon mode returns at the deadline")
		assert.Zero(t, v, "the abandoned call's result is discarded")
		assert.ErrorIs(t, err, policy.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, "policy: timeout after 1s", err.Error())
		assert.Equal(t, 1, tl.Abandoned(), "the abandoned goroutine is counted")
		assert.Equal(t, 1.0, gauge())
		require.Len(t, rec.Logs(), 1)
		assert.Equal(t, "timeout abandoned a call that ignores its ctx", rec.Logs()[0].Msg)
		<-returned
		synctest.Wait()
		assert.Zero(t, tl.Abandoned(), "the goroutine exits when the call returns")
		assert.Zero(t, gauge())
		assert.Equal(t, int64(1), rec.Count("ion_policy_timeouts_total", observe.L("name", "timeout"), observe.L("policy", "timeout")))
	})
	t.Run("success and errors pass through", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tl := policy.Timeout[int](time.Second, policy.WithAbandon())
			v, err := policy.Run(t.Context(), tl, waitForCtx(time.Millisecond, 9))
			require.NoError(t, err)
			assert.Equal(t, 9, v)
			_, err = policy.Run(t.Context(), tl, func(context.Context) (int, error) { return 0, errPermanent })
			assert.Equal(t, errPermanent, err)
			// A cooperative call that returns at the deadline: its error wins the race or the abandon does;
			// either way the result matches ErrTimeout.
			_, err = policy.Run(t.Context(), tl, waitForCtx(time.Hour, 1))
			assert.ErrorIs(t, err, policy.ErrTimeout)
			synctest.Wait()
			assert.Zero(t, tl.Abandoned())
		})
	})
	t.Run("caller cancellation", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tl := policy.Timeout[int](time.Second, policy.WithAbandon())
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			var got []policy.Outcome
			_, err := policy.Compose(probe[int](&got), tl).Run(ctx, func(context.Context) (int, error) {
				time.Sleep(time.Hour)
				return 1, nil
			})
			assert.Equal(t, context.Canceled, err)
			assert.Equal(t, []policy.Outcome{policy.Ignored}, got)
			assert.Equal(t, 1, tl.Abandoned())
			time.Sleep(time.Hour)
			synctest.Wait()
			assert.Zero(t, tl.Abandoned())
		})
	})
	t.Run("panics", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := observe.NewRecorder()
			tl := policy.Timeout[int](time.Second, policy.WithAbandon(), policy.WithLogger(rec))
			_, err := policy.Run(t.Context(), tl, func(context.Context) (int, error) { panic("early") })
			var pe *ion.PanicError
			require.ErrorAs(t, err, &pe, "a panic on the timeout's goroutine is returned, never a crash")
			assert.Equal(t, "early", pe.Value)
			_, err = policy.Run(t.Context(), tl, func(context.Context) (int, error) {
				time.Sleep(time.Hour)
				panic("late")
			})
			assert.ErrorIs(t, err, policy.ErrTimeout)
			time.Sleep(time.Hour)
			synctest.Wait()
			logs := rec.Logs()
			require.Len(t, logs, 2)
			assert.Equal(t, "abandoned call panicked", logs[1].Msg, "a panic after the caller left is logged")
		})
	})
	goleak.VerifyNone(t)
}

func TestTimeoutPanicPropagates(t *testing.T) {
	assert.PanicsWithValue(t, "boom", func() {
		_, _ = policy.Run(context.Background(), policy.Timeout[int](time.Second), func(context.Context) (int, error) { panic("boom") })
	})
}

func TestTimeoutBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		tl    *policy.TimeoutLayer[int]
		param string
	}{
		{"zero", policy.Timeout[int](0), "Timeout d"},
		{"negative", policy.Timeout[int](-time.Second), "Timeout d"},
		{"nil option", policy.Timeout[int](time.Second, nil), "option 0"},
		{"nil metrics", policy.Timeout[int](time.Second, policy.WithMetrics(nil)), "WithMetrics"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *ion.ConfigError
			require.ErrorAs(t, tc.tl.Err(), &ce)
			assert.Equal(t, tc.param, ce.Param)
			called := false
			_, err := policy.Run(context.Background(), tc.tl, func(context.Context) (int, error) { called = true; return 1, nil })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.False(t, called)
			assert.Contains(t, tc.tl.String(), "timeout(invalid: ")
		})
	}
}

func TestTimeoutObserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		tl := policy.Timeout[string](time.Second, policy.WithName("db"), policy.WithTracer(rec), policy.WithMetrics(rec))
		assert.Equal(t, "timeout(db 1s)", tl.String())
		_, err := policy.Run(t.Context(), tl, waitForCtx(time.Hour, "x"))
		require.ErrorIs(t, err, policy.ErrTimeout)
		_, err = policy.Run(t.Context(), tl, waitForCtx(time.Millisecond, "x"))
		require.NoError(t, err)
		spans := rec.Spans()
		require.Len(t, spans, 2)
		assert.Equal(t, "failure", spans[0].Outcome)
		assert.True(t, errors.Is(spans[0].Err, policy.ErrTimeout))
		assert.Equal(t, "success", spans[1].Outcome)
		assert.Equal(t, int64(1), rec.Count("ion_policy_timeouts_total", observe.L("name", "db"), observe.L("policy", "timeout")))
	})
}

func TestErrTimeout(t *testing.T) {
	assert.Equal(t, "policy: timeout", policy.ErrTimeout.Error())
	assert.ErrorIs(t, policy.ErrTimeout, context.DeadlineExceeded, "ErrTimeout is a deadline")
	assert.NotErrorIs(t, policy.ErrTimeout, ion.ErrRejected, "a timeout is not a rejection")
	assert.NotErrorIs(t, context.DeadlineExceeded, policy.ErrTimeout)
}

// A call that returns its ctx's cause (as net/http does) is reported once,
// not as "policy: timeout after 10ms: policy: timeout".
func TestTimeoutErrorTextOnCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy.Timeout[int](10 * time.Millisecond)
		_, err := policy.Run(context.Background(), p, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, context.Cause(ctx)
		})
		require.ErrorIs(t, err, policy.ErrTimeout)
		assert.Equal(t, "policy: timeout after 10ms", err.Error())
	})
}

// TestTimeoutAbandonGoexitReturnsSuccess guards the bug that a Timeout with
// WithAbandon, whose call runs on a goroutine of its own, turned a call that
// called runtime.Goexit into (zero, nil): its deferred function recovered
// nothing and let the caller read the zero result. The caller must get a
// *ion.PanicError, as for a panic; after an abandon, the Goexit is logged.
func TestTimeoutAbandonGoexitReturnsSuccess(t *testing.T) {
	t.Run("before the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var got []policy.Outcome
			tl := policy.Timeout[int](time.Second, policy.WithAbandon())
			v, err := policy.Compose(probe[int](&got), tl).Run(t.Context(), func(context.Context) (int, error) {
				runtime.Goexit()
				return 1, nil
			})
			assert.True(t, isGoexit(err), "a call that called runtime.Goexit did not succeed, got (%d, %v)", v, err)
			assert.Zero(t, v)
			assert.Equal(t, []policy.Outcome{policy.Failure}, got)
			assert.Zero(t, tl.Abandoned())
		})
	})
	t.Run("after an abandon", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := observe.NewRecorder()
			tl := policy.Timeout[int](time.Second, policy.WithAbandon(), policy.WithLogger(rec))
			_, err := policy.Run(t.Context(), tl, func(context.Context) (int, error) {
				time.Sleep(time.Hour)
				runtime.Goexit()
				return 1, nil
			})
			assert.ErrorIs(t, err, policy.ErrTimeout)
			assert.Equal(t, 1, tl.Abandoned())
			time.Sleep(time.Hour)
			synctest.Wait()
			assert.Zero(t, tl.Abandoned(), "the abandoned goroutine is uncounted when it exits")
			logs := rec.Logs()
			require.Len(t, logs, 2)
			assert.Equal(t, "abandoned call panicked", logs[1].Msg, "a Goexit after the caller left is logged")
		})
	})
}

// afterFuncParent is a long-lived parent ctx that counts the children
// registered under it and not yet removed. The context package registers a
// child through the parent's AfterFunc method and calls the returned stop
// function when the child is cancelled, so live is 0 exactly when every
// child was cancelled.
type afterFuncParent struct {
	context.Context
	done chan struct{}
	live atomic.Int64
}

func newAfterFuncParent() *afterFuncParent {
	return &afterFuncParent{Context: context.Background(), done: make(chan struct{})}
}

func (p *afterFuncParent) Done() <-chan struct{} { return p.done }

func (p *afterFuncParent) AfterFunc(func()) func() bool {
	p.live.Add(1)
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() { p.live.Add(-1); stopped = true })
		return stopped
	}
}

// FuzzTimeout builds a Timeout with an arbitrary duration and mode.
// Properties: no panic; d <= 0 fails closed; a valid one returns a fast
// call's result unchanged and ends a stuck call with ErrTimeout at d.
func FuzzTimeout(f *testing.F) {
	f.Add(int64(time.Second), false)
	f.Add(int64(0), true)
	f.Add(int64(-1), false)
	f.Add(int64(math.MaxInt64), true)
	f.Fuzz(func(t *testing.T, d int64, abandon bool) {
		var opts []policy.TimeoutOption
		if abandon {
			opts = append(opts, policy.WithAbandon())
		}
		tl := policy.Timeout[int](time.Duration(d), opts...)
		synctest.Test(t, func(t *testing.T) {
			v, err := policy.Run(t.Context(), tl, func(context.Context) (int, error) { return 4, nil })
			if tl.Err() != nil {
				checkConfigErr(t, err)
				return
			}
			if v != 4 || err != nil {
				t.Fatalf("fast call = %v, %v", v, err)
			}
			if d > int64(time.Hour) {
				return // a stuck call would wait that long in fake time: fine, but pointless
			}
			start := time.Now()
			_, err = policy.Run(t.Context(), tl, waitForCtx(2*time.Duration(d)+time.Second, 1))
			if !errors.Is(err, policy.ErrTimeout) || time.Since(start) != time.Duration(d) {
				t.Fatalf("stuck call = %v after %v, want ErrTimeout after %v", err, time.Since(start), time.Duration(d))
			}
		})
	})
}
