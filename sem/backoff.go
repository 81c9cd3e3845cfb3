package sem

import "math/rand/v2"

// The backoff bounds, in iterations of an empty loop: at a few tenths of a
// nanosecond each, the first wait lasts a few microseconds, and the longest
// tens of microseconds.
const (
	backoffFirst = 1 << 14
	backoffMax   = 1 << 16
)

// backoff spaces out the retries of a fast path whose compare-and-swap on
// the state word lost to another fast path.
//
// Two cores taking and returning permits in a tight loop move the state's
// cache line between them on every load and every CAS, which makes each
// operation several times slower than the same operation on one core. A
// caller that loses a CAS therefore waits, touching no shared memory, long
// enough for the winner to run many operations with the line in its own
// cache, and then retries. This batches the operations of each core the way
// a spinning mutex does, without taking a lock on the path that nobody
// contends: a CAS that succeeds the first time never waits.
//
// The wait is drawn at random from the upper half of its bound, so that
// callers that lost together do not retry together, and the bound doubles
// with each loss of the same call, up to backoffMax.
type backoff struct {
	bound uint32 // 0 before the first wait
}

// wait spins for the next interval.
func (b *backoff) wait() {
	switch {
	case b.bound == 0:
		b.bound = backoffFirst
	case b.bound < backoffMax:
		b.bound *= 2
	}
	spin(b.bound/2 + rand.Uint32N(b.bound/2))
}

// spin runs an empty loop of n iterations. It is not inlined, so that the
// compiler keeps the loop; it reads and writes no memory, so that it leaves
// the state's cache line to the other cores.
//
//go:noinline
func spin(n uint32) {
	for range n {
	}
}
