package ionhttp

import "testing"

// UseSharedTimers makes the attempts of the calling test use their
// transport's shared timers inside a synctest bubble too, until the test
// ends. The test must not run in parallel with others.
func UseSharedTimers(tb testing.TB) {
	sharedTimersInBubbles = true
	tb.Cleanup(func() { sharedTimersInBubbles = false })
}
