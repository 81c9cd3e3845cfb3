package adaptive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// load counts requests and accepts of priority p into t at now, without
// random verdicts.
func load(t *Throttler, now time.Time, p Priority, requests, accepts int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked(now)
	t.ring[t.head].requests[p.index()] += int64(requests)
	t.total.requests[p.index()] += int64(requests)
	t.ring[t.head].accepts[p.index()] += int64(accepts)
	t.total.accepts[p.index()] += int64(accepts)
}

func rejection(t *Throttler, p Priority) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rejectionLocked(p)
}

// TestThrottlerRejection checks the SRE rule max(0, (requests −
// K·accepts)/(requests + 1)) and how it is spread over priorities, lowest
// first.
func TestThrottlerRejection(t *testing.T) {
	type mixEntry struct {
		p                 Priority
		requests, accepts int
	}
	tests := []struct {
		name string
		k    float64
		mix  []mixEntry
		want map[Priority]float64
	}{
		{"all accepted", 2, []mixEntry{{Normal, 100, 100}}, map[Priority]float64{Normal: 0}},
		{"no traffic", 2, nil, map[Priority]float64{Normal: 0, Critical: 0}},
		{"half accepted is within K=2", 2, []mixEntry{{Normal, 100, 50}}, map[Priority]float64{Normal: 0}},
		// (100 − 2·25)/101
		{"a quarter accepted", 2, []mixEntry{{Normal, 100, 25}}, map[Priority]float64{Normal: 50.0 / 101}},
		// (100 − 1.1·25)/101
		{"K=1.1 throttles sooner", 1.1, []mixEntry{{Normal, 100, 25}}, map[Priority]float64{Normal: 72.5 / 101}},
		{"nothing accepted", 2, []mixEntry{{Normal, 100, 0}}, map[Priority]float64{Normal: 100.0 / 101}},
		// rate 50/101 of 100 requests = 49.5 to shed; sheddable's 60
		// take them all.
		{"sheddable first", 2, []mixEntry{{Sheddable, 60, 15}, {Critical, 40, 10}},
			map[Priority]float64{Sheddable: 49.5049505 / 60, Low: 0, Normal: 0, Critical: 0}},
		// rate 80/101 of 100 = 79.2 to shed: sheddable's 50, then 29.2 of
		// normal's 30; critical is spared.
		{"then the next priority up", 2, []mixEntry{{Sheddable, 50, 0}, {Normal, 30, 0}, {Critical, 20, 10}},
			map[Priority]float64{Sheddable: 1, Low: 1, Normal: (79.2079208 - 50) / 30, High: 0, Critical: 0}},
		// rate 100/101 of 100 = 99 to shed: all but one critical call.
		{"critical last", 2, []mixEntry{{Sheddable, 50, 0}, {Critical, 50, 0}},
			map[Priority]float64{Sheddable: 1, Normal: 1, Critical: 49.009901 / 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			thr := NewThrottler(WithK(tc.k), WithSeed(1))
			thr.start = t0
			for _, m := range tc.mix {
				load(thr, t0, m.p, m.requests, m.accepts)
			}
			for p, want := range tc.want {
				assert.InDelta(t, want, rejection(thr, p), 1e-6, "rejection(%v)", p)
			}
		})
	}
}

func TestThrottlerWindowRolls(t *testing.T) {
	thr := NewThrottler(WithWindow(20*time.Second), WithSeed(1)) // 1 s buckets
	thr.start = t0
	load(thr, t0, Normal, 100, 0)
	load(thr, t0.Add(10*time.Second), Normal, 100, 100)
	// 200 requests, 100 accepts: within K = 2.
	assert.Zero(t, rejection(thr, Normal))
	// After 15 s the first bucket's accepts are still there... and after
	// 20 s the refusals of the first second have left the window.
	load(thr, t0.Add(15*time.Second), Normal, 0, 0)
	assert.Zero(t, rejection(thr, Normal))
	load(thr, t0.Add(20*time.Second), Normal, 0, 0)
	assert.Zero(t, rejection(thr, Normal), "the first bucket rolled out")
	load(thr, t0.Add(20*time.Second), Normal, 100, 0)
	assert.InDelta(t, 0.0, rejection(thr, Normal), 1e-9, "200 requests, 100 accepts")
	load(thr, t0.Add(31*time.Second), Normal, 0, 0)
	assert.InDelta(t, 100.0/101, rejection(thr, Normal), 1e-9, "the accepts of second 10 rolled out")
	load(thr, t0.Add(time.Hour), Normal, 0, 0)
	assert.Zero(t, rejection(thr, Normal), "a long silence empties the window")
	assert.Equal(t, tally{}, thr.total)
}

// TestThrottlerDeterministicUnderSeed checks that two throttlers with the
// same seed give the same verdicts to the same calls.
func TestThrottlerDeterministicUnderSeed(t *testing.T) {
	verdicts := func(seed uint64) []bool {
		thr := NewThrottler(WithSeed(seed))
		thr.start = t0
		load(thr, t0, Normal, 100, 20)
		var out []bool
		for i := range 200 {
			out = append(out, thr.admit(t0.Add(time.Duration(i)*time.Millisecond), Normal))
		}
		return out
	}
	a, b, c := verdicts(7), verdicts(7), verdicts(8)
	assert.Equal(t, a, b, "same seed, same verdicts")
	assert.NotEqual(t, a, c, "another seed, other verdicts")
	admitted := 0
	for _, ok := range a {
		if ok {
			admitted++
		}
	}
	assert.InDelta(t, 80, admitted, 40, "about (1 − rate) of the calls are admitted")
}
