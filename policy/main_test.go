package policy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Fixtures shared by the tests of every policy. Scripted calls and call
// records come from policytest, as for any user of Ion.

var (
	errTransient = errors.New("transient")
	errPermanent = errors.New("permanent")
)

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

// checkConfigErr fails t unless err is a *ion.ConfigError matching
// ion.ErrInvalidConfig.
func checkConfigErr(t *testing.T, err error) {
	t.Helper()
	var ce *ion.ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ion.ErrInvalidConfig) || ce.Param == "" {
		t.Fatalf("error %v is not a *ion.ConfigError naming its parameter", err)
	}
}
