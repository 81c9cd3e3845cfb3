package policytest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

// fakeT records what an assertion reports instead of failing the test.
type fakeT struct {
	helper  bool
	errs    []string
	stopped bool
}

func (f *fakeT) Helper() { f.helper = true }
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeT) FailNow() { f.stopped = true }

// A *testing.T is a TestingT.
var _ policytest.TestingT = (*testing.T)(nil)

// retryAfterError is a rejection that knows when to come back.
type retryAfterError struct{ d time.Duration }

func (e *retryAfterError) Error() string             { return "test: limited" }
func (e *retryAfterError) RetryAfter() time.Duration { return e.d }
func (e *retryAfterError) Is(target error) bool      { return target == ion.ErrRejected }

func TestAssertions(t *testing.T) {
	errFull := reject.New("test: full")
	limited := fmt.Errorf("call: %w", &retryAfterError{d: 3 * time.Second})
	http503 := func(v int, err error) policy.Outcome {
		if err != nil || v >= 500 {
			return policy.Failure
		}
		return policy.Success
	}
	pipeline := policy.Compose(policy.New("a", func(ctx context.Context, next policy.Next[int]) (int, error) { return next.Call(ctx) }))
	bad := policy.Compose[int](nil)
	ionPipeline := policy.Compose[int](
		policy.Retry[int](policy.WithBackoff(policy.Constant(100*time.Millisecond))),
		policy.Timeout[int](time.Second),
		policy.Hedge[int](time.Second),
		policy.Compose[int](policy.Fallback(0)).WithClassifier(func(int, error) policy.Outcome { return policy.Success }),
	)

	tests := []struct {
		name    string
		check   func(policytest.TestingT) bool
		wantErr string // "" when the check passes
		stops   bool
	}{
		{"outcome default success", func(t policytest.TestingT) bool {
			return policytest.AssertOutcome(t, nil, 200, nil, policy.Success)
		}, "", false},
		{"outcome default failure", func(t policytest.TestingT) bool {
			return policytest.AssertOutcome(t, nil, 0, errBoom, policy.Failure)
		}, "", false},
		{"outcome classifier 503 is a failure", func(t policytest.TestingT) bool {
			return policytest.AssertOutcome(t, http503, 503, nil, policy.Failure)
		}, "", false},
		{"outcome mismatch", func(t policytest.TestingT) bool {
			return policytest.AssertOutcome(t, http503, 503, nil, policy.Success)
		}, "policytest: outcome of (503, <nil>) = failure, want success", false},

		{"rejected", func(t policytest.TestingT) bool {
			policytest.RequireRejected(t, fmt.Errorf("wrapped: %w", errFull))
			return true
		}, "", false},
		{"not rejected", func(t policytest.TestingT) bool {
			policytest.RequireRejected(t, errBoom)
			return false
		}, "policytest: error boom (*errors.errorString) does not match ion.ErrRejected", true},
		{"nil is not rejected", func(t policytest.TestingT) bool {
			policytest.RequireRejected(t, nil)
			return false
		}, "policytest: error <nil> (<nil>) does not match ion.ErrRejected", true},

		{"retry after", func(t policytest.TestingT) bool {
			return policytest.AssertRetryAfter(t, limited, 3*time.Second)
		}, "", false},
		{"retry after differs", func(t policytest.TestingT) bool {
			return policytest.AssertRetryAfter(t, limited, time.Second)
		}, "policytest: ion.RetryAfter(call: test: limited) = 3s, want 1s", false},
		{"no retry after", func(t policytest.TestingT) bool {
			return policytest.AssertRetryAfter(t, errFull, time.Second)
		}, "policytest: ion.RetryAfter(test: full) found no retry-after, want 1s", false},

		{"layers", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, pipeline, "a")
		}, "", false},
		{"empty pipeline", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, policy.Compose[int]())
		}, "", false},
		{"layers differ", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, pipeline, "a", "b")
		}, `policytest: Layers() = ["a"] (kinds ["a"]), want ["a" "b"]`, false},
		{"layers by kind", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, ionPipeline, "retry", "timeout", "hedge", "pipeline")
		}, "", false},
		{"layers by full description", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, ionPipeline, "retry(attempts=3 backoff=constant(100ms))", "timeout(1s)", "hedge", "pipeline")
		}, "", false},
		{"layers by kind differ", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, ionPipeline, "timeout", "retry", "hedge", "pipeline")
		}, `policytest: Layers() = ["retry(attempts=3 backoff=constant(100ms))" "timeout(1s)" "hedge(delay=1s hedges=1)" "fallback(value) → fn"] (kinds ["retry" "timeout" "hedge" "pipeline"]), want ["timeout" "retry" "hedge" "pipeline"]`, false},
		{"a prefix of the details is not a kind", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, ionPipeline, "retry(attempts=3", "timeout", "hedge", "pipeline")
		}, `policytest: Layers() = ["retry(attempts=3 backoff=constant(100ms))" "timeout(1s)" "hedge(delay=1s hedges=1)" "fallback(value) → fn"] (kinds ["retry" "timeout" "hedge" "pipeline"]), want ["retry(attempts=3" "timeout" "hedge" "pipeline"]`, false},
		{"invalid pipeline", func(t policytest.TestingT) bool {
			return policytest.AssertLayers(t, bad)
		}, "policytest: pipeline is invalid: policy: invalid configuration: Compose layer 0: nil policy", false},
		{"nil pipeline", func(t policytest.TestingT) bool {
			return policytest.AssertLayers[int](t, nil, "a")
		}, `policytest: pipeline is nil, want layers ["a"]`, false},

		{"invalid config", func(t policytest.TestingT) bool {
			return policytest.AssertInvalidConfig(t, fmt.Errorf("x: %w", ion.NewConfigError("p", "burst", "negative")), "burst")
		}, "", false},
		{"invalid config any param", func(t policytest.TestingT) bool {
			return policytest.AssertInvalidConfig(t, bad.Err(), "")
		}, "", false},
		{"invalid config other param", func(t policytest.TestingT) bool {
			return policytest.AssertInvalidConfig(t, ion.NewConfigError("p", "rate", "NaN"), "burst")
		}, `policytest: ConfigError.Param = "rate", want "burst" (error: p: invalid configuration: rate: NaN)`, false},
		{"not invalid config", func(t policytest.TestingT) bool {
			return policytest.AssertInvalidConfig(t, errBoom, "")
		}, "policytest: error boom (*errors.errorString) does not match ion.ErrInvalidConfig", false},
		{"sentinel without ConfigError", func(t policytest.TestingT) bool {
			return policytest.AssertInvalidConfig(t, fmt.Errorf("bare: %w", ion.ErrInvalidConfig), "")
		}, "policytest: error bare: ion: invalid configuration (*fmt.wrapError) is not an *ion.ConfigError", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{}
			ok := tc.check(ft)
			assert.True(t, ft.helper, "every assertion must call t.Helper")
			assert.Equal(t, tc.stops, ft.stopped, "FailNow")
			if tc.wantErr == "" {
				assert.True(t, ok, "the check must pass")
				assert.Empty(t, ft.errs)
				return
			}
			assert.False(t, ok, "the check must fail")
			assert.Equal(t, []string{tc.wantErr}, ft.errs)
		})
	}
}

// The assertions are usable with a real *testing.T.
func TestAssertionsWithTestingT(t *testing.T) {
	policytest.RequireRejected(t, reject.New("test: full"))
	policytest.AssertOutcome(t, nil, "", context.Canceled, policy.Failure)
	policytest.AssertInvalidConfig(t, policy.Compose[string](nil).Err(), "Compose layer 0")
	assert.True(t, errors.Is(reject.New("x"), ion.ErrRejected))
}
