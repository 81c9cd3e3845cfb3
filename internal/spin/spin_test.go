package spin

import "testing"

// TestBackoffBound checks the wait bounds of one call that keeps losing: the
// first wait is drawn below first, and each loss doubles the bound up to
// limit, where it stays.
func TestBackoffBound(t *testing.T) {
	var b Backoff
	want := []uint32{first}
	for want[len(want)-1] < limit {
		want = append(want, 2*want[len(want)-1])
	}
	want = append(want, limit)
	for i, w := range want {
		b.Wait()
		if b.bound != w {
			t.Fatalf("after wait %d: bound = %d, want %d", i+1, b.bound, w)
		}
	}
}
