package breaker

// window holds the calls the rate rules look at: either the last N calls
// (count) or the calls of the last few time buckets (time). It keeps running
// sums so that recording and evaluating are O(1) (amortized over expired
// buckets for the time window). It is guarded by the breaker's mu.
type window struct {
	kind     windowKind
	minCalls int64

	// The running sums over the window.
	calls, failures, slow int64

	// Count window: the outcome of each of the last len(ring) calls, as
	// flags, and where the next one goes.
	ring []uint8
	next int

	// Time window: one bucket per width nanoseconds; bucket i holds the
	// calls whose time t has t/width ≡ i (mod len(buckets)). head is the
	// newest bucket number seen.
	buckets []bucket
	width   int64
	head    int64
}

type bucket struct {
	calls, failures, slow int64
}

const (
	flagCall    = 1 << iota // the slot holds a call (the ring is not yet full otherwise)
	flagFailure             // the call failed
	flagSlow                // the call was slow
)

// newWindow returns an empty window of p's shape.
func newWindow(p *params) window {
	s := p.win
	w := window{kind: s.kind, minCalls: int64(s.minCalls)}
	switch s.kind {
	case windowCount:
		w.ring = make([]uint8, s.size)
	case windowTime:
		w.buckets = make([]bucket, s.buckets)
		w.width = s.length / int64(s.buckets)
	}
	return w
}

// record adds one call at now (nanoseconds since the breaker's epoch).
func (w *window) record(now int64, failure, slow bool) {
	switch w.kind {
	case windowCount:
		old := w.ring[w.next]
		if old&flagCall != 0 {
			w.calls--
			w.failures -= int64(old >> 1 & 1)
			w.slow -= int64(old >> 2 & 1)
		}
		f := uint8(flagCall)
		if failure {
			f |= flagFailure
		}
		if slow {
			f |= flagSlow
		}
		w.ring[w.next] = f
		w.next++
		if w.next == len(w.ring) {
			w.next = 0
		}
	case windowTime:
		w.advance(now)
		b := &w.buckets[w.head%int64(len(w.buckets))]
		b.calls++
		if failure {
			b.failures++
		}
		if slow {
			b.slow++
		}
	default:
		return
	}
	w.calls++
	if failure {
		w.failures++
	}
	if slow {
		w.slow++
	}
}

// advance expires the buckets that fell out of a time window ending at now.
// Time never goes backwards here (the breaker's clock is monotonic); a now in
// an older bucket than head is counted in head.
func (w *window) advance(now int64) {
	if w.kind != windowTime {
		return
	}
	idx := now / w.width
	n := int64(len(w.buckets))
	if idx <= w.head {
		return
	}
	// Clear the buckets head+1 .. idx: at most n of them.
	from := max(w.head+1, idx-n+1)
	for i := from; i <= idx; i++ {
		b := &w.buckets[i%n]
		w.calls -= b.calls
		w.failures -= b.failures
		w.slow -= b.slow
		*b = bucket{}
	}
	w.head = idx
}

// reset empties the window.
func (w *window) reset(now int64) {
	clear(w.ring)
	clear(w.buckets)
	w.calls, w.failures, w.slow, w.next = 0, 0, 0, 0
	if w.width > 0 {
		w.head = now / w.width
	}
}

// rates returns the failure and slow-call shares of the window, 0 when it is
// empty.
func (w *window) rates() (failure, slow float64) {
	if w.calls == 0 {
		return 0, 0
	}
	return float64(w.failures) / float64(w.calls), float64(w.slow) / float64(w.calls)
}
