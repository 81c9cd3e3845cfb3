package policytest

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// TestingT is what the assertions need from a test: *testing.T, *testing.B
// and *testing.F satisfy it, as does any testing.TB. It is testify's
// require.TestingT plus Helper, so the assertions sit naturally beside
// testify's.
type TestingT interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// AssertOutcome checks that a call that returned (v, err) is counted as want
// by every Ion policy in a pipeline classified by c (see
// [policy.Pipeline.WithClassifier]); a nil c means the default rule (a nil
// error is a Success, any other error a Failure). The outcome is computed by
// policy.Next.Classify itself, so it is exactly what breakers, retries and
// fallbacks see. It reports a failure with t.Errorf and returns whether the
// check passed.
func AssertOutcome[T any](t TestingT, c policy.Classifier[T], v T, err error, want policy.Outcome) bool {
	t.Helper()
	var got policy.Outcome
	probe := policy.New("classify", func(ctx context.Context, next policy.Next[T]) (T, error) {
		got = next.Classify(ctx, v, err)
		var zero T
		return zero, nil
	})
	// A fresh pipeline and an undone ctx: the outcome depends on c, v and
	// err only, never on the caller's cancellation.
	_, _ = policy.Compose(probe).WithClassifier(c).Run(context.Background(), func(context.Context) (T, error) {
		var zero T
		return zero, nil
	})
	if got != want {
		t.Errorf("policytest: outcome of (%v, %v) = %v, want %v", v, err, got, want)
		return false
	}
	return true
}

// RequireRejected checks that err is a rejection: that it matches
// ion.ErrRejected with errors.Is, as every policy's refusal to run a call
// does. If not, it reports err and stops the test with t.FailNow.
func RequireRejected(t TestingT, err error) {
	t.Helper()
	if !errors.Is(err, ion.ErrRejected) {
		t.Errorf("policytest: error %v (%T) does not match ion.ErrRejected", err, err)
		t.FailNow()
	}
}

// AssertRetryAfter checks that err asks the caller to come back after
// exactly want, as reported by ion.RetryAfter (a rejection of a limiter or an
// open breaker). Inside a testing/synctest bubble such delays are exact. It
// reports a failure with t.Errorf and returns whether the check passed.
func AssertRetryAfter(t TestingT, err error, want time.Duration) bool {
	t.Helper()
	got, ok := ion.RetryAfter(err)
	switch {
	case !ok:
		t.Errorf("policytest: ion.RetryAfter(%v) found no retry-after, want %v", err, want)
		return false
	case got != want:
		t.Errorf("policytest: ion.RetryAfter(%v) = %v, want %v", err, got, want)
		return false
	}
	return true
}

// AssertLayers checks that p is a valid pipeline whose layers, outermost
// first, are want. Each want entry matches a layer either by its kind or by
// its full description ([policy.Pipeline.Layers]), so both of these pass
// for the same pipeline:
//
//	policytest.AssertLayers(t, p, "retry", "breaker", "limit", "timeout")
//	policytest.AssertLayers(t, p, "retry(attempts=3 backoff=constant(100ms))", "breaker(payments)", "limit", "timeout")
//
// A layer's kind is its description up to the first parenthesis: Ion's
// policies are described as "kind(details)", and their kinds are "retry",
// "timeout", "fallback", "hedge", "keyed", "breaker", "limit", "bulkhead",
// "pool" and "coalesce"; a policy made by policy.New is described by its
// name alone, which is also its kind. A nested pipeline that kept its own
// classifier or discard hook is one layer of kind "pipeline" (its
// description is its String, "a → b → fn"). It reports a failure with
// t.Errorf, showing both the descriptions and the kinds, and returns
// whether the check passed.
func AssertLayers[T any](t TestingT, p *policy.Pipeline[T], want ...string) bool {
	t.Helper()
	if p == nil {
		t.Errorf("policytest: pipeline is nil, want layers %q", want)
		return false
	}
	if err := p.Err(); err != nil {
		t.Errorf("policytest: pipeline is invalid: %v", err)
		return false
	}
	got := p.Layers()
	kinds := make([]string, len(got))
	for i, d := range got {
		kinds[i] = layerKind(d)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = want[i] == got[i] || want[i] == kinds[i]
	}
	if !ok {
		t.Errorf("policytest: Layers() = %q (kinds %q), want %q", got, kinds, want)
		return false
	}
	return true
}

// layerKind returns the kind of a layer described by desc: the text before
// the first parenthesis, or "pipeline" for a nested pipeline.
func layerKind(desc string) string {
	if strings.Contains(desc, " → ") {
		return "pipeline"
	}
	kind, _, _ := strings.Cut(desc, "(")
	return kind
}

// AssertInvalidConfig checks that err reports bad configuration the Ion way:
// it matches ion.ErrInvalidConfig and is (or wraps) an *ion.ConfigError whose
// Param is param. An empty param checks the first two only. It reports a
// failure with t.Errorf and returns whether the check passed.
func AssertInvalidConfig(t TestingT, err error, param string) bool {
	t.Helper()
	if !errors.Is(err, ion.ErrInvalidConfig) {
		t.Errorf("policytest: error %v (%T) does not match ion.ErrInvalidConfig", err, err)
		return false
	}
	var ce *ion.ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("policytest: error %v (%T) is not an *ion.ConfigError", err, err)
		return false
	}
	if param != "" && ce.Param != param {
		t.Errorf("policytest: ConfigError.Param = %q, want %q (error: %v)", ce.Param, param, err)
		return false
	}
	return true
}
