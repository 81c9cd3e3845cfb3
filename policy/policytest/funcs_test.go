package policytest_test

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy/policytest"
)

var errBoom = errors.New("boom")

func TestFailTimes(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		calls int
		want  []error // the error of each call
	}{
		{"never fails", 0, 2, []error{nil, nil}},
		{"negative n never fails", -3, 2, []error{nil, nil}},
		{"fails once", 1, 3, []error{errBoom, nil, nil}},
		{"fails three times", 3, 5, []error{errBoom, errBoom, errBoom, nil, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := policytest.FailTimes(tc.n, errBoom, "ok")
			for i, want := range tc.want {
				v, err := fn(context.Background())
				assert.Equal(t, want, err, "call %d", i+1)
				if want == nil {
					assert.Equal(t, "ok", v, "call %d succeeds with v", i+1)
				} else {
					assert.Empty(t, v, "call %d fails with the zero value", i+1)
				}
			}
		})
	}
}

func TestFailTimesNilErr(t *testing.T) {
	fn := policytest.FailTimes(1, nil, 7)
	_, err := fn(context.Background())
	policytest.AssertInvalidConfig(t, err, "err")
	v, err := fn(context.Background())
	assert.NoError(t, err)
	assert.Equal(t, 7, v)
}

// TestFailTimesConcurrent checks that exactly n calls fail whichever
// goroutines make them.
func TestFailTimesConcurrent(t *testing.T) {
	const goroutines, loops, n = 8, 100, 37
	fn := policytest.FailTimes(n, errBoom, 1)
	var mu sync.Mutex
	failures := 0
	var wg sync.WaitGroup
	for range goroutines {
		// Owner: this test; exits after loops calls; joined by wg.Wait.
		wg.Go(func() {
			for range loops {
				if _, err := fn(context.Background()); err != nil {
					mu.Lock()
					failures++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, n, failures, "exactly n calls fail")
}

func TestSequence(t *testing.T) {
	results := []policytest.Result[int]{policytest.Fail[int](errBoom), policytest.Ok(2), {Value: 3, Err: errBoom}}
	fn := policytest.Sequence(results...)
	results[0] = policytest.Ok(99) // Sequence must have kept its own copy

	ctx := context.Background()
	for i, want := range []policytest.Result[int]{{Err: errBoom}, {Value: 2}, {Value: 3, Err: errBoom}} {
		v, err := fn(ctx)
		assert.Equal(t, want, policytest.Result[int]{Value: v, Err: err}, "call %d", i+1)
	}
	for call := 4; call <= 5; call++ {
		v, err := fn(ctx)
		assert.ErrorIs(t, err, policytest.ErrExhausted, "call %d is past the end", call)
		assert.Zero(t, v)
	}
	_, err := policytest.Sequence[int]()(ctx)
	assert.ErrorIs(t, err, policytest.ErrExhausted, "an empty sequence is exhausted at once")
	assert.EqualError(t, err, "call 1 of a sequence of 0: policytest: sequence exhausted")
}

// TestSequenceConcurrent checks that each result is returned exactly once.
func TestSequenceConcurrent(t *testing.T) {
	const n = 200
	results := make([]policytest.Result[int], n)
	for i := range results {
		results[i] = policytest.Ok(i)
	}
	fn := policytest.Sequence(results...)
	seen := make([]int, n)
	var mu sync.Mutex
	exhausted := 0
	var wg sync.WaitGroup
	for range 4 {
		// Owner: this test; exits after n/4+10 calls; joined by wg.Wait.
		wg.Go(func() {
			for range n/4 + 10 {
				v, err := fn(context.Background())
				mu.Lock()
				if err != nil {
					exhausted++
				} else {
					seen[v]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, c := range seen {
		assert.Equal(t, 1, c, "result %d returned exactly once", i)
	}
	assert.Equal(t, 40, exhausted)
}

func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		v, err := policytest.Latency(250*time.Millisecond, "slow")(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "slow", v)
		assert.Equal(t, 250*time.Millisecond, time.Since(start), "Latency takes exactly d in a bubble")

		start = time.Now()
		v, err = policytest.Latency(0, "now")(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "now", v)
		assert.Zero(t, time.Since(start), "d == 0 returns at once")
	})
}

func TestDelayHonoursContext(t *testing.T) {
	customCause := errors.New("my timeout")
	tests := []struct {
		name     string
		ctx      func(context.Context) (context.Context, context.CancelFunc)
		d        time.Duration
		wantErrs []error
		wantWait time.Duration
	}{
		{
			name: "deadline first",
			ctx: func(p context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(p, 30*time.Millisecond)
			},
			d:        time.Second,
			wantErrs: []error{context.DeadlineExceeded},
			wantWait: 30 * time.Millisecond,
		},
		{
			name: "cancel first",
			ctx: func(p context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(p)
				time.AfterFunc(40*time.Millisecond, cancel)
				return ctx, cancel
			},
			d:        time.Second,
			wantErrs: []error{context.Canceled},
			wantWait: 40 * time.Millisecond,
		},
		{
			name: "deadline with a cause",
			ctx: func(p context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeoutCause(p, 10*time.Millisecond, customCause)
			},
			d:        time.Second,
			wantErrs: []error{context.DeadlineExceeded, customCause},
			wantWait: 10 * time.Millisecond,
		},
		{
			name: "deadline at the same instant wins",
			ctx: func(p context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(p, 50*time.Millisecond)
			},
			d:        50 * time.Millisecond,
			wantErrs: []error{context.DeadlineExceeded},
			wantWait: 50 * time.Millisecond,
		},
		{
			name: "already done",
			ctx: func(p context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(p)
				cancel()
				return ctx, cancel
			},
			d:        time.Second,
			wantErrs: []error{context.Canceled},
		},
		{
			name: "already done with zero delay",
			ctx: func(p context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(p)
				cancel()
				return ctx, cancel
			},
			wantErrs: []error{context.Canceled},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := tc.ctx(t.Context())
				defer cancel()
				called := false
				fn := policytest.Delay(tc.d, func(context.Context) (int, error) { called = true; return 1, nil })
				start := time.Now()
				v, err := fn(ctx)
				for _, want := range tc.wantErrs {
					assert.ErrorIs(t, err, want)
				}
				assert.Zero(t, v)
				assert.False(t, called, "fn must not run once ctx is done")
				assert.Equal(t, tc.wantWait, time.Since(start), "Delay returns when ctx ends")
			})
		})
	}
}

func TestDelayComposes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := policytest.Delay(10*time.Millisecond, policytest.FailTimes(1, errBoom, "ok"))
		start := time.Now()
		_, err := fn(t.Context())
		assert.ErrorIs(t, err, errBoom)
		v, err := fn(t.Context())
		assert.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, 20*time.Millisecond, time.Since(start))
	})
}

func TestDelayNilFunc(t *testing.T) {
	_, err := policytest.Delay[int](time.Second, nil)(context.Background())
	policytest.AssertInvalidConfig(t, err, "fn")
}

func TestPanics(t *testing.T) {
	fn := policytest.Panics[int](errBoom)
	assert.PanicsWithValue(t, errBoom, func() { _, _ = fn(context.Background()) })
	assert.PanicsWithValue(t, errBoom, func() { _, _ = fn(context.Background()) }, "every call panics")

	defer func() {
		r := recover()
		_, ok := r.(*runtime.PanicNilError)
		assert.True(t, ok, "Panics(nil) panics with *runtime.PanicNilError, got %T", r)
	}()
	_, _ = policytest.Panics[int](nil)(context.Background())
}

// FuzzScripts checks the scripted Funcs for any count: FailTimes fails
// exactly max(n, 0) of the calls made, and Sequence returns each result once
// and then only ErrExhausted.
func FuzzScripts(f *testing.F) {
	f.Add(3, uint8(5), uint8(2))
	f.Add(-1, uint8(0), uint8(0))
	f.Add(math.MaxInt, uint8(255), uint8(255))
	f.Fuzz(func(t *testing.T, n int, calls, results uint8) {
		ctx := context.Background()
		fn := policytest.FailTimes(n, errBoom, 1)
		failed := 0
		for range int(calls) {
			if _, err := fn(ctx); err != nil {
				failed++
			}
		}
		if want := min(max(n, 0), int(calls)); failed != want {
			t.Fatalf("FailTimes(%d) failed %d of %d calls, want %d", n, failed, calls, want)
		}

		rs := make([]policytest.Result[int], results)
		for i := range rs {
			rs[i] = policytest.Ok(i)
		}
		seq := policytest.Sequence(rs...)
		for i := range int(results) + 3 {
			v, err := seq(ctx)
			switch {
			case i < int(results) && (err != nil || v != i):
				t.Fatalf("Sequence call %d = %d, %v, want %d, nil", i+1, v, err, i)
			case i >= int(results) && !errors.Is(err, policytest.ErrExhausted):
				t.Fatalf("Sequence call %d = %v, want ErrExhausted", i+1, err)
			}
		}
	})
}
