package breaker

// SetGenerationSuccesses sets the success count of b's current generation
// (and so the totals) to n, so that a test can reach the wrap of the result
// word's 31-bit count without 2^31 calls.
func SetGenerationSuccesses(b *Breaker, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.cur.Load()
	g.succHi.Store(n &^ int64(succMask))
	for {
		w := g.word.Load()
		if g.word.CompareAndSwap(w, w&^succMask|uint64(n)&succMask) {
			return
		}
	}
}

// Contend turns on the contended mode of b's result words, as a lost
// compare-and-swap would.
func Contend(b *Breaker) { b.mode.Enter() }

// Contended reports whether b's contended mode is on.
func Contended(b *Breaker) bool { return b.mode.On() }
