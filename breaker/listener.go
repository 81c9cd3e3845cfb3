package breaker

import (
	"context"
	"log/slog"
	"time"
)

// Transition is one state change, as delivered to listeners (see
// [WithListener]).
type Transition struct {
	Name     string    // the breaker's name
	From, To State     // the states before and after
	At       time.Time // when it happened (an open state expires at its deadline)
}

// drain delivers the queued transitions, in order, with no lock held while
// they are delivered. Only one goroutine delivers at a time: a goroutine that
// finds another delivering leaves its transitions to it, so the order is the
// order in which transitions were queued (under mu) and no lock is held
// while user code runs. A listener that calls back into the breaker and
// causes a transition queues it behind the current one.
func (b *Breaker) drain() {
	b.mu.Lock()
	if b.draining {
		b.mu.Unlock()
		return
	}
	b.draining = true
	for b.head < len(b.pending) {
		tr := b.pending[b.head]
		b.pending[b.head] = Transition{}
		b.head++
		if b.head == len(b.pending) {
			b.pending, b.head = b.pending[:0], 0
		}
		b.mu.Unlock()
		b.deliver(tr)
		b.mu.Lock()
	}
	b.draining = false
	b.mu.Unlock()
}

// deliver records tr in the sinks and calls the listeners. If one of them
// panics, delivery stops, the panic propagates, and the next drain delivers
// what is left.
func (b *Breaker) deliver(tr Transition) {
	ok := false
	defer func() {
		if !ok {
			b.mu.Lock()
			b.draining = false
			b.mu.Unlock()
		}
	}()
	if in := b.inst; in != nil {
		in.state.Set(float64(tr.To))
		in.transitions[tr.From][tr.To].Add(1)
	}
	if b.logger != nil {
		level := slog.LevelInfo
		if tr.To == Open || tr.To == ForcedOpen {
			level = slog.LevelWarn
		}
		b.logger.Log(context.Background(), level, "breaker: state change",
			slog.String("name", b.name), slog.String("from", tr.From.String()), slog.String("to", tr.To.String()))
	}
	for _, l := range b.listeners {
		l(tr)
	}
	ok = true
}
