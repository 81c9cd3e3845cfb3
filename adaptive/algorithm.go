package adaptive

import (
	"math"
	"strconv"
	"time"
)

// Algorithm is the rule a [Limiter] uses to move its limit at the end of
// each sample window. Every algorithm treats a window with a drop (a call
// the pipeline's classifier counts as a Failure, a timeout included) the
// same way: the limit is multiplied by the backoff factor ([WithBackoff]).
// They differ in what they do with a window without drops. The zero value
// is [Vegas].
type Algorithm uint8

const (
	// Vegas estimates the queue the limit builds at the dependency, queue
	// = limit × (1 − noLoad/rtt), and adds log10(limit) (at least 1) when it
	// is below 3·log10(limit) (a quarter of the limit when there is no
	// queue at all), and holds up to 6·log10(limit); above that it takes
	// away half the excess over 3·log10(limit), at least log10(limit). The band keeps the limit at the
	// knee of the latency curve, where a few calls queue at the dependency,
	// enough to keep it busy and too few to cost much latency.
	Vegas Algorithm = iota
	// Gradient compares the window's mean RTT with the no-load RTT: with
	// gradient g = clamp(tolerance × noLoad / rtt, 0.5, 1), the target is
	// limit × g + √limit, and the limit moves toward it by the smoothing
	// factor. It reacts in proportion to the latency's growth, by at most
	// half per window, and tolerates RTT growth up to the tolerance
	// ([WithTolerance]) before it reads it as queueing.
	Gradient
	// AIMD ignores latency: it adds one to the limit after each window
	// without drops and multiplies it by the backoff after a window with
	// drops. It suits a dependency whose latency says nothing about its
	// load, such as one that sheds with an error.
	AIMD
)

// String returns "vegas", "gradient" or "aimd".
func (a Algorithm) String() string {
	switch a {
	case Gradient:
		return "gradient"
	case Vegas:
		return "vegas"
	case AIMD:
		return "aimd"
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// window accumulates the completions of one sample window.
type window struct {
	start       time.Time     // when the window opened
	successes   int           // calls that ended in Success
	drops       int           // calls that ended in Failure
	sumRTT      time.Duration // of the successes
	minRTT      time.Duration // of the successes; valid when successes > 0
	maxInflight int           // the most calls in flight when one of the window's calls was admitted
	full        bool          // the limit turned a call away or made it wait
}

func (w *window) add(rtt time.Duration, inflight int, drop bool) {
	if drop {
		w.drops++
	} else {
		if w.successes == 0 || rtt < w.minRTT {
			w.minRTT = rtt
		}
		w.successes++
		w.sumRTT += rtt
	}
	w.maxInflight = max(w.maxInflight, inflight)
}

func (w *window) samples() int { return w.successes + w.drops }

// tuning is the immutable part of the update rules.
type tuning struct {
	alg       Algorithm
	minLimit  float64
	maxLimit  float64
	smoothing float64 // Gradient: the share of the step taken per window, in (0, 1]
	backoff   float64 // every algorithm: the factor applied after a window with drops, in (0, 1)
	tolerance float64 // Gradient: how much RTT growth is not yet queueing, ≥ 1
}

// estimates are the RTT estimates the latency rules keep between windows,
// in nanoseconds; 0 means no estimate yet.
type estimates struct {
	noLoad float64 // the no-load RTT: the lowest window mean, drifting up slowly
	rtt    float64 // the last window's mean RTT
}

// noLoadDrift is how far the no-load estimate moves toward a higher window
// mean per window in which the limit was not reached: a dependency that
// became slower for good is relearnt within a few dozen windows. While the
// limit is reached the estimate never rises: the RTT then includes the
// queue the limit allows, and learning it as the no-load RTT would let the
// limit ratchet up window after window.
const noLoadDrift = 0.05

// observe folds a window's RTTs into the estimates.
func (e *estimates) observe(w *window) {
	if w.successes == 0 {
		return
	}
	// The window's mean, not its fastest call, estimates the RTT: a
	// minimum over many calls measures the luckiest call's jitter, not the
	// dependency.
	mean := float64(w.sumRTT) / float64(w.successes)
	e.rtt = mean
	switch {
	case e.noLoad == 0 || mean < e.noLoad:
		e.noLoad = mean
	case !w.full:
		e.noLoad += (mean - e.noLoad) * noLoadDrift
	}
}

// next returns the limit after window w, given the limit before it. It
// updates e. It is a pure function of its arguments.
func (t *tuning) next(limit float64, e *estimates, w *window) float64 {
	e.observe(w)
	if w.drops > 0 {
		return t.clamp(limit * t.backoff)
	}
	// An application that keeps fewer than half the limit busy says nothing
	// about whether a higher limit would hurt: the limit never grows then,
	// or it would creep to the maximum while idle.
	appLimited := float64(w.maxInflight) < limit/2
	target := limit
	switch t.alg {
	case AIMD:
		target = limit + 1
	case Vegas:
		if e.rtt <= 0 || e.noLoad <= 0 {
			break
		}
		queue := limit * (1 - e.noLoad/e.rtt)
		step := max(1, math.Log10(limit))
		switch {
		case queue > 6*step:
			// Far above the band: take away half of the excess queue at
			// once, so a dependency that lost capacity is relieved within
			// a few windows, not after dozens of unit steps.
			target = limit - max(step, (queue-3*step)/2)
		case queue < 1:
			// No queue at all: the dependency has room (it recovered,
			// or the limit started low), so grow by a tenth.
			target = limit + max(step, limit/4)
		case queue < 3*step:
			target = limit + step
		}
	case Gradient:
		if e.rtt <= 0 || e.noLoad <= 0 {
			break
		}
		g := min(1, max(0.5, t.tolerance*e.noLoad/e.rtt))
		target = limit*g + math.Sqrt(limit)
		target = limit + (target-limit)*t.smoothing
	}
	if appLimited && target > limit {
		target = limit
	}
	return t.clamp(target)
}

func (t *tuning) clamp(limit float64) float64 { return min(t.maxLimit, max(t.minLimit, limit)) }
