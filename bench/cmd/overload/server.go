package main

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// server models the dependency: slots calls are served at once, the rest
// wait in an unbounded FIFO queue, and a call's service time grows with the
// share of slots busy when it starts: base × (1 + 0.5 × busy/slots) × its
// own jitter. A caller that gives up while queued leaves the queue; one that
// gives up while served does not free its slot before the service ends: the
// work is wasted, as it is on a real server that does not watch for
// cancellation.
type server struct {
	base time.Duration

	mu    sync.Mutex // guards the fields below
	slots int        // set by setSlots; the capacity drops and recovers mid-run
	busy  int
	queue list.List // of *slotWaiter, oldest first
}

type slotWaiter struct {
	ch      chan struct{} // closed when a slot is granted
	granted bool          // guarded by server.mu
}

// setSlots changes the capacity. Calls already served keep their slots.
func (s *server) setSlots(n int) {
	s.mu.Lock()
	s.slots = n
	s.grantLocked()
	s.mu.Unlock()
}

func (s *server) grantLocked() {
	for s.busy < s.slots && s.queue.Len() > 0 {
		w := s.queue.Remove(s.queue.Front()).(*slotWaiter)
		w.granted = true
		s.busy++
		close(w.ch)
	}
}

// call serves one call with the given jitter factor; it returns nil when it
// was answered, or ctx's error when the caller gave up first.
func (s *server) call(ctx context.Context, jitter float64) error {
	s.mu.Lock()
	if s.busy < s.slots && s.queue.Len() == 0 {
		s.busy++
	} else {
		w := &slotWaiter{ch: make(chan struct{})}
		e := s.queue.PushBack(w)
		s.mu.Unlock()
		select {
		case <-w.ch:
		case <-ctx.Done():
			s.mu.Lock()
			if !w.granted {
				s.queue.Remove(e)
				s.mu.Unlock()
				return ctx.Err()
			}
			// Granted as the caller left: the slot is freed at once.
			s.busy--
			s.grantLocked()
			s.mu.Unlock()
			return ctx.Err()
		}
		s.mu.Lock()
	}
	d := time.Duration(float64(s.base) * (1 + 0.5*float64(s.busy)/float64(max(1, s.slots))) * jitter)
	s.mu.Unlock()

	done := make(chan struct{})
	// The timer's callback owns the slot until the service ends, whether or
	// not the caller still waits; it runs once and ends.
	time.AfterFunc(d, func() {
		s.mu.Lock()
		s.busy--
		s.grantLocked()
		s.mu.Unlock()
		close(done)
	})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
