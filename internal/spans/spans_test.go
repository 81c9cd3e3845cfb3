package spans_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/spans"
	"github.com/ionkit/ion/observe"
)

// guarded runs f the way an adapter runs its call: the span is ended by
// EndIfPanicked unless f returns.
func guarded(span observe.Span, f func()) {
	returned := false
	defer spans.EndIfPanicked(span, &returned)
	f()
	returned = true
	span.End("success", nil)
}

func TestEndIfPanicked(t *testing.T) {
	rec := observe.NewRecorder()

	_, span := rec.Start(context.Background(), "returns")
	guarded(span, func() {})

	_, span = rec.Start(context.Background(), "panics")
	func() {
		defer func() {
			assert.Equal(t, "boom", recover(), "the panic goes on unchanged")
		}()
		guarded(span, func() { panic("boom") })
	}()

	_, span = rec.Start(context.Background(), "goexit")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		guarded(span, runtime.Goexit)
	}()
	wg.Wait()

	got := rec.Spans()
	require.Len(t, got, 3)
	assert.Equal(t, "success", got[0].Outcome)
	assert.NoError(t, got[0].Err)
	assert.Equal(t, "failure", got[1].Outcome)
	var pe *ion.PanicError
	require.True(t, errors.As(got[1].Err, &pe), "a panic is recorded as *ion.PanicError, got %v", got[1].Err)
	assert.Equal(t, "boom", pe.Value)
	assert.Equal(t, "failure", got[2].Outcome, "runtime.Goexit ends the span as a failure")
	assert.NoError(t, got[2].Err)
}
