package sem

import "github.com/ionkit/ion/observe"

// result is the value of the result label of ion_sem_acquire_total.
type result int

const (
	resAcquired result = iota // permits taken
	resRejected               // TryAcquire or a bulkhead without wait found no permit
	resTimeout                // the acquire timeout or the bulkhead's max wait expired
	resCanceled               // the caller's ctx was done
	resInvalid                // a weight below 0 or above capacity
	resShed                   // CoDel shed a waiter from a standing queue
	numResults
)

var resultNames = [numResults]string{"acquired", "rejected", "timeout", "canceled", "invalid", "shed"}

// instruments are the semaphore's metrics, resolved once by NewWeighted. A
// nil *instruments (no WithMetrics) records nothing at the cost of a nil
// check.
type instruments struct {
	results      [numResults]observe.Counter // ion_sem_acquire_total{name,result}
	overReleased observe.Counter             // ion_sem_over_released_total{name}
	inUse        observe.Gauge               // ion_sem_in_use{name}
	waiting      observe.Gauge               // ion_sem_waiting{name}
	wait         observe.Histogram           // ion_sem_wait_seconds{name}
}

func newInstruments(m observe.Metrics, name string) *instruments {
	n := observe.L("name", name)
	in := &instruments{
		overReleased: m.Counter("ion_sem_over_released_total", n),
		inUse:        m.Gauge("ion_sem_in_use", n),
		waiting:      m.Gauge("ion_sem_waiting", n),
		wait:         m.Histogram("ion_sem_wait_seconds", n),
	}
	for r := range numResults {
		in.results[r] = m.Counter("ion_sem_acquire_total", n, observe.L("result", resultNames[r]))
	}
	return in
}

// count adds one to the acquisitions with result r.
func (m *instruments) count(r result) {
	if m != nil {
		m.results[r].Add(1)
	}
}
