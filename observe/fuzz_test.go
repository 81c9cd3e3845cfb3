package observe_test

import (
	"testing"

	"github.com/ionkit/ion/observe"
)

// FuzzRecorderLabels checks that a series is found with its labels in any
// order and that no other label set reads it, whatever the label text
// (separators, quotes, empty strings).
func FuzzRecorderLabels(f *testing.F) {
	f.Add("name", "db", "result", "ok")
	f.Add("a", "1,b=2", "a", "1")
	f.Add("", "", "", "")
	f.Add(`"`, "}", "=", `\`)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		r := observe.NewRecorder()
		r.Counter("c", observe.L(k1, v1), observe.L(k2, v2)).Add(1)
		if got := r.Count("c", observe.L(k2, v2), observe.L(k1, v1)); got != 1 {
			t.Fatalf("Count with labels reversed = %d, want 1", got)
		}
		if got := r.Count("c", observe.L(k1, v1)); got != 0 {
			t.Fatalf("Count of a one-label subset = %d, want 0", got)
		}
		if got := r.Count("c", observe.L(k1, v1+","+k2+"="+v2)); got != 0 {
			t.Fatalf("Count of one label spelling both = %d, want 0", got)
		}
		if got := r.Count("c{" + k1 + "=" + v1 + "}"); got != 0 {
			t.Fatalf("Count of a name spelling the labels = %d, want 0", got)
		}
	})
}
