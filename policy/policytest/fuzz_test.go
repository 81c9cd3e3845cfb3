package policytest_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/ionkit/ion/policy/policytest"
)

// FuzzScripts checks the scripted Funcs for any count: FailTimes fails
// exactly max(n, 0) of the calls made, and Sequence returns each result once
// and then only ErrExhausted.
func FuzzScripts(f *testing.F) {
	f.Add(3, uint8(5), uint8(2))
	f.Add(-1, uint8(0), uint8(0))
	f.Add(math.MaxInt, uint8(255), uint8(255))
	f.Fuzz(func(t *testing.T, n int, calls, results uint8) {
		ctx := context.Background()
		fn := policytest.FailTimes(n, errBoom, 1)
		failed := 0
		for range int(calls) {
			if _, err := fn(ctx); err != nil {
				failed++
			}
		}
		if want := min(max(n, 0), int(calls)); failed != want {
			t.Fatalf("FailTimes(%d) failed %d of %d calls, want %d", n, failed, calls, want)
		}

		rs := make([]policytest.Result[int], results)
		for i := range rs {
			rs[i] = policytest.Ok(i)
		}
		seq := policytest.Sequence(rs...)
		for i := range int(results) + 3 {
			v, err := seq(ctx)
			switch {
			case i < int(results) && (err != nil || v != i):
				t.Fatalf("Sequence call %d = %d, %v, want %d, nil", i+1, v, err, i)
			case i >= int(results) && !errors.Is(err, policytest.ErrExhausted):
				t.Fatalf("Sequence call %d = %v, want ErrExhausted", i+1, err)
			}
		}
	})
}
