package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
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
// It asserts each claim the README makes of the demo's table, from this run.
func TestStorm(t *testing.T) {
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, run(context.Background(), &out, io.Discard, config{duration: 10 * time.Second, seed: 1, rate: 100}))
	})
	s := out.String()
	t.Log("\n" + s)

	calls := row(t, s, "calls")
	assert.Equal(t, []int{1000, 1000, 1000}, calls, "the traffic is 100 requests/s for 10 s, the same for every run")

	errs := row(t, s, "errors seen by callers")
	assert.Positive(t, errs[plainCol], "unprotected, callers see errors")
	assert.Zero(t, errs[baseCol], "the baseline's fallback answers every caller")
	assert.Zero(t, errs[ionCol], "Ion's fallback answers every caller")

	fast := row(t, s, "real data in under 500 ms")
	assert.Greater(t, fast[ionCol], fast[baseCol], "Ion answers more callers with real data on time than the baseline")
	assert.Greater(t, fast[ionCol], fast[plainCol], "Ion answers more callers with real data on time than no protection")

	shed := row(t, s, "from cache at once (limit/bulkhead/open)")
	assert.Zero(t, shed[baseCol], "the baseline never sheds")
	assert.Positive(t, shed[ionCol], "Ion sheds calls at once while the dependency is sick")

	sick := row(t, s, "... while it was sick")
	assert.Equal(t, sick[plainCol], sick[baseCol], "without retries the baseline sends every call to the sick dependency")
	assert.Less(t, sick[ionCol]*4, sick[baseCol], "Ion sends the sick dependency less than a quarter of the baseline's load")

	p99 := row(t, s, "latency p99")
	maxLat := row(t, s, "latency max")
	assert.GreaterOrEqual(t, p99[plainCol], 1900, "unprotected, the p99 is the callers' 2 s timeout")
	assert.Less(t, p99[ionCol], 500, "with Ion the p99 is under half a second")
	assert.Less(t, maxLat[ionCol], 1000, "with Ion no caller waits a second")

	trips := row(t, s, "breaker trips")
	assert.GreaterOrEqual(t, trips[ionCol], 1, "the breaker opens during the storm")

	assert.Contains(t, s, "OPEN", "the timeline shows the breaker open")
	assert.Regexp(t, `(?m)^  9 +recovering +closed`, s, "the breaker is closed again at the end")
	for _, line := range strings.Split(s, "\n") {
		if m := regexp.MustCompile(`^  \d+ +\S+ +\S+ (.*)$`).FindStringSubmatch(line); m != nil {
			for _, bar := range strings.Fields(m[1]) {
				assert.LessOrEqual(t, len(bar), barWidth, "timeline bar %q in %q is wider than the others", bar, line)
			}
		}
	}
}

// The columns of the report's table.
const (
	plainCol = iota
	baseCol
	ionCol
)

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

// row returns the numbers of each column of the table row named label (the
// first number of each cell, "497 (50%)" giving 497).
func row(t *testing.T, s, label string) []int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` {2,}(.*)$`).FindStringSubmatch(s)
	require.Len(t, m, 2, "row %q in the report", label)
	cells := regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(m[1], "")
	var got []int
	for _, f := range regexp.MustCompile(`\d+`).FindAllString(cells, -1) {
		n, _ := strconv.Atoi(f)
		got = append(got, n)
	}
	require.Len(t, got, 3, "row %q has a number for each run", label)
	return got
}
