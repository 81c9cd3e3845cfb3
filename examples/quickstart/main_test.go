package main

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runVirtual runs the example inside a synctest bubble, so its sleeps,
// timeouts and breaker delays take no real time.
func runVirtual(t *testing.T, calls int) string {
	t.Helper()
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, run(context.Background(), &out, calls), "run returns no error")
	})
	return out.String()
}

func TestRunTellsTheStory(t *testing.T) {
	out := runVirtual(t, 10)
	t.Log("\n" + out)

	for _, want := range []string{
		// The pipeline, outermost first.
		"pipeline: fallback(func) → retry(attempts=3 backoff=constant(10ms)) → breaker(recommendations) → limit(token-bucket 50/s burst 10) → timeout(50ms) → fn",
		// Call 1 succeeds at once.
		"call 1\n  → fresh picks (request 1) [breaker closed]\n",
		// Call 2: a 503 is retried.
		"call 2\n    retry 2 in 10ms after: 503 from service (request 2)\n  → fresh picks (request 3) [breaker closed]\n",
		// Call 3: a hung request is cut by the Timeout and retried.
		"call 3\n    retry 2 in 10ms after: policy: timeout after 50ms: context deadline exceeded\n  → fresh picks (request 5) [breaker closed]\n",
		// Call 4: the outage exhausts the retries, trips the breaker, and the fallback answers.
		"  → bestsellers (fallback: policy: retries exhausted after 3 attempts: 503 from service (request 8)) [breaker open]\n",
		// Call 5: the open breaker fails fast; waiting for it would miss the caller's deadline.
		"call 5\n  → bestsellers (fallback: policy: retry would miss the deadline after 1 attempt: breaker: recommendations: open) [breaker open]\n",
		// Call 6: Retry waits out the breaker, whose probe fails.
		"call 6\n    retry 2 in 100ms after: breaker: recommendations: open\n    retry 3 in 10ms after: 503 from service (request 9)\n",
		// Call 8: the probe succeeds; call 9 closes the breaker.
		"call 8\n    retry 2 in 90ms after: breaker: recommendations: open\n  → fresh picks (request 10) [breaker half-open]\n",
		"call 9\n  → fresh picks (request 11) [breaker closed]\n",
		"10 calls answered, 12 requests reached the service, 5 attempts rejected by the breaker",
	} {
		assert.Contains(t, out, want, "the output tells this part of the story")
	}
}

func TestRunIsDeterministic(t *testing.T) {
	assert.Equal(t, runVirtual(t, 10), runVirtual(t, 10), "two runs in virtual time print the same")
}

func TestRunStopsWhenCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := run(ctx, new(bytes.Buffer), 3)
		assert.ErrorIs(t, err, context.Canceled, "a cancelled caller's ctx ends the run with its error")
	})
}
