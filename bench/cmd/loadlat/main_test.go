package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestBucketsCoverValues checks the histogram's bucket arithmetic: every
// value falls in a bucket whose range holds it, within 1/sub of its size,
// and buckets are contiguous and increasing.
func TestBucketsCoverValues(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 2*sub - 1, 2 * sub, 2*sub + 1, 1000, 1 << 20, 1<<(maxShift+subBits) - 1}
	for range 10000 {
		values = append(values, r.Uint64N(1<<uint(r.IntN(maxShift+subBits))+1))
	}
	for _, v := range values {
		lo, hi := bucketRange(bucketOf(v))
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d of range [%d, %d]", v, bucketOf(v), lo, hi)
		}
		if float64(hi-lo) > float64(v)/sub {
			t.Fatalf("bucket of %d is [%d, %d], wider than 1/%d of the value", v, lo, hi, sub)
		}
	}
	for i := 1; i < nBuckets-1; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
	if got := bucketOf(^uint64(0)); got != nBuckets-1 {
		t.Fatalf("largest value in bucket %d, want the last (%d)", got, nBuckets-1)
	}
}

// TestQuantilesMatchSorted compares the histogram's quantiles with exact
// ones from sorted values: each within the bucket precision.
func TestQuantilesMatchSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h, a, b hist
	var vs []uint64
	for i := range 100000 {
		v := uint64(r.ExpFloat64() * 50000)
		vs = append(vs, v)
		if i%2 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	h.merge(&a)
	h.merge(&b)
	slices.Sort(vs)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		idx := int(q*float64(len(vs))+0.999999) - 1
		exact := vs[max(idx, 0)]
		got := h.quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/sub+1 {
			t.Errorf("quantile(%v) = %d, exact %d", q, got, exact)
		}
	}
	if h.total != uint64(len(vs)) || h.max != vs[len(vs)-1] {
		t.Errorf("total %d max %d, want %d and %d", h.total, h.max, len(vs), vs[len(vs)-1])
	}
	var empty hist
	if empty.quantile(0.5) != 0 || empty.mean() != 0 {
		t.Error("an empty histogram reports non-zero figures")
	}
}

// TestMeasureRuns drives both pipelines briefly; it checks the run's
// accounting (calls made, none failed, quantiles ordered), never its
// timings.
func TestMeasureRuns(t *testing.T) {
	for impl := range builders {
		r, err := measure(impl, config{duration: 20 * time.Millisecond, goroutines: 16, work: time.Microsecond})
		if err != nil {
			t.Fatal(err)
		}
		if r.Calls == 0 || r.Errors != 0 {
			t.Errorf("%s: %d calls, %d errors (%s)", impl, r.Calls, r.Errors, r.FirstErrMsg)
		}
		if r.P50Ns > r.P99Ns || r.P99Ns > r.P999Ns || r.P999Ns > r.MaxNs {
			t.Errorf("%s: quantiles out of order: %+v", impl, r)
		}
	}
	if _, err := measure("nope", config{duration: time.Millisecond, goroutines: 1}); err == nil {
		t.Error("an unknown implementation was measured")
	}
}
