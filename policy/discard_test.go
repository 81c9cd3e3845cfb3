package policy_test

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

// conn is a result that holds a resource: the default discard hook must
// close it when a policy throws it away, and nothing may close the one the
// caller gets.
type conn struct {
	id     int
	closed atomic.Int32
}

func (c *conn) Close() error {
	c.closed.Add(1)
	return nil
}

// conns hands out numbered conns and reports which were closed.
type conns struct {
	mu  sync.Mutex
	all []*conn
}

func (cs *conns) open() *conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := &conn{id: len(cs.all) + 1}
	cs.all = append(cs.all, c)
	return c
}

// closed returns the ids of the closed conns, and fails the test if one was
// closed twice.
func (cs *conns) closed(t *testing.T) []int {
	t.Helper()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var ids []int
	for _, c := range cs.all {
		switch n := c.closed.Load(); {
		case n == 1:
			ids = append(ids, c.id)
		case n > 1:
			t.Errorf("conn %d closed %d times, want at most once", c.id, n)
		}
	}
	return ids
}

// recorded collects the values a discard hook receives.
type recorded[T any] struct {
	mu sync.Mutex
	vs []T
}

func (r *recorded[T]) hook(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vs = append(r.vs, v)
}

func (r *recorded[T]) values() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.vs...)
}

func TestRetryDiscardsFailedAttempts(t *testing.T) {
	ctx := context.Background()
	t.Run("closes the failed attempts, not the success", func(t *testing.T) {
		var cs conns
		fn := func(context.Context) (*conn, error) {
			c := cs.open()
			if c.id < 3 {
				return c, errTransient
			}
			return c, nil
		}
		got, err := policy.Run(ctx, policy.Retry[*conn](policy.WithBackoff(policy.Constant(0))), fn)
		require.NoError(t, err)
		assert.Equal(t, 3, got.id)
		assert.Equal(t, []int{1, 2}, cs.closed(t), "Retry must close the two failed attempts and only them")
	})
	t.Run("exhausted: the last attempt is returned open", func(t *testing.T) {
		var cs conns
		fn := func(context.Context) (*conn, error) { return cs.open(), errTransient }
		got, err := policy.Run(ctx, policy.Retry[*conn](policy.WithBackoff(policy.Constant(0))), fn)
		require.ErrorIs(t, err, policy.ErrRetriesExhausted)
		require.NotNil(t, got)
		assert.Equal(t, 3, got.id)
		assert.Equal(t, []int{1, 2}, cs.closed(t), "the value returned with the RetryError must not be closed")
	})
	t.Run("a failure the pipeline's hook receives", func(t *testing.T) {
		var rec recorded[int]
		p := policy.Compose[int](policy.Retry[int](policy.WithBackoff(policy.Constant(0)))).WithDiscard(rec.hook)
		got, err := p.Run(ctx, policytest.Sequence(
			policytest.Result[int]{Value: 1, Err: errTransient},
			policytest.Result[int]{Value: 2, Err: errTransient},
			policytest.Ok(3)))
		require.NoError(t, err)
		assert.Equal(t, 3, got)
		assert.Equal(t, []int{1, 2}, rec.values())
	})
	t.Run("ctx ends during the backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var cs conns
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fn := func(context.Context) (*conn, error) { return cs.open(), errTransient }
			r := policy.Retry[*conn](policy.WithBackoff(policy.Constant(time.Second)))
			time.AfterFunc(500*time.Millisecond, cancel)
			got, err := policy.Run(ctx, r, fn)
			require.ErrorIs(t, err, context.Canceled)
			assert.Nil(t, got, "the failed attempt was discarded before the backoff: the caller gets the zero value")
			assert.Equal(t, []int{1}, cs.closed(t), "the attempt that failed before the backoff must be closed")
		})
	})
}

func TestHedgeDiscardsLosers(t *testing.T) {
	t.Run("a late loser is closed before Hedge returns", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var cs conns
			fn := func(ctx context.Context) (*conn, error) {
				c := cs.open()
				if c.id == 1 {
					// The first attempt ignores its ctx and finishes after
					// the hedge won.
					time.Sleep(time.Second)
					return c, nil
				}
				return c, nil
			}
			got, err := policy.Run(context.Background(), policy.Hedge[*conn](10*time.Millisecond), fn)
			require.NoError(t, err)
			assert.Equal(t, 2, got.id, "the hedge wins")
			assert.Equal(t, []int{1}, cs.closed(t), "the first attempt, finishing after the winner, must be closed")
		})
	})
	t.Run("a loser that failed before the winner", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var cs conns
			fn := func(ctx context.Context) (*conn, error) {
				c := cs.open()
				switch c.id {
				case 1:
					time.Sleep(50 * time.Millisecond)
					return c, nil
				case 2:
					return c, errTransient
				}
				<-ctx.Done() // cancelled when the first attempt wins
				return c, ctx.Err()
			}
			got, err := policy.Run(context.Background(), policy.Hedge[*conn](10*time.Millisecond, policy.WithHedges(2)), fn)
			require.NoError(t, err)
			assert.Equal(t, 1, got.id)
			assert.ElementsMatch(t, []int{2, 3}, cs.closed(t), "the failed hedge and the unfinished one must be closed")
		})
	})
	t.Run("every attempt failed: the last is returned, the others closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var cs conns
			fn := func(ctx context.Context) (*conn, error) {
				c := cs.open()
				time.Sleep(time.Duration(3-c.id) * 100 * time.Millisecond) // the first finishes last
				return c, errTransient
			}
			got, err := policy.Run(context.Background(), policy.Hedge[*conn](10*time.Millisecond, policy.WithHedges(2)), fn)
			require.ErrorIs(t, err, errTransient)
			require.NotNil(t, got)
			assert.Equal(t, 1, got.id, "the last attempt to finish is returned")
			assert.ElementsMatch(t, []int{2, 3}, cs.closed(t))
		})
	})
	t.Run("a panic in the hook on a hedge goroutine is recovered", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fn := func(ctx context.Context) (int, error) {
				if policy.Attempt(ctx) == 1 {
					time.Sleep(time.Second)
					return 1, nil
				}
				<-ctx.Done()
				return 2, ctx.Err()
			}
			var calls atomic.Int32
			p := policy.Compose[int](policy.Hedge[int](10 * time.Millisecond)).WithDiscard(func(int) {
				calls.Add(1)
				panic("hook")
			})
			got, err := p.Run(context.Background(), fn)
			require.NoError(t, err)
			assert.Equal(t, 1, got)
			assert.EqualValues(t, 1, calls.Load(), "the cancelled hedge's value is discarded once")
		})
	})
}

func TestTimeoutDiscardsAbandonedResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs conns
		fn := func(context.Context) (*conn, error) {
			time.Sleep(time.Second) // ignores its ctx
			return cs.open(), nil
		}
		to := policy.Timeout[*conn](100*time.Millisecond, policy.WithAbandon())
		got, err := policy.Run(context.Background(), to, fn)
		require.ErrorIs(t, err, policy.ErrTimeout)
		assert.Nil(t, got)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, []int{1}, cs.closed(t), "the abandoned call's result must be closed when it returns")
		assert.Zero(t, to.Abandoned())
	})
}

func TestTimeoutReturnedResultIsNotDiscarded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cs conns
		fn := func(context.Context) (*conn, error) {
			time.Sleep(10 * time.Millisecond)
			return cs.open(), nil
		}
		got, err := policy.Run(context.Background(), policy.Timeout[*conn](time.Second, policy.WithAbandon()), fn)
		require.NoError(t, err)
		assert.Equal(t, 1, got.id)
		synctest.Wait()
		assert.Empty(t, cs.closed(t))
	})
}

func TestFallbackDiscardsReplacedResult(t *testing.T) {
	var cs conns
	fallback := &conn{id: 99}
	fn := func(context.Context) (*conn, error) { return cs.open(), errTransient }
	got, err := policy.Run(context.Background(), policy.Fallback(fallback), fn)
	require.NoError(t, err)
	assert.Same(t, fallback, got)
	assert.Equal(t, []int{1}, cs.closed(t))
	assert.Zero(t, fallback.closed.Load())
}

func TestDefaultDiscard(t *testing.T) {
	t.Run("nil pointer is not closed", func(t *testing.T) {
		var n policy.Next[*conn]
		assert.NotPanics(t, func() { n.Discard(nil) })
	})
	t.Run("nil interface is not closed", func(t *testing.T) {
		var n policy.Next[io.ReadCloser]
		assert.NotPanics(t, func() { n.Discard(nil) })
	})
	t.Run("interface holding a closer", func(t *testing.T) {
		var n policy.Next[io.Closer]
		c := &conn{}
		n.Discard(c)
		assert.EqualValues(t, 1, c.closed.Load())
	})
	t.Run("value that is not a closer allocates nothing", func(t *testing.T) {
		var n policy.Next[string]
		s := "a string that would be boxed"
		assert.Zero(t, testing.AllocsPerRun(100, func() { n.Discard(s) }))
	})
}

// A nested pipeline's discard hook applies to its own layers; the outer
// layers keep the outer one.
func TestNestedDiscardHookIsScoped(t *testing.T) {
	var inner, outer recorded[int]
	retry := func() policy.Policy[int] {
		return policy.Retry[int](policy.WithBackoff(policy.Constant(0)), policy.WithAttempts(2))
	}
	nested := policy.Compose(retry()).WithDiscard(inner.hook)
	p := policy.Compose(retry(), nested).WithDiscard(outer.hook)
	var n atomic.Int32
	got, err := p.Run(context.Background(), func(context.Context) (int, error) {
		v := int(n.Add(1))
		if v < 4 {
			return v, errTransient
		}
		return v, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 4, got)
	assert.Equal(t, []int{1, 3}, inner.values(), "the nested Retry discards with the nested hook")
	// The outer Retry discards the nested pipeline's failed result: the
	// value of attempt 2 returned with its RetryError.
	assert.Equal(t, []int{2}, outer.values(), "the outer Retry discards with the outer hook")
}

// A panic in the discard hook on the abandoned call's goroutine has nobody
// to reach: it is recovered (and logged), and the goroutine still ends.
func TestTimeoutDiscardHookPanicIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := policy.Timeout[int](100*time.Millisecond, policy.WithAbandon())
		var calls atomic.Int32
		p := policy.Compose(to).WithDiscard(func(int) {
			calls.Add(1)
			panic("hook")
		})
		_, err := p.Run(context.Background(), func(context.Context) (int, error) {
			time.Sleep(time.Second) // ignores its ctx
			return 1, nil
		})
		require.ErrorIs(t, err, policy.ErrTimeout)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.EqualValues(t, 1, calls.Load())
		assert.Zero(t, to.Abandoned(), "the abandoned goroutine ended despite the panic")
	})
}

// In Retry and Fallback the hook runs on the caller's goroutine: its panic
// propagates, as the classifier's does.
func TestRetryDiscardHookPanicPropagates(t *testing.T) {
	p := policy.Compose(policy.Retry[int](policy.WithBackoff(policy.Constant(0)))).WithDiscard(func(int) { panic("hook") })
	assert.PanicsWithValue(t, "hook", func() {
		_, _ = p.Run(context.Background(), policytest.FailTimes(1, errTransient, 1))
	})
}

// A nested pipeline innermost, with a classifier and no discard hook, in a
// pipeline with a discard hook and no classifier: its layers classify with
// its classifier and discard with the outer hook.
func TestNestedHooksCombine(t *testing.T) {
	var outer recorded[int]
	retry := policy.Retry[int](policy.WithBackoff(policy.Constant(0)), policy.WithAttempts(3))
	small := func(v int, err error) policy.Outcome {
		if err != nil || v < 3 {
			return policy.Failure
		}
		return policy.Success
	}
	nested := policy.Compose(retry).WithClassifier(small)
	p := policy.Compose(nested).WithDiscard(outer.hook)
	var n atomic.Int32
	got, err := p.Run(context.Background(), func(context.Context) (int, error) {
		return int(n.Add(1)), nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, got, "the nested classifier made 1 and 2 failures")
	assert.Equal(t, []int{1, 2}, outer.values(), "the nested Retry discards with the outer hook")
}
