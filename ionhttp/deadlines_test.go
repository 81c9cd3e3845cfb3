package ionhttp

import (
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeadlinesFire starts timeouts of one duration at staggered times,
// a few out of order as racing starters would, stops some of them, and
// checks that each of the others ends its attempt at its own deadline, on
// the bubble's clock, and that stop tells which fired.
func TestDeadlinesFire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		fired := map[*attemptCtx]time.Duration{}
		d := &deadlines{expire: func(a *attemptCtx) {
			mu.Lock()
			fired[a] = clock()
			mu.Unlock()
		}}
		const n, timeout = 40, time.Second
		as := make([]attemptCtx, n)
		es := make([]deadline, n)
		at := make([]time.Duration, n)
		for i := range n {
			at[i] = clock() + timeout
			if i%7 == 3 {
				at[i] -= 15 * time.Millisecond // started a little earlier, queued later
			}
			es[i].setWhen(at[i])
			d.start(&es[i], &as[i])
			time.Sleep(10 * time.Millisecond)
		}
		for i := range n {
			if i%3 == 0 {
				assert.True(t, d.stop(&es[i]), "stopped before its deadline")
			}
		}
		time.Sleep(2 * timeout)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			got, ok := fired[&as[i]]
			if i%3 == 0 {
				assert.False(t, ok, "timeout %d was stopped", i)
				continue
			}
			if assert.True(t, ok, "timeout %d fired", i) {
				assert.Equal(t, at[i], got, "timeout %d fired at its deadline", i)
			}
			assert.False(t, d.stop(&es[i]), "stop of a fired timeout %d", i)
		}
		assert.Nil(t, d.head)
		assert.Nil(t, d.tail)
	})
}

// TestDeadlinesStress starts and stops timeouts from many goroutines under
// -race, in and out of order, some firing: every timeout either fired once
// or was stopped before it did, never both, and the queue ends empty.
func TestDeadlinesStress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		fired := map[*attemptCtx]int{}
		d := &deadlines{expire: func(a *attemptCtx) {
			mu.Lock()
			fired[a]++
			mu.Unlock()
		}}
		const workers, each = 8, 200
		stopped := make([][]bool, workers)
		as := make([][]attemptCtx, workers)
		var wg sync.WaitGroup
		for w := range workers {
			stopped[w] = make([]bool, each)
			as[w] = make([]attemptCtx, each)
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), 1))
				es := make([]deadline, each)
				for i := range each {
					es[i].setWhen(clock() + time.Duration(r.IntN(50))*time.Millisecond)
					d.start(&es[i], &as[w][i])
					time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
					if j := r.IntN(i + 1); r.IntN(2) == 0 && !stopped[w][j] {
						stopped[w][j] = d.stop(&es[j])
					}
				}
			})
		}
		wg.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for w := range workers {
			for i := range each {
				n := fired[&as[w][i]]
				if stopped[w][i] {
					require.Zero(t, n, "worker %d timeout %d was stopped, then fired", w, i)
				} else {
					require.Equal(t, 1, n, "worker %d timeout %d fired", w, i)
				}
			}
		}
		assert.Nil(t, d.head)
		assert.Nil(t, d.tail)
		assert.Zero(t, d.armed, "no timer left armed")
	})
}
