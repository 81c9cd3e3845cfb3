package limit_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ionkit/ion/limit"
)

// TestStaleClockReadingIsNotRefused guards the wrong refusals found by the
// latency-under-load run (bench/findings.md §2): 70 of 23 million calls
// through a nearly full bucket were refused because their goroutine was
// descheduled between reading the clock and taking the tokens, while other
// callers moved the bucket past that reading. A refusal based on a clock
// reading the method took itself is confirmed with a fresher one.
func TestStaleClockReadingIsNotRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const stale = int64(200 * time.Millisecond) // more than burst/rate = 100ms
		lim := limit.NewTokenBucket(limit.PerSecond(100), 10)
		assert.True(t, lim.Allow())
		assert.True(t, limit.AllowWithStaleClock(lim, stale), "9 tokens left: a stale reading must not refuse")
		assert.InDelta(t, 8, lim.Tokens(), 0.01, "the admitted call took exactly one token")

		// An explicit now is the caller's: it sees the bucket as of then
		// and mints nothing, so it may be refused (documented on AllowN).
		now := time.Now()
		assert.False(t, lim.AllowN(now.Add(-200*time.Millisecond), 1))

		// A bucket that really is empty still refuses, with a fresh reading.
		empty := limit.NewTokenBucket(limit.PerSecond(1), 1)
		assert.True(t, empty.Allow())
		assert.False(t, limit.AllowWithStaleClock(empty, stale))

		keyed := limit.NewKeyed[string](limit.PerSecond(100), 10)
		assert.True(t, keyed.Allow("a"))
		assert.True(t, limit.KeyedAllowWithStaleClock(keyed, "a", stale))

	})
}
