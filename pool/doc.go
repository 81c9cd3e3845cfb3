// Package pool provides a bounded worker pool that accounts for every task
// it accepts, and [Policy], which makes the pool a policy.Policy so that a
// pipeline's calls run on its workers.
//
// # The model
//
// A [Pool] runs at most Size tasks at once on worker goroutines, started on
// demand; a worker idle for the idle timeout exits ([WithIdleTimeout], 10s
// by default), as do workers beyond a shrinking [Pool.Resize] and, at the
// end, every worker at Close. Up to queueSize
// further tasks wait in a queue, taken in FIFO (default) or LIFO order
// ([WithQueueOrder], and see "Overload"); a queueSize of 0 makes each
// submission a hand-off to a worker. A submission is accepted when an idle worker takes it, a new worker
// is started for it, or it is queued. [Pool.Submit] blocks while the queue is
// full; [Pool.TrySubmit] fails at once with [ErrQueueFull]. Blocked
// submitters are admitted in FIFO order.
//
// Four ways in, one engine:
//
//   - [Pool.Submit] and [Pool.TrySubmit] run a [Task], fire and forget.
//   - [Go] runs a policy.Func[T] and returns a [Future] for its result.
//   - [Policy] runs the rest of a pipeline on a worker while the caller waits.
//   - [Group] runs a set of calls, at most a limit at once, and collects
//     their results in order; the first error cancels the rest (errgroup
//     with SetLimit and typed results).
//
// # Changing the settings
//
// A pool changes in place, for a live configuration reload: [Pool.Resize]
// sets the number of workers, [Pool.SetQueueSize] the queue's capacity, and
// [Pool.Reconfigure] the queue settings (order, max queue wait, idle
// timeout, CoDel, adaptive LIFO). The workers, the queued tasks, the
// blocked submitters and the counters stay. A shrunk queue keeps every task
// it holds and admits new ones once it is below its new size; a grown one
// admits blocked submitters at once.
//
// # Nothing is lost
//
// Every accepted task runs exactly once, unless it is reported instead: a
// task whose queue wait passed the limit of [WithMaxQueueWait] is not run
// and reports [ErrExpired]; a task CoDel shed from a standing queue
// ([WithCoDel]) reports an error matching [ErrShed]; a task a forced Close
// removed reports an error
// matching [ErrClosed]; a task whose context was done when a worker took it
// reports [ErrNotStarted] (see "Task context"). Reports go to the task's
// caller ([Go], [Policy]) or to the handler of [WithDiscardHandler], and are
// counted. At any time
//
//	accepted = Queued + Running + Completed + Failed + Panicked + Expired + Shed + Discarded
//
// in [Pool.Snapshot]. A panicking task becomes a [*ion.PanicError] (value and
// stack) for its caller, the panic handler ([WithPanicHandler]) and the
// Logger, and counts as panicked, not completed. A task that calls
// runtime.Goexit is reported the same way (the PanicError's value is an error
// saying so); its worker is replaced, so the pool neither hangs nor shrinks.
//
// # Shutting down
//
// [Pool.Close] stops intake at once, runs every accepted task and waits for
// the workers to exit; if its ctx ends first, it cancels the running tasks'
// contexts, removes and reports the queued ones, and returns how many. The
// gentle [Pool.Drain] waits the same way (without polling) but leaves the pool
// draining when its ctx ends. [Pool.Wait] waits until the pool is idle
// without closing it. All three are idempotent and safe to call from a task of
// the same pool, with the task's ctx: such a call does not wait for its own
// task.
//
// # Task context
//
// A task's ctx is derived from the base context ([WithBaseContext], default
// context.Background()): it carries the base context's values and is
// cancelled when the base context is, and when a forced Close cancels the
// running tasks (context.Cause is then ErrClosed). It also carries the
// values (looked up after the base context's) and the deadline of the
// submitter's ctx, but not its cancellation: Submit's ctx bounds the wait to
// be accepted, and a fire-and-forget task outlives the request that submitted
// it. A task submitted with context.Background() runs with a context shared
// by all such tasks, so submitting and running it allocates nothing; other
// contexts cost one small allocation per task, plus context.WithDeadline's
// when they carry a deadline. [Policy] is the exception: its calls run with
// the caller's own ctx (cancellation included), cancelled when the caller
// gives up, and, like a task's, with cause ErrClosed by a forced Close (the
// caller then gets an error matching ErrClosed, a rejection, not a failure
// of the call). A task's ctx is meant for the duration of the task.
//
// One rule holds on every path, with or without a task policy: a task whose
// ctx is already done when a worker takes it (the base context was
// cancelled, the submitter's deadline passed while it was queued, a Policy
// caller gave up, a forced Close cancelled it on its way to a worker) is not
// run. It is reported with an error that matches [ErrNotStarted] and wraps
// the ctx's error (and its cause, such as ErrClosed), and counts as
// discarded. A fire-and-forget task whose submitter is cancelled without a
// deadline still runs: that cancellation is not part of its ctx.
//
// # Overload
//
// A queue absorbs bursts; under sustained overload it only makes every task
// late. Three opt-in options keep it useful, all applied as a worker takes
// a task, with no timer: [WithMaxQueueWait] expires a task that waited
// longer than a limit (also checked when a submitter finds the queue full);
// [WithCoDel] sheds the tasks that waited longer than a target once the
// queue has stood (its lowest wait stayed above the target) for a whole
// interval, so that a backlog is shed while an occasional burst runs; and
// [WithAdaptiveLIFO] takes the newest task first while the queue holds at
// least n tasks, as their callers are the likeliest to be waiting still.
// They combine: a task past the max queue wait is expired, not shed; while
// LIFO is in effect, CoDel sees the short waits of the newest tasks, and the
// oldest are left to the max queue wait. Off, each costs at most one
// predictable branch per task.
//
// # Decisions
//
//   - size < 1 and a negative queueSize make the pool fail closed (every
//     call returns an error matching ion.ErrInvalidConfig that names the
//     parameter, see [Pool.Err]): peers disagree on what a size of 0 means
//     (unbounded, or one worker per CPU), so no default is safe. The zero
//     Pool fails closed the same way.
//   - [WithTaskPolicy] takes a policy.Policy[any]: one pool runs calls of
//     every result type and options are not generic, so the task policy
//     handles values as any, and what it returns is the call's result
//     (checked against the call's type).
//   - [Group.Go] returns nothing, as errgroup's does: a call that cannot run
//     is recorded with its error, and [Group.Wait] returns one result per
//     call (a zero value for a call not run) with the first error.
//     SetLimit(0), which would run nothing, is refused.
//   - Close returns (number of tasks discarded, error) rather than a typed
//     error, so the count needs no errors.As.
//   - Resize(n <= 0) and SetQueueSize(n < 0) are per-call bad input: they
//     return an error matching ion.ErrInvalidConfig and change nothing.
//   - Expired tasks are found when a worker takes a task or a submitter finds
//     the queue full; shed ones when a worker takes a task. The pool's only timer retires idle workers: one timer
//     per pool, armed only while some worker is idle.
//   - Rejected counts refused submissions: pool closed, queue full, or ctx
//     ended while blocked. A nil task or ctx is bad input and is not counted.
//   - To tell a call from one of its own tasks, Close, Drain and Wait look
//     for a mark that every task ctx of the pool carries (a context value
//     keyed by the pool, so the tasks of another pool are told apart). Go
//     deliberately gives goroutines no identity, so a task must pass its own
//     ctx, or one derived from it; with an unrelated ctx the call waits for
//     its own task. Hooks (the panic and discard handlers) are not tasks.
//
// # Metrics
//
// With [WithMetrics], the pool records, each with the label name:
//
//	ion_pool_tasks_total{name,result}   counter: result=completed|failed|panicked|rejected|expired|shed|discarded
//	ion_pool_queued{name}               gauge: tasks in the queue
//	ion_pool_running{name}              gauge: tasks running
//	ion_pool_size{name}                 gauge: the target number of workers
//	ion_pool_queue_wait_seconds{name}   histogram: time from acceptance to start
//
// With a Metrics sink each submission and each task reads the clock once.
// With [WithTracer], each task run on a worker is a span "pool.task" and each
// [Policy] execution a span "pool.execute".
//
// # Waking parked workers
//
// A task given to a parked worker wakes it through the worker's own
// channel. At most GOMAXPROCS workers (read at New and at each Resize; at
// least 2) are on their way to a task at once: more could not run sooner,
// and waking one costs more than running a short task. A task accepted for an idle worker while that many are waking is set
// aside (counted as Queued, and never expired: an idle worker is reserved
// for it) and handed out oldest first, ahead of the queue: to the next
// worker that finishes a task, which takes it with its cache still warm, or
// to another idle worker that a starting worker wakes as it starts. A burst
// of short tasks thus runs on a few busy workers instead of cycling through
// every parked one, and a burst of long ones still spreads over the idle
// workers, GOMAXPROCS wake-ups at a time. Close hands every set-aside task to
// its idle worker at once; a [Policy] caller that gives up withdraws a
// set-aside call like a queued one.
//
// # Performance
//
// Submit is one short critical section: it hands the task to a parked worker
// (see above), starts a worker, or appends to a ring buffer of value items.
// A worker takes its next task in one critical section too. A worker that
// finds the mutex held tries it a few times, pausing for well under a
// microsecond in all, before it sleeps on it: the mutex's own spin does not
// run while a submitter waits for the same processor, and sleeping costs
// microseconds where the critical section takes nanoseconds. Neither
// allocates: a blocked submitter's state is
// recycled, and the queue grows by doubling only up to queueSize. On a 2-core
// VM, BenchmarkSubmitToCompletion runs about 14 million tasks/s with a queue
// (~70 ns per task from Submit to completion), 10 million as a hand-off to
// 64 workers (~95 ns) and 3.7 million as a hand-off to 2 busy workers (~270
// ns, a blocked submitter woken per task); a buffered channel feeding bare
// goroutines, with no accounting, context or lifecycle, does ~50 ns.
package pool
