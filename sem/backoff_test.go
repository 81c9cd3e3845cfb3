package sem

import "testing"

// TestBackoffBound checks the wait bounds of one call that keeps losing: the
// first wait is drawn below backoffFirst, and each loss doubles the bound up
// to backoffMax, where it stays.
func TestBackoffBound(t *testing.T) {
	var b backoff
	want := []uint32{backoffFirst}
	for want[len(want)-1] < backoffMax {
		want = append(want, 2*want[len(want)-1])
	}
	want = append(want, backoffMax)
	for i, w := range want {
		b.wait()
		if b.bound != w {
			t.Fatalf("after wait %d: bound = %d, want %d", i+1, b.bound, w)
		}
	}
}
