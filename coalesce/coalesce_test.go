package coalesce_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/coalesce"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type keyCtx struct{}

func withKey(ctx context.Context, k string) context.Context {
	return context.WithValue(ctx, keyCtx{}, k)
}

func keyOf(ctx context.Context) string { k, _ := ctx.Value(keyCtx{}).(string); return k }

// gated is a function that counts its executions and blocks until release is
// closed, then answers with its key.
type gated struct {
	release chan struct{}
	runs    atomic.Int32
	err     error
}

func newGated() *gated { return &gated{release: make(chan struct{})} }

func (g *gated) call(ctx context.Context) (string, error) {
	g.runs.Add(1)
	select {
	case <-g.release:
		return "v:" + keyOf(ctx), g.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

type result struct {
	v   string
	err error
}

// start runs one call for key in a goroutine and returns where its result
// arrives.
func start(ctx context.Context, g *coalesce.Group[string], fn policy.Func[string], key string) <-chan result {
	out := make(chan result, 1)
	go func() {
		v, err := policy.Run(withKey(ctx, key), g, fn)
		out <- result{v, err}
	}()
	return out
}

func TestConcurrentCallsShareOneExecution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := coalesce.New[string](keyOf)
		fn := newGated()
		var outs []<-chan result
		for range 5 {
			outs = append(outs, start(t.Context(), g, fn.call, "a"))
		}
		synctest.Wait() // every caller has joined; the execution waits for release
		assert.EqualValues(t, 1, fn.runs.Load(), "five concurrent calls with one key run once")
		close(fn.release)
		for _, out := range outs {
			r := <-out
			assert.Equal(t, result{"v:a", nil}, r, "every caller gets the shared result")
		}
		assert.Zero(t, coalesce.InFlight(g), "the key is free once the execution ended")

		// A later call starts a new execution.
		v, err := policy.Run(withKey(t.Context(), "a"), g, fn.call)
		require.NoError(t, err)
		assert.Equal(t, "v:a", v)
		assert.EqualValues(t, 2, fn.runs.Load(), "a call after the execution ended runs again")
	})
}

func TestResultsAreNeverSharedAcrossKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := coalesce.New[string](keyOf)
		fn := newGated()
		a, b := start(t.Context(), g, fn.call, "a"), start(t.Context(), g, fn.call, "b")
		synctest.Wait()
		assert.EqualValues(t, 2, fn.runs.Load(), "two keys, two executions")
		close(fn.release)
		assert.Equal(t, result{"v:a", nil}, <-a)
		assert.Equal(t, result{"v:b", nil}, <-b)
	})
}

func TestCallerWhoseCtxEndsLeavesAtOnceOthersGetTheResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := coalesce.New[string](keyOf)
		fn := newGated()
		leaderCtx, cancelLeader := context.WithCancel(t.Context())
		leader := start(leaderCtx, g, fn.call, "k")
		synctest.Wait()
		other := start(t.Context(), g, fn.call, "k")
		synctest.Wait()

		cancelLeader()
		synctest.Wait()
		select {
		case r := <-leader:
			assert.ErrorIs(t, r.err, context.Canceled, "the leader gets its own ctx error at once")
		default:
			t.Fatal("the leader whose ctx ended is still waiting")
		}

		close(fn.release)
		assert.Equal(t, result{"v:k", nil}, <-other, "the execution went on for the caller still waiting")
		assert.EqualValues(t, 1, fn.runs.Load())
	})
}

func TestExecutionCancelledWhenEveryCallerHasLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := coalesce.New[string](keyOf)
		fn := newGated() // never released: only cancellation ends it
		ctx1, cancel1 := context.WithCancel(t.Context())
		ctx2, cancel2 := context.WithCancel(t.Context())
		r1 := start(ctx1, g, fn.call, "k")
		synctest.Wait()
		r2 := start(ctx2, g, fn.call, "k")
		synctest.Wait()

		cancel1()
		synctest.Wait()
		assert.Equal(t, 1, coalesce.InFlight(g), "one caller still waits: the execution goes on")
		cancel2()
		synctest.Wait() // the execution saw its ctx end and returned
		assert.ErrorIs(t, (<-r1).err, context.Canceled)
		assert.ErrorIs(t, (<-r2).err, context.Canceled)
		assert.Zero(t, coalesce.InFlight(g), "the last caller to leave frees the key")

		// A new call does not join the cancelled execution.
		fn2 := newGated()
		close(fn2.release)
		v, err := policy.Run(withKey(t.Context(), "k"), g, fn2.call)
		require.NoError(t, err)
		assert.Equal(t, "v:k", v)
	})
}

func TestPanicReachesEveryWaiterAsPanicError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := coalesce.New[string](keyOf)
		release := make(chan struct{})
		fn := func(context.Context) (string, error) {
			<-release
			panic("boom")
		}
		a, b := start(t.Context(), g, fn, "k"), start(t.Context(), g, fn, "k")
		synctest.Wait()
		close(release)
		for _, r := range []result{<-a, <-b} {
			var pe *ion.PanicError
			require.ErrorAs(t, r.err, &pe, "a panic reaches every waiter as *ion.PanicError")
			assert.Equal(t, "boom", pe.Value)
		}
	})
}

func TestGoexitReachesTheCallerAsPanicError(t *testing.T) {
	g := coalesce.New[string](keyOf)
	_, err := policy.Run(withKey(t.Context(), "k"), g, func(context.Context) (string, error) {
		runtime.Goexit()
		return "", nil
	})
	var pe *ion.PanicError
	assert.ErrorAs(t, err, &pe, "runtime.Goexit in the shared call is reported")
}

func TestErrorIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := coalesce.New[string](keyOf)
		fn := newGated()
		fn.err = errors.New("down")
		a, b := start(t.Context(), g, fn.call, "k"), start(t.Context(), g, fn.call, "k")
		synctest.Wait()
		close(fn.release)
		assert.EqualError(t, (<-a).err, "down")
		assert.EqualError(t, (<-b).err, "down")
	})
}

func TestDoneCtxFailsWithoutRunning(t *testing.T) {
	g := coalesce.New[string](keyOf)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	_, err := policy.Run(ctx, policy.Policy[string](g), func(context.Context) (string, error) { ran = true; return "", nil })
	assert.ErrorIs(t, err, context.Canceled)
	// policy.Run checks ctx too; call Execute directly through a pipeline
	// layer that does not.
	p := policy.Compose(policy.New("pass", func(_ context.Context, next policy.Next[string]) (string, error) {
		return next.Call(ctx)
	}), policy.Policy[string](g))
	_, err = p.Run(t.Context(), func(context.Context) (string, error) { ran = true; return "", nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran, "an already-done ctx starts nothing")
}

func TestBadConfigurationFailsClosed(t *testing.T) {
	fn := func(context.Context) (string, error) { return "ran", nil }
	cases := []struct {
		name  string
		g     *coalesce.Group[string]
		param string
	}{
		{"zero value", &coalesce.Group[string]{}, "use New"},
		{"nil key", coalesce.New[string](nil), "key"},
		{"nil option", coalesce.New[string](keyOf, nil), "option 0"},
		{"nil metrics", coalesce.New[string](keyOf, coalesce.WithMetrics(nil)), "WithMetrics"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := policy.Run(t.Context(), tc.g, fn)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.ErrorContains(t, err, tc.param, "the error names the parameter")
			assert.Empty(t, v, "a misconfigured group never runs the call")
			assert.ErrorIs(t, tc.g.Err(), ion.ErrInvalidConfig)
			assert.Contains(t, tc.g.String(), "invalid")
		})
	}
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		g := coalesce.New[string](keyOf, coalesce.WithName("p"), coalesce.WithMetrics(rec))
		fn := newGated()
		a := start(t.Context(), g, fn.call, "k")
		synctest.Wait()
		b := start(t.Context(), g, fn.call, "k")
		synctest.Wait()
		assert.EqualValues(t, 1, rec.Value("ion_coalesce_running", observe.L("name", "p")))
		close(fn.release)
		<-a
		<-b
		assert.EqualValues(t, 1, rec.Count("ion_coalesce_calls_total", observe.L("name", "p"), observe.L("result", "executed")))
		assert.EqualValues(t, 1, rec.Count("ion_coalesce_calls_total", observe.L("name", "p"), observe.L("result", "shared")))
		assert.EqualValues(t, 0, rec.Value("ion_coalesce_running", observe.L("name", "p")))
	})
}

// TestStressNoDuplicateExecutionPerKey hammers a few keys from many
// goroutines, some of which give up early, and checks with an independent
// counter that no key ever has two executions in flight, and that every
// caller that waited got its own key's result.
func TestStressNoDuplicateExecutionPerKey(t *testing.T) {
	g := coalesce.New[string](keyOf)
	var inFlight [8]atomic.Int32
	var overlap atomic.Int32
	fn := func(ctx context.Context) (string, error) {
		k := keyOf(ctx)
		i := int(k[0] - 'a')
		if inFlight[i].Add(1) > 1 {
			overlap.Add(1)
		}
		runtime.Gosched() // widen the window in which others can join
		inFlight[i].Add(-1)
		return "v:" + k, nil
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := string(rune('a' + (w+i)%8))
				ctx, cancel := context.WithCancel(withKey(context.Background(), k))
				if i%7 == 0 {
					cancel() // some callers leave at once
				}
				v, err := policy.Run(ctx, g, fn)
				cancel()
				if err == nil && v != "v:"+k {
					t.Errorf("caller of %q got %q", k, v)
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, overlap.Load(), "a key never has two executions in flight")
	assert.Zero(t, coalesce.InFlight(g))
}

// TestBoundedMemoryWithManyKeys runs 100,000 distinct keys through one group:
// nothing is kept once their executions end.
func TestBoundedMemoryWithManyKeys(t *testing.T) {
	g := coalesce.New[string](keyOf)
	fn := func(ctx context.Context) (string, error) { return keyOf(ctx), nil }
	for i := range 100_000 {
		k := fmt.Sprint(i)
		v, err := policy.Run(withKey(t.Context(), k), g, fn)
		if err != nil || v != k {
			t.Fatalf("key %q: got %q, %v", k, v, err)
		}
	}
	assert.Zero(t, coalesce.InFlight(g), "the group keeps no entry for a finished execution")
}

func FuzzCoalesce(f *testing.F) {
	f.Add([]byte("aab\x00ba"))
	f.Fuzz(func(t *testing.T, keys []byte) {
		if len(keys) > 64 {
			keys = keys[:64]
		}
		g := coalesce.New[string](keyOf)
		fn := func(ctx context.Context) (string, error) { return "v:" + keyOf(ctx), nil }
		var wg sync.WaitGroup
		for i, b := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := string(rune(b % 5))
				ctx, cancel := context.WithCancel(withKey(context.Background(), k))
				defer cancel()
				if b&0x80 != 0 && i%2 == 0 {
					cancel()
				}
				v, err := policy.Run(ctx, g, fn)
				if err == nil && v != "v:"+k {
					t.Errorf("caller of %q got %q", k, v)
				}
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("unexpected error %v", err)
				}
			}()
		}
		wg.Wait()
		if n := coalesce.InFlight(g); n != 0 {
			t.Errorf("%d keys still in flight", n)
		}
	})
}
