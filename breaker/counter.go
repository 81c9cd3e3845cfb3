package breaker

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// counter is a total that many goroutines add to at once without sharing a
// cache line: the success total, which every closed-state success updates.
// One shared atomic add there made the contended closed path 2 to 4 times
// slower than the serial one, because the line moved between cores on every
// success. A counter is a table of cells, each alone on its line; an add
// goes to one cell and the total is their sum.
//
// A goroutine adds to the cell that its stack address picks, so the same
// goroutine keeps hitting the same cell, whose line stays in its core's
// cache, and goroutines running at the same time mostly hit different
// cells. The stack address is free to read and stable while the goroutine
// runs (it changes when the stack grows; the goroutine then moves to
// another cell). The rejected alternatives:
//
//   - a cell picked at random bounces lines almost as much as one shared
//     word does: each add finds its line last written by another core half
//     the time (measured 1.9× the serial cost with 16 cells);
//   - a per-P cell taken from a sync.Pool scales, but its Get and Put cost
//     more than the add itself, on the serial path too; the runtime's P id
//     is not exported;
//   - one word until a compare-and-swap on it fails, then the table (Java's
//     LongAdder): it saves the table's memory on breakers that never see
//     contention, but a load and compare-and-swap cost more than one add
//     serially, and the failure that reveals contention took up to millions
//     of adds to happen in our runs.
//
// The total is exact: every add is one atomic add to one cell, and sum loads
// every cell, so a sum that starts after an add has returned includes it.
type counter struct {
	cells []cell
	shift uint // 64 - log2(len(cells)), for the multiplicative hash
}

// cell is one cell of a counter, alone on its cache line: 128 bytes cover
// the 64-byte lines of amd64 with their adjacent-line prefetch and the
// 128-byte lines of some arm64 and ppc64 cores.
type cell struct {
	n atomic.Int64
	_ [128 - 8]byte
}

// Cells per counter: 8 per P, so that two goroutines running at the same
// time share a cell with a chance of about 1 in 8P; at least 16 and at most
// 64, that is 2 to 8 KiB per breaker.
const (
	cellsPerP = 8
	minCells  = 16
	maxCells  = 64
)

// newCounter returns a counter sized for the current GOMAXPROCS. A later
// change of GOMAXPROCS keeps the total exact; only the spread may suffer.
func newCounter() counter {
	n := minCells
	for n < cellsPerP*runtime.GOMAXPROCS(0) && n < maxCells {
		n <<= 1
	}
	return counter{cells: make([]cell, n), shift: uint(64 - bits.TrailingZeros(uint(n)))}
}

// add adds one to the calling goroutine's cell. It does not allocate.
func (c *counter) add() {
	// The address of a local is an address in the calling goroutine's
	// stack; converting it to an integer keeps the local on the stack.
	// Stacks are at least 2 KiB apart, so the low 11 bits say nothing about
	// the goroutine; Fibonacci hashing spreads neighbouring stacks over
	// different cells.
	var anchor byte
	h := uint64(uintptr(unsafe.Pointer(&anchor))>>11) * 0x9e3779b97f4a7c15
	c.cells[h>>(c.shift&63)].n.Add(1) // &63: no check for shifts past 63
}

// sum returns the total, including every add that returned before sum was
// called.
func (c *counter) sum() int64 {
	var s int64
	for i := range c.cells {
		s += c.cells[i].n.Load()
	}
	return s
}
