// Package contend holds the contended mode that Ion's lock-free words share
// (the semaphore's permit count, the breaker's result word): a way to
// batch their operations under the owner's mutex while several cores race
// for the word, and to go back to plain compare-and-swaps when they stop.
//
// Two cores that update one word in a tight loop, each with its own
// compare-and-swap, move the word's cache line between them at every
// operation, and every operation then pays for a transfer of the line: on
// two cores, 3 to 4 times the cost of an operation on one. A lock does
// better there, because it makes the loser sleep: the holder runs a batch
// of operations with the line in its own cache.
//
// So an operation that loses its compare-and-swap turns the mode on, and
// from then on every operation first takes the owner's mutex ([Mode.Lock]).
// Under the mutex an operation makes the same checks and the same
// compare-and-swap as without it: the mutex only decides who goes next, so
// the owner's protocol is unchanged. The mode ends when calmAfter
// operations in a row found the mutex free: the crowd has gone, and one
// compare-and-swap without the lock is again the cheapest path.
//
// At most one caller at a time blocks on the mutex for the mode; the others,
// finding it busy, go on without it, as if the mode were off. One sleeper is
// enough to break the two cores' ping-pong, and the bound is needed: with
// many more runnable goroutines than processors, a goroutine woken from
// sync.Mutex.Lock waits for the time slice of the one that woke it, so a
// queue of sleepers would become a convoy in which every operation waits
// for milliseconds. Measured with 1,000 goroutines on two processors, an
// unbounded queue gave a p99 of 2.4 ms where the bound keeps it under 1 µs.
//
// Operations that saw the mode off may still run their compare-and-swap
// without the mutex while another holds it: an owner's compare-and-swaps
// under the mutex must therefore stay in loops.
package contend

import (
	"sync"
	"sync/atomic"
)

// calmAfter is the number of operations in a row that found the mutex free
// and end the mode.
const calmAfter = 64

// Mode is the contended mode of one word, whose owner guards its slow
// paths with a sync.Mutex. The zero value is off. It is 16 bytes, to sit
// beside the word it serves, on the cache line the word's operations hold
// anyway.
type Mode struct {
	on     atomic.Bool // operations take the mutex
	parked atomic.Bool // a caller is blocked in Lock for the mode
	calm   int         // operations in a row that found the mutex free; guarded by the mutex
}

// On reports whether the mode is on: operations should call Lock first.
// It is one load.
func (m *Mode) On() bool { return m.on.Load() }

// Lock takes mu for an operation, turning the mode on, and reports whether
// it did: at once if mu is free, or, if park is set and no other caller is
// blocked for it, by blocking for it. When it reports false, the caller
// goes on without mu. A caller that must not block passes park false.
func (m *Mode) Lock(mu *sync.Mutex, park bool) bool {
	if mu.TryLock() {
		m.calm++
	} else {
		if !park || !m.parked.CompareAndSwap(false, true) {
			return false
		}
		mu.Lock()
		m.parked.Store(false)
		m.calm = 0
	}
	m.Enter()
	return true
}

// Unlock ends the mode if the last calmAfter operations found mu free, and
// unlocks mu. It must follow a Lock that reported true.
func (m *Mode) Unlock(mu *sync.Mutex) {
	if m.calm >= calmAfter {
		m.calm = 0
		m.on.Store(false)
	}
	mu.Unlock()
}

// Enter turns the mode on, if it is off. Lock calls it; an owner may call
// it to start the mode without an operation.
func (m *Mode) Enter() {
	if !m.on.Load() {
		m.on.Store(true)
	}
}

// CalmAfter returns the number of operations in a row that found the mutex
// free and end the mode.
func CalmAfter() int { return calmAfter }

// Spins before Lock blocks: TryLock is tried spins times, after pauses that
// double from firstPause iterations of an empty loop, about 0.3 µs in all
// (BenchmarkLongestPause).
const (
	spins      = 4
	firstPause = 64
)

// LockSpinning locks mu for a critical section of tens of nanoseconds that
// more goroutines than processors contend for. It tries mu.TryLock a few
// times, pausing between tries without touching shared memory, for well
// under a microsecond in all (the runtime's own mutex spins about as long),
// and then blocks in mu.Lock.
//
// sync.Mutex spins on its own only while the processor has no other
// goroutine to run; when submitters and workers share the processors, it
// parks the caller at once, and a park and a wake-up cost microseconds
// where the holder needed nanoseconds. The pool's workers take its lock
// with it: with two submitters and two workers on two processors, a queued
// task then costs about 85 ns instead of 200 to 300. Its submitters do not:
// there the tries were measured slower (hand-offs to two workers 30 % and
// to 64 workers 35 % slower), since a submitter that keeps the lock's line
// busy delays the workers that would make room for it.
func LockSpinning(mu *sync.Mutex) {
	for i := range spins {
		if mu.TryLock() {
			return
		}
		pause(firstPause << i)
	}
	mu.Lock()
}

// pause runs an empty loop of n iterations. It is not inlined, so that the
// compiler keeps the loop; it reads and writes no memory, so that it leaves
// the contended cache line to the other cores.
//
//go:noinline
func pause(n uint32) {
	for range n {
	}
}
