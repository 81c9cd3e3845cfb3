package policy_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// Helpers shared by the tests of Retry, Timeout, Fallback and Hedge. They
// do not depend on policytest so that these tests stand alone.

var (
	errTransient = errors.New("transient")
	errPermanent = errors.New("permanent")
)

// callLog records the calls of a scripted function: when each started
// (since the log was made) and its policy.Attempt number.
type callLog struct {
	start time.Time

	// mu guards the fields below.
	mu   sync.Mutex
	at   []time.Duration
	nums []int
}

func newCallLog() *callLog { return &callLog{start: time.Now()} }

// record logs a call made with ctx and returns how many calls were made.
func (l *callLog) record(ctx context.Context) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, time.Since(l.start))
	l.nums = append(l.nums, policy.Attempt(ctx))
	return len(l.at)
}

func (l *callLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.at)
}

func (l *callLog) times() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.at...)
}

func (l *callLog) attempts() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.nums...)
}

// gaps returns the time between consecutive calls.
func (l *callLog) gaps() []time.Duration {
	at := l.times()
	var out []time.Duration
	for i := 1; i < len(at); i++ {
		out = append(out, at[i]-at[i-1])
	}
	return out
}

// failThenSucceed returns a Func that fails with errTransient on its first
// fails calls and returns v after that.
func failThenSucceed[T any](l *callLog, fails int, v T) policy.Func[T] {
	return func(ctx context.Context) (T, error) {
		if l.record(ctx) <= fails {
			var zero T
			return zero, errTransient
		}
		return v, nil
	}
}

// alwaysFail returns a Func that always fails with err.
func alwaysFail[T any](l *callLog, err error) policy.Func[T] {
	return func(ctx context.Context) (T, error) {
		l.record(ctx)
		var zero T
		return zero, err
	}
}

// limitedErr is a rejection that asks to wait, like a limiter's or an open
// breaker's.
type limitedErr struct{ wait time.Duration }

func (e *limitedErr) Error() string             { return "test: limited" }
func (e *limitedErr) RetryAfter() time.Duration { return e.wait }
func (e *limitedErr) Is(target error) bool      { return target == ion.ErrRejected }

// probe returns a layer that records the outcome it classifies for each
// call, as an outer breaker would.
func probe[T any](got *[]policy.Outcome) policy.Policy[T] {
	var mu sync.Mutex
	return policy.New("probe", func(ctx context.Context, next policy.Next[T]) (T, error) {
		v, err := next.Call(ctx)
		o := next.Classify(ctx, v, err)
		mu.Lock()
		*got = append(*got, o)
		mu.Unlock()
		return v, err
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
