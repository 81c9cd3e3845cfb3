package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAdaptive runs the demo in a synctest bubble (nine virtual seconds in
// a fraction of a real one) and checks what it shows: the limit falls when
// the dependency loses capacity and climbs back when it recovers, and
// critical calls keep being answered.
func TestAdaptive(t *testing.T) {
	var out bytes.Buffer
	var reports []phaseReport
	synctest.Test(t, func(t *testing.T) {
		reports = run(context.Background(), &out, config{phase: 3 * time.Second, seed: 1})
	})
	t.Log("\n" + out.String())
	s := out.String()
	assert.Contains(t, s, "the dependency loses capacity: 16 → 6")
	assert.Contains(t, s, "the dependency recovers: 6 → 16")
	assert.Equal(t, 3*12+2+1+3+1, strings.Count(s, "\n"), "a header, 12 ticks per phase, two events, a blank line and three summaries")

	healthy, degraded, recovered := reports[0], reports[1], reports[2]
	assert.Less(t, degraded.meanLimit, healthy.meanLimit*2/3, "the limit falls with the capacity")
	assert.Greater(t, recovered.meanLimit, degraded.meanLimit*3/2, "and climbs back after the recovery")
	for _, r := range reports {
		assert.Positive(t, r.shed, "%s: twice the capacity is offered, so calls are shed", r.name)
		crit := float64(r.critGood) / float64(r.critOffered)
		want := 0.95
		if r.name == "degraded" {
			want = 0.9 // some of the calls waiting when the capacity drops time out before the limit comes down
		}
		assert.GreaterOrEqual(t, crit, want, "%s: critical calls answered", r.name)
	}
}
