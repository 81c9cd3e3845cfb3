// Package codel holds the CoDel state machine (Nichols and Jacobson,
// "Controlling Queue Delay", as Facebook applies it to server queues) that
// Ion's waiting queues share: the adaptive limiter's, the semaphore's and
// the pool's. It judges whether a queue is standing (its lowest wait over a
// whole interval stayed above a target) and so whether a waiter that waited
// longer than the target should be dropped rather than served.
package codel

import "time"

// State is the CoDel state of one queue. The zero value, and any State
// whose Target is 0, never drops. It is not safe for concurrent use: the
// queue that owns it calls it under its own lock.
type State struct {
	// Target is the wait above which a waiter of a standing queue is
	// dropped; Interval the span over which standing is judged. Both
	// positive, or Target 0 for off; the owner validates them.
	Target, Interval time.Duration

	end      time.Time     // the end of the current interval
	low      time.Duration // the lowest wait served in the current interval
	standing bool          // the last interval's lowest wait was above target
}

// Drop records that a waiter that waited sojourn leaves the queue at now
// and reports whether it should be dropped rather than served. It costs a
// few comparisons and never allocates.
func (c *State) Drop(now time.Time, sojourn time.Duration) bool {
	if c.Target == 0 {
		return false
	}
	switch {
	case now.After(c.end.Add(c.Interval)):
		// A whole interval passed without anyone served: the queue
		// drained, so it is not standing.
		c.standing = false
		c.low, c.end = sojourn, now.Add(c.Interval)
	case now.After(c.end):
		c.standing = c.low > c.Target
		c.low, c.end = sojourn, now.Add(c.Interval)
	default:
		c.low = min(c.low, sojourn)
	}
	return c.standing && sojourn > c.Target
}
