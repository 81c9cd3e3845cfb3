package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testOptions() options {
	return options{jobs: 40, workers: 4, queue: 8, grace: 2 * time.Second, seed: 1, tick: 100 * time.Millisecond}
}

// runVirtual runs the batch in a synctest bubble. A non-zero interruptAt
// cancels its ctx at that virtual time, as SIGINT would.
func runVirtual(t *testing.T, opts options, interruptAt time.Duration) (string, error) {
	t.Helper()
	var out bytes.Buffer
	var err error
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if interruptAt > 0 {
			time.AfterFunc(interruptAt, cancel)
		}
		err = run(ctx, &out, opts)
	})
	return out.String(), err
}

func TestRunCompletesTheBatch(t *testing.T) {
	opts := testOptions()
	opts.jobs = 120
	out, err := runVirtual(t, opts, 0)
	t.Log("\n" + out)
	require.NoError(t, err, "a batch that ran to the end is no error")
	for _, want := range []string{
		"[##############################] 120/120  done 118  failed 2  running 0  queued 0",
		"finished in 1.69s: 118 completed (9 retries), 2 failed\n",
		"  failed: job 90: corrupt input\n  failed: job 108: corrupt input\n", // not retried
		"every job ran\n",
		"pool: 120 accepted = 118 completed + 2 failed + 0 discarded\n",
	} {
		assert.Contains(t, out, want, "the report says this")
	}
	out2, _ := runVirtual(t, opts, 0)
	assert.Equal(t, out, out2, "two runs in virtual time print the same")
}

// Interrupt times end in half a millisecond, so they never tie with a job's
// end (jobs take whole milliseconds).
const interruptAt = 250*time.Millisecond + 500*time.Microsecond

func TestShutdownFinishesAcceptedJobs(t *testing.T) {
	out, err := runVirtual(t, testOptions(), interruptAt)
	t.Log("\n" + out)
	assert.ErrorIs(t, err, errInterrupted, "an interrupted batch returns errInterrupted")
	assert.ErrorContains(t, err, "interrupted: 15 of 40 jobs did not run to completion")
	for _, want := range []string{
		"interrupted at +0.25s: stopped submitting after 25 jobs; finishing the accepted ones (grace 2s)\n",
		"finished in 0.41s: 25 completed (3 retries), 0 failed\n",
		"did not run: 15 jobs\n  never submitted: #26-#40\n",
		"pool: 25 accepted = 25 completed + 0 failed + 0 discarded\n",
	} {
		assert.Contains(t, out, want, "every accepted job ran; the report names the others")
	}
	assert.NotContains(t, out, "discarded from the queue", "nothing accepted was discarded within the grace period")
}

func TestShutdownGraceExpires(t *testing.T) {
	opts := testOptions()
	opts.grace = 30 * time.Millisecond
	out, err := runVirtual(t, opts, interruptAt)
	t.Log("\n" + out)
	assert.ErrorIs(t, err, errInterrupted, "an interrupted batch returns errInterrupted")
	for _, want := range []string{
		"interrupted at +0.25s: stopped submitting after 25 jobs; finishing the accepted ones (grace 30ms)\n",
		"finished in 0.28s: 16 completed (3 retries), 0 failed, 4 interrupted\n",
		"interrupted while running (ctx cancelled at the end of the grace period): #16, #18-#20\n",
		"did not run: 20 jobs\n",
		"  discarded from the queue at the end of the grace period (5, reported by Close: 5): #21-#25\n",
		"  never submitted: #26-#40\n",
		"pool: 25 accepted = 16 completed + 4 failed + 5 discarded\n",
	} {
		assert.Contains(t, out, want, "the report names every job that did not run")
	}
}

func TestProgressBarIsRedrawnLive(t *testing.T) {
	opts := testOptions()
	opts.live = true
	out, err := runVirtual(t, opts, 0)
	require.NoError(t, err)
	frames := strings.Split(out, "\r")
	assert.Greater(t, len(frames), 3, "the bar is redrawn every tick")
	assert.Contains(t, out, "\r[#####", "a partly filled bar is drawn in place")
	assert.Contains(t, out, "running 4  queued 8  submitter waiting for room",
		"the bar shows the backpressure: full pool, full queue, blocked submitter")
	assert.Contains(t, out, "\r[##############################]  40/40", "the last frame is the full bar")
}

func TestShutdownWhileLiveEndsTheBarLine(t *testing.T) {
	opts := testOptions()
	opts.live = true
	out, _ := runVirtual(t, opts, interruptAt)
	assert.Regexp(t, `\r\[#+-+\]  \d+/40 [^\r]*\ninterrupted at \+0\.25s`, out,
		"the interruption is printed on a line of its own, below the bar")
}

func TestRanges(t *testing.T) {
	tests := []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{7}, "#7"},
		{[]int{1, 2, 3}, "#1-#3"},
		{[]int{1, 3, 4, 5, 9, 11, 12}, "#1, #3-#5, #9, #11-#12"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, ranges(tc.ids), "ranges(%v)", tc.ids)
	}
}

func TestInvalidPoolIsAnError(t *testing.T) {
	opts := testOptions()
	opts.queue = -1 // the pool fails closed
	_, err := runVirtual(t, opts, 0)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "an invalid pool is reported, not run")
}
