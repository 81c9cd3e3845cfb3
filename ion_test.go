package ion_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
)

// waitErr is a rejection that knows when to come back.
type waitErr struct{ d time.Duration }

func (e *waitErr) Error() string             { return "wait" }
func (e *waitErr) RetryAfter() time.Duration { return e.d }

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		want   time.Duration
		wantOK bool
	}{
		{"nil", nil, 0, false},
		{"plain", errors.New("x"), 0, false},
		{"direct", &waitErr{time.Second}, time.Second, true},
		{"wrapped", fmt.Errorf("ctx: %w", &waitErr{2 * time.Second}), 2 * time.Second, true},
		{"negative clamps", &waitErr{-time.Second}, 0, true},
		{"joined", errors.Join(errors.New("a"), fmt.Errorf("b: %w", &waitErr{3 * time.Second})), 3 * time.Second, true},
		{"joined without", errors.Join(errors.New("a"), errors.New("b")), 0, false},
		{"wrapped joined", fmt.Errorf("x: %w", errors.Join(errors.New("a"), &waitErr{time.Minute})), time.Minute, true},
		{"outermost wins", fmt.Errorf("%w", &wrapWait{d: time.Second, err: &waitErr{time.Hour}}), time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ion.RetryAfter(tc.err)
			assert.Equal(t, tc.wantOK, ok, "RetryAfter(%v) ok", tc.err)
			assert.Equal(t, tc.want, got, "RetryAfter(%v)", tc.err)
		})
	}
}

type wrapWait struct {
	d   time.Duration
	err error
}

func (e *wrapWait) Error() string             { return "wrap" }
func (e *wrapWait) RetryAfter() time.Duration { return e.d }
func (e *wrapWait) Unwrap() error             { return e.err }

func TestRetryAfterZeroAllocs(t *testing.T) {
	err := fmt.Errorf("x: %w", &waitErr{time.Second})
	allocs := testing.AllocsPerRun(100, func() { _, _ = ion.RetryAfter(err) })
	assert.Zero(t, allocs, "RetryAfter must not allocate")
}

func TestConfigError(t *testing.T) {
	err := ion.NewConfigError("limit", "burst", "must not be negative, got %d", -1)
	assert.EqualError(t, err, "limit: invalid configuration: burst: must not be negative, got -1")
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.NotErrorIs(t, err, ion.ErrRejected)
	var ce *ion.ConfigError
	require.ErrorAs(t, fmt.Errorf("wrapped: %w", err), &ce)
	assert.Equal(t, "burst", ce.Param)
	assert.Equal(t, "limit", ce.Pkg)
}

func TestPanicError(t *testing.T) {
	pe := ion.NewPanicError("boom")
	assert.EqualError(t, pe, "ion: panic: boom")
	assert.Nil(t, pe.Unwrap(), "a non-error panic value unwraps to nil")
	assert.True(t, strings.Contains(string(pe.Stack), "ion_test.TestPanicError"), "the stack is the panicking goroutine's")

	pe = ion.NewPanicError(context.Canceled)
	assert.ErrorIs(t, pe, context.Canceled, "panic(err) unwraps to err")

	// The usual use: recover on a goroutine Ion owns.
	got := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = ion.NewPanicError(v)
			}
		}()
		panic("from a task")
	}()
	var pe2 *ion.PanicError
	require.ErrorAs(t, got, &pe2)
	assert.Equal(t, "from a task", pe2.Value)
}

func TestSentinels(t *testing.T) {
	assert.EqualError(t, ion.ErrRejected, "ion: rejected")
	assert.EqualError(t, ion.ErrInvalidConfig, "ion: invalid configuration")
	assert.NotErrorIs(t, ion.ErrRejected, ion.ErrInvalidConfig)
}
