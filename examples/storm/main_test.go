package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStorm runs the whole storm in a synctest bubble: ten virtual seconds
// take a fraction of a real one, and the output is the same on every run.
func TestStorm(t *testing.T) {
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, run(context.Background(), &out, io.Discard, config{duration: 10 * time.Second, seed: 1, rate: 100}))
	})
	s := out.String()
	t.Log("\n" + s)

	plain, ion := row(t, s, "calls")
	assert.Equal(t, 1000, plain, "the traffic is 100 requests/s for 10 s")
	assert.Equal(t, plain, ion, "both runs see the same traffic")

	_, ionErrors := row(t, s, "errors seen by callers")
	assert.Zero(t, ionErrors, "with Ion every caller gets an answer (real or fallback)")

	plainFast, ionFast := row(t, s, "real data in under 500 ms")
	assert.Greater(t, ionFast, plainFast, "Ion answers more callers with real data on time")

	plainSick, ionSick := row(t, s, "... while it was sick")
	assert.Less(t, ionSick*3, plainSick, "Ion spares the sick dependency most of the traffic")

	_, trips := row(t, s, "breaker trips")
	assert.GreaterOrEqual(t, trips, 1, "the breaker opens during the storm")

	assert.Contains(t, s, "OPEN", "the timeline shows the breaker open")
	assert.Regexp(t, `(?m)^  9 +recovering +closed`, s, "the breaker is closed again at the end")
}

// TestDependencyDeterministic checks that the simulated dependency answers a
// request and attempt the same way for the same seed, whatever the order of
// calls. (The whole report can still differ slightly between runs: which of
// two simultaneous calls gets the last permit is up to the scheduler.)
func TestDependencyDeterministic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		a := newDependency(3, start, 10*time.Second)
		b := newDependency(3, start, 10*time.Second)
		c := newDependency(4, start, 10*time.Second)
		ctx := context.Background()
		same, differ := 0, 0
		for id := uint64(0); id < 200; id++ {
			rctx := withRequest(ctx, id)
			ra, ea := a.Call(rctx)
			rb, eb := b.Call(rctx)
			rc, ec := c.Call(rctx)
			if ra == rb && ea == eb {
				same++
			}
			if ra != rc || ea != ec {
				differ++
			}
			time.Sleep(50 * time.Millisecond) // walk through every phase
		}
		assert.Equal(t, 200, same, "the same seed gives the same answers")
		assert.Positive(t, differ, "another seed gives other answers")
	})
}

func TestStormBadFlags(t *testing.T) {
	assert.Error(t, run(context.Background(), io.Discard, io.Discard, config{duration: time.Millisecond, rate: 10}))
	assert.Error(t, run(context.Background(), io.Discard, io.Discard, config{duration: time.Second, rate: 0}))
}

// row returns the first number of each column of the table row named label.
func row(t *testing.T, s, label string) (int, int) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +(\d+)[^\d\n]*?(?:\([^)]*\))? +(\d+)`).FindStringSubmatch(s)
	require.Len(t, m, 3, "row %q in the report", label)
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return a, b
}
