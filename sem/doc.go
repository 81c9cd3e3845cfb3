// Package sem provides a weighted semaphore with strict FIFO, LIFO or no
// fairness, and the bulkhead: a policy that bounds the concurrency of calls
// by that semaphore.
//
// # The model
//
// A [Weighted] holds a number of permits, its capacity. A caller
// acquires n of them with [Weighted.Acquire] (blocking) or
// [Weighted.TryAcquire] (not blocking), uses the resource they stand for,
// and gives them back with [Weighted.Release]. A caller that cannot be served
// at once waits in a queue until it is granted its permits, its ctx is done
// or the semaphore's [WithAcquireTimeout] expires.
//
//	s := sem.NewWeighted(10)
//	if err := s.Acquire(ctx, 3); err != nil {
//		return err // holds nothing
//	}
//	defer s.Release(3)
//
// # Changing the capacity and the settings
//
// [Weighted.SetCapacity] resizes a semaphore in place, for a live
// configuration reload: the permits in use stay held and the waiters stay
// queued. Growing adds the new permits at once and serves the waiters that
// now fit. Shrinking never revokes a permit: when more are in use than the
// new capacity, the difference is owed, [Weighted.Available] reports 0, and
// each release pays the debt before it frees anything, so nobody new is
// admitted until the permits in use have fallen below the new capacity.
// Releases are judged against the permits in use, so releasing permits
// acquired under the old capacity is never an over-release. Waiters heavier
// than a shrunk capacity leave with [ErrWeightExceedsCapacity].
//
// [Weighted.Reconfigure] changes the other settings in place the same way:
// the fairness, the acquire timeout, CoDel and adaptive LIFO. The permits in
// use stay held and the waiters stay queued, in arrival order; a new
// fairness or threshold orders the grants from then on, a new acquire
// timeout bounds the Acquires that queue after it, and CoDel turned on
// counts the waits of those already queued from then.
//
// # Fairness
//
// [WithFairness] decides who is served when permits free up:
//
//   - [FIFO] (the default) is strict: callers are served in arrival order.
//     While anyone waits, neither TryAcquire nor a new Acquire takes permits
//     ahead of them, and the head of the queue is served first even when a
//     smaller caller behind it would fit. This head-of-line blocking is what
//     keeps large weights from starving: with a semaphore of N used as a
//     read-write lock (readers take 1, writers N), a writer is never
//     overtaken by a stream of readers.
//   - [LIFO] serves the newest caller first, including a new caller whose
//     permits are free. It keeps latency low for fresh requests under
//     overload, at the cost of starving the oldest waiters, who should carry
//     deadlines.
//   - [None] takes free permits whenever they fit, for callers arriving and
//     for the queue alike (the oldest waiters that fit are served first).
//     It gives the most throughput and no ordering guarantee; a large weight
//     can starve behind small ones.
//
// # Managing the queue under overload
//
// Two options keep a queue useful when it stops draining. [WithCoDel] sheds
// the waiters of a standing queue: when, over a whole interval, every
// caller served from the queue had waited longer than a target, a waiter
// that has waited longer than the target is turned away with an error
// matching [ErrShed] and ion.ErrRejected when its turn comes, instead of
// being served late; a burst that drains within the interval loses nobody.
// [WithAdaptiveLIFO] serves the newest waiter first while at least n wait,
// and the [Fairness] order below n: the newest callers are the ones most
// likely still waiting for the answer. Both cost nothing on the fast paths.
//
// # Cancellation
//
// Cancellation is exact: Acquire returns nil holding its permits, or an error
// holding nothing, never both and never neither, however a grant races the
// end of ctx or the acquire timeout. A ctx that is already done fails the
// call even when permits are free (golang/go#63615), and so does a ctx found
// done when the grant arrives. A waiter that gives up serves the waiters its
// departure unblocks: a cancelled FIFO head no longer holds back the smaller
// waiters behind it (golang/go#37852). Errors wrap ctx.Err() with %w;
// errors.Is(err, context.DeadlineExceeded) also holds for an expired
// [WithAcquireTimeout], whose error matches [ErrFull] as well.
//
// # Bad input and releases beyond capacity
//
// Nothing panics. A capacity below 1 or an invalid option makes the
// semaphore fail closed: [Weighted.Err] reports a *ion.ConfigError that
// every Acquire and Release returns, and TryAcquire returns false; so does
// the zero Weighted, whose error says to use [NewWeighted]. A negative
// weight returns [ErrInvalidWeight] and a weight above capacity
// [ErrWeightExceedsCapacity], at once, without blocking anyone or changing
// state. A weight of 0 is a no-op success.
//
// Release is not tracked per holder: the semaphore knows how many permits
// are free, not who holds them. A release never grows the capacity: one
// that would raise the free permits above the capacity has the excess ignored
// and returns an error matching [ErrOverRelease] that says how many permits
// were released, free and ignored (also logged at Warn and counted by
// ion_sem_over_released_total). That is all a semaphore without holders can
// promise: a double release is caught only when it would pass the capacity.
// With capacity 10 and holders of 3 and 2, a holder that releases its 3
// twice, after others took the freed permits, is not caught; 13 permits are
// then in use, and the error goes to the release that would pass the
// capacity, possibly another holder's correct one. Check Release's error in
// tests and log it in production: it is a bug in the caller.
//
// # The bulkhead
//
// [Policy] turns a semaphore into a [policy.Policy]: each call holds the
// permits of its weight while it runs, and a call that finds none is
// rejected with [ErrFull] (matching ion.ErrRejected) without running. By
// default it does not wait: a bulkhead sheds load rather than queueing it.
// [WithMaxWait] lets a call wait a bounded time. The permits are released on
// every path, panics included.
//
// # Metrics
//
// With [WithMetrics], a semaphore records:
//
//	ion_sem_acquire_total{name,result}    counter: result=acquired|rejected|timeout|canceled|invalid|shed
//	ion_sem_in_use{name}                  gauge: permits held, set after each acquire and release
//	ion_sem_waiting{name}                 gauge: callers queued, set when the queue changes
//	ion_sem_wait_seconds{name}            histogram: time spent queued, per caller that queued
//	ion_sem_over_released_total{name}     counter: permits released beyond capacity and ignored
//
// "rejected" counts a TryAcquire that returned false and a bulkhead call
// rejected without waiting; "timeout" an expired acquire timeout or max
// wait; "invalid" a weight below 0 or above capacity; "shed" a waiter shed
// by CoDel. ion_sem_in_use includes permits held beyond a shrunk capacity.
// The gauges are set
// after the operation without a lock, so under contention a concurrent
// update can briefly overwrite a newer value.
//
// # Cost
//
// An Acquire or TryAcquire served at once is one compare-and-swap, and so is
// a Release with nobody waiting and no debt owed; none of them allocates,
// with or without metrics. Only a caller that has to wait takes the lock
// and allocates its queue entry (and a timer, with a timeout). The package
// starts no goroutines.
//
// Under contention the semaphore batches. Two cores taking and returning
// permits in a tight loop, each with its own compare-and-swap, would pass
// the semaphore's cache line back and forth on every operation, making each
// several times slower than on one core. So a fast path that loses its
// compare-and-swap to another caller turns the semaphore to a contended
// mode, in which operations take its lock: while one runs a batch of
// operations on its own cache line, another sleeps on the lock. The checks
// and results are those of the fast paths; only the order changes. The mode
// ends by itself when the lock has been found free many times in a row. At
// most one caller at a time sleeps on the lock for it; the others, and
// TryAcquire, which never waits, take the lock only when it is free and
// otherwise retry their compare-and-swap after a spin of at most about a
// microsecond, the runtime's own mutex spin, or a yield. This bound keeps
// the batching from becoming a convoy when many more goroutines than
// processors are runnable: a goroutine woken from a lock waits for the time
// slice of the one that woke it, and a queue of them would make every
// operation wait for milliseconds.
//
// Measured on a 2-core VM (Go 1.26, amd64) shared with other work, with
// permits to spare: Acquire+Release takes 17-19 ns on one core
// (golang.org/x/sync/semaphore: 28 ns), TryAcquire+Release 18-24 ns, and
// 17-19 ns per pair with both cores calling at once (x/sync: 30-38 ns;
// without the contended mode, 60-77 ns); a
// call through the bulkhead takes about 40 ns alone and 41-44 ns with both
// cores calling. With metrics, the recorder's instruments add their own cost.
package sem
