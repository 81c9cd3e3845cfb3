package pool

import (
	"context"
	"sync/atomic"

	"github.com/ionkit/ion/policy"
)

// Task is a unit of work run by a worker of a [Pool]. Its ctx is the task
// context described in the package doc; it should honour it. Its error is
// counted as a failure; it is not returned to the submitter (use [Go] or
// [Policy] to get a result back).
type Task func(ctx context.Context) error

// exec and finish make a Task a runner; a Task reports to no caller.
func (t Task) exec(ctx context.Context, pol policy.Policy[any]) (bool, error) {
	if pol == nil {
		return false, t(ctx)
	}
	_, fnPanicked, err := underPolicy(ctx, pol, func(ctx context.Context) (struct{}, error) { return struct{}{}, t(ctx) })
	return fnPanicked, err
}

func (t Task) finish(error) {}

// runner is an accepted task: a [Task], a [Future] of Go or a call of the
// Policy adapter. The pool calls finish exactly once per accepted runner:
// after exec, or instead of it when the call expires or is discarded.
type runner interface {
	// exec runs the call once on the worker with ctx, under pol when pol is
	// not nil, and keeps its value for finish. It reports whether the
	// function it handed to pol panicked (pol may have recovered the panic
	// on a goroutine of its own and returned it as an error).
	exec(ctx context.Context, pol policy.Policy[any]) (fnPanicked bool, err error)
	// finish reports the call's final error; it is called last.
	finish(err error)
}

// underPolicy runs fn under pol and returns the value and error that pol
// returns. The function handed to pol only returns fn's result: it writes
// nothing the caller reads except, once fn has panicked, the fact (a policy
// such as Hedge or an abandoning Timeout recovers the panic on its own
// goroutine). So a policy that runs fn several times (Hedge, Retry) or lets
// it outlive the call (Timeout with WithAbandon) cannot change the result
// after pol has returned it: the winner's value goes with the winner's
// error.
func underPolicy[T any](ctx context.Context, pol policy.Policy[any], fn policy.Func[T]) (v T, fnPanicked bool, err error) {
	var panicked atomic.Bool
	r, err := policy.Run(ctx, pol, func(ctx context.Context) (any, error) {
		returned := false
		defer func() {
			if !returned {
				panicked.Store(true)
			}
		}()
		v, err := fn(ctx)
		returned = true
		return v, err
	})
	if r != nil {
		var ok bool
		if v, ok = r.(T); !ok && err == nil {
			err = errTaskPolicyType
		}
	}
	return v, panicked.Load(), err
}
