package adaptive

import (
	"time"

	"github.com/ionkit/ion/observe"
)

// result is the value of the result label of ion_adaptive_calls_total and
// ion_adaptive_throttled_total.
type result int

const (
	resAdmitted result = iota // the limiter admitted the call, at once or after a wait
	resRejected               // the limiter shed it: full, queue full, evicted, waited too long, CoDel
	resCanceled               // the caller's ctx ended first
	numResults
)

var resultNames = [numResults]string{"admitted", "rejected", "canceled"}

// limiterInstruments are a Limiter's metrics, resolved once by NewLimiter.
// A nil *limiterInstruments (no WithMetrics) records nothing at the cost of
// a nil check.
type limiterInstruments struct {
	calls  [numResults]observe.Counter // ion_adaptive_calls_total{name,result}
	limit  observe.Gauge               // ion_adaptive_limit{name}
	rtt    observe.Gauge               // ion_adaptive_rtt_seconds{name}
	noLoad observe.Gauge               // ion_adaptive_no_load_rtt_seconds{name}
}

func newLimiterInstruments(m observe.Metrics, name string) *limiterInstruments {
	if m == nil {
		return nil
	}
	n := observe.L("name", name)
	in := &limiterInstruments{
		limit:  m.Gauge("ion_adaptive_limit", n),
		rtt:    m.Gauge("ion_adaptive_rtt_seconds", n),
		noLoad: m.Gauge("ion_adaptive_no_load_rtt_seconds", n),
	}
	for r := range numResults {
		in.calls[r] = m.Counter("ion_adaptive_calls_total", n, observe.L("result", resultNames[r]))
	}
	return in
}

func (m *limiterInstruments) count(r result) {
	if m != nil {
		m.calls[r].Add(1)
	}
}

// window records the outcome of a closed sample window. Called without the
// Limiter's lock.
func (m *limiterInstruments) window(limit float64, e estimates) {
	if m != nil {
		m.limit.Set(float64(int(limit)))
		m.rtt.Set(time.Duration(e.rtt).Seconds())
		m.noLoad.Set(time.Duration(e.noLoad).Seconds())
	}
}

// throttlerInstruments are a Throttler's metrics, resolved once by
// NewThrottler; nil records nothing.
type throttlerInstruments struct {
	sent, throttled observe.Counter // ion_adaptive_throttler_calls_total{name,result=sent|throttled}
}

func newThrottlerInstruments(m observe.Metrics, name string) *throttlerInstruments {
	if m == nil {
		return nil
	}
	n := observe.L("name", name)
	return &throttlerInstruments{
		sent:      m.Counter("ion_adaptive_throttler_calls_total", n, observe.L("result", "sent")),
		throttled: m.Counter("ion_adaptive_throttler_calls_total", n, observe.L("result", "throttled")),
	}
}

func (m *throttlerInstruments) count(sent bool) {
	switch {
	case m == nil:
	case sent:
		m.sent.Add(1)
	default:
		m.throttled.Add(1)
	}
}
