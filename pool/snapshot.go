package pool

// Snapshot is a point-in-time view of a pool's state and counters, taken
// under one lock so that its fields are consistent with each other. Every
// accepted task is in exactly one of Queued, Running, Completed, Failed,
// Panicked, Expired, Shed or Discarded.
type Snapshot struct {
	Size      int  // the target number of workers
	Workers   int  // live worker goroutines (started on demand, up to Size; idle ones exit after the idle timeout)
	QueueSize int  // the queue's capacity
	Queued    int  // accepted tasks waiting for a worker (queued, or set aside for a waking one: see the package doc)
	Running   int  // tasks running on a worker
	Blocked   int  // submitters blocked on a full queue (not yet accepted)
	Closed    bool // Close or Drain has begun

	Completed uint64 // tasks that returned nil
	Failed    uint64 // tasks that returned an error
	Panicked  uint64 // tasks that panicked or called runtime.Goexit
	Rejected  uint64 // submissions refused: closed, queue full, or ctx ended while blocked
	Expired   uint64 // accepted tasks not run because their queue wait passed the limit
	Shed      uint64 // accepted tasks not run because CoDel shed them from a standing queue
	Discarded uint64 // accepted tasks not run: a forced Close or their Policy caller withdrew them, or their ctx was done when a worker took them
}

// Snapshot returns a snapshot of p's state and counters. It takes p's lock
// briefly and does not allocate.
func (p *Pool) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{
		Size:      p.size,
		Workers:   p.workers - p.exiting,
		QueueSize: p.qcap,
		Queued:    p.queue.len() + p.ready.len(),
		Running:   p.running,
		Closed:    p.closed,
		Completed: p.completed,
		Failed:    p.failed,
		Panicked:  p.panicked,
		Rejected:  p.rejected,
		Expired:   p.expired,
		Shed:      p.shed,
		Discarded: p.discarded,
	}
	s.Blocked = p.blocked.n
	return s
}
