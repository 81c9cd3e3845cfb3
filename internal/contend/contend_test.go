package contend

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Lock takes a free mutex and turns the mode on; calmAfter operations in a
// row that found it free turn the mode off.
func TestLockCalm(t *testing.T) {
	var mu sync.Mutex
	var m Mode
	if m.On() {
		t.Fatal("the zero Mode is on")
	}
	for i := range calmAfter {
		if !m.Lock(&mu, false) {
			t.Fatalf("operation %d: Lock of a free mutex reported false", i)
		}
		if !m.On() {
			t.Fatalf("operation %d: the mode is off under the lock", i)
		}
		m.Unlock(&mu)
	}
	if m.On() {
		t.Fatalf("the mode is still on after %d calm operations", calmAfter)
	}
	if !mu.TryLock() {
		t.Fatal("Unlock left the mutex locked")
	}
	mu.Unlock()
}

// A Lock that must wait blocks only when park is set and no other caller
// is blocked; otherwise it reports false at once, and the caller goes on
// without the mutex.
func TestLockBoundsSleepers(t *testing.T) {
	var mu sync.Mutex
	var m Mode
	mu.Lock() // another operation holds it
	if m.Lock(&mu, false) {
		t.Fatal("Lock without park took a held mutex")
	}
	m.parked.Store(true) // a caller already sleeps on it
	if m.Lock(&mu, true) {
		t.Fatal("a second sleeper was let in")
	}
	m.parked.Store(false)

	got := make(chan bool)
	go func() { got <- m.Lock(&mu, true) }() // owner: this test; exits when it has the mutex; joined by <-got
	mu.Unlock()
	if !<-got {
		t.Fatal("the one sleeper did not get the mutex")
	}
	if m.parked.Load() {
		t.Fatal("the sleeper's mark outlived its wait")
	}
	if !m.On() {
		t.Fatal("a Lock that waited did not turn the mode on")
	}
	if m.calm != 0 && m.calm != 1 {
		t.Fatalf("calm = %d", m.calm)
	}
	m.Unlock(&mu)
}

// LockSpinning takes a free mutex at once, and a held one once it is
// unlocked, whether that happens during its tries or after it has blocked.
func TestLockSpinning(t *testing.T) {
	var mu sync.Mutex
	LockSpinning(&mu)
	if mu.TryLock() {
		t.Fatal("LockSpinning did not lock a free mutex")
	}
	got := make(chan struct{})
	go func() { // owner: this test; exits with the mutex; joined by <-got
		LockSpinning(&mu)
		close(got)
	}()
	mu.Unlock()
	<-got
	if mu.TryLock() {
		t.Fatal("the second LockSpinning does not hold the mutex")
	}
	mu.Unlock()
}

// BenchmarkLongestPause measures the pauses of one LockSpinning that finds
// the mutex held at every try: they must stay under about a microsecond.
func BenchmarkLongestPause(b *testing.B) {
	for b.Loop() {
		for i := range spins {
			pause(firstPause << i)
		}
	}
}
