package main

import "math/bits"

// hist is a log-linear latency histogram in the manner of HDR histograms:
// values below 2·sub are counted exactly, and each power-of-two range above
// is split into sub equal buckets, so a recorded value is known to within
// 1/sub (1.6%) of itself. Values above maxValue are counted in the last
// bucket. The zero value is ready to use; a hist is not safe for concurrent
// use (each goroutine records into its own, and they are merged after).
type hist struct {
	counts [nBuckets]uint64
	total  uint64
	sum    uint64 // for the mean
	max    uint64 // the exact largest value recorded
}

const (
	subBits  = 6
	sub      = 1 << subBits // buckets per power of two
	maxShift = 40           // values up to about 2^47 ns (39 hours)
	nBuckets = (maxShift+1)*sub + sub
)

// bucketOf returns the index of the bucket counting v.
func bucketOf(v uint64) int {
	if v < 2*sub {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	if shift > maxShift {
		return nBuckets - 1
	}
	return shift*sub + int(v>>uint(shift))
}

// bucketRange returns the smallest and largest value counted by bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*sub {
		return uint64(i), uint64(i)
	}
	shift := i/sub - 1
	m := uint64(i - shift*sub)
	return m << uint(shift), (m+1)<<uint(shift) - 1
}

// record counts one value.
func (h *hist) record(v uint64) {
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

// merge adds o's counts to h.
func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the value at quantile q in [0, 1]: the largest value of
// the bucket holding the ceil(q·total)-th smallest value (never above the
// exact maximum), or 0 for an empty histogram.
func (h *hist) quantile(q float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(hi, h.max)
		}
	}
	return h.max
}

// mean returns the mean of the recorded values, or 0.
func (h *hist) mean() float64 {
	if h.total == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.total)
}
