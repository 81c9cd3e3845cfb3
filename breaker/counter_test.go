package breaker

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCounterExactUnderContention checks that the striped total loses and
// duplicates nothing: goroutines hammering one counter sum to exactly the
// adds they made, and a sum taken while they run never goes backwards.
func TestCounterExactUnderContention(t *testing.T) {
	c := newCounter()
	const goroutines, adds = 8, 5_000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range adds {
				c.add()
			}
		})
	}
	last := int64(0)
	for range 100 {
		s := c.sum()
		require.GreaterOrEqual(t, s, last, "a later sum must include every add an earlier one saw")
		last = s
		runtime.Gosched()
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*adds), c.sum(), "every add counts exactly once")
}

// TestCounterSize checks the table's size: a power of two (the hash takes
// its top bits), within bounds, and the shift matching it.
func TestCounterSize(t *testing.T) {
	c := newCounter()
	n := len(c.cells)
	assert.Equal(t, 0, n&(n-1), "the number of cells must be a power of two")
	assert.GreaterOrEqual(t, n, minCells)
	assert.LessOrEqual(t, n, maxCells)
	assert.Equal(t, uint64(n-1), ^uint64(0)>>c.shift, "the hash must index every cell and no more")
}

// TestCounterSpreadsGoroutines checks that goroutines with different stacks
// do not all share one cell, which would bring the contention back.
func TestCounterSpreadsGoroutines(t *testing.T) {
	c := newCounter()
	var started, wg sync.WaitGroup
	release := make(chan struct{})
	started.Add(32)
	for range 32 {
		// All alive at once, so that no goroutine reuses another's stack.
		wg.Go(func() {
			started.Done()
			<-release
			c.add()
		})
	}
	started.Wait()
	close(release)
	wg.Wait()
	used := 0
	for i := range c.cells {
		if c.cells[i].n.Load() > 0 {
			used++
		}
	}
	assert.Greater(t, used, 1, "32 goroutines must land in more than one cell")
	assert.Equal(t, int64(32), c.sum())
}

func TestCounterAddDoesNotAllocate(t *testing.T) {
	c := newCounter()
	allocs := testing.AllocsPerRun(1000, c.add)
	assert.Zero(t, allocs, "add must not allocate (the anchor stays on the stack)")
	assert.Equal(t, int64(1001), c.sum(), "AllocsPerRun runs the function once more to warm up")
}
