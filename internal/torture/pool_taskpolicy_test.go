package torture

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

// TestPoolTaskPolicies drives a pool whose task policy runs each call
// several times (Hedge, Retry) or lets it outlive the call (Timeout with
// WithAbandon), from many goroutines at once, with attempts that succeed,
// fail, panic or ignore their ctx. Each call's result must be one that one
// of its own attempts returned, value and error together (or the policy's
// own error with a zero value; the policy may wrap the attempt's error), a ready Future never changes, and every
// panic the pool reports is counted as one and reaches the panic handler.
func TestPoolTaskPolicies(t *testing.T) {
	pols := map[string]func() policy.Policy[any]{
		"hedge": func() policy.Policy[any] { return policy.Hedge[any](2*time.Millisecond, policy.WithHedges(2)) },
		"retry": func() policy.Policy[any] {
			return policy.Retry[any](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(time.Millisecond)))
		},
		"abandon": func() policy.Policy[any] { return policy.Timeout[any](3*time.Millisecond, policy.WithAbandon()) },
	}
	for name, pol := range pols {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { tortureTaskPolicy(t, pol()) })
		})
	}
}

// attemptResult is what one attempt of a call returned.
type attemptResult struct {
	v   int
	err error
}

func tortureTaskPolicy(t *testing.T, pol policy.Policy[any]) {
	const callers, calls = 50, 20
	var handled atomic.Int64
	p := pool.New(8, 64, pool.WithTaskPolicy(pol), pool.WithPanicHandler(func(*ion.PanicError) { handled.Add(1) }))
	var (
		mu       sync.Mutex
		attempts = map[int][]attemptResult{} // by call id
		panicked int64                       // calls whose result is a panic
	)
	// call returns the function of call id: each attempt draws its fate.
	call := func(id int, rng *rand.Rand) policy.Func[int] {
		var n atomic.Int32
		fates := [4]int{rng.IntN(8), rng.IntN(8), rng.IntN(8), rng.IntN(8)}
		return func(ctx context.Context) (int, error) {
			a := int(n.Add(1))
			fate := fates[(a-1)%len(fates)]
			r := attemptResult{v: id*10 + a}
			switch {
			case fate == 0:
				panic(fmt.Sprintf("call %d attempt %d", id, a))
			case fate <= 2:
				r.err = fmt.Errorf("call %d attempt %d failed", id, a)
			case fate == 3:
				time.Sleep(10 * time.Millisecond) // ignores ctx
			case fate == 4:
				<-ctx.Done()
				r.err = ctx.Err()
			}
			mu.Lock()
			attempts[id] = append(attempts[id], r)
			mu.Unlock()
			return r.v, r.err
		}
	}
	// check verifies a call's result against its attempts.
	check := func(id, v int, err error) {
		var pe *ion.PanicError
		if errors.As(err, &pe) {
			mu.Lock()
			panicked++
			mu.Unlock()
			assert.Zero(t, v, "call %d: a panicked call has no value", id)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range attempts[id] {
			// The policy may wrap the attempt's error (Retry, Timeout).
			if r.v == v && (r.err == err || r.err != nil && errors.Is(err, r.err)) {
				return
			}
		}
		if v == 0 && err != nil { // the policy's own error: a timeout, or retries exhausted
			return
		}
		t.Errorf("call %d returned (%d, %v), which none of its attempts returned: %v", id, v, err, attempts[id])
	}
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for i := range calls {
				id := c*calls + i + 1
				// The deadline ends attempts that wait for their ctx.
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				if i%2 == 0 {
					f, err := pool.Go(ctx, p, call(id, rng))
					if !assert.NoError(t, err) {
						return
					}
					v, err := f.Wait(context.Background())
					check(id, v, err)
					time.Sleep(60 * time.Millisecond) // every abandoned attempt has returned
					v2, err2 := f.Wait(context.Background())
					assert.Equal(t, v, v2, "call %d: a ready Future changed its value", id)
					assert.Equal(t, err, err2, "call %d: a ready Future changed its error", id)
				} else {
					v, err := policy.Run(ctx, pool.Policy[int](p), call(id, rng))
					check(id, v, err)
				}
			}
		})
	}
	wg.Wait()
	_, err := p.Close(context.Background())
	require.NoError(t, err)
	time.Sleep(time.Second) // abandoned attempts finish
	s := p.Snapshot()
	// A Policy call whose ctx ends while it waits in the queue is withdrawn
	// (Discarded), or refused while blocked on a full queue (Rejected):
	// counted once too, though it never ran.
	assert.Equal(t, uint64(callers*calls), s.Completed+s.Failed+s.Panicked+s.Discarded+s.Rejected, "every call is accounted for once")
	assert.Equal(t, uint64(panicked), s.Panicked, "every call that ended in a panic counts as panicked")
	assert.Equal(t, panicked, handled.Load(), "the panic handler hears of every panicked call")
}
