// Package spin provides the randomized backoff that Ion's lock-free fast
// paths and its pool's workers use after losing a race for a shared cache
// line to another core.
package spin

import "math/rand/v2"

// The backoff bounds, in iterations of an empty loop: at a few tenths of a
// nanosecond each, the first wait lasts a few microseconds, and the longest
// tens of microseconds.
const (
	first = 1 << 14
	limit = 1 << 16
)

// Backoff spaces out the retries of an operation that lost a race (a
// compare-and-swap, a TryLock) to another core.
//
// Two cores running the same short operation in a tight loop move its
// cache line between them at every access, which makes each operation
// several times slower than on one core. A caller that loses therefore
// waits, touching no shared memory, long enough for the winner to run many
// operations with the line in its own cache, and then retries. This
// batches each core's operations the way a spinning mutex does, and costs
// nothing on the path that nobody contends: a first attempt that succeeds
// never waits.
//
// The wait is drawn at random from the upper half of its bound, so that
// callers that lost together do not retry together, and the bound doubles
// with each loss of the same call, up to tens of microseconds. The zero
// value is ready to use; a Backoff is used by one goroutine for one call.
type Backoff struct {
	bound uint32 // 0 before the first wait
}

// Wait spins for the next interval. It does not yield the processor: it is
// meant for waits shorter than a goroutine switch.
func (b *Backoff) Wait() {
	switch {
	case b.bound == 0:
		b.bound = first
	case b.bound < limit:
		b.bound *= 2
	}
	loop(b.bound/2 + rand.Uint32N(b.bound/2))
}

// loop runs an empty loop of n iterations. It is not inlined, so that the
// compiler keeps the loop; it reads and writes no memory, so that it leaves
// the contended cache line to the other cores.
//
//go:noinline
func loop(n uint32) {
	for range n {
	}
}
