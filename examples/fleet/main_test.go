package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// go-redis probes a refused address again from a goroutine of its pool
// that sleeps a second and then sees the client closed: the library's, not
// Ion's, and gone a second later.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

var line = regexp.MustCompile(`total +(\d+) \| limited +(\d+), bulkhead full +(\d+), backend failed +(\d+) \| most at once (\d+)`)

// runFleet runs the example with phases of two seconds and returns, for
// each printed second, its total admitted, backend failures and peak.
func runFleet(t *testing.T, mode string) (out string, up, down [][]int) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), &buf, config{mode: mode, phase: 2 * time.Second}))
	out = buf.String()
	t.Log("\n" + out)
	killed := false
	for _, l := range regexp.MustCompile("\n").Split(out, -1) {
		if regexp.MustCompile("^Redis killed").MatchString(l) {
			killed = true
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var row []int
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			row = append(row, n)
		}
		if killed {
			down = append(down, row)
		} else {
			up = append(up, row)
		}
	}
	require.Len(t, up, 2)
	require.Len(t, down, 2)
	return out, up, down
}

func TestFleet_sharedLimitThenFailClosed(t *testing.T) {
	_, up, down := runFleet(t, "closed")
	admitted := 0
	for _, s := range up {
		admitted += s[0]
		assert.LessOrEqual(t, s[0], rate+burst+rate/10, "the fleet admits at most the shared rate: %v", s)
		assert.LessOrEqual(t, s[4], bulk, "never more than the bulkhead at once")
	}
	assert.Positive(t, admitted)
	last := down[len(down)-1]
	assert.Zero(t, last[0], "fail closed admits nothing once Redis is gone")
	assert.Positive(t, last[3], "and says the backend failed")
}

func TestFleet_localFallback(t *testing.T) {
	_, _, down := runFleet(t, "local")
	last := down[len(down)-1]
	assert.Positive(t, last[0], "each replica admits its third on its own")
	assert.LessOrEqual(t, last[0], rate+burst, "and no more than the fleet's limit")
	assert.Zero(t, last[3])
	assert.LessOrEqual(t, last[4], replicas*(bulk/replicas+1), "each replica's local bulkhead bounds it")
}
