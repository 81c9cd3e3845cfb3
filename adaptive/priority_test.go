package adaptive_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ionkit/ion/adaptive"
)

func TestPriorityText(t *testing.T) {
	for _, p := range []adaptive.Priority{adaptive.Sheddable, adaptive.Low, adaptive.Normal, adaptive.High, adaptive.Critical} {
		got, err := adaptive.ParsePriority(p.String())
		assert.NoError(t, err)
		assert.Equal(t, p, got, "ParsePriority(%q)", p.String())
	}
	got, err := adaptive.ParsePriority("CRITICAL!")
	assert.ErrorIs(t, err, adaptive.ErrUnknownPriority)
	assert.Equal(t, adaptive.Normal, got, "garbage never raises a call above normal")
	assert.Equal(t, "Priority(7)", adaptive.Priority(7).String())
	assert.True(t, adaptive.Sheddable < adaptive.Low && adaptive.Low < adaptive.Normal && adaptive.Normal < adaptive.High && adaptive.High < adaptive.Critical)
}

func TestPriorityContext(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, adaptive.Normal, adaptive.PriorityFromContext(ctx), "no priority is normal")
	assert.Equal(t, adaptive.Critical, adaptive.PriorityFromContext(adaptive.ContextWithPriority(ctx, adaptive.Critical)))
	assert.Equal(t, adaptive.Normal, adaptive.PriorityFromContext(adaptive.ContextWithPriority(ctx, adaptive.Priority(42))), "an invalid priority is stored as normal")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = adaptive.PriorityFromContext(ctx) }))
}
