package adaptive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// win returns a window of n successes of mean RTT rtt with maxInflight
// calls in flight, and drops failures.
func win(n int, rtt time.Duration, maxInflight, drops int) window {
	return window{successes: n, sumRTT: time.Duration(n) * rtt, minRTT: rtt, maxInflight: maxInflight, drops: drops}
}

// full returns w as a window in which the limit was reached, so the
// no-load estimate does not drift and the rule sees exactly the estimate
// the test sets.
func full(w window) window { w.full = true; return w }

func TestTuningNext(t *testing.T) {
	ms := time.Millisecond
	base := tuning{minLimit: 1, maxLimit: 100, smoothing: 0.5, backoff: 0.9, tolerance: 1.5}
	with := func(a Algorithm) tuning { c := base; c.alg = a; return c }
	tests := []struct {
		name   string
		tuning tuning
		limit  float64
		noLoad time.Duration // the estimate before the window
		w      window
		want   float64
	}{
		// Vegas at limit 20: step = log10(20) = 1.301, band 3.90..7.81.
		{"vegas/no queue grows by a quarter", with(Vegas), 20, 10 * ms, full(win(50, 10*ms, 20, 0)), 25},
		{"vegas/small queue grows by log10", with(Vegas), 20, 10 * ms, full(win(50, 12*ms, 20, 0)), 21.30103},
		{"vegas/queue in the band holds", with(Vegas), 20, 10 * ms, full(win(50, 15*ms, 20, 0)), 20},
		// queue 10 is 6.1 above the band's floor: half of it goes.
		{"vegas/queue above the band shrinks by half the excess", with(Vegas), 20, 10 * ms, full(win(50, 20*ms, 20, 0)), 16.951545},
		{"vegas/a drop backs off", with(Vegas), 20, 10 * ms, full(win(50, 10*ms, 20, 1)), 18},
		{"vegas/app-limited does not grow", with(Vegas), 20, 10 * ms, full(win(50, 10*ms, 9, 0)), 20},
		{"vegas/first window learns and grows", with(Vegas), 20, 0, win(50, 10*ms, 20, 0), 25},
		// Gradient at limit 16: √16 = 4, smoothing takes half the step.
		{"gradient/within tolerance grows", with(Gradient), 16, 10 * ms, full(win(50, 15*ms, 16, 0)), 18},
		{"gradient/queueing shrinks", with(Gradient), 16, 10 * ms, full(win(50, 30*ms, 16, 0)), 14},
		{"gradient/gradient floor is one half", with(Gradient), 16, 10 * ms, full(win(50, 100*ms, 16, 0)), 14},
		{"gradient/balanced holds", with(Gradient), 16, 10 * ms, full(win(50, 20*ms, 16, 0)), 16},
		{"gradient/a drop backs off", with(Gradient), 16, 10 * ms, full(win(50, 10*ms, 16, 3)), 14.4},
		{"gradient/app-limited does not grow", with(Gradient), 16, 10 * ms, full(win(50, 10*ms, 7, 0)), 16},
		{"aimd/adds one", with(AIMD), 10, 0, win(50, 99*ms, 10, 0), 11},
		{"aimd/a drop backs off", with(AIMD), 10, 0, win(50, 99*ms, 10, 2), 9},
		{"aimd/only drops is a drop", with(AIMD), 10, 0, win(0, 0, 10, 5), 9},
		{"aimd/app-limited holds", with(AIMD), 10, 0, win(50, 99*ms, 4, 0), 10},
		{"clamp/max", with(AIMD), 100, 0, win(50, ms, 100, 0), 100},
		{"clamp/min", with(AIMD), 1, 0, win(50, ms, 1, 1), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := estimates{noLoad: float64(tc.noLoad)}
			got := tc.tuning.next(tc.limit, &e, &tc.w)
			assert.InDelta(t, tc.want, got, 1e-5, "next(%v, noLoad %v, %+v)", tc.limit, tc.noLoad, tc.w)
		})
	}
}

func TestEstimatesObserve(t *testing.T) {
	ms := float64(time.Millisecond)
	tests := []struct {
		name       string
		noLoad     float64
		w          window
		wantNoLoad float64
		wantRTT    float64
	}{
		{"first window sets both", 0, win(10, 20*time.Millisecond, 5, 0), 20 * ms, 20 * ms},
		{"a faster window lowers the no-load RTT at once", 20 * ms, win(10, 10*time.Millisecond, 5, 0), 10 * ms, 10 * ms},
		{"a slower window with room drifts it up by 5 %", 10 * ms, win(10, 20*time.Millisecond, 5, 0), 10.5 * ms, 20 * ms},
		// The limit was binding: the RTT includes the queue it allows.
		{"a slower window at the limit leaves it", 10 * ms, func() window { w := win(10, 20*time.Millisecond, 5, 0); w.full = true; return w }(), 10 * ms, 20 * ms},
		{"a window of drops changes nothing", 10 * ms, win(0, 0, 5, 4), 10 * ms, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := estimates{noLoad: tc.noLoad}
			e.observe(&tc.w)
			assert.InDelta(t, tc.wantNoLoad, e.noLoad, 1, "noLoad")
			assert.InDelta(t, tc.wantRTT, e.rtt, 1, "rtt")
		})
	}
}

// FuzzTuningNext checks that no window, however odd, moves the limit
// outside its bounds or makes it NaN, for every algorithm.
func FuzzTuningNext(f *testing.F) {
	f.Add(uint8(0), 20.0, int64(10e6), int64(12e6), 50, 20, 0, false)
	f.Add(uint8(1), 16.0, int64(0), int64(1), 1, 0, 3, true)
	f.Add(uint8(2), 1000.0, int64(1), int64(1<<62), 1<<30, 1<<30, 0, false)
	f.Fuzz(func(t *testing.T, alg uint8, limit float64, noLoad, rtt int64, successes, maxInflight, drops int, full bool) {
		tu := tuning{alg: Algorithm(alg % 3), minLimit: 1, maxLimit: 1000, smoothing: 0.5, backoff: 0.9, tolerance: 1.5}
		limit = tu.clamp(limit)
		if limit != limit { // NaN in: the limiter never holds one
			return
		}
		successes, drops = max(0, successes%1_000_000), max(0, drops%1000)
		rtt = max(0, rtt%int64(time.Hour))
		w := window{successes: successes, drops: drops, sumRTT: time.Duration(rtt) * time.Duration(successes),
			minRTT: time.Duration(rtt), maxInflight: max(0, maxInflight), full: full}
		e := estimates{noLoad: float64(max(0, noLoad%int64(time.Hour)))}
		got := tu.next(limit, &e, &w)
		if !(got >= tu.minLimit && got <= tu.maxLimit) {
			t.Fatalf("next(%v, %+v, %+v) = %v, outside [%v, %v]", limit, e, w, got, tu.minLimit, tu.maxLimit)
		}
	})
}
