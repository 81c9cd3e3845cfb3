package limit

import (
	"time"
	"unsafe"
)

// AllowWithStaleClock is Allow with a clock reading taken stale before the
// take, as a goroutine descheduled between the two would have.
func AllowWithStaleClock(lim *TokenBucket, stale int64) bool {
	return lim.c.allowN(nowNs()-stale, 1, true)
}

// KeyedAllowWithStaleClock is Keyed.Allow with a stale clock reading.
func KeyedAllowWithStaleClock[K comparable](lim *Keyed[K], key K, stale int64) bool {
	return lim.allowN(nowNs()-stale, key, 1, true)
}

// StalledAllow starts AllowN(now, n) on lim's lock-free path and stops it
// where a goroutine descheduled just before its compare-and-swap stops: it
// has loaded the state and counted its n tokens (fast). finish makes the
// swap and reports whether it took the tokens; a swap that finds the state
// changed takes nothing (the real path would decide again, and count again).
// It returns nil when the lock-free path would not get that far: the tokens
// are not there, or the mutex is needed.
func StalledAllow(lim *TokenBucket, now time.Time, n int) (finish func() bool) {
	e := lim.c.b.cur.Load()
	p := &e.p
	ns := offsetOf(now)
	if !p.serves(ns) || p.inf || int64(n) > p.burst || n <= 0 {
		return nil
	}
	u, cost := p.units(ns), int64(n)*p.interval
	tat := e.tat.Load()
	if tat > u+p.tau-cost {
		return nil
	}
	e.taken.Add(int64(n))
	return func() bool { return e.tat.CompareAndSwap(tat, max(tat, u)+cost) }
}

// AdmitAt is the admission of WaitN and Admit at an explicit time, without
// the sleep: it returns the wait for n > 0 tokens and whether they were
// taken, at once or by a reservation that waits at most maxWait. With
// locked it is the reservation under the mutex, which the lock-free path
// must match exactly.
func AdmitAt(lim *TokenBucket, now time.Time, n int, maxWait time.Duration, locked bool) (time.Duration, bool) {
	admit := lim.c.b.admit
	if locked {
		admit = lim.c.b.reserve
	}
	_, wait, ok := admit(offsetOf(now), int64(n), int64(maxWait))
	return time.Duration(wait), ok
}

// EpochLayout returns the offset of an epoch's tat, the size of params and
// paramsSize, which the padding before tat assumes params' size to be.
func EpochLayout() (tat, params, want uintptr) {
	var e epoch
	return unsafe.Offsetof(e.tat), unsafe.Sizeof(e.p), paramsSize
}

// Contend turns on the contended mode of lim's bucket, as a lost
// compare-and-swap on its tat would.
func Contend(lim *TokenBucket) { lim.c.b.mode.Enter() }
