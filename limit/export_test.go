package limit

// AllowWithStaleClock is Allow with a clock reading taken stale before the
// take, as a goroutine descheduled between the two would have.
func AllowWithStaleClock(lim *TokenBucket, stale int64) bool {
	return lim.c.allowN(nowNs()-stale, 1, true)
}

// KeyedAllowWithStaleClock is Keyed.Allow with a stale clock reading.
func KeyedAllowWithStaleClock[K comparable](lim *Keyed[K], key K, stale int64) bool {
	return lim.allowN(nowNs()-stale, key, 1, true)
}
