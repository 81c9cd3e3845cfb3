package pool

import "github.com/ionkit/ion/observe"

// instruments are the pool's metric instruments, resolved once by New.
type instruments struct {
	completed, failed, panicked        observe.Counter
	rejected, expired, shed, discarded observe.Counter
	queued, running, size              observe.Gauge
	wait                               observe.Histogram
}

func newInstruments(m observe.Metrics, name string) *instruments {
	n := observe.L("name", name)
	tasks := func(result string) observe.Counter {
		return m.Counter("ion_pool_tasks_total", n, observe.L("result", result))
	}
	return &instruments{
		completed: tasks("completed"),
		failed:    tasks("failed"),
		panicked:  tasks("panicked"),
		rejected:  tasks("rejected"),
		expired:   tasks("expired"),
		shed:      tasks("shed"),
		discarded: tasks("discarded"),
		queued:    m.Gauge("ion_pool_queued", n),
		running:   m.Gauge("ion_pool_running", n),
		size:      m.Gauge("ion_pool_size", n),
		wait:      m.Histogram("ion_pool_queue_wait_seconds", n),
	}
}

// countRejected counts one refused submission in the Metrics sink, if any.
func (p *Pool) countRejected() {
	if p.inst != nil {
		p.inst.rejected.Add(1)
	}
}

// gaugeRunning and gaugeQueued publish values read under the lock; they are
// called after unlocking, as sinks are user code.
func (p *Pool) gaugeRunning(n int) {
	if p.inst != nil {
		p.inst.running.Set(float64(n))
	}
}

func (p *Pool) gaugeQueued(n int) {
	if p.inst != nil {
		p.inst.queued.Set(float64(n))
	}
}
