package pool

import (
	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/codel"
)

// Reconfigure changes p's queue settings in place to those that opts
// describe, exactly as New(size, queueSize, opts...) would set them:
// options apply in order over the defaults ([FIFO], no max queue wait,
// [DefaultIdleTimeout], no CoDel, no adaptive LIFO), not over the settings
// in force, so opts is the whole new queue configuration and a setting left
// out returns to its default. The size ([Pool.Resize]), the queue's
// capacity ([Pool.SetQueueSize]), the name, the base context, the handlers,
// the sinks and the task policy stay.
//
// p keeps its workers, its running tasks, its queued tasks in their order of
// arrival, its blocked submitters and its counters. What the new settings
// do to them:
//
//   - [WithQueueOrder] and [WithAdaptiveLIFO] decide which queued task the
//     next worker to take one takes, and every one after it.
//   - [WithMaxQueueWait] applies to every queued task from the next look at
//     the queue on (a worker taking a task, or a submitter finding it full):
//     a task whose wait already passed a lowered limit expires then, and
//     none expires once the limit is off.
//   - [WithCoDel] turned on starts from a fresh state (the queue is not
//     standing until a whole interval has shown it); with CoDel already on,
//     a new target or interval keeps the state: the current interval ends
//     when it was due and its verdict holds until then, the new target
//     judges the next task taken, and the new interval applies from the next
//     interval on. Turned off, CoDel sheds no task from then on.
//   - A queued task's wait counts from when it was accepted while the pool
//     keeps the time of its tasks (a max queue wait, CoDel or metrics in
//     force). A Reconfigure that turns on the max queue wait or CoDel in a
//     pool that kept none counts the wait of every queued task from
//     Reconfigure.
//   - [WithIdleTimeout] d applies at once to the workers already idle: each
//     exits d after Reconfigure unless it gets a task first (its idle time
//     before Reconfigure does not count), so a shorter timeout retires them
//     within d and a longer one keeps them at least d. Workers that go idle
//     later exit between d and 2d, as usual. 0 keeps every idle worker
//     until Close or a shrinking Resize. An unchanged timeout changes
//     nothing.
//
// Reconfigure returns an error matching ion.ErrInvalidConfig and changes
// nothing when an option is invalid (as New would fail closed; the
// *ion.ConfigError names the option), or when an option cannot change on a
// live pool: [WithName], [WithBaseContext], [WithPanicHandler],
// [WithDiscardHandler], [WithLogger], [WithMetrics], [WithTracer] and
// [WithTaskPolicy] are taken only by New, and the error names the first one
// given. A closed pool returns [ErrClosed], and a pool that fails closed
// (or a zero Pool) its [Pool.Err], changing nothing.
//
// Reconfigure takes p's lock briefly and does not block beyond it. It reads
// the clock when the new settings need the time of queued tasks, and
// allocates the configuration its options are applied to and, when the idle
// timeout changes while workers are idle, a timer.
func (p *Pool) Reconfigure(opts ...Option) error {
	if !p.ok {
		return p.Err()
	}
	c := newConfig(opts)
	if c.err != nil {
		return c.err
	}
	if c.fixed != "" {
		return ion.NewConfigError("pool", c.fixed, "only New takes it; Reconfigure keeps the pool's name, base context, handlers, sinks and task policy")
	}
	c.metrics = p.cfg.metrics // the wait histogram keeps needing the time of each task
	stamp := c.stamps()
	var now int64
	if stamp {
		now = p.now() // read before the lock, for the tasks queued without a time
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if stamp && !p.stamp.Load() {
		// The tasks queued while the pool kept no time carry none: their
		// wait starts now. The paths that loaded stamp clear before this
		// store read the clock once they hold mu (see submit).
		for i := range p.queue.len() {
			p.queue.at(i).enq = now
		}
	}
	p.stamp.Store(stamp)
	p.lifoAt = c.takeNewestFrom()
	p.maxWait = c.maxWait
	switch {
	case c.codel.Target == 0:
		p.codel = codel.State{}
	case p.codel.Target == 0:
		p.codel = c.codel
	default:
		p.codel.Target, p.codel.Interval = c.codel.Target, c.codel.Interval
	}
	if c.idle != p.idleTimeout {
		p.idleTimeout = c.idle
		// Retire the workers idle now d after now: a new sweep period
		// starts, on a new timer, and they all parked before it.
		p.discardSweepLocked()
		if c.idle > 0 && len(p.idle) > 0 {
			p.armSweepLocked()
		}
	}
	return nil
}
