package limit

import (
	"math"
	"strconv"
	"time"
)

// Rate is a sustained rate of events (tokens) per second. The zero Rate
// admits nothing beyond the initial burst; [Inf] admits everything.
//
// A Rate is a float64 so that slow rates (one event a day) and fast ones
// (1e12 per second) are both expressible; limiters convert it once, at
// construction or when it changes, into an exact fixed-point interval, so
// the per-call arithmetic is integer and does not drift.
type Rate float64

// Inf is the unlimited rate: a limiter with rate Inf admits every request at
// once, whatever its burst (even 0), and changes no state.
const Inf = Rate(math.MaxFloat64)

// PerSecond returns the rate of n events per second.
func PerSecond(n float64) Rate { return Rate(n) }

// PerMinute returns the rate of n events per minute.
func PerMinute(n float64) Rate { return Rate(n / 60) }

// PerHour returns the rate of n events per hour.
func PerHour(n float64) Rate { return Rate(n / 3600) }

// Per returns the rate of n events per d. A zero or negative d gives NaN and
// a negative n a negative rate; every constructor and setter rejects both.
func Per(n float64, d time.Duration) Rate {
	if d <= 0 {
		return Rate(math.NaN())
	}
	return Rate(n / d.Seconds())
}

// Every returns the rate of one event every d. Every(0) is [Inf]; a negative
// d gives a negative rate, which every constructor rejects.
func Every(d time.Duration) Rate {
	if d == 0 {
		return Inf
	}
	return Rate(1 / d.Seconds())
}

// isInf reports whether r admits everything.
func (r Rate) isInf() bool { return float64(r) >= math.MaxFloat64 }

// String returns the rate as events per second, such as "10/s" or "0.5/s",
// and "inf" for [Inf].
func (r Rate) String() string {
	if r.isInf() {
		return "inf"
	}
	return strconv.FormatFloat(float64(r), 'g', -1, 64) + "/s"
}
