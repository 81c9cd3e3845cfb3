package sem

import (
	"math/rand/v2"
	"runtime"
)

// backoff spaces out the retries of a fast path that lost its
// compare-and-swap on the semaphore's state to another core and could not
// turn to the contended mode (see contended.go), because another caller
// already sleeps on the lock. It waits a little, touching no shared memory,
// so that the winner runs a batch of operations with the line in its own
// cache; then it retries. This is what a spinning mutex does, and a call
// that meets no contention never waits.
//
// The wait is bounded like the runtime's own mutex spin: each of the first
// spins of a call lasts at most about a microsecond (an empty loop of at
// most maxSpin iterations, a fraction of a nanosecond each), drawn at random
// from the upper half of a bound that doubles with each loss so that callers
// that lost together do not retry together. A call that keeps losing after
// that yields the processor instead of spinning: the contention is then not
// a short race but a crowd, and the other goroutines should run. The zero
// value is ready; a backoff is used by one goroutine for one call.
type backoff struct {
	losses uint32
}

const (
	firstSpin = 1 << 8  // iterations: about 0.1 µs
	maxSpin   = 1 << 11 // iterations: under about 1 µs
	spins     = 4       // losses that spin before the call yields
)

// wait waits after a lost compare-and-swap.
func (b *backoff) wait() {
	b.losses++
	if b.losses > spins {
		runtime.Gosched()
		return
	}
	bound := min(uint32(firstSpin)<<(b.losses-1), maxSpin)
	loop(bound/2 + rand.Uint32N(bound/2))
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
