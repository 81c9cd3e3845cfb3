package sem

import "strconv"

// Fairness decides which caller a [Weighted] serves when permits become
// free. The zero value is [FIFO].
type Fairness int

const (
	// FIFO serves callers strictly in arrival order. While anyone is queued,
	// neither TryAcquire nor a new Acquire takes permits ahead of them, and
	// the oldest waiter is served first even when a smaller one behind it
	// would fit: the queue blocks at its head, so a large weight is never
	// starved by a stream of small ones. It is the default.
	FIFO Fairness = iota

	// LIFO serves the newest caller first. A new caller is the newest of all,
	// so it takes free permits at once when they fit, even while older
	// callers wait; queued callers are served newest first, and the newest
	// blocks those below it until it fits. Under sustained load the oldest
	// waiters can starve: LIFO trades fairness for latency, keeping the
	// callers most likely to still care (their deadlines are furthest away)
	// fast while the backlog ages out through its own timeouts.
	LIFO

	// None takes free permits whenever they fit: a caller never waits for
	// permits it could have, and a release serves the oldest queued callers
	// that fit, skipping those that do not. It gives the most throughput and
	// no ordering guarantee; a large weight can starve behind small ones.
	None
)

// String returns "FIFO", "LIFO", "None", or "Fairness(n)" for an unknown
// value.
func (f Fairness) String() string {
	switch f {
	case FIFO:
		return "FIFO"
	case LIFO:
		return "LIFO"
	case None:
		return "None"
	}
	return "Fairness(" + strconv.Itoa(int(f)) + ")"
}
