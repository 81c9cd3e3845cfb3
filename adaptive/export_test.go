package adaptive

import "time"

// NewCodel returns the CoDel state of a Limiter's queue, for table tests.
func NewCodel(target, interval time.Duration) *codel {
	return &codel{target: target, interval: interval}
}

// Drop is codel.drop, for table tests.
func (c *codel) Drop(now time.Time, sojourn time.Duration) bool { return c.drop(now, sojourn) }
