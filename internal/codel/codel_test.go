package codel_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ionkit/ion/internal/codel"
)

// TestDrop steps the state machine: a queue is standing when the lowest
// wait of a whole interval was above target.
func TestDrop(t *testing.T) {
	ms := time.Millisecond
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	c := codel.State{Target: 5 * ms, Interval: 100 * ms}
	steps := []struct {
		at      time.Duration // since t0
		sojourn time.Duration
		want    bool
	}{
		{0, 50 * ms, false},         // the first interval starts: nothing is known yet
		{50 * ms, 20 * ms, false},   // still in it; its lowest wait is 20 ms
		{101 * ms, 30 * ms, true},   // the first interval stood (20 ms > 5 ms): drop waiters above target
		{150 * ms, 4 * ms, false},   // below target is never dropped
		{202 * ms, 30 * ms, false},  // the second interval saw a 4 ms wait: not standing
		{250 * ms, 10 * ms, false},  // same interval
		{303 * ms, 6 * ms, true},    // the third interval's lowest was 10 ms: standing
		{1000 * ms, 60 * ms, false}, // a whole interval without service: the queue drained
		{1050 * ms, 60 * ms, false}, // still the interval after the drain
	}
	for _, s := range steps {
		got := c.Drop(t0.Add(s.at), s.sojourn)
		assert.Equal(t, s.want, got, "Drop(at %v, sojourn %v)", s.at, s.sojourn)
	}
}

// TestOff: a zero State never drops, however long the waits.
func TestOff(t *testing.T) {
	var c codel.State
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		assert.False(t, c.Drop(t0.Add(time.Duration(i)*time.Second), time.Hour))
	}
}

func TestDropAllocs(t *testing.T) {
	c := codel.State{Target: time.Millisecond, Interval: 10 * time.Millisecond}
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.Drop(now, time.Second) }))
}
