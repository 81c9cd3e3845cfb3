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

// FuzzParsePriority checks that any text parses to one of the five
// priorities, never above normal unless it names one, and that a known
// name round-trips.
func FuzzParsePriority(f *testing.F) {
	for _, s := range []string{"critical", "sheddable", "", "HIGH", "high\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := adaptive.ParsePriority(s)
		if p < adaptive.Sheddable || p > adaptive.Critical {
			t.Fatalf("ParsePriority(%q) = %v, not a priority", s, p)
		}
		if err != nil {
			if p != adaptive.Normal {
				t.Fatalf("ParsePriority(%q) = %v with error %v, want normal", s, p, err)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePriority(%q) = %v, which does not round-trip", s, p)
		}
	})
}
