package policy

import (
	"math"
	"sync"
	"time"

	"github.com/ionkit/ion"
)

// budgetWindow is how many one-second buckets a Budget remembers: retries
// are weighed against the calls of the last budgetWindow seconds.
const budgetWindow = 10

// Budget limits the extra attempts (retries, hedges) of every call through
// the policies that share it, so that a failing dependency never sees a
// retry storm: over the last 10 seconds the extra attempts drawn from the
// ratio stay at or below ratio × calls, and on top of that minPerSecond
// extra attempts are allowed in every second, so that a quiet client can
// still retry. A policy given a Budget with [WithBudget] deposits one call
// per execution and withdraws one extra attempt per retry or hedge; when the
// budget refuses, a Retry gives up with [ErrRetryBudget] and a Hedge starts
// no more hedges.
//
// The window is an approximation, chosen so that a Budget costs a fixed
// 10 counters: it is made of one-second buckets aligned on the wall
// clock's seconds, so it spans the current second and the 9 before it (9 to
// 10 seconds), and the check "ratio × calls" is made only when an extra
// attempt is granted. A grant stays in the window for its own 10 seconds,
// while the calls it was weighed against may slide out earlier: after a
// burst of calls followed by a quiet spell, the grants still inside the
// window can exceed ratio × the calls still inside it, until those grants
// slide out too. The bound holds at the moment of each grant, not at every
// instant.
//
// Deposits and withdrawals read the clock and take one short lock; no user
// code runs under it. The zero Budget allows no extra attempts; use
// [NewBudget]. A Budget is safe for concurrent use by multiple goroutines.
type Budget struct {
	err error

	// mu guards the fields below.
	mu sync.Mutex
	// ratio and floor are the limits, set by NewBudget and SetLimits.
	ratio float64
	floor int64
	// buckets holds the counts of the last budgetWindow seconds, indexed by
	// second modulo budgetWindow; a bucket whose sec is stale is reset when
	// its slot is next used.
	buckets [budgetWindow]budgetBucket
}

type budgetBucket struct {
	sec   int64 // the Unix second the counts belong to
	calls int64 // deposits
	ratio int64 // extra attempts granted against the ratio
	floor int64 // extra attempts granted against the per-second floor
}

// NewBudget returns a Budget that allows, over a sliding window of 10
// seconds, ratio extra attempts per call (0.1 allows one retry per ten
// calls) plus minPerSecond extra attempts in every second. A ratio that is
// negative, NaN or infinite, or a negative minPerSecond, gives a Budget that
// makes every policy it is given to fail closed with an error matching
// ion.ErrInvalidConfig; [Budget.Err] reports it. A zero ratio with a zero
// minPerSecond is valid and allows no extra attempt at all.
func NewBudget(ratio float64, minPerSecond int) *Budget {
	return &Budget{ratio: ratio, floor: int64(minPerSecond), err: checkBudget("NewBudget", ratio, minPerSecond)}
}

// checkBudget returns the error of fn's invalid ratio or minPerSecond, or
// nil.
func checkBudget(fn string, ratio float64, minPerSecond int) error {
	switch {
	case math.IsNaN(ratio) || math.IsInf(ratio, 0) || ratio < 0:
		return ion.NewConfigError("policy", fn+" ratio", "must be a finite number >= 0, got %v", ratio)
	case minPerSecond < 0:
		return ion.NewConfigError("policy", fn+" minPerSecond", "must not be negative, got %d", minPerSecond)
	}
	return nil
}

// SetLimits changes b's ratio and per-second floor in place, to the values
// that NewBudget(ratio, minPerSecond) would set, keeping b's window: the
// calls deposited and the extra attempts granted over the last 10 seconds
// still count against the new limits. So a lower ratio or floor may refuse
// at once an extra attempt that the old ones would have granted (the
// attempts already granted are not taken back), and a higher one grants
// more at once. A Retry or Hedge in flight asks the new limits for its next
// extra attempt.
//
// An invalid value (see [NewBudget]) returns an error matching
// ion.ErrInvalidConfig that names it, and changes nothing. A Budget that
// fails closed stays so: SetLimits returns its [Budget.Err]. The zero Budget
// takes the new limits. SetLimits takes b's lock briefly and does not
// allocate.
func (b *Budget) SetLimits(ratio float64, minPerSecond int) error {
	if b.err != nil {
		return b.err
	}
	if err := checkBudget("SetLimits", ratio, minPerSecond); err != nil {
		return err
	}
	b.mu.Lock()
	b.ratio, b.floor = ratio, int64(minPerSecond)
	b.mu.Unlock()
	return nil
}

// Err returns the configuration error that makes the policies using b fail
// closed, or nil.
func (b *Budget) Err() error { return b.err }

// bucketLocked returns the bucket of second sec, reset if it held an older
// second. It must be called with b.mu held.
func (b *Budget) bucketLocked(sec int64) *budgetBucket {
	k := &b.buckets[uint64(sec)%budgetWindow]
	if k.sec != sec {
		*k = budgetBucket{sec: sec}
	}
	return k
}

// deposit counts one call at now.
func (b *Budget) deposit(now time.Time) {
	sec := now.Unix()
	b.mu.Lock()
	b.bucketLocked(sec).calls++
	b.mu.Unlock()
}

// withdraw asks for one extra attempt at now and reports whether the budget
// grants it. A refusal changes nothing.
func (b *Budget) withdraw(now time.Time) bool {
	if b.err != nil {
		return false
	}
	sec := now.Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.bucketLocked(sec)
	var calls, granted int64
	for i := range b.buckets {
		k := &b.buckets[i]
		// A bucket counts if it belongs to the window (sec-9 .. sec). One
		// left from before a wall-clock jump backwards (k.sec > sec) counts
		// too, so that a jump never forgets the grants already made; it is
		// reset when its slot is next used.
		if k.sec > sec-budgetWindow {
			calls += k.calls
			granted += k.ratio
		}
	}
	if float64(granted+1) <= b.ratio*float64(calls) {
		cur.ratio++
		return true
	}
	if cur.floor < b.floor {
		cur.floor++
		return true
	}
	return false
}
