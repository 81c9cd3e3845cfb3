package sem

import "testing"

// TestBackoffBounded checks that a call that keeps losing spins only a few
// times, each under the spin bound, and then yields: no wait is a long
// busy loop.
func TestBackoffBounded(t *testing.T) {
	var b backoff
	for i := range spins + 3 {
		b.wait()
		if got := b.losses; got != uint32(i+1) {
			t.Fatalf("after wait %d: losses = %d", i+1, got)
		}
	}
	if bound := min(uint32(firstSpin)<<(spins-1), maxSpin); bound > maxSpin {
		t.Fatalf("the last spin's bound %d exceeds maxSpin %d", bound, maxSpin)
	}
}

// BenchmarkLongestSpin measures the longest spin of a backoff: it must stay
// about a microsecond or less.
func BenchmarkLongestSpin(b *testing.B) {
	for b.Loop() {
		loop(maxSpin)
	}
}
